/**
 * The prime-order group ristretto255 and SHA-512, as RFC 9497 uses them, mapped onto
 * libsodium. Every group, scalar and hash operation is a libsodium call; this file
 * only adds the RFC's framing (expand_message_xmd, length prefixes) and the input
 * checks the RFC asks for (canonical encodings, no identity element, no zero scalar).
 *
 * Elements and scalars stay in their 32-byte serialised form throughout, because that
 * is the form libsodium takes and returns.
 */
import { concat, utf8 } from '../encoding.js'
import { sodium } from '../sodium.js'
import { OprfDeserializeError, OprfInvalidInputError, OprfNotReadyError } from './errors.js'

/** A serialised ristretto255 element (`Ne` = 32 bytes). */
export type GroupElement = Uint8Array
/** A serialised scalar modulo the group order ℓ (`Ns` = 32 bytes, little-endian). */
export type Scalar = Uint8Array

/** Size of a serialised element. */
export const Ne = 32
/** Size of a serialised scalar. */
export const Ns = 32
/** Size of a SHA-512 output, and of the OPRF output. */
export const Nh = 64

type Sodium = ReturnType<typeof sodium>

/** libsodium, or a clear error if `cryptoReady()` has not resolved yet. */
export function lib(): Sodium {
  const s = sodium()
  if (typeof s.crypto_core_ristretto255_from_hash !== 'function') throw new OprfNotReadyError()
  return s
}

/** RFC 8017 I2OSP: `n` as a big-endian integer of `len` bytes. */
export function i2osp(n: number, len: 1 | 2): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** (8 * len)) {
    throw new OprfInvalidInputError(`${n} does not fit in ${len} byte(s)`)
  }
  return len === 1 ? Uint8Array.of(n) : Uint8Array.of(n >>> 8, n & 0xff)
}

/** `I2OSP(len(b), 2) ‖ b`, the length-prefixed form RFC 9497 uses in every transcript. */
export function lengthPrefixed(b: Uint8Array): Uint8Array {
  return concat(i2osp(b.length, 2), b)
}

/** SHA-512 (libsodium `crypto_hash_sha512`). */
export function sha512(...parts: Uint8Array[]): Uint8Array {
  return lib().crypto_hash_sha512(concat(...parts))
}

const SHA512_BLOCK = 128
const OVERSIZE_DST_PREFIX = utf8('H2C-OVERSIZE-DST-')

/**
 * RFC 9380 §5.3.1 expand_message_xmd with SHA-512 (b = 64, s = 128 bytes). DSTs longer
 * than 255 bytes are first hashed as §5.3.3 prescribes.
 */
export function expandMessageXmd(msg: Uint8Array, dst: Uint8Array, lenInBytes: number): Uint8Array {
  const tag = dst.length > 255 ? sha512(OVERSIZE_DST_PREFIX, dst) : dst
  const ell = Math.ceil(lenInBytes / Nh)
  if (!Number.isInteger(lenInBytes) || lenInBytes < 0 || lenInBytes > 65535 || ell > 255) {
    throw new OprfInvalidInputError(`expand_message_xmd cannot produce ${lenInBytes} bytes`)
  }
  const dstPrime = concat(tag, i2osp(tag.length, 1))
  const b0 = sha512(new Uint8Array(SHA512_BLOCK), msg, i2osp(lenInBytes, 2), i2osp(0, 1), dstPrime)
  const out = new Uint8Array(ell * Nh)
  let prev = sha512(b0, i2osp(1, 1), dstPrime)
  out.set(prev, 0)
  for (let i = 2; i <= ell; i++) {
    const mixed = new Uint8Array(Nh)
    for (let j = 0; j < Nh; j++) mixed[j] = b0[j]! ^ prev[j]!
    prev = sha512(mixed, i2osp(i, 1), dstPrime)
    out.set(prev, (i - 1) * Nh)
  }
  return out.slice(0, lenInBytes)
}

/**
 * hash_to_ristretto255 (RFC 9380 with the RFC 9496 one-way map): 64 uniform bytes from
 * expand_message_xmd, mapped by libsodium's `crypto_core_ristretto255_from_hash`.
 */
export function hashToGroupWithDst(msg: Uint8Array, dst: Uint8Array): GroupElement {
  return lib().crypto_core_ristretto255_from_hash(expandMessageXmd(msg, dst, 64))
}

