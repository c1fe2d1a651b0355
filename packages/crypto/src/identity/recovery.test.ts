import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cryptoReady, sodium } from '../sodium.js'
import { encode } from '../encoding.js'
import { DecryptionError, FormatError, RecoveryKeyError } from './errors.js'
import type { RecoveryKeyErrorCode } from './errors.js'
import { randomBytes } from './keys.js'
import {
  deriveBackupKey,
  formatRecoveryKey,
  generatePassphraseSalt,
  generateRecoveryKey,
  parseRecoveryKey,
  recoveryKeyFromPassphrase,
  unwrapSecret,
  wrapSecret,
} from './recovery.js'
import type { PwhashLimits } from './recovery.js'

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
let fast: PwhashLimits

beforeAll(async () => {
  await cryptoReady()
  fast = {
    opsLimit: sodium().crypto_pwhash_OPSLIMIT_MIN,
    memLimit: sodium().crypto_pwhash_MEMLIMIT_MIN,
  }
})

function expectCode(fn: () => unknown, code: RecoveryKeyErrorCode): void {
  expect(fn).toThrow(RecoveryKeyError)
  expect(fn).toThrow(expect.objectContaining({ code }))
}

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('recovery key text', () => {
  it('is 14 groups of 4 Crockford base32 characters and parses back', () => {
    fc.assert(
      fc.property(key32, (key) => {
        const text = formatRecoveryKey(key)
        expect(text).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}( [0-9A-HJKMNP-TV-Z]{4}){13}$/)
        expect(parseRecoveryKey(text)).toEqual(key)
      }),
    )
    expect(generateRecoveryKey()).toHaveLength(32)
  })

  // Test vector: generated, do not edit. Cross-checked against Python's base64.b32encode
  // mapped to the Crockford alphabet; a change here makes written-down keys unreadable.
  it('formats a fixed key to the committed text', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i)
    const text = '000G 40R4 0M30 E209 185G R38E 1W81 24GK 2GAH C5RR 34D1 P70X 3RFG 1KTF'
    expect(formatRecoveryKey(key)).toBe(text)
    expect(parseRecoveryKey(text)).toEqual(key)
  })

  it('accepts lower case, dashes, no spaces and O/I/L look-alikes', () => {
    const key = generateRecoveryKey()
    const text = formatRecoveryKey(key)
    expect(parseRecoveryKey(text.toLowerCase())).toEqual(key)
    expect(parseRecoveryKey(text.replace(/ /g, '-'))).toEqual(key)
    expect(parseRecoveryKey(`  ${text.replace(/ /g, '')}\n`)).toEqual(key)
    const lookalikes = text
      .replace(/0/g, 'O')
      .replace(/1/g, () => (Math.random() < 0.5 ? 'I' : 'l'))
    expect(parseRecoveryKey(lookalikes)).toEqual(key)
  })

  it('detects every single mistyped character', () => {
    for (const seed of [0, 0xff, 0x5a]) {
      const key = new Uint8Array(32).fill(seed)
      const chars = formatRecoveryKey(key).replace(/ /g, '').split('')
      chars.forEach((orig, i) => {
        for (const c of ALPHABET) {
          if (c === orig) continue
          const typo = chars.slice()
          typo[i] = c
          expectCode(() => parseRecoveryKey(typo.join('')), 'checksum')
        }
      })
    }
  })

  it('detects swapped neighbouring characters', () => {
    fc.assert(
      fc.property(key32, fc.integer({ min: 0, max: 54 }), (key, i) => {
        const chars = formatRecoveryKey(key).replace(/ /g, '').split('')
        fc.pre(chars[i] !== chars[i + 1])
        ;[chars[i], chars[i + 1]] = [chars[i + 1]!, chars[i]!]
        expectCode(() => parseRecoveryKey(chars.join('')), 'checksum')
      }),
      { seed: 20261124 },
    )
  })

  it('says which kind of typo it found', () => {
    const text = formatRecoveryKey(generateRecoveryKey())
    expectCode(() => parseRecoveryKey(text.slice(0, -1)), 'length')
    expectCode(() => parseRecoveryKey(text + 'A'), 'length')
    expectCode(() => parseRecoveryKey('U' + text.slice(1)), 'character')
    expect(() => parseRecoveryKey(text.slice(0, 5) + '!' + text.slice(6))).toThrow(/group 2/)
  })
})

