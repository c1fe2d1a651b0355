import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cryptoReady } from '../sodium.js'
import { CertificateError, FormatError, SignatureError } from './errors.js'
import { generateBoxKeyPair, generateSigningKeyPair } from './keys.js'
import type { SigningKeyPair } from './keys.js'
import {
  certifyDeskKey,
  certifyDevice,
  decodeDeskKeyCert,
  decodeDeviceCert,
  decodeDeviceRevocation,
  deskKeyCertFromJSON,
  deskKeyCertToJSON,
  deviceCertFromJSON,
  deviceCertToJSON,
  deviceRevocationFromJSON,
  deviceRevocationToJSON,
  encodeDeskKeyCert,
  encodeDeviceCert,
  encodeDeviceRevocation,
  revokeDevice,
  verifyDeskKeyCert,
  verifyDeviceCert,
  verifyDeviceRevocation,
} from './device-cert.js'
import type { DeviceCert } from './device-cert.js'

const NOW = Date.UTC(2026, 10, 24)
const DAY = 86_400_000

let master: SigningKeyPair
let mallory: SigningKeyPair

beforeAll(async () => {
  await cryptoReady()
  master = generateSigningKeyPair()
  mallory = generateSigningKeyPair()
})

function newCert(priv = master.privateKey, userId = 'alice'): DeviceCert {
  return certifyDevice(priv, {
    userId,
    deviceId: 'laptop',
    signPk: generateSigningKeyPair().publicKey,
    boxPk: generateBoxKeyPair().publicKey,
    notAfter: NOW + 30 * DAY,
  })
}

function flip(b: Uint8Array, i = 0): Uint8Array {
  const c = b.slice()
  c[i % c.length]! ^= 1
  return c
}

describe('device certificates', () => {
  it('accepts a device certified by the master key until notAfter', () => {
    const cert = newCert()
    expect(() => verifyDeviceCert(master.publicKey, cert, NOW)).not.toThrow()
    expect(() => verifyDeviceCert(master.publicKey, cert, cert.notAfter)).not.toThrow()
  })

  it('refuses a certificate forged with another key', () => {
    const forged = newCert(mallory.privateKey)
    expect(() => verifyDeviceCert(master.publicKey, forged, NOW)).toThrow(SignatureError)
  })

  it('refuses a genuine certificate checked against the wrong master key', () => {
    expect(() => verifyDeviceCert(mallory.publicKey, newCert(), NOW)).toThrow(SignatureError)
  })

  it('refuses an expired certificate', () => {
    const cert = newCert()
    const e = (): void => verifyDeviceCert(master.publicKey, cert, cert.notAfter + 1)
    expect(e).toThrow(CertificateError)
    expect(e).toThrow(expect.objectContaining({ code: 'expired' }))
  })

  it('refuses a certificate with any field altered', () => {
    const cert = newCert()
    const altered: DeviceCert[] = [
      { ...cert, userId: 'mallory' },
      { ...cert, deviceId: 'laptop2' },
      { ...cert, signPk: generateSigningKeyPair().publicKey },
      { ...cert, boxPk: generateBoxKeyPair().publicKey },
      { ...cert, notAfter: cert.notAfter + 1 },
    ]
    for (const a of altered) {
      expect(() => verifyDeviceCert(master.publicKey, a, NOW)).toThrow(SignatureError)
    }
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('signPk', 'boxPk', 'signature'), (i, k) => {
        const a = { ...cert, [k]: flip(cert[k], i) }
        expect(() => verifyDeviceCert(master.publicKey, a, NOW)).toThrow(SignatureError)
      }),
    )
  })

  it('refuses a certificate for another user or device than asked for', () => {
    const bobs = newCert(master.privateKey, 'bob')
    const e = (): void =>
      verifyDeviceCert(master.publicKey, bobs, NOW, { expect: { userId: 'alice' } })
    expect(e).toThrow(expect.objectContaining({ code: 'wrong-subject' }))
    expect(() =>
      verifyDeviceCert(master.publicKey, bobs, NOW, { expect: { deviceId: 'phone' } }),
    ).toThrow(CertificateError)
  })

  it('refuses wrong-sized keys before signing', () => {
    const signPk = new Uint8Array(31)
    expect(() =>
      certifyDevice(master.privateKey, {
        userId: 'a',
        deviceId: 'd',
        signPk,
        boxPk: new Uint8Array(32),
        notAfter: 1,
      }),
    ).toThrow(FormatError)
  })
})

