/**
 * RFC 9497 OPRF (mode 0x00) and VOPRF (mode 0x01) over ristretto255-SHA512, built on
 * libsodium's ristretto255 functions (see `group.ts`). Names follow the RFC so the two
 * can be read side by side; all functions are synchronous and need `cryptoReady()`.
 *
 * Why the VOPRF: the client blinds an input, the issuer multiplies it by its secret key
 * and proves with a DLEQ proof that it used the key whose public key is published in
 * the key log. Without the proof an issuer could evaluate each professional's request
 * under a key of its own and recognise them at redemption (key tagging).
 *
 * POPRF (mode 0x02) is not implemented: we have no public info to bind.
 */
import { concat, utf8 } from '../encoding.js'
import {
  addElements,
  constantTimeEqual,
  deserializeElement,
  deserializeNonZeroScalar,
  deserializeScalar,
  hashToGroupWithDst,
  hashToScalarWithDst,
  i2osp,
  isIdentity,
  isZeroScalar,
  lengthPrefixed,
  randomScalar,
  scalarInvert,
  scalarMul,
  scalarMult,
  scalarMultBase,
  scalarSub,
  sha512,
  Ns,
} from './group.js'
import type { GroupElement, Scalar } from './group.js'
import { OprfDeriveKeyPairError, OprfInvalidInputError, OprfVerifyError } from './errors.js'

/** The RFC 9497 protocol modes implemented here. */
export const OprfMode = { OPRF: 0x00, VOPRF: 0x01 } as const
/** `0x00` (OPRF) or `0x01` (VOPRF). */
export type OprfMode = (typeof OprfMode)[keyof typeof OprfMode]

/** A ciphersuite instance: the mode and the domain-separation tags derived from it. */
export interface OprfSuite {
  readonly mode: OprfMode
  /** `"OPRFV1-" ‖ I2OSP(mode, 1) ‖ "-ristretto255-SHA512"`. */
  readonly contextString: Uint8Array
  readonly hashToGroupDst: Uint8Array
  readonly hashToScalarDst: Uint8Array
  readonly deriveKeyPairDst: Uint8Array
  readonly seedDst: Uint8Array
}

/** Builds the ristretto255-SHA512 suite for a mode. */
export function oprfSuite(mode: OprfMode): OprfSuite {
  const contextString = concat(utf8('OPRFV1-'), Uint8Array.of(mode), utf8('-ristretto255-SHA512'))
  return {
    mode,
    contextString,
    hashToGroupDst: concat(utf8('HashToGroup-'), contextString),
    hashToScalarDst: concat(utf8('HashToScalar-'), contextString),
    deriveKeyPairDst: concat(utf8('DeriveKeyPair'), contextString),
    seedDst: concat(utf8('Seed-'), contextString),
  }
}

/** The VOPRF (mode 0x01) suite, the one the anonymous consultation tokens use. */
export const voprfSuite: OprfSuite = oprfSuite(OprfMode.VOPRF)
/** The plain OPRF (mode 0x00) suite, kept for the RFC vectors. */
export const oprfBaseSuite: OprfSuite = oprfSuite(OprfMode.OPRF)

/** An OPRF server key pair: `publicKey = secretKey · G`. */
export interface OprfKeyPair {
  readonly secretKey: Scalar
  readonly publicKey: GroupElement
}

/** Output of {@link blind}: keep `blind` secret, send `blindedElement`. */
export interface BlindResult {
  readonly blind: Scalar
  readonly blindedElement: GroupElement
}

/** Output of {@link verifiableBlindEvaluate}: one evaluated element per blinded one, one proof. */
export interface VerifiableEvaluation {
  readonly evaluatedElements: GroupElement[]
  /** `c ‖ s`, 64 bytes. */
  readonly proof: Uint8Array
}

/** Largest batch: the composite transcript encodes the index in two bytes. */
export const MAX_OPRF_BATCH = 0xffff

const FINALIZE = utf8('Finalize')
const CHALLENGE = utf8('Challenge')
const COMPOSITE = utf8('Composite')
const MAX_INPUT = 0xffff

function checkInput(input: Uint8Array): void {
  if (!(input instanceof Uint8Array) || input.length > MAX_INPUT) {
    throw new OprfInvalidInputError(`input must be at most ${MAX_INPUT} bytes`)
  }
}