describe('passphrase recovery keys', () => {
  it('derives the same key from the same passphrase and salt', () => {
    const salt = generatePassphraseSalt()
    const a = recoveryKeyFromPassphrase('paard batterij nietje correct', salt, fast)
    expect(a).toHaveLength(32)
    expect(recoveryKeyFromPassphrase('paard batterij nietje correct', salt, fast)).toEqual(a)
  })

  it('derives another key from another salt or passphrase', () => {
    const salt = generatePassphraseSalt()
    const a = recoveryKeyFromPassphrase('geheim', salt, fast)
    expect(recoveryKeyFromPassphrase('geheim', generatePassphraseSalt(), fast)).not.toEqual(a)
    expect(recoveryKeyFromPassphrase('geheim!', salt, fast)).not.toEqual(a)
  })

  it('treats composed and decomposed accents alike', () => {
    const salt = generatePassphraseSalt()
    expect(recoveryKeyFromPassphrase('café', salt, fast)).toEqual(
      recoveryKeyFromPassphrase('cafe\u0301', salt, fast),
    )
  })

  it('refuses an empty passphrase or a wrong-sized salt', () => {
    expect(() => recoveryKeyFromPassphrase('', generatePassphraseSalt(), fast)).toThrow(FormatError)
    expect(() => recoveryKeyFromPassphrase('x', new Uint8Array(8), fast)).toThrow(FormatError)
  })
})

describe('backup wrapping', () => {
  it('unwraps what it wrapped', () => {
    const bk = deriveBackupKey(generateRecoveryKey())
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 30 }),
        fc.uint8Array({ maxLength: 200 }),
        (id, secret) => {
          expect(unwrapSecret(bk, id, wrapSecret(bk, id, secret))).toEqual(secret)
        },
      ),
    )
  })

  it('derives a fixed backup key distinct from the recovery key', () => {
    const rk = generateRecoveryKey()
    expect(deriveBackupKey(rk)).toEqual(deriveBackupKey(rk))
    expect(deriveBackupKey(rk)).not.toEqual(rk)
    expect(deriveBackupKey(rk)).toHaveLength(32)
  })

  it('uses a fresh nonce for every wrap', () => {
    const bk = deriveBackupKey(generateRecoveryKey())
    const s = randomBytes(32)
    expect(wrapSecret(bk, 'master-key', s)).not.toEqual(wrapSecret(bk, 'master-key', s))
  })

  it('refuses another recovery key', () => {
    const blob = wrapSecret(deriveBackupKey(generateRecoveryKey()), 'epoch:r1:3', randomBytes(32))
    const other = deriveBackupKey(generateRecoveryKey())
    expect(() => unwrapSecret(other, 'epoch:r1:3', blob)).toThrow(DecryptionError)
  })

  it('refuses a blob moved to another item slot', () => {
    const bk = deriveBackupKey(generateRecoveryKey())
    const blob = wrapSecret(bk, 'epoch:r1:3', randomBytes(32))
    expect(() => unwrapSecret(bk, 'epoch:r1:4', blob)).toThrow(DecryptionError)
    expect(() => unwrapSecret(bk, 'master-key', blob)).toThrow(DecryptionError)
  })

  it('refuses a blob planted by the server', () => {
    const bk = deriveBackupKey(generateRecoveryKey())
    // The server knows the format but not the key: it encrypts under a key of its own.
    const serverKey = randomBytes(32)
    const nonce = randomBytes(24)
    const ct = sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(
      randomBytes(32),
      encode('backup/v1', 'master-key'),
      null,
      nonce,
      serverKey,
    )
    const planted = new Uint8Array([...nonce, ...ct])
    expect(() => unwrapSecret(bk, 'master-key', planted)).toThrow(DecryptionError)
    expect(() => unwrapSecret(bk, 'master-key', randomBytes(80))).toThrow(DecryptionError)
    expect(() => unwrapSecret(bk, 'master-key', new Uint8Array(39))).toThrow(DecryptionError)
  })

  it('detects any flipped bit', () => {
    const bk = deriveBackupKey(generateRecoveryKey())
    const blob = wrapSecret(bk, 'master-key', randomBytes(64))
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: blob.length - 1 }),
        fc.integer({ min: 0, max: 7 }),
        (i, bit) => {
          const t = blob.slice()
          t[i]! ^= 1 << bit
          expect(() => unwrapSecret(bk, 'master-key', t)).toThrow(DecryptionError)
        },
      ),
    )
  })
})