/** RFC 9497 §4.1 HashToScalar: 64 uniform bytes reduced modulo ℓ by libsodium. */
export function hashToScalarWithDst(msg: Uint8Array, dst: Uint8Array): Scalar {
  return lib().crypto_core_ristretto255_scalar_reduce(expandMessageXmd(msg, dst, 64))
}

/** True for the identity element, whose only canonical encoding is 32 zero bytes. */
export function isIdentity(e: GroupElement): boolean {
  return lib().is_zero(e)
}

/** True for the zero scalar. */
export function isZeroScalar(s: Scalar): boolean {
  return lib().is_zero(s)
}

/**
 * DeserializeElement: exactly 32 bytes, a canonical ristretto255 encoding, and not the
 * identity (libsodium's validity check accepts the identity, so it is refused here; an
 * identity would let a malicious peer force a known result).
 */
export function deserializeElement(b: Uint8Array, what = 'element'): GroupElement {
  if (!(b instanceof Uint8Array) || b.length !== Ne) {
    throw new OprfDeserializeError(`${what}: expected ${Ne} bytes`)
  }
  const s = lib()
  if (!s.crypto_core_ristretto255_is_valid_point(b)) {
    throw new OprfDeserializeError(`${what}: not a canonical ristretto255 encoding`)
  }
  if (s.is_zero(b)) throw new OprfDeserializeError(`${what}: the identity element`)
  return b
}

/**
 * DeserializeScalar: exactly 32 bytes and canonical (< ℓ). Canonicity is checked by
 * reducing the 64-byte zero-extension with libsodium and comparing.
 */
export function deserializeScalar(b: Uint8Array, what = 'scalar'): Scalar {
  if (!(b instanceof Uint8Array) || b.length !== Ns) {
    throw new OprfDeserializeError(`${what}: expected ${Ns} bytes`)
  }
  const s = lib()
  const wide = new Uint8Array(64)
  wide.set(b)
  if (!s.memcmp(s.crypto_core_ristretto255_scalar_reduce(wide), b)) {
    throw new OprfDeserializeError(`${what}: not a canonical scalar`)
  }
  return b
}

/** A canonical, non-zero scalar (secret keys, blinds). */
export function deserializeNonZeroScalar(b: Uint8Array, what = 'scalar'): Scalar {
  deserializeScalar(b, what)
  if (isZeroScalar(b)) throw new OprfInvalidInputError(`${what}: zero`)
  return b
}

/** `k · P` (libsodium `crypto_scalarmult_ristretto255`). Throws if the result is the identity. */
export function scalarMult(k: Scalar, p: GroupElement): GroupElement {
  try {
    return lib().crypto_scalarmult_ristretto255(k, p)
  } catch (cause) {
    throw new OprfInvalidInputError('scalar multiplication gave the identity', { cause })
  }
}

/** `k · G` for the standard generator G. */
export function scalarMultBase(k: Scalar): GroupElement {
  try {
    return lib().crypto_scalarmult_ristretto255_base(k)
  } catch (cause) {
    throw new OprfInvalidInputError('scalar multiplication gave the identity', { cause })
  }
}

/** `P + Q`. */
export function addElements(p: GroupElement, q: GroupElement): GroupElement {
  return lib().crypto_core_ristretto255_add(p, q)
}

/** `x · y mod ℓ`. */
export function scalarMul(x: Scalar, y: Scalar): Scalar {
  return lib().crypto_core_ristretto255_scalar_mul(x, y)
}

/** `x − y mod ℓ`. */
export function scalarSub(x: Scalar, y: Scalar): Scalar {
  return lib().crypto_core_ristretto255_scalar_sub(x, y)
}

/** `x⁻¹ mod ℓ`; throws for zero. */
export function scalarInvert(x: Scalar): Scalar {
  try {
    return lib().crypto_core_ristretto255_scalar_invert(x)
  } catch (cause) {
    throw new OprfInvalidInputError('cannot invert the zero scalar', { cause })
  }
}

/** A uniformly random non-zero scalar (libsodium rejects zero and non-canonical samples). */
export function randomScalar(): Scalar {
  return lib().crypto_core_ristretto255_scalar_random()
}

/** Constant-time equality (libsodium `memcmp`); different lengths are simply unequal. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && lib().memcmp(a, b)
}
