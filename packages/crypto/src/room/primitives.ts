/**
 * The few libsodium operations the room protocol uses, wrapped with length checks so
 * callers never hit libsodium's own exceptions on attacker-chosen input. Kept local
 * to `room/` on purpose (identity/ has its own); all of it goes through `../sodium.js`.
 */
import { sodium } from '../sodium.js'

export const HASH_BYTES = 32
export const SIGN_PUBLIC_KEY_BYTES = 32
export const SIGN_PRIVATE_KEY_BYTES = 64
export const SIGNATURE_BYTES = 64
export const BOX_PUBLIC_KEY_BYTES = 32
export const AEAD_KEY_BYTES = 32
export const AEAD_NONCE_BYTES = 24
export const AEAD_TAG_BYTES = 16
export const SEAL_OVERHEAD_BYTES = 48

/** An Ed25519 key pair (libsodium layout: 32-byte public, 64-byte private). */
export interface SignKeyPair {
  publicKey: Uint8Array
  privateKey: Uint8Array
}

/** An X25519 key pair for sealed boxes. */
export interface BoxKeyPair {
  publicKey: Uint8Array
  privateKey: Uint8Array
}

/** BLAKE2b-256 of already canonically encoded bytes. */
export function hash(data: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(HASH_BYTES, data, null)
}

/** BLAKE2b-256 keyed with a 32-byte secret (a PRF), for key derivation. */
export function keyedHash(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError('keyed hash needs a 32-byte key')
  return sodium().crypto_generichash(HASH_BYTES, data, key)
}

/** Cryptographically secure random bytes. */
export function randomBytes(n: number): Uint8Array {
  return sodium().randombytes_buf(n)
}

/** Ed25519 detached signature over already canonically encoded bytes. */
export function sign(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (privateKey.length !== SIGN_PRIVATE_KEY_BYTES) {
    throw new RangeError('Ed25519 private key must be 64 bytes')
  }
  return sodium().crypto_sign_detached(message, privateKey)
}

/** Verifies an Ed25519 detached signature; any malformed input is simply "not valid". */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== SIGN_PUBLIC_KEY_BYTES) {
    return false
  }
  try {
    return sodium().crypto_sign_verify_detached(signature, message, publicKey)
  } catch {
    return false
  }
}

/** XChaCha20-Poly1305 IETF encryption with associated data. */
export function aeadEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  return sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key)
}

/** XChaCha20-Poly1305 IETF decryption; `undefined` on any failure (callers throw a typed error). */
export function aeadDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  if (
    key.length !== AEAD_KEY_BYTES ||
    nonce.length !== AEAD_NONCE_BYTES ||
    ciphertext.length < AEAD_TAG_BYTES
  ) {
    return undefined
  }
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, key)
  } catch {
    return undefined
  }
}

/** Anonymous sealed box to an X25519 public key. */
export function seal(message: Uint8Array, recipientBoxPk: Uint8Array): Uint8Array {
  if (recipientBoxPk.length !== BOX_PUBLIC_KEY_BYTES) {
    throw new RangeError('X25519 public key must be 32 bytes')
  }
  return sodium().crypto_box_seal(message, recipientBoxPk)
}

/** Opens a sealed box; `undefined` on any failure. */
export function sealOpen(sealed: Uint8Array, keyPair: BoxKeyPair): Uint8Array | undefined {
  if (sealed.length < SEAL_OVERHEAD_BYTES) return undefined
  try {
    return sodium().crypto_box_seal_open(sealed, keyPair.publicKey, keyPair.privateKey)
  } catch {
    return undefined
  }
}

/** ISO/IEC 7816-4 padding (sodium_pad) to a multiple of `blockSize`. */
export function pad(data: Uint8Array, blockSize: number): Uint8Array {
  return sodium().pad(data, blockSize)
}

/** Removes sodium_pad padding; `undefined` if the padding is invalid. */
export function unpad(data: Uint8Array, blockSize: number): Uint8Array | undefined {
  try {
    return sodium().unpad(data, blockSize)
  } catch {
    return undefined
  }
}

/** Overwrites secret bytes (best effort in a garbage-collected runtime). */
export function wipe(data: Uint8Array): void {
  sodium().memzero(data)
}
