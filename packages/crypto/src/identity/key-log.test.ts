import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cryptoReady } from '../sodium.js'
import { encode, toB64 } from '../encoding.js'
import { FormatError, KeyLogError } from './errors.js'
import type { KeyLogErrorCode } from './errors.js'
import { generateBoxKeyPair, generateSigningKeyPair, signingKeyPairFromSeed } from './keys.js'
import type { SigningKeyPair } from './keys.js'
import { certifyDevice, encodeDeviceCert } from './device-cert.js'
import {
  KeyLogVerifier,
  appendEntries,
  auditOwnDevices,
  auditOwnMasterKey,
  emptyHead,
  encodeMasterKeyRecord,
  keyLogEntryFromJSON,
  keyLogEntryToJSON,
  signHead,
  signedHeadFromJSON,
  signedHeadToJSON,
  verifyFullLog,
  verifySignedHead,
} from './key-log.js'
import type { KeyLogEntry, SignedHead } from './key-log.js'

let logKey: SigningKeyPair
let aliceMaster: SigningKeyPair

beforeAll(async () => {
  await cryptoReady()
  logKey = generateSigningKeyPair()
  aliceMaster = generateSigningKeyPair()
})

function entry(index: number, subject = `user-${index % 3}`): KeyLogEntry {
  return {
    index,
    kind: index % 2 ? 'device-certified' : 'desk-key-rotated',
    subject,
    payload: encode('test-payload/v1', index, subject),
  }
}

function makeLog(n: number, from = 0): KeyLogEntry[] {
  return Array.from({ length: n }, (_, i) => entry(from + i))
}

function sth(entries: readonly KeyLogEntry[], key = logKey): SignedHead {
  return signHead(key.privateKey, entries.length, appendEntries(emptyHead(), 0, entries))
}

function expectCode(fn: () => unknown, code: KeyLogErrorCode): void {
  expect(fn).toThrow(KeyLogError)
  expect(fn).toThrow(expect.objectContaining({ code }))
}

function deviceEntry(index: number, userId: string, deviceId: string, subject = userId) {
  const cert = certifyDevice(aliceMaster.privateKey, {
    userId,
    deviceId,
    signPk: generateSigningKeyPair().publicKey,
    boxPk: generateBoxKeyPair().publicKey,
    notAfter: 1e13,
  })
  return { index, kind: 'device-certified', subject, payload: encodeDeviceCert(cert) } as const
}

describe('key log chain', () => {
  it('accepts an honest log', () => {
    const log = makeLog(10)
    const head = verifyFullLog(logKey.publicKey, log, sth(log))
    expect(head.size).toBe(10)
    expect(verifyFullLog(logKey.publicKey, [], sth([]))).toEqual({ size: 0, head: emptyHead() })
  })

  it('gives the same head whether appended at once or in parts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }), (a, b) => {
        const log = makeLog(a + b)
        const first = appendEntries(emptyHead(), 0, log.slice(0, a))
        expect(appendEntries(first, a, log.slice(a))).toEqual(appendEntries(emptyHead(), 0, log))
      }),
    )
  })

  // Test vectors: generated, do not edit. Cross-checked against an independent Python
  // implementation of the encoding and chain (hashlib.blake2b, pyca/cryptography Ed25519).
  // A change here breaks every stored log and every client's saved state.
  it('matches the committed head for a fixed log', () => {
    const head = appendEntries(emptyHead(), 0, makeLog(4))
    expect(toB64(head)).toBe('elEqrA_-Fri8-rEXTa4LLaf33kgfJo_GENM_BX4u5hw')
  })

  it('detects tampering with any field of any entry', () => {
    const log = makeLog(8)
    const signed = sth(log)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom('kind', 'subject', 'payload', 'drop', 'swap'),
        (i, what) => {
          const t = log.map((e) => ({ ...e }))
          const e = t[i]!
          if (what === 'kind')
            e.kind = e.kind === 'device-revoked' ? 'device-certified' : 'device-revoked'
          if (what === 'subject') e.subject += 'x'
          if (what === 'payload') e.payload = encode('tampered/v1', i)
          if (what === 'drop') t.splice(i, 1)
          if (what === 'swap') {
            const j = (i + 1) % 8
            ;[t[i], t[j]] = [
              { ...t[j]!, index: i },
              { ...t[i]!, index: j },
            ]
          }
          const code = what === 'drop' ? 'gap' : 'fork'
          expectCode(() => verifyFullLog(logKey.publicKey, t, signed), code)
        },
      ),
    )
  })

  it('refuses entries out of order', () => {
    const log = makeLog(3)
    expectCode(() => appendEntries(emptyHead(), 0, [log[1]!, log[0]!, log[2]!]), 'gap')
    expectCode(() => appendEntries(emptyHead(), 1, log), 'gap')
  })

  it('refuses badly shaped entries', () => {
    const bad = { ...entry(0), kind: 'made-up' } as unknown as KeyLogEntry
    expectCode(() => appendEntries(emptyHead(), 0, [bad]), 'malformed')
    expectCode(() => appendEntries(emptyHead(), 0, [{ ...entry(0), subject: '' }]), 'malformed')
    expectCode(() => appendEntries(new Uint8Array(31), 0, []), 'malformed')
  })
})

