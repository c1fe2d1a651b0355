/**
 * Key pairs, signatures and hashes over the canonical encoding. Every signature and
 * hash takes a context string (e.g. "dev-cert/v1") as its first encoded field, so a
 * signature made for one purpose can never be replayed as another (cross-protocol
 * confusion).
 */
import { sodium } from '../sodium.js'
import { encode, toB64 } from '../encoding.js'
import type { Field } from '../encoding.js'
import { FormatError, SignatureError } from './errors.js'

/** Ed25519 public key length. */
export const SIGN_PUBLIC_KEY_BYTES = 32
/** Ed25519 private key length (libsodium form: seed ‖ public key). */
export const SIGN_PRIVATE_KEY_BYTES = 64
/** Ed25519 seed length. */
export const SIGN_SEED_BYTES = 32
/** Ed25519 signature length. */
export const SIGNATURE_BYTES = 64
/** X25519 public key length. */
export const BOX_PUBLIC_KEY_BYTES = 32
/** X25519 private key length. */
export const BOX_PRIVATE_KEY_BYTES = 32
/** Output length of {@link hash}. */
export const HASH_BYTES = 32

/** An Ed25519 key pair. */
export interface SigningKeyPair {
  publicKey: Uint8Array
  privateKey: Uint8Array
}

/** An X25519 key pair, for `crypto_box` / `crypto_box_seal`. */
export interface BoxKeyPair {
  publicKey: Uint8Array
  privateKey: Uint8Array
}

/** Throws a {@link FormatError} unless `b` is a Uint8Array of exactly `len` bytes. */
export function assertBytes(b: unknown, len: number, field: string): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array)) throw new FormatError(field, 'expected bytes')
  if (b.length !== len) throw new FormatError(field, `expected ${len} bytes, got ${b.length}`)
}

/** A fresh random Ed25519 key pair. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = sodium().crypto_sign_keypair()
  return { publicKey, privateKey }
}

/**
 * The Ed25519 key pair for a 32-byte seed. Deterministic: for test vectors, and for
 * callers that store only the seed. Never derive a seed from low-entropy input.
 */
export function signingKeyPairFromSeed(seed: Uint8Array): SigningKeyPair {
  assertBytes(seed, SIGN_SEED_BYTES, 'seed')
  const { publicKey, privateKey } = sodium().crypto_sign_seed_keypair(seed)
  return { publicKey, privateKey }
}

/** A fresh random X25519 key pair. */
export function generateBoxKeyPair(): BoxKeyPair {
  const { publicKey, privateKey } = sodium().crypto_box_keypair()
  return { publicKey, privateKey }
}

/** Ed25519 signature over `encode(context, ...fields)`. */
export function sign(context: string, privateKey: Uint8Array, ...fields: Field[]): Uint8Array {
  assertBytes(privateKey, SIGN_PRIVATE_KEY_BYTES, 'privateKey')
  return sodium().crypto_sign_detached(encode(context, ...fields), privateKey)
}

/**
 * Checks an Ed25519 signature over `encode(context, ...fields)`; throws
 * {@link SignatureError} if it does not verify. Wrong-sized keys or signatures (which
 * arrive from the network) are reported the same way, never as a crash.
 */
export function verify(
  context: string,
  publicKey: Uint8Array,
  signature: Uint8Array,
  ...fields: Field[]
): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== SIGN_PUBLIC_KEY_BYTES) {
    throw new SignatureError('public key has the wrong size')
  }
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) {
    throw new SignatureError('signature has the wrong size')
  }
  let ok: boolean
  try {
    ok = sodium().crypto_sign_verify_detached(signature, encode(context, ...fields), publicKey)
  } catch (cause) {
    throw new SignatureError('signature does not verify', { cause })
  }
  if (!ok) throw new SignatureError(`${context} signature does not verify`)
}

/** BLAKE2b-256 (`crypto_generichash`) of `encode(context, ...fields)`. */
export function hash(context: string, ...fields: Field[]): Uint8Array {
  return sodium().crypto_generichash(HASH_BYTES, encode(context, ...fields), null)
}

/** `n` bytes from the libsodium CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot make ${n} random bytes`)
  return sodium().randombytes_buf(n)
}

/** A random identifier: 16 random bytes as unpadded base64url (22 characters). */
export function randomId(): string {
  return toB64(randomBytes(16))
}