describe('device revocation', () => {
  it('revokes a device from revokedAt on', () => {
    const cert = newCert()
    const rev = revokeDevice(master.privateKey, {
      userId: 'alice',
      deviceId: 'laptop',
      revokedAt: NOW,
    })
    verifyDeviceRevocation(master.publicKey, rev)
    const e = (): void => verifyDeviceCert(master.publicKey, cert, NOW, { revocations: [rev] })
    expect(e).toThrow(expect.objectContaining({ code: 'revoked' }))
    expect(() =>
      verifyDeviceCert(master.publicKey, cert, NOW - 1, { revocations: [rev] }),
    ).not.toThrow()
  })

  it('ignores a revocation forged by someone else', () => {
    const cert = newCert()
    const forged = revokeDevice(mallory.privateKey, {
      userId: 'alice',
      deviceId: 'laptop',
      revokedAt: NOW,
    })
    expect(() => verifyDeviceRevocation(master.publicKey, forged)).toThrow(SignatureError)
    expect(() =>
      verifyDeviceCert(master.publicKey, cert, NOW, { revocations: [forged] }),
    ).not.toThrow()
  })

  it('cannot be replayed as a certificate signature (context separation)', () => {
    const cert = newCert()
    const rev = revokeDevice(master.privateKey, {
      userId: 'alice',
      deviceId: 'laptop',
      revokedAt: cert.notAfter,
    })
    const e = (): void =>
      verifyDeviceCert(master.publicKey, { ...cert, signature: rev.signature }, NOW)
    expect(e).toThrow(SignatureError)
  })

  it('refuses an altered revocation', () => {
    const rev = revokeDevice(master.privateKey, { userId: 'a', deviceId: 'd', revokedAt: 5 })
    expect(() => verifyDeviceRevocation(master.publicKey, { ...rev, revokedAt: 6 })).toThrow(
      SignatureError,
    )
    expect(() => verifyDeviceRevocation(master.publicKey, { ...rev, deviceId: 'e' })).toThrow(
      SignatureError,
    )
  })
})

describe('desk key statements', () => {
  function deskCert(priv = master.privateKey) {
    return certifyDeskKey(priv, {
      deskId: 'vt-twente-advies',
      version: 2,
      signPk: generateSigningKeyPair().publicKey,
      boxPk: generateBoxKeyPair().publicKey,
      createdAt: NOW,
    })
  }

  it('accepts a desk key signed by the admin master key', () => {
    const c = deskCert()
    expect(() => verifyDeskKeyCert(master.publicKey, c)).not.toThrow()
    expect(() =>
      verifyDeskKeyCert(master.publicKey, c, { expectDeskId: 'vt-twente-advies' }),
    ).not.toThrow()
  })

  it('refuses a forged, altered or misdirected desk key', () => {
    const c = deskCert()
    expect(() => verifyDeskKeyCert(master.publicKey, deskCert(mallory.privateKey))).toThrow(
      SignatureError,
    )
    expect(() => verifyDeskKeyCert(master.publicKey, { ...c, version: 3 })).toThrow(SignatureError)
    expect(() =>
      verifyDeskKeyCert(master.publicKey, { ...c, boxPk: generateBoxKeyPair().publicKey }),
    ).toThrow(SignatureError)
    expect(() => verifyDeskKeyCert(master.publicKey, c, { expectDeskId: 'other' })).toThrow(
      expect.objectContaining({ code: 'wrong-subject' }),
    )
  })

  it('round-trips its JSON and record forms', () => {
    const c = deskCert()
    const back = deskKeyCertFromJSON(JSON.parse(JSON.stringify(deskKeyCertToJSON(c))))
    expect(back).toEqual(c)
    expect(decodeDeskKeyCert(encodeDeskKeyCert(c))).toEqual(c)
    verifyDeskKeyCert(master.publicKey, back)
  })
})

describe('certificate serialisation', () => {
  it('round-trips device certificates through JSON and records', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.maxSafeNat(),
        (userId, deviceId, signPk, boxPk, notAfter) => {
          const cert = certifyDevice(master.privateKey, {
            userId,
            deviceId,
            signPk,
            boxPk,
            notAfter,
          })
          const json = JSON.parse(JSON.stringify(deviceCertToJSON(cert)))
          expect(deviceCertFromJSON(json)).toEqual(cert)
          expect(decodeDeviceCert(encodeDeviceCert(cert))).toEqual(cert)
          verifyDeviceCert(master.publicKey, deviceCertFromJSON(json), 0)
        },
      ),
      { numRuns: 50 },
    )
  })

  it('round-trips revocations', () => {
    const rev = revokeDevice(master.privateKey, { userId: 'a', deviceId: 'd', revokedAt: NOW })
    expect(deviceRevocationFromJSON(deviceRevocationToJSON(rev))).toEqual(rev)
    expect(decodeDeviceRevocation(encodeDeviceRevocation(rev))).toEqual(rev)
  })

  it('refuses JSON with missing, extra, mistyped or wrong-sized fields', () => {
    const good = deviceCertToJSON(newCert())
    const bad: unknown[] = [
      null,
      [],
      'cert',
      { ...good, extra: 1 },
      { ...good, userId: undefined },
      { ...good, userId: '' },
      { ...good, userId: 'x'.repeat(257) },
      { ...good, notAfter: -1 },
      { ...good, notAfter: 1.5 },
      { ...good, notAfter: '1' },
      { ...good, signPk: good.signPk.slice(2) },
      { ...good, boxPk: 'not+base64/' },
      { ...good, signature: good.signature + 'AA' },
    ]
    for (const b of bad) expect(() => deviceCertFromJSON(b), JSON.stringify(b)).toThrow(FormatError)
  })

  it('refuses a record of another kind or with trailing data', () => {
    const rev = revokeDevice(master.privateKey, { userId: 'a', deviceId: 'd', revokedAt: NOW })
    expect(() => decodeDeviceCert(encodeDeviceRevocation(rev))).toThrow(FormatError)
    const rec = encodeDeviceCert(newCert())
    expect(() => decodeDeviceCert(rec.subarray(0, rec.length - 1))).toThrow(FormatError)
    const longer = new Uint8Array(rec.length + 4)
    longer.set(rec)
    expect(() => decodeDeviceCert(longer)).toThrow(FormatError)
  })
})
