import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { utf8 } from '../encoding.js'
import { cryptoReady } from '../sodium.js'
import { OprfDeserializeError, OprfInvalidInputError, OprfVerifyError } from './errors.js'
import { rfc9497Ristretto255Sha512 } from './rfc9497-vectors.js'
import { deserializeElement, deserializeScalar, expandMessageXmd } from './group.js'
import {
  blind,
  blindEvaluate,
  blindWithScalar,
  deriveKeyPair,
  evaluate,
  finalize,
  generateKeyPair,
  generateProof,
  hashToGroup,
  oprfBaseSuite,
  verifiableBlindEvaluate,
  verifiableBlindEvaluateWithRandomness,
  verifiableFinalize,
  verifyProof,
  voprfSuite,
} from './voprf.js'

const vectors = rfc9497Ristretto255Sha512

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const G = (): Uint8Array =>
  deserializeElement(hex('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76'))

beforeAll(async () => {
  await cryptoReady()
})

describe('expand_message_xmd (RFC 9380 K.3, SHA-512)', () => {
  const dst = utf8('QUUX-V01-CS02-with-expander-SHA512-256')

  it.each([
    ['', 0x20, '6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba'],
    ['abc', 0x20, '0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc'],
    [
      'abc',
      0x80,
      '7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb1347ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b488431851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1',
    ],
  ])('expands %j to %i bytes', (msg, len, expected) => {
    expect(toHex(expandMessageXmd(utf8(msg), dst, len))).toBe(expected)
  })

  it('refuses lengths it cannot produce', () => {
    expect(() => expandMessageXmd(new Uint8Array(), dst, 255 * 64 + 1)).toThrow(
      OprfInvalidInputError,
    )
  })
})

describe('RFC 9497 A.1.1 OPRF(ristretto255, SHA-512), mode 0x00', () => {
  const v = vectors.oprf_mode0

  it('derives skSm from the seed and key info', () => {
    const kp = deriveKeyPair(oprfBaseSuite, hex(vectors.seed), hex(vectors.keyInfo))
    expect(toHex(kp.secretKey)).toBe(v.skSm)
  })

  it.each(v.vectors.map((t, i) => [i + 1, t] as const))('matches test vector %i', (_, t) => {
    const { blindedElement } = blindWithScalar(oprfBaseSuite, hex(t.Input), hex(t.Blind))
    expect(toHex(blindedElement)).toBe(t.BlindedElement)
    const evaluated = blindEvaluate(hex(v.skSm), blindedElement)
    expect(toHex(evaluated)).toBe(t.EvaluationElement)
    expect(toHex(finalize(hex(t.Input), hex(t.Blind), evaluated))).toBe(t.Output)
    expect(toHex(evaluate(oprfBaseSuite, hex(v.skSm), hex(t.Input)))).toBe(t.Output)
  })
})

