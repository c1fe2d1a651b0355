#!/usr/bin/env node
// Server key files for KEYS_DIR (services/api/src/keys.ts), for operators: plain Node, no
// dependencies, runs anywhere Node 20+ runs. Every file is {kid, seed, createdAt}: an Ed25519
// seed (32 random bytes, base64url) with a key id and its creation time in ms.
//
//   node deploy/keygen.mjs init DIR      log-key.json and one token key, if they are missing
//   node deploy/keygen.mjs add DIR       a new token key that only verifies (token-next-*.json:
//                                        dated before the signing key, so it does not sign yet)
//   node deploy/keygen.mjs promote DIR   the added key becomes the newest: it signs after the
//                                        next restart, the older ones still verify
//   node deploy/keygen.mjs prune DIR     removes every token key but the newest, once the
//                                        newest is older than an access token's lifetime
//   node deploy/keygen.mjs list DIR      kid, age and role of each key (never the seed)
//
// The server verifies with every token-*.json and signs with the one with the newest createdAt.
// Rotation is add → restart all → promote → restart all → (16 min) prune → restart all, so no
// replica ever sees a token signed by a key it does not know yet (the client would take that 401
// for a revoked session). Every replica must see the same files (a Kubernetes Secret, a read-only
// bind mount): a replica that finds no keys makes its own, and tokens from one replica then fail
// on the other.
import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

/** Access tokens live 15 minutes and are accepted 1 minute longer (services/api/src/auth). */
export const TOKEN_LIFETIME_MS = 16 * 60 * 1000

export function newKeyFile(now = Date.now()) {
  return {
    kid: randomBytes(8).toString('base64url'),
    seed: randomBytes(32).toString('base64url'),
    createdAt: now,
  }
}

function write(file, key) {
  writeFileSync(file, JSON.stringify(key) + '\n', { mode: 0o640, flag: 'wx' })
}

export function tokenKeys(dir) {
  return readdirSync(dir)
    .filter((f) => /^token-.*\.json$/.test(f))
    .map((f) => ({ file: f, ...JSON.parse(readFileSync(path.join(dir, f), 'utf8')) }))
    .sort((a, b) => b.createdAt - a.createdAt)
}

export function init(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o750 })
  const made = []
  if (!existsSync(path.join(dir, 'log-key.json'))) {
    write(path.join(dir, 'log-key.json'), newKeyFile())
    made.push('log-key.json')
  }
  if (tokenKeys(dir).length === 0) {
    const key = newKeyFile()
    write(path.join(dir, `token-${key.createdAt}.json`), key)
    made.push(`token-${key.createdAt}.json`)
  }
  return made
}

const NEXT = /^token-next-.*\.json$/

/** A new key that verifies but does not sign: dated just before the current signing key. */
export function add(dir) {
  const keys = tokenKeys(dir)
  if (keys.some((k) => NEXT.test(k.file))) throw new Error('a key was added already: promote it')
  const signer = keys[0]
  if (!signer) throw new Error(`no token keys in ${dir}: run init`)
  const name = `token-next-${Date.now()}.json`
  write(path.join(dir, name), newKeyFile(signer.createdAt - 1))
  return name
}

/** The added key becomes the newest (it signs after the next restart); same kid and seed. */
export function promote(dir, now = Date.now()) {
  const keys = tokenKeys(dir)
  const next = keys.find((k) => NEXT.test(k.file))
  if (!next) throw new Error('no added key to promote: run add first')
  const at = Math.max(now, keys[0].createdAt + 1)
  const name = `token-${at}.json`
  write(path.join(dir, name), { kid: next.kid, seed: next.seed, createdAt: at })
  rmSync(path.join(dir, next.file))
  return name
}

export function prune(dir, now = Date.now()) {
  const [newest, ...older] = tokenKeys(dir)
  if (!newest) throw new Error(`no token keys in ${dir}`)
  if (older.some((k) => NEXT.test(k.file))) throw new Error('an added key is waiting: promote it')
  const age = now - newest.createdAt
  if (older.length > 0 && age < TOKEN_LIFETIME_MS) {
    const wait = Math.ceil((TOKEN_LIFETIME_MS - age) / 60_000)
    throw new Error(
      `the newest key is only ${Math.floor(age / 60_000)} min old: tokens signed by the older ` +
        `keys may still be in use; try again in ${wait} min (after every replica restarted)`,
    )
  }
  for (const k of older) rmSync(path.join(dir, k.file))
  return older.map((k) => k.file)
}

function main(argv) {
  const [cmd, dir] = argv
  if (!cmd || !dir || !['init', 'add', 'promote', 'prune', 'list'].includes(cmd)) {
    process.stderr.write('usage: node deploy/keygen.mjs init|add|promote|prune|list DIR\n')
    return 2
  }
  try {
    if (cmd === 'init') {
      const made = init(dir)
      process.stdout.write(made.length ? `created ${made.join(', ')} in ${dir}\n` : 'keys exist\n')
    } else if (cmd === 'add') {
      process.stdout.write(`created ${add(dir)}: it verifies after the next restart\n`)
    } else if (cmd === 'promote') {
      process.stdout.write(`created ${promote(dir)}: it signs after the next restart\n`)
    } else if (cmd === 'prune') {
      const gone = prune(dir)
      process.stdout.write(gone.length ? `removed ${gone.join(', ')}\n` : 'nothing to remove\n')
    } else {
      const now = Date.now()
      tokenKeys(dir).forEach((k, i) => {
        const mins = Math.floor((now - k.createdAt) / 60_000)
        const role = i === 0 ? 'signs' : NEXT.test(k.file) ? 'added, verifies' : 'verifies'
        process.stdout.write(`${k.file}  kid ${k.kid}  ${mins} min old  (${role})\n`)
      })
    }
    return 0
  } catch (err) {
    process.stderr.write(`keygen: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2))
}
