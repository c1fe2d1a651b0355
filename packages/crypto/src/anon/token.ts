/**
 * Anonymous consultation tokens on the RFC 9497 VOPRF (mode 0x01, ristretto255-SHA512).
 *
 * Flow:
 * 1. An authenticated professional runs {@link prepareTokens}, sends only the blinded
 *    elements ({@link tokenRequestToJson}) and keeps inputs and blinds on the device.
 * 2. The issuer (Veilig Thuis token service) counts the request against the
 *    professional's allowance and answers with {@link issueTokens}: one evaluated
 *    element per blinded one and one DLEQ proof for the whole batch.
 * 3. The client runs {@link finalizeTokens} with the issuer public key taken from the
 *    key log (never from the issuance response). The proof ties every evaluation to
 *    that one key, so the issuer cannot give a professional a key of their own and
 *    recognise their tokens later (key tagging); a response that fails throws
 *    {@link OprfVerifyError} and must be treated as an attack, not retried silently.
 * 4. To open a consult the client presents {@link redeemToken} `{input, output}` on a
 *    fresh, unauthenticated connection. The issuer checks it with
 *    {@link verifyRedemption} and must then record `input` as spent in the same
 *    transaction that opens the consult (a unique constraint on the input bytes):
 *    this module checks validity, not double spending.
 *
 * Unlinkability: at issuance the issuer sees `r·H(x)` for a uniformly random non-zero
 * blind `r`, which is a uniformly random group element whatever `x` is, so nothing in
 * it relates to the `(x, output)` shown at redemption; the blind never leaves the
 * device. The issuer can recompute the output for any input, but cannot tell which
 * issuance it came from.
 *
 * What still links (to be shown in the docs and UI): the time between issuance and
 * redemption, the network address of the redeeming connection, the number of tokens
 * a professional holds, and the size of the anonymity set: only professionals who
 * were issued tokens under the same key, in the same key period, hide among each other,
 * so the issuer key must be rotated rarely and never per user.
 */
import { fromB64, toB64 } from '../encoding.js'
import { cryptoReady } from '../sodium.js'
import { OprfInvalidInputError, TokenFormatError, TokenRedemptionError } from './errors.js'
import { constantTimeEqual, lib, Ne, Nh, Ns } from './group.js'
import type { GroupElement, Scalar } from './group.js'
import {
  blind,
  evaluate,
  generateKeyPair,
  publicKeyOf,
  verifiableBlindEvaluate,
  verifiableFinalize,
  voprfSuite,
} from './voprf.js'

/** Bytes of randomness in a token input. */
export const TOKEN_INPUT_BYTES = 32
/** Bytes of a token output (SHA-512). */
export const TOKEN_OUTPUT_BYTES = Nh
/** Most tokens per issuance request; the issuer's allowance policy is usually lower. */
export const MAX_TOKEN_BATCH = 100

/** The issuer's key pair. The public key is published in the key log. */
export interface IssuerKeyPair {
  readonly secretKey: Scalar
  readonly publicKey: GroupElement
}

/** A token being requested; stays on the client. `blind` is secret. */
export interface PreparedToken {
  readonly input: Uint8Array
  readonly blind: Scalar
  readonly blindedElement: GroupElement
}

/** The issuer's answer: evaluated elements in request order and one batch DLEQ proof. */
export interface TokenIssuance {
  readonly evaluated: GroupElement[]
  readonly proof: Uint8Array
}

/** A finished token: present it once, then forget it. */
export interface Token {
  readonly input: Uint8Array
  readonly output: Uint8Array
}

/** Wire shape of an issuance request (base64url without padding). */
export interface TokenRequestJson {
  readonly blindedElements: string[]
}

/** Wire shape of an issuance response. */
export interface TokenResponseJson {
  readonly evaluated: string[]
  readonly proof: string
}

/** Wire shape of a redemption, also fine for storing an unspent token on the device. */
export interface TokenRedemptionJson {
  readonly input: string
  readonly output: string
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOKEN_BATCH) {
    throw new OprfInvalidInputError(`token batch must hold 1..${MAX_TOKEN_BATCH}, got ${n}`)
  }
}

/** A fresh random issuer key pair. */
export async function generateIssuerKey(): Promise<IssuerKeyPair> {
  await cryptoReady()
  return generateKeyPair()
}

/** Client: `n` random inputs, each blinded with a fresh random blind. */
export async function prepareTokens(n: number): Promise<PreparedToken[]> {
  checkCount(n)
  await cryptoReady()
  const s = lib()
  return Array.from({ length: n }, () => {
    const input = s.randombytes_buf(TOKEN_INPUT_BYTES)
    return { input, ...blind(voprfSuite, input) }
  })
}

/**
 * Issuer: evaluates the blinded elements and proves they were all evaluated under
 * `issuerKey`. Each element is validated (canonical, not the identity) first.
 */