/** RFC 9497 HashToGroup for the suite (DST `"HashToGroup-" ‖ contextString`). */
export function hashToGroup(suite: OprfSuite, input: Uint8Array): GroupElement {
  return hashToGroupWithDst(input, suite.hashToGroupDst)
}

/** RFC 9497 HashToScalar; the DST defaults to `"HashToScalar-" ‖ contextString`. */
export function hashToScalar(suite: OprfSuite, input: Uint8Array, dst?: Uint8Array): Scalar {
  return hashToScalarWithDst(input, dst ?? suite.hashToScalarDst)
}

/** RFC 9497 §3.2.1 DeriveKeyPair from a 32-byte seed and a public info string. */
export function deriveKeyPair(suite: OprfSuite, seed: Uint8Array, info: Uint8Array): OprfKeyPair {
  if (seed.length !== Ns) throw new OprfInvalidInputError(`seed must be ${Ns} bytes`)
  const deriveInput = concat(seed, lengthPrefixed(info))
  for (let counter = 0; counter <= 255; counter++) {
    const sk = hashToScalar(suite, concat(deriveInput, i2osp(counter, 1)), suite.deriveKeyPairDst)
    if (!isZeroScalar(sk)) return { secretKey: sk, publicKey: scalarMultBase(sk) }
  }
  throw new OprfDeriveKeyPairError('no non-zero scalar after 256 attempts')
}

/** A fresh random key pair (RFC 9497 §3.2 GenerateKeyPair). */
export function generateKeyPair(): OprfKeyPair {
  const sk = randomScalar()
  return { secretKey: sk, publicKey: scalarMultBase(sk) }
}

/** The public key of a secret key, after checking it is a canonical non-zero scalar. */
export function publicKeyOf(secretKey: Scalar): GroupElement {
  return scalarMultBase(deserializeNonZeroScalar(secretKey, 'secret key'))
}

/** RFC 9497 Blind with a fresh random blind. */
export function blind(suite: OprfSuite, input: Uint8Array): BlindResult {
  return blindWithScalar(suite, input, randomScalar())
}

/**
 * Blind with a caller-chosen blind. For test vectors only: a predictable or reused
 * blind lets the issuer link the blinded element to the input at redemption.
 */
export function blindWithScalar(
  suite: OprfSuite,
  input: Uint8Array,
  blindScalar: Scalar,
): BlindResult {
  checkInput(input)
  deserializeNonZeroScalar(blindScalar, 'blind')
  const inputElement = hashToGroup(suite, input)
  if (isIdentity(inputElement)) throw new OprfInvalidInputError('input hashes to the identity')
  return { blind: blindScalar, blindedElement: scalarMult(blindScalar, inputElement) }
}

/**
 * BlindEvaluate without a proof (OPRF mode, and the first half of the VOPRF one):
 * `skS · blindedElement`, after validating the client's element.
 */
export function blindEvaluate(secretKey: Scalar, blindedElement: GroupElement): GroupElement {
  deserializeNonZeroScalar(secretKey, 'secret key')
  return scalarMult(secretKey, deserializeElement(blindedElement, 'blinded element'))
}

/**
 * VOPRF BlindEvaluate over a batch (RFC 9497 §3.3.2, batched as §4 allows): evaluates
 * every blinded element and proves, in one DLEQ proof, that all used the key behind
 * `publicKeyOf(secretKey)`.
 */
export function verifiableBlindEvaluate(
  suite: OprfSuite,
  secretKey: Scalar,
  blindedElements: readonly GroupElement[],
): VerifiableEvaluation {
  return verifiableBlindEvaluateWithRandomness(suite, secretKey, blindedElements, randomScalar())
}

/**
 * {@link verifiableBlindEvaluate} with caller-chosen proof randomness. For test vectors
 * only: two proofs with the same randomness reveal the secret key.
 */
export function verifiableBlindEvaluateWithRandomness(
  suite: OprfSuite,
  secretKey: Scalar,
  blindedElements: readonly GroupElement[],
  proofRandomScalar: Scalar,
): VerifiableEvaluation {
  checkBatch(blindedElements.length)
  const pk = publicKeyOf(secretKey)
  const evaluatedElements = blindedElements.map((b) => blindEvaluate(secretKey, b))
  const proof = generateProofWithRandomness(
    suite,
    secretKey,
    scalarMultBase(ONE),
    pk,
    blindedElements,
    evaluatedElements,
    proofRandomScalar,
  )
  return { evaluatedElements, proof }
}

