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

export class KeyConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message)
    this.name = 'KeyConfigError'
  }
}

function parseKeyFile(variable: string, v: unknown): KeyFile {
  const k = v as Partial<KeyFile>
  if (
    !k ||
    typeof k.kid !== 'string' ||
    typeof k.seed !== 'string' ||
    typeof k.createdAt !== 'number'
  ) {
    throw new KeyConfigError(
      variable,
      'expected {"kid", "seed" (base64url, 32 bytes), "createdAt"}',
    )
  }
  let seed: Uint8Array
  try {
    seed = fromB64(k.seed)
  } catch {
    throw new KeyConfigError(variable, 'seed is not base64url')
  }
  if (seed.length !== 32) throw new KeyConfigError(variable, 'seed must be 32 bytes')
  return { kid: k.kid, seed: k.seed, createdAt: k.createdAt }
}

/**
 * Keys from the environment (e.g. a Kubernetes Secret): `TOKEN_KEYS` is a JSON array of
 * token key files (the newest signs, all verify: rotation with overlap), `LOG_KEY` one key
 * file. The same format as the files in KEYS_DIR (`deploy/keygen.mjs` writes them).
 */
export function keysFromEnv(tokenKeysJson: string, logKeyJson: string): ServerKeys {
  let tokens: unknown
  let log: unknown
  try {
    tokens = JSON.parse(tokenKeysJson)
  } catch {
    throw new KeyConfigError('TOKEN_KEYS', 'is not JSON')
  }
  try {
    log = JSON.parse(logKeyJson)
  } catch {
    throw new KeyConfigError('LOG_KEY', 'is not JSON')
  }
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new KeyConfigError('TOKEN_KEYS', 'must be a non-empty JSON array')
  }
  const tokenKeys = tokens
    .map((t) => toTokenKey(parseKeyFile('TOKEN_KEYS', t)))
    .sort((a, b) => b.createdAt - a.createdAt)
  return { tokenKeys, log: signingKeyPairFromSeed(fromB64(parseKeyFile('LOG_KEY', log).seed)) }
}
