/**
 * The server's long-lived keys: the access-token signing key (Ed25519, used through jose)
 * and the key-log signing key (Ed25519, libsodium). Loaded from KEYS_DIR, created there on
 * first start (mode 0600). Rotation with overlap: `token-*.json` files are all accepted
 * for verification; the newest one signs (see docs/operations.md).
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import {
  fromB64,
  signingKeyPairFromSeed,
  randomBytes,
  toB64,
  type SigningKeyPair,
} from '@vs/crypto'

export interface TokenKey {
  kid: string
  /** Ed25519 seed (32 bytes) and public key, for jose as an OKP JWK. */
  seed: Uint8Array
  publicKey: Uint8Array
  createdAt: number
}

export interface ServerKeys {
  /** Newest token key signs; all verify. */
  tokenKeys: TokenKey[]
  log: SigningKeyPair
}

interface KeyFile {
  kid: string
  seed: string
  createdAt: number
}

function newKeyFile(): KeyFile {
  return { kid: toB64(randomBytes(8)), seed: toB64(randomBytes(32)), createdAt: Date.now() }
}

function toTokenKey(f: KeyFile): TokenKey {
  const seed = fromB64(f.seed)
  return {
    kid: f.kid,
    seed,
    publicKey: signingKeyPairFromSeed(seed).publicKey,
    createdAt: f.createdAt,
  }
}

/** Ephemeral keys (tests, or an explicitly stateless run). */
export function ephemeralKeys(): ServerKeys {
  return {
    tokenKeys: [toTokenKey(newKeyFile())],
    log: signingKeyPairFromSeed(randomBytes(32)),
  }
}

export function loadOrCreateKeys(dir: string): ServerKeys {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const logFile = path.join(dir, 'log-key.json')
  if (!existsSync(logFile)) writeFileSync(logFile, JSON.stringify(newKeyFile()), { mode: 0o600 })
  const tokenFiles = readdirSync(dir).filter((f) => /^token-.*\.json$/.test(f))
  if (tokenFiles.length === 0) {
    const f = newKeyFile()
    writeFileSync(path.join(dir, `token-${f.createdAt}.json`), JSON.stringify(f), { mode: 0o600 })
    tokenFiles.push(`token-${f.createdAt}.json`)
  }
  const tokenKeys = tokenFiles
    .map((f) => toTokenKey(JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as KeyFile))
    .sort((a, b) => b.createdAt - a.createdAt)
  const logSeed = fromB64((JSON.parse(readFileSync(logFile, 'utf8')) as KeyFile).seed)
  return { tokenKeys, log: signingKeyPairFromSeed(logSeed) }
}
