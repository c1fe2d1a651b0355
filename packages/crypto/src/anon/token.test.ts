import { beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { cryptoReady } from '../sodium.js'
import {
  OprfInvalidInputError,
  OprfVerifyError,
  TokenFormatError,
  TokenRedemptionError,
} from './errors.js'
import { scalarMultBase } from './group.js'
import { blindEvaluate, generateProof, hashToGroup, voprfSuite } from './voprf.js'
import {
  MAX_TOKEN_BATCH,
  finalizeTokens,
  generateIssuerKey,
  issueTokens,
  prepareTokens,
  redeemToken,
  redemptionFromJson,
  tokenRequestFromJson,
  tokenRequestToJson,
  tokenResponseFromJson,
  tokenResponseToJson,
  verifyRedemption,
} from './token.js'
import type { IssuerKeyPair, Token } from './token.js'

beforeAll(async () => {
  await cryptoReady()
})

/** The whole flow, through the JSON wire shapes on both hops. */
async function issueThroughWire(
  issuer: IssuerKeyPair,
  n: number,
  publishedKey = issuer.publicKey,
): Promise<Token[]> {
  const prepared = await prepareTokens(n)
  const request = JSON.parse(JSON.stringify(tokenRequestToJson(prepared))) as unknown
  const issuance = await issueTokens(issuer, tokenRequestFromJson(request))
  const response = JSON.parse(JSON.stringify(tokenResponseToJson(issuance))) as unknown
  return finalizeTokens(prepared, tokenResponseFromJson(response), publishedKey)
}

const generator = (): Uint8Array =>
  scalarMultBase(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)))

const flipBit = (b: Uint8Array, bit: number): Uint8Array => {
  const out = b.slice()
  out[(bit >> 3) % out.length]! ^= 1 << (bit & 7)
  return out
}