describe('signed heads', () => {
  it('verifies a head signed by the log key', () => {
    expect(() => verifySignedHead(logKey.publicKey, sth(makeLog(3)))).not.toThrow()
  })

  it('refuses an unsigned head or one signed by another key', () => {
    const log = makeLog(3)
    const good = sth(log)
    const other = generateSigningKeyPair()
    expectCode(
      () => verifySignedHead(logKey.publicKey, { ...good, signature: new Uint8Array(64) }),
      'bad-signature',
    )
    expectCode(
      () => verifySignedHead(logKey.publicKey, { ...good, signature: new Uint8Array(0) }),
      'bad-signature',
    )
    expectCode(() => verifySignedHead(logKey.publicKey, sth(log, other)), 'bad-signature')
    expectCode(() => verifyFullLog(logKey.publicKey, log, sth(log, other)), 'bad-signature')
  })

  it('refuses a signature moved to another size or head', () => {
    const good = sth(makeLog(3))
    expectCode(() => verifySignedHead(logKey.publicKey, { ...good, size: 4 }), 'bad-signature')
    const head = good.head.slice()
    head[0]! ^= 1
    expectCode(() => verifySignedHead(logKey.publicKey, { ...good, head }), 'bad-signature')
  })

  it('round-trips signed heads and entries through JSON', () => {
    const log = makeLog(3)
    const s = sth(log)
    expect(signedHeadFromJSON(JSON.parse(JSON.stringify(signedHeadToJSON(s))))).toEqual(s)
    for (const e of log) {
      expect(keyLogEntryFromJSON(JSON.parse(JSON.stringify(keyLogEntryToJSON(e))))).toEqual(e)
    }
    const j = keyLogEntryToJSON(log[0]!)
    expect(() => keyLogEntryFromJSON({ ...j, kind: 'made-up' })).toThrow(FormatError)
    expect(() => keyLogEntryFromJSON({ ...j, index: -1 })).toThrow(FormatError)
    expect(() => signedHeadFromJSON({ ...signedHeadToJSON(s), head: 'AAAA' })).toThrow(FormatError)
  })
})

describe('key log verifier', () => {
  it('follows a growing log in steps and ends where a full check does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 6 }), (steps) => {
        const total = steps.reduce((a, b) => a + b, 0)
        const log = makeLog(total)
        const v = new KeyLogVerifier(logKey.publicKey)
        let size = 0
        for (const s of steps) {
          v.update(sth(log.slice(0, size + s)), log.slice(size, size + s))
          size += s
        }
        expect(v.state).toEqual(verifyFullLog(logKey.publicKey, log, sth(log)))
      }),
      { numRuns: 50 },
    )
  })

  it('accepts the same head again', () => {
    const log = makeLog(4)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log), log)
    expect(v.update(sth(log), []).size).toBe(4)
  })

  it('detects a rolled back head', () => {
    const log = makeLog(5)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log), log)
    expectCode(() => v.update(sth(log.slice(0, 3)), []), 'rollback')
  })

  it('detects a fork at the same size', () => {
    const log = makeLog(5)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log), log)
    const forked = [...log.slice(0, 4), entry(4, 'mallory')]
    expectCode(() => v.update(sth(forked), []), 'fork')
  })

  it('detects a rewritten past behind new entries', () => {
    const log = makeLog(5)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log), log)
    const rewritten = [...log.slice(0, 2), entry(2, 'mallory'), ...makeLog(4, 3)]
    expectCode(() => v.update(sth(rewritten), rewritten.slice(5)), 'fork')
  })

  it('detects missing entries', () => {
    const log = makeLog(6)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log.slice(0, 2)), log.slice(0, 2))
    expectCode(() => v.update(sth(log), log.slice(2, 5)), 'gap')
    expectCode(() => v.update(sth(log), log.slice(3)), 'gap')
    expectCode(() => v.update(sth(log), [log[2]!, log[4]!, log[3]!, log[5]!]), 'gap')
  })

  it('refuses more entries than the signed head covers', () => {
    const log = makeLog(6)
    const v = new KeyLogVerifier(logKey.publicKey)
    expectCode(() => v.update(sth(log.slice(0, 3)), log), 'malformed')
  })

  it('refuses an unsigned head and keeps its state after any failure', () => {
    const log = makeLog(6)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log.slice(0, 3)), log.slice(0, 3))
    const before = v.state
    const other = generateSigningKeyPair()
    expectCode(() => v.update(sth(log, other), log.slice(3)), 'bad-signature')
    expectCode(
      () => v.update({ ...sth(log), signature: new Uint8Array(64) }, log.slice(3)),
      'bad-signature',
    )
    expectCode(() => v.update(sth(log), log.slice(4)), 'gap')
    expect(v.state).toEqual(before)
    expect(v.update(sth(log), log.slice(3)).size).toBe(6)
  })

  it('saves and restores its state', () => {
    const log = makeLog(5)
    const v = new KeyLogVerifier(logKey.publicKey)
    v.update(sth(log.slice(0, 3)), log.slice(0, 3))
    const saved = JSON.parse(JSON.stringify(v.toJSON()))
    const restored = KeyLogVerifier.fromJSON(logKey.publicKey, saved)
    expect(restored.state).toEqual(v.state)
    expectCode(() => restored.update(sth(log.slice(0, 2)), []), 'rollback')
    restored.update(sth(log), log.slice(3))
    expect(() => KeyLogVerifier.fromJSON(logKey.publicKey, { ...saved, head: 'AA' })).toThrow(
      FormatError,
    )
    expectCode(
      () =>
        KeyLogVerifier.fromJSON(logKey.publicKey, {
          size: 0,
          head: toB64(new Uint8Array(32).fill(1)),
        }),
      'malformed',
    )
  })
})

