import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cryptoReady } from '../sodium.js'
import { fromB64 } from '../encoding.js'
import { SignatureError } from './errors.js'
import {
  generateBoxKeyPair,
  generateSigningKeyPair,
  hash,
  randomBytes,
  randomId,
  sign,
  signingKeyPairFromSeed,
  verify,
} from './keys.js'

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))

beforeAll(async () => {
  await cryptoReady()
})

describe('key pairs', () => {
  it('makes Ed25519 and X25519 key pairs of the right sizes', () => {
    const s = generateSigningKeyPair()
    const b = generateBoxKeyPair()
    expect([s.publicKey.length, s.privateKey.length]).toEqual([32, 64])
    expect([b.publicKey.length, b.privateKey.length]).toEqual([32, 32])
    expect(generateSigningKeyPair().publicKey).not.toEqual(s.publicKey)
  })

  it('derives the RFC 8032 test 1 public key from its seed', () => {
    const kp = signingKeyPairFromSeed(
      hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
    )
    expect(kp.publicKey).toEqual(
      hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
    )
  })
})

describe('context signatures', () => {
  it('verifies what it signed', () => {
    const kp = generateSigningKeyPair()
    const sig = sign('test/v1', kp.privateKey, 'alice', 42, new Uint8Array([1, 2, 3]))
    expect(sig).toHaveLength(64)
    expect(() =>
      verify('test/v1', kp.publicKey, sig, 'alice', 42, new Uint8Array([1, 2, 3])),
    ).not.toThrow()
  })

  it('refuses another key, another context, or other fields', () => {
    const kp = generateSigningKeyPair()
    const other = generateSigningKeyPair()
    const sig = sign('test/v1', kp.privateKey, 'alice', 42)
    expect(() => verify('test/v1', other.publicKey, sig, 'alice', 42)).toThrow(SignatureError)
    expect(() => verify('test/v2', kp.publicKey, sig, 'alice', 42)).toThrow(SignatureError)
    expect(() => verify('test/v1', kp.publicKey, sig, 'alice', 43)).toThrow(SignatureError)
    expect(() => verify('test/v1', kp.publicKey, sig, 'alic', 'e', 42)).toThrow(SignatureError)
  })

  it('reports wrong-sized keys and signatures from the network as a bad signature', () => {
    const kp = generateSigningKeyPair()
    const sig = sign('test/v1', kp.privateKey)
    expect(() => verify('test/v1', kp.publicKey, sig.subarray(1))).toThrow(SignatureError)
    expect(() => verify('test/v1', kp.publicKey.subarray(1), sig)).toThrow(SignatureError)
    expect(() => verify('test/v1', kp.publicKey, new Uint8Array(64))).toThrow(SignatureError)
  })

  it('detects any flipped bit in the signature or the message', () => {
    const kp = generateSigningKeyPair()
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        (msg, pos, bit, inSig) => {
          const sig = sign('test/v1', kp.privateKey, msg)
          const target = inSig ? sig : msg.slice()
          target[pos % target.length]! ^= 1 << bit
          const e = () => verify('test/v1', kp.publicKey, sig, inSig ? msg : target)
          expect(e).toThrow(SignatureError)
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('context hashes', () => {
  it('is 32 bytes and separates contexts and field boundaries', () => {
    expect(hash('h/v1', 'a')).toHaveLength(32)
    expect(hash('h/v1', 'a')).toEqual(hash('h/v1', 'a'))
    expect(hash('h/v1', 'a')).not.toEqual(hash('h/v2', 'a'))
    expect(hash('h/v1', 'ab', 'c')).not.toEqual(hash('h/v1', 'a', 'bc'))
  })

  it('gives different field lists different hashes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 4 }),
        fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 4 }),
        (a, b) => {
          const same = a.length === b.length && a.every((x, i) => Buffer.compare(x, b[i]!) === 0)
          expect(Buffer.compare(hash('h/v1', ...a), hash('h/v1', ...b)) === 0).toBe(same)
        },
      ),
    )
  })
})

describe('randomness', () => {
  it('makes random bytes and 16-byte base64url ids', () => {
    expect(randomBytes(0)).toHaveLength(0)
    expect(randomBytes(40)).toHaveLength(40)
    expect(() => randomBytes(-1)).toThrow(RangeError)
    const ids = new Set(Array.from({ length: 100 }, () => randomId()))
    expect(ids.size).toBe(100)
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
      expect(fromB64(id)).toHaveLength(16)
    }
  })
})