describe('anonymous consultation tokens', () => {
  it('issues tokens that verify at redemption', async () => {
    const issuer = await generateIssuerKey()
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), async (n) => {
        const tokens = await issueThroughWire(issuer, n)
        expect(tokens).toHaveLength(n)
        for (const t of tokens) {
          const presented = redemptionFromJson(JSON.parse(JSON.stringify(redeemToken(t))))
          await expect(
            verifyRedemption(issuer, presented.input, presented.output),
          ).resolves.toBeUndefined()
        }
      }),
      { numRuns: 15 },
    )
  })

  it('refuses an issuance under a key other than the published one (key tagging)', async () => {
    const published = await generateIssuerKey()
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), async (n) => {
        const perUserKey = await generateIssuerKey()
        await expect(issueThroughWire(perUserKey, n, published.publicKey)).rejects.toThrow(
          OprfVerifyError,
        )
      }),
      { numRuns: 10 },
    )
  })

  it('refuses a batch where a single element was evaluated under another key', async () => {
    const published = await generateIssuerKey()
    const tagKey = await generateIssuerKey()
    const prepared = await prepareTokens(3)
    const C = prepared.map((p) => p.blindedElement)
    const D = [
      blindEvaluate(published.secretKey, C[0]!),
      blindEvaluate(tagKey.secretKey, C[1]!),
      blindEvaluate(published.secretKey, C[2]!),
    ]
    const proof = generateProof(
      voprfSuite,
      published.secretKey,
      generator(),
      published.publicKey,
      C,
      D,
    )
    await expect(
      finalizeTokens(prepared, { evaluated: D, proof }, published.publicKey),
    ).rejects.toThrow(OprfVerifyError)
  })

  it('refuses a token issued under another key at redemption', async () => {
    const a = await generateIssuerKey()
    const b = await generateIssuerKey()
    const [token] = await issueThroughWire(a, 1)
    await expect(verifyRedemption(b, token!.input, token!.output)).rejects.toThrow(
      TokenRedemptionError,
    )
  })

  it('refuses a tampered output or input', async () => {
    const issuer = await generateIssuerKey()
    const [token] = await issueThroughWire(issuer, 1)
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 64 * 8 - 1 }), async (bit) => {
        await expect(
          verifyRedemption(issuer, token!.input, flipBit(token!.output, bit)),
        ).rejects.toThrow(TokenRedemptionError)
        await expect(
          verifyRedemption(issuer, flipBit(token!.input, bit), token!.output),
        ).rejects.toThrow(TokenRedemptionError)
      }),
      { numRuns: 40 },
    )
    await expect(verifyRedemption(issuer, token!.input, token!.output.subarray(1))).rejects.toThrow(
      TokenRedemptionError,
    )
  })

  it('refuses a tampered evaluated element or proof', async () => {
    const issuer = await generateIssuerKey()
    const prepared = await prepareTokens(2)
    const issuance = await issueTokens(
      issuer,
      prepared.map((p) => p.blindedElement),
    )
    const swapped = { ...issuance, evaluated: [issuance.evaluated[1]!, issuance.evaluated[0]!] }
    await expect(finalizeTokens(prepared, swapped, issuer.publicKey)).rejects.toThrow(
      OprfVerifyError,
    )
    const badProof = { ...issuance, proof: flipBit(issuance.proof, 3) }
    await expect(finalizeTokens(prepared, badProof, issuer.publicKey)).rejects.toThrow(
      OprfVerifyError,
    )
    const short = { ...issuance, evaluated: issuance.evaluated.slice(0, 1) }
    await expect(finalizeTokens(prepared, short, issuer.publicKey)).rejects.toThrow(
      TokenFormatError,
    )
  })

  it('gives the issuer nothing that links a redeemed input to the blinded element it saw', async () => {
    // Documented property: the blinded element is r·H(x) for a uniformly random r ≠ 0,
    // a uniformly random element whatever x is. The checks below are the observable part.
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), async (n) => {
        const prepared = await prepareTokens(n)
        for (const p of prepared) {
          const unblinded = hashToGroup(voprfSuite, p.input)
          expect(Buffer.from(p.blindedElement).equals(Buffer.from(unblinded))).toBe(false)
        }
        const again = await prepareTokens(1)
        expect(
          Buffer.from(again[0]!.blindedElement).equals(Buffer.from(prepared[0]!.blindedElement)),
        ).toBe(false)
      }),
      { numRuns: 10 },
    )
    const request = tokenRequestToJson(await prepareTokens(2))
    expect(Object.keys(request)).toEqual(['blindedElements'])
  })

  it('refuses an issuer key pair whose halves do not belong together', async () => {
    const a = await generateIssuerKey()
    const b = await generateIssuerKey()
    const prepared = await prepareTokens(1)
    await expect(
      issueTokens({ secretKey: a.secretKey, publicKey: b.publicKey }, [
        prepared[0]!.blindedElement,
      ]),
    ).rejects.toThrow(OprfInvalidInputError)
  })

  it('bounds the batch size', async () => {
    await expect(prepareTokens(0)).rejects.toThrow(OprfInvalidInputError)
    await expect(prepareTokens(MAX_TOKEN_BATCH + 1)).rejects.toThrow(OprfInvalidInputError)
    const issuer = await generateIssuerKey()
    await expect(issueTokens(issuer, [])).rejects.toThrow(OprfInvalidInputError)
  })
})

describe('token wire shapes', () => {
  it.each([
    ['not an object', 'x'],
    ['an array', []],
    ['no elements', { blindedElements: [] }],
    ['a number element', { blindedElements: [1] }],
    ['bad base64url', { blindedElements: ['****'] }],
    ['a short element', { blindedElements: ['AAAA'] }],
    [
      'too many elements',
      { blindedElements: Array.from({ length: MAX_TOKEN_BATCH + 1 }, () => 'A'.repeat(43)) },
    ],
  ])('refuses a request with %s', (_, json) => {
    expect(() => tokenRequestFromJson(json)).toThrow(TokenFormatError)
  })

  it('refuses a response with a short proof and a redemption with a short output', () => {
    const el = 'A'.repeat(43)
    expect(() => tokenResponseFromJson({ evaluated: [el], proof: el })).toThrow(TokenFormatError)
    expect(() => redemptionFromJson({ input: el, output: el })).toThrow(TokenFormatError)
    expect(() => redemptionFromJson(null)).toThrow(TokenFormatError)
  })

  it('lets the issuer refuse a well-formed request holding the identity element', async () => {
    const issuer = await generateIssuerKey()
    const identity = tokenRequestFromJson({ blindedElements: ['A'.repeat(43)] })
    await expect(issueTokens(issuer, identity)).rejects.toThrow(/identity/)
  })
})