describe('RFC 9497 A.1.2 VOPRF(ristretto255, SHA-512), mode 0x01', () => {
  const v = vectors.voprf_mode1

  it('derives skSm and pkSm from the seed and key info', () => {
    const kp = deriveKeyPair(voprfSuite, hex(vectors.seed), hex(vectors.keyInfo))
    expect(toHex(kp.secretKey)).toBe(v.skSm)
    expect(toHex(kp.publicKey)).toBe(v.pkSm)
  })

  it.each(v.vectors.map((t, i) => [i + 1, t] as const))('matches test vector %i', (_, t) => {
    const { blindedElement } = blindWithScalar(voprfSuite, hex(t.Input), hex(t.Blind))
    expect(toHex(blindedElement)).toBe(t.BlindedElement)

    const ev = verifiableBlindEvaluateWithRandomness(
      voprfSuite,
      hex(v.skSm),
      [blindedElement],
      hex(t.ProofRandomScalar),
    )
    expect(ev.evaluatedElements.map(toHex)).toEqual([t.EvaluationElement])
    expect(toHex(ev.proof)).toBe(t.Proof)

    const out = verifiableFinalize(
      voprfSuite,
      hex(v.pkSm),
      [hex(t.Input)],
      [hex(t.Blind)],
      [blindedElement],
      ev.evaluatedElements,
      ev.proof,
    )
    expect(out.map(toHex)).toEqual([t.Output])
    expect(toHex(evaluate(voprfSuite, hex(v.skSm), hex(t.Input)))).toBe(t.Output)
  })

  it('matches test vector 3 (batch size 2)', () => {
    const b = v.batch
    // The file lists only the second element of the batch; the first is vector 1's
    // (same input, same blind), and the outputs do not depend on the blind.
    const first = v.vectors[0]!
    const second = v.vectors[1]!
    expect(b.Input).toEqual([first.Input, second.Input])
    expect(b.Blind[0]).toBe(first.Blind)

    const inputs = b.Input.map(hex)
    const blinds = b.Blind.map(hex)
    const blinded = inputs.map((x, i) => blindWithScalar(voprfSuite, x, blinds[i]!).blindedElement)
    expect(blinded.map(toHex)).toEqual([first.BlindedElement, b.BlindedElement1])

    const ev = verifiableBlindEvaluateWithRandomness(
      voprfSuite,
      hex(v.skSm),
      blinded,
      hex(b.ProofRandomScalar),
    )
    expect(ev.evaluatedElements.map(toHex)).toEqual([first.EvaluationElement, b.EvaluationElement1])
    expect(toHex(ev.proof)).toBe(b.Proof)

    const out = verifiableFinalize(
      voprfSuite,
      hex(v.pkSm),
      inputs,
      blinds,
      blinded,
      ev.evaluatedElements,
      ev.proof,
    )
    expect(out.map(toHex)).toEqual([first.Output, second.Output])
  })

  it('verifies the RFC batch proof as given, and refuses it with the elements swapped', () => {
    const b = v.batch
    const first = v.vectors[0]!
    const C = [hex(first.BlindedElement), hex(b.BlindedElement1)]
    const D = [hex(first.EvaluationElement), hex(b.EvaluationElement1)]
    expect(() => verifyProof(voprfSuite, G(), hex(v.pkSm), C, D, hex(b.Proof))).not.toThrow()
    expect(() =>
      verifyProof(voprfSuite, G(), hex(v.pkSm), C, [D[1]!, D[0]!], hex(b.Proof)),
    ).toThrow(OprfVerifyError)
  })
})

