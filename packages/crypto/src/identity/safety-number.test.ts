import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cryptoReady } from '../sodium.js'
import { FormatError } from './errors.js'
import { generateSigningKeyPair } from './keys.js'
import { compareSafetyQr, safetyNumber } from './safety-number.js'
import type { SafetyParty } from './safety-number.js'

beforeAll(async () => {
  await cryptoReady()
})

const party = fc.record({
  userId: fc.string({ minLength: 1, maxLength: 20 }),
  masterPk: fc.uint8Array({ minLength: 32, maxLength: 32 }),
})

function fixed(userId: string, start: number): SafetyParty {
  return { userId, masterPk: Uint8Array.from({ length: 32 }, (_, i) => (start + i) & 0xff) }
}

describe('safety numbers', () => {
  it('is 60 digits in 12 groups of 5', () => {
    const n = safetyNumber(fixed('alice', 0), fixed('bob', 32))
    expect(n.digits).toMatch(/^\d{60}$/)
    expect(n.groups).toHaveLength(12)
    expect(n.groups.join('')).toBe(n.digits)
    for (const g of n.groups) expect(g).toMatch(/^\d{5}$/)
  })

  it('is the same for both people', () => {
    fc.assert(
      fc.property(party, party, (a, b) => {
        const ab = safetyNumber(a, b)
        const ba = safetyNumber(b, a)
        expect(ab.digits).toBe(ba.digits)
        expect(compareSafetyQr(ab, ba.qrPayload)).toBe(true)
      }),
      { numRuns: 15 },
    )
  })

  it('changes when either master key changes', () => {
    fc.assert(
      fc.property(party, party, fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b, pk) => {
        fc.pre(Buffer.compare(pk, b.masterPk) !== 0)
        const real = safetyNumber(a, b)
        const mitm = safetyNumber(a, { ...b, masterPk: pk })
        expect(mitm.digits).not.toBe(real.digits)
        expect(compareSafetyQr(real, mitm.qrPayload)).toBe(false)
      }),
      { numRuns: 15 },
    )
  })

  it('changes when a user id changes', () => {
    const a = fixed('alice', 0)
    const b = fixed('bob', 32)
    expect(safetyNumber(a, b).digits).not.toBe(safetyNumber(a, { ...b, userId: 'bob2' }).digits)
  })

  // Test vector: generated, do not edit. Cross-checked against an independent Python
  // implementation (hashlib.blake2b); a change here changes every number users compared.
  it('gives the committed number for fixed keys', () => {
    const n = safetyNumber(fixed('alice', 0), fixed('bob', 32))
    expect(n.groups.join(' ')).toBe(
      '27486 62458 86085 74194 85305 97084 50973 63502 96798 21462 77354 03533',
    )
  })

  it('does not match a scanned code that is garbage or truncated', () => {
    const n = safetyNumber(fixed('alice', 0), fixed('bob', 32))
    expect(compareSafetyQr(n, new Uint8Array(0))).toBe(false)
    expect(compareSafetyQr(n, n.qrPayload.subarray(1))).toBe(false)
    expect(compareSafetyQr(n, n.qrPayload.slice())).toBe(true)
  })

  it('refuses a master key of the wrong size', () => {
    expect(() =>
      safetyNumber({ userId: 'a', masterPk: generateSigningKeyPair().privateKey }, fixed('b', 0)),
    ).toThrow(FormatError)
  })
})
