import { beforeAll, describe, expect, it } from 'vitest'
import { cryptoReady, sodium } from '../sodium.js'
import { hashPassword, passwordNeedsRehash, verifyPassword } from './password.js'
import type { PwhashLimits } from './recovery.js'

let fast: PwhashLimits

beforeAll(async () => {
  await cryptoReady()
  fast = {
    opsLimit: sodium().crypto_pwhash_OPSLIMIT_MIN,
    memLimit: sodium().crypto_pwhash_MEMLIMIT_MIN,
  }
})

describe('password hashing', () => {
  it('makes an Argon2id hash that verifies the right password only', () => {
    const h = hashPassword('correct horse', fast)
    expect(h).toMatch(/^\$argon2id\$/)
    expect(verifyPassword(h, 'correct horse')).toBe(true)
    expect(verifyPassword(h, 'correct hors')).toBe(false)
    expect(verifyPassword(h, '')).toBe(false)
  })

  it('salts every hash', () => {
    expect(hashPassword('same', fast)).not.toBe(hashPassword('same', fast))
  })

  it('treats composed and decomposed accents alike', () => {
    expect(verifyPassword(hashPassword('café', fast), 'cafe\u0301')).toBe(true)
  })

  it('answers false for a hash string that does not parse', () => {
    expect(verifyPassword('', 'x')).toBe(false)
    expect(verifyPassword('$argon2id$garbage', 'x')).toBe(false)
  })

  it('uses INTERACTIVE limits by default and asks to rehash weaker hashes', () => {
    const strong = hashPassword('pw')
    expect(strong).toContain(`m=${sodium().crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024},`)
    expect(verifyPassword(strong, 'pw')).toBe(true)
    expect(passwordNeedsRehash(strong)).toBe(false)
    const weak = hashPassword('pw', fast)
    expect(passwordNeedsRehash(weak)).toBe(true)
    expect(passwordNeedsRehash(weak, fast)).toBe(false)
    expect(passwordNeedsRehash('garbage')).toBe(true)
  })
})