/**
 * OPRF-mode Finalize: unblind (`blind⁻¹ · evaluatedElement`) and hash. It checks no
 * proof, so on its own it is only right for mode 0x00; VOPRF callers use
 * {@link verifiableFinalize}. The hash does not depend on the mode.
 */
export function finalize(
  input: Uint8Array,
  blindScalar: Scalar,
  evaluatedElement: GroupElement,
): Uint8Array {
  checkInput(input)
  deserializeNonZeroScalar(blindScalar, 'blind')
  deserializeElement(evaluatedElement, 'evaluated element')
  return finalizeHash(input, scalarMult(scalarInvert(blindScalar), evaluatedElement))
}

/**
 * VOPRF Finalize over a batch: verifies the DLEQ proof against the published public
 * key first (throws {@link OprfVerifyError}), then unblinds and hashes each output.
 */
export function verifiableFinalize(
  suite: OprfSuite,
  publicKey: GroupElement,
  inputs: readonly Uint8Array[],
  blinds: readonly Scalar[],
  blindedElements: readonly GroupElement[],
  evaluatedElements: readonly GroupElement[],
  proof: Uint8Array,
): Uint8Array[] {
  const m = inputs.length
  checkBatch(m)
  if (blinds.length !== m || blindedElements.length !== m || evaluatedElements.length !== m) {
    throw new OprfInvalidInputError('inputs, blinds and elements differ in number')
  }
  verifyProof(
    suite,
    scalarMultBase(ONE),
    deserializeElement(publicKey, 'public key'),
    blindedElements,
    evaluatedElements,
    proof,
  )
  return inputs.map((input, i) => finalize(input, blinds[i]!, evaluatedElements[i]!))
}

/**
 * Server-side Evaluate (RFC 9497 §3.3.1/§3.3.2): the output for `input` computed
 * directly with the secret key, equal to what the client's Finalize produced.
 */
export function evaluate(suite: OprfSuite, secretKey: Scalar, input: Uint8Array): Uint8Array {
  checkInput(input)
  deserializeNonZeroScalar(secretKey, 'secret key')
  const inputElement = hashToGroup(suite, input)
  if (isIdentity(inputElement)) throw new OprfInvalidInputError('input hashes to the identity')
  return finalizeHash(input, scalarMult(secretKey, inputElement))
}

function finalizeHash(input: Uint8Array, unblinded: GroupElement): Uint8Array {
  return sha512(lengthPrefixed(input), lengthPrefixed(unblinded), FINALIZE)
}

function checkBatch(m: number): void {
  if (m < 1 || m > MAX_OPRF_BATCH) {
    throw new OprfInvalidInputError(`batch size must be 1..${MAX_OPRF_BATCH}, got ${m}`)
  }
}

/** The scalar 1, so that `scalarMultBase(ONE)` is the generator G. */
const ONE: Scalar = (() => {
  const one = new Uint8Array(Ns)
  one[0] = 1
  return one
})()

/** A composite pair `(M, Z)` of RFC 9497 §2.2.1. */
export interface Composites {
  readonly m: GroupElement
  readonly z: GroupElement
}

function compositeScalars(
  suite: OprfSuite,
  b: GroupElement,
  c: readonly GroupElement[],
  d: readonly GroupElement[],
): Scalar[] {
  if (c.length !== d.length) throw new OprfInvalidInputError('C and D differ in length')
  checkBatch(c.length)
  const seed = sha512(lengthPrefixed(b), lengthPrefixed(suite.seedDst))
  return c.map((ci, i) =>
    hashToScalar(
      suite,
      concat(
        lengthPrefixed(seed),
        i2osp(i, 2),
        lengthPrefixed(deserializeElement(ci, 'C element')),
        lengthPrefixed(deserializeElement(d[i]!, 'D element')),
        COMPOSITE,
      ),
    ),
  )
}