describe('own account audit', () => {
  it('stays quiet when all my devices are known', () => {
    const log = [deviceEntry(0, 'alice', 'laptop'), deviceEntry(1, 'alice', 'phone'), entry(2)]
    expect(auditOwnDevices(log, 'alice', ['laptop', 'phone'])).toEqual([])
  })

  it('alerts on a device in the log that I did not certify', () => {
    const log = [
      deviceEntry(0, 'alice', 'laptop'),
      deviceEntry(1, 'bob', 'tablet'),
      deviceEntry(2, 'alice', 'ghost'),
    ]
    const alerts = auditOwnDevices(log, 'alice', ['laptop'])
    expect(alerts).toHaveLength(1)
    expect(alerts[0]).toMatchObject({
      index: 2,
      reason: 'unknown-device',
      cert: { deviceId: 'ghost' },
    })
  })

  it('alerts on my device filed under another subject, and on unreadable entries', () => {
    const log: KeyLogEntry[] = [
      deviceEntry(0, 'alice', 'laptop', 'bob'),
      { index: 1, kind: 'device-certified', subject: 'alice', payload: new Uint8Array([1, 2]) },
      { index: 2, kind: 'device-certified', subject: 'bob', payload: new Uint8Array([1, 2]) },
    ]
    const reasons = auditOwnDevices(log, 'alice', ['laptop']).map((a) => [a.index, a.reason])
    expect(reasons).toEqual([
      [0, 'subject-mismatch'],
      [1, 'malformed'],
    ])
  })

  it('alerts on a master key for my account that is not mine', () => {
    const mine = aliceMaster.publicKey
    const evil = generateSigningKeyPair().publicKey
    const rec = (userId: string, masterPk: Uint8Array) =>
      encodeMasterKeyRecord({ userId, masterPk, createdAt: 1 })
    const log: KeyLogEntry[] = [
      { index: 0, kind: 'master-key-created', subject: 'alice', payload: rec('alice', mine) },
      { index: 1, kind: 'master-key-created', subject: 'bob', payload: rec('bob', evil) },
      { index: 2, kind: 'master-key-changed', subject: 'alice', payload: rec('alice', evil) },
    ]
    const alerts = auditOwnMasterKey(log, 'alice', [mine])
    expect(alerts.map((a) => [a.index, a.reason])).toEqual([[2, 'unknown-master-key']])
    expect(alerts[0]!.masterPk).toEqual(evil)
  })
})

describe('key log test vector', () => {
  it('signs the vector head with a fixed log key to the committed signature', () => {
    const key = signingKeyPairFromSeed(new Uint8Array(32).fill(7))
    const s = sth(makeLog(4), key)
    expect(toB64(s.signature)).toBe(
      'oJWFLY9UwTEdBdRgdxoLJ-J_OxEckIZwCnwBDFkrqs4Vdro6q-qqCnG0LzRLvef9a26Ku3v-yJmGczRUI8YkCA',
    )
  })
})