export async function issueTokens(
  issuerKey: IssuerKeyPair,
  blindedElements: readonly GroupElement[],
): Promise<TokenIssuance> {
  checkCount(blindedElements.length)
  await cryptoReady()
  if (!constantTimeEqual(publicKeyOf(issuerKey.secretKey), issuerKey.publicKey)) {
    throw new OprfInvalidInputError('issuer public key does not belong to the secret key')
  }
  const { evaluatedElements, proof } = verifiableBlindEvaluate(
    voprfSuite,
    issuerKey.secretKey,
    blindedElements,
  )
  return { evaluated: evaluatedElements, proof }
}

/**
 * Client: verifies the issuer's DLEQ proof against `issuerPublicKey` (from the key log)
 * and unblinds. Throws {@link OprfVerifyError} if the issuer used any other key.
 */
export async function finalizeTokens(
  prepared: readonly PreparedToken[],
  response: TokenIssuance,
  issuerPublicKey: GroupElement,
): Promise<Token[]> {
  checkCount(prepared.length)
  if (response.evaluated.length !== prepared.length) {
    throw new TokenFormatError(
      `issuer answered ${response.evaluated.length} elements for ${prepared.length} requested`,
    )
  }
  await cryptoReady()
  const inputs = prepared.map((p) => p.input)
  const outputs = verifiableFinalize(
    voprfSuite,
    issuerPublicKey,
    inputs,
    prepared.map((p) => p.blind),
    prepared.map((p) => p.blindedElement),
    response.evaluated,
    response.proof,
  )
  return outputs.map((output, i) => ({ input: inputs[i]!, output }))
}

/** Client: the message to present, unauthenticated, to spend `token`. */
export function redeemToken(token: Token): TokenRedemptionJson {
  if (token.input.length !== TOKEN_INPUT_BYTES || token.output.length !== TOKEN_OUTPUT_BYTES) {
    throw new TokenFormatError('not a token')
  }
  return { input: toB64(token.input), output: toB64(token.output) }
}

/**
 * Issuer: checks a redeemed token by recomputing Evaluate with the secret key and
 * comparing in constant time. Throws {@link TokenRedemptionError} if it does not
 * verify. The caller must still mark `input` as spent (see the module docs).
 */
export async function verifyRedemption(
  issuerKey: Pick<IssuerKeyPair, 'secretKey'>,
  input: Uint8Array,
  output: Uint8Array,
): Promise<void> {
  if (input.length !== TOKEN_INPUT_BYTES || output.length !== TOKEN_OUTPUT_BYTES) {
    throw new TokenRedemptionError('token has the wrong size')
  }
  await cryptoReady()
  if (!constantTimeEqual(evaluate(voprfSuite, issuerKey.secretKey, input), output)) {
    throw new TokenRedemptionError('token does not verify under this issuer key')
  }
}

// ---- JSON wire shapes -------------------------------------------------------------

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function bytesField(value: unknown, what: string, length: number): Uint8Array {
  if (typeof value !== 'string') throw new TokenFormatError(`${what}: expected a base64url string`)
  let bytes: Uint8Array
  try {
    bytes = fromB64(value)
  } catch (cause) {
    throw new TokenFormatError(`${what}: not base64url`, { cause })
  }
  if (bytes.length !== length) throw new TokenFormatError(`${what}: expected ${length} bytes`)
  return bytes
}

function elementList(value: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_TOKEN_BATCH) {
    throw new TokenFormatError(`${what}: expected 1..${MAX_TOKEN_BATCH} elements`)
  }
  return value.map((v, i) => bytesField(v, `${what}[${i}]`, Ne))
}

/** The request to send: only the blinded elements leave the device. */
export function tokenRequestToJson(prepared: readonly PreparedToken[]): TokenRequestJson {
  return { blindedElements: prepared.map((p) => toB64(p.blindedElement)) }
}

/**
 * Parses an issuance request (shape and sizes only; {@link issueTokens} validates the
 * elements as group elements). Throws {@link TokenFormatError}.
 */
export function tokenRequestFromJson(json: unknown): GroupElement[] {
  if (!isRecord(json)) throw new TokenFormatError('token request: expected an object')
  return elementList(json.blindedElements, 'blindedElements')
}

/** Serialises an issuance response. */
export function tokenResponseToJson(issuance: TokenIssuance): TokenResponseJson {
  return { evaluated: issuance.evaluated.map(toB64), proof: toB64(issuance.proof) }
}

/** Parses an issuance response (shape and sizes). Throws {@link TokenFormatError}. */
export function tokenResponseFromJson(json: unknown): TokenIssuance {
  if (!isRecord(json)) throw new TokenFormatError('token response: expected an object')
  return {
    evaluated: elementList(json.evaluated, 'evaluated'),
    proof: bytesField(json.proof, 'proof', 2 * Ns),
  }
}

/** Parses a redemption (or a stored token). Throws {@link TokenFormatError}. */
export function redemptionFromJson(json: unknown): Token {
  if (!isRecord(json)) throw new TokenFormatError('token redemption: expected an object')
  return {
    input: bytesField(json.input, 'input', TOKEN_INPUT_BYTES),
    output: bytesField(json.output, 'output', TOKEN_OUTPUT_BYTES),
  }
}