function weightedSum(weights: readonly Scalar[], elements: readonly GroupElement[]): GroupElement {
  let acc: GroupElement | undefined
  weights.forEach((w, i) => {
    const term = scalarMult(w, elements[i]!)
    acc = acc === undefined ? term : addElements(acc, term)
  })
  if (acc === undefined || isIdentity(acc))
    throw new OprfInvalidInputError('composite is the identity')
  return acc
}

/** ComputeComposites (verifier side): `M = Σ dᵢ·Cᵢ`, `Z = Σ dᵢ·Dᵢ`. */
export function computeComposites(
  suite: OprfSuite,
  b: GroupElement,
  c: readonly GroupElement[],
  d: readonly GroupElement[],
): Composites {
  const weights = compositeScalars(suite, b, c, d)
  return { m: weightedSum(weights, c), z: weightedSum(weights, d) }
}

/** ComputeCompositesFast (prover side, knows `k`): `M = Σ dᵢ·Cᵢ`, `Z = k·M`. */
export function computeCompositesFast(
  suite: OprfSuite,
  k: Scalar,
  b: GroupElement,
  c: readonly GroupElement[],
  d: readonly GroupElement[],
): Composites {
  const m = weightedSum(compositeScalars(suite, b, c, d), c)
  return { m, z: scalarMult(k, m) }
}

function challenge(
  suite: OprfSuite,
  b: GroupElement,
  m: GroupElement,
  z: GroupElement,
  t2: GroupElement,
  t3: GroupElement,
): Scalar {
  return hashToScalar(
    suite,
    concat(
      lengthPrefixed(b),
      lengthPrefixed(m),
      lengthPrefixed(z),
      lengthPrefixed(t2),
      lengthPrefixed(t3),
      CHALLENGE,
    ),
  )
}

/**
 * GenerateProof: a DLEQ proof that `log_A(B) = log_Cᵢ(Dᵢ)` for all i, i.e. that
 * `B = k·A` and `Dᵢ = k·Cᵢ`. Returns `c ‖ s` (64 bytes).
 */
export function generateProof(
  suite: OprfSuite,
  k: Scalar,
  a: GroupElement,
  b: GroupElement,
  c: readonly GroupElement[],
  d: readonly GroupElement[],
): Uint8Array {
  return generateProofWithRandomness(suite, k, a, b, c, d, randomScalar())
}

/** {@link generateProof} with caller-chosen `r`. Test vectors only: reusing `r` leaks `k`. */
export function generateProofWithRandomness(
  suite: OprfSuite,
  k: Scalar,
  a: GroupElement,
  b: GroupElement,
  c: readonly GroupElement[],
  d: readonly GroupElement[],
  r: Scalar,
): Uint8Array {
  deserializeNonZeroScalar(r, 'proof randomness')
  const { m, z } = computeCompositesFast(suite, k, b, c, d)
  const t2 = scalarMult(r, a)
  const t3 = scalarMult(r, m)
  const ch = challenge(suite, b, m, z, t2, t3)
  const s = scalarSub(r, scalarMul(ch, k))
  return concat(ch, s)
}

/**
 * VerifyProof: checks a proof made by {@link generateProof}. Throws
 * {@link OprfVerifyError} when it does not verify; returns nothing otherwise, so a
 * forgotten check cannot silently pass.
 */
export function verifyProof(
  suite: OprfSuite,
  a: GroupElement,
  b: GroupElement,
  c: readonly GroupElement[],
  d: readonly GroupElement[],
  proof: Uint8Array,
): void {
  if (!(proof instanceof Uint8Array) || proof.length !== 2 * Ns) {
    throw new OprfVerifyError(`proof must be ${2 * Ns} bytes`)
  }
  const ch = deserializeScalar(proof.slice(0, Ns), 'proof c')
  const s = deserializeScalar(proof.slice(Ns), 'proof s')
  const { m, z } = computeComposites(suite, b, c, d)
  let expected: Scalar
  try {
    const t2 = addElements(scalarMult(s, a), scalarMult(ch, b))
    const t3 = addElements(scalarMult(s, m), scalarMult(ch, z))
    expected = challenge(suite, b, m, z, t2, t3)
  } catch (cause) {
    throw new OprfVerifyError('proof does not verify', { cause })
  }
  if (!constantTimeEqual(expected, ch)) throw new OprfVerifyError('proof does not verify')
}