describe('VOPRF properties', () => {
  it('finalizes to the server-side Evaluate for random inputs and batches', () => {
    const kp = generateKeyPair()
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 4 }),
        (inputs) => {
          const blinded = inputs.map((x) => blind(voprfSuite, x))
          const ev = verifiableBlindEvaluate(
            voprfSuite,
            kp.secretKey,
            blinded.map((b) => b.blindedElement),
          )
          const out = verifiableFinalize(
            voprfSuite,
            kp.publicKey,
            inputs,
            blinded.map((b) => b.blind),
            blinded.map((b) => b.blindedElement),
            ev.evaluatedElements,
            ev.proof,
          )
          out.forEach((o, i) =>
            expect(toHex(o)).toBe(toHex(evaluate(voprfSuite, kp.secretKey, inputs[i]!))),
          )
        },
      ),
      { numRuns: 25 },
    )
  })

  it('refuses a proof made for another public key', () => {
    const honest = generateKeyPair()
    const other = generateKeyPair()
    const { blindedElement } = blind(voprfSuite, utf8('x'))
    const ev = verifiableBlindEvaluate(voprfSuite, other.secretKey, [blindedElement])
    expect(() =>
      verifyProof(
        voprfSuite,
        G(),
        honest.publicKey,
        [blindedElement],
        ev.evaluatedElements,
        ev.proof,
      ),
    ).toThrow(OprfVerifyError)
  })

  it('refuses a batch where one element was evaluated under another key', () => {
    const honest = generateKeyPair()
    const tag = generateKeyPair()
    const C = [
      blind(voprfSuite, utf8('a')).blindedElement,
      blind(voprfSuite, utf8('b')).blindedElement,
    ]
    const D = [blindEvaluate(honest.secretKey, C[0]!), blindEvaluate(tag.secretKey, C[1]!)]
    const proof = generateProof(voprfSuite, honest.secretKey, G(), honest.publicKey, C, D)
    expect(() => verifyProof(voprfSuite, G(), honest.publicKey, C, D, proof)).toThrow(
      OprfVerifyError,
    )
  })

  it('refuses any single flipped bit in the proof', () => {
    const kp = generateKeyPair()
    const C = [blind(voprfSuite, utf8('flip')).blindedElement]
    const { evaluatedElements: D, proof } = verifiableBlindEvaluate(voprfSuite, kp.secretKey, C)
    fc.assert(
      fc.property(fc.integer({ min: 0, max: proof.length * 8 - 1 }), (bit) => {
        const bad = proof.slice()
        bad[bit >> 3]! ^= 1 << (bit & 7)
        expect(() => verifyProof(voprfSuite, G(), kp.publicKey, C, D, bad)).toThrow()
      }),
      { numRuns: 60 },
    )
  })

  it('gives different outputs in OPRF and VOPRF mode (domain separation)', () => {
    const kp = generateKeyPair()
    expect(toHex(evaluate(voprfSuite, kp.secretKey, utf8('x')))).not.toBe(
      toHex(evaluate(oprfBaseSuite, kp.secretKey, utf8('x'))),
    )
    expect(toHex(hashToGroup(voprfSuite, utf8('x')))).not.toBe(
      toHex(hashToGroup(oprfBaseSuite, utf8('x'))),
    )
  })
})

describe('input validation', () => {
  it('refuses the identity, non-canonical and wrong-length elements', () => {
    expect(() => deserializeElement(new Uint8Array(32))).toThrow(OprfDeserializeError)
    expect(() => deserializeElement(new Uint8Array(32).fill(0xff))).toThrow(OprfDeserializeError)
    expect(() => deserializeElement(new Uint8Array(31))).toThrow(OprfDeserializeError)
    const kp = generateKeyPair()
    expect(() => blindEvaluate(kp.secretKey, new Uint8Array(32))).toThrow(OprfDeserializeError)
  })

  it('refuses scalars at or above the group order', () => {
    // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian
    const order = hex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010')
    expect(() => deserializeScalar(order)).toThrow(OprfDeserializeError)
    expect(() => deserializeScalar(new Uint8Array(32).fill(0xff))).toThrow(OprfDeserializeError)
  })

  it('refuses a zero blind, a zero key and mismatched batch lengths', () => {
    expect(() => blindWithScalar(voprfSuite, utf8('x'), new Uint8Array(32))).toThrow(
      OprfInvalidInputError,
    )
    const { blindedElement } = blind(voprfSuite, utf8('x'))
    expect(() => blindEvaluate(new Uint8Array(32), blindedElement)).toThrow(OprfInvalidInputError)
    expect(() => verifiableBlindEvaluate(voprfSuite, generateKeyPair().secretKey, [])).toThrow(
      OprfInvalidInputError,
    )
    const kp = generateKeyPair()
    const b = blind(voprfSuite, utf8('y'))
    const ev = verifiableBlindEvaluate(voprfSuite, kp.secretKey, [b.blindedElement])
    expect(() =>
      verifiableFinalize(
        voprfSuite,
        kp.publicKey,
        [utf8('y'), utf8('z')],
        [b.blind],
        [b.blindedElement],
        ev.evaluatedElements,
        ev.proof,
      ),
    ).toThrow(OprfInvalidInputError)
  })

  it('refuses inputs longer than 65535 bytes', () => {
    expect(() => blind(voprfSuite, new Uint8Array(65536))).toThrow(OprfInvalidInputError)
  })
})
