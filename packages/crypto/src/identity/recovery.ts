/**
 * Recovery and backup. A recovery key (32 random bytes, or Argon2id of a passphrase)
 * derives a backup key; the master key and epoch secrets are stored on the server as
 * XChaCha20-Poly1305 ciphertext under it.
 *
 * Threat: the server planting or swapping backup entries (the 2022 Matrix attacks
 * planted keys through asymmetric backups). The backup is symmetric, so only someone
 * holding the recovery key can make an entry that decrypts, and the item id is bound
 * in as associated data, so an entry moved to another slot fails to decrypt.
 * Not covered: the server returning an older entry for the same item id. Callers make
 * item ids unique per value (e.g. include the epoch) so an old entry is harmless.
 */
import { sodium } from '../sodium.js'
import { concat, encode } from '../encoding.js'
import { DecryptionError, FormatError, RecoveryKeyError } from './errors.js'
import { assertBytes, hash, randomBytes } from './keys.js'
import { checkId } from './json.js'

/** Length of a recovery key and of the backup key. */
export const RECOVERY_KEY_BYTES = 32
/** Length of the Argon2id salt for passphrase-derived recovery keys. */
export const PASSPHRASE_SALT_BYTES = 16

const KDF_CONTEXT = 'vsbackup'
const KDF_BACKUP_KEY_ID = 1
const BACKUP_AD = 'backup/v1'
const CHECKSUM = 'recovery-key-check/v1'
const NONCE_BYTES = 24
const TAG_BYTES = 16

// ---------------------------------------------------------------- readable form

/** Crockford base32: no I, L, O, U, so fewer look-alikes and no accidental words. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const DATA_CHARS = Math.ceil((RECOVERY_KEY_BYTES * 8) / 5) // 52
const CHECK_CHARS = 4 // 20 bits
const TOTAL_CHARS = DATA_CHARS + CHECK_CHARS // 56, 14 groups of 4
const GROUP = 4

function toBase32(bytes: Uint8Array): string {
  let out = ''
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += ALPHABET[(acc >> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31]
  return out
}

/** Decodes `symbols` (values 0–31); null if the padding bits are not zero (non-canonical). */
function fromBase32(symbols: number[], nBytes: number): Uint8Array | null {
  const out = new Uint8Array(nBytes)
  let acc = 0
  let bits = 0
  let n = 0
  for (const s of symbols) {
    acc = (acc << 5) | s
    bits += 5
    if (bits >= 8) {
      bits -= 8
      if (n < nBytes) out[n++] = (acc >> bits) & 0xff
    }
    acc &= (1 << bits) - 1
  }
  return n === nBytes && acc === 0 ? out : null
}

/** The 4 checksum characters: the first 20 bits of a hash of the key. */
function checksum(key: Uint8Array): string {
  return toBase32(hash(CHECKSUM, key).subarray(0, 3)).slice(0, CHECK_CHARS)
}

/** 32 fresh random bytes. Show it with {@link formatRecoveryKey}. */
export function generateRecoveryKey(): Uint8Array {
  return randomBytes(RECOVERY_KEY_BYTES)
}

/**
 * The key as 14 groups of 4 Crockford base32 characters, the last group a checksum:
 * `"7KQ2 M0XB … 4FZ9"`.
 */
export function formatRecoveryKey(key: Uint8Array): string {
  assertBytes(key, RECOVERY_KEY_BYTES, 'recoveryKey')
  const s = toBase32(key) + checksum(key)
  return (s.match(/.{4}/g) ?? []).join(' ')
}

/**
 * Reads a recovery key as typed by a person: case, spaces and dashes do not matter,
 * and O, I and L are read as 0, 1 and 1. Throws {@link RecoveryKeyError} with a message
 * fit to show: `'length'`, `'character'` (names the group), or `'checksum'` (a
 * mistyped character; caught with probability 1 − 2^-20 for any typo).
 */
export function parseRecoveryKey(text: string): Uint8Array {
  const compact = text.toUpperCase().replace(/[\s-]/g, '')
  if (compact.length !== TOTAL_CHARS) {
    throw new RecoveryKeyError(
      'length',
      `a recovery key has ${TOTAL_CHARS} characters (${TOTAL_CHARS / GROUP} groups of ${GROUP}), this one has ${compact.length}`,
    )
  }
  const symbols: number[] = []
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i]!.replace('O', '0').replace(/[IL]/, '1')
    const v = ALPHABET.indexOf(c)
    if (v < 0) {
      throw new RecoveryKeyError(
        'character',
        `"${compact[i]}" in group ${Math.floor(i / GROUP) + 1} does not occur in recovery keys`,
      )
    }
    symbols.push(v)
  }
  const key = fromBase32(symbols.slice(0, DATA_CHARS), RECOVERY_KEY_BYTES)
  const check = symbols
    .slice(DATA_CHARS)
    .map((v) => ALPHABET[v])
    .join('')
  if (key === null || checksum(key) !== check) {
    throw new RecoveryKeyError(
      'checksum',
      'this recovery key contains a typing error: check every group again',
    )
  }
  return key
}

// ---------------------------------------------------------------- passphrase

/** Argon2id cost; tests pass `OPSLIMIT_MIN` / `MEMLIMIT_MIN`. */
export interface PwhashLimits {
  opsLimit?: number
  memLimit?: number
}

/** A fresh salt for {@link recoveryKeyFromPassphrase}; store it next to the backup. */
export function generatePassphraseSalt(): Uint8Array {
  return randomBytes(PASSPHRASE_SALT_BYTES)
}

/**
 * A recovery key from a passphrase: Argon2id (`crypto_pwhash`, ALG_ARGON2ID13) with
 * MODERATE limits by default (slow, to make guessing expensive for a server that holds
 * the backup). Deterministic for the same passphrase, salt and limits. The passphrase
 * is NFC-normalised so the same text typed on two keyboards gives the same key.
 */
export function recoveryKeyFromPassphrase(
  passphrase: string,
  salt: Uint8Array,
  limits: PwhashLimits = {},
): Uint8Array {
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    throw new FormatError('passphrase', 'must not be empty')
  }
  assertBytes(salt, PASSPHRASE_SALT_BYTES, 'salt')
  const s = sodium()
  return s.crypto_pwhash(
    RECOVERY_KEY_BYTES,
    passphrase.normalize('NFC'),
    salt,
    limits.opsLimit ?? s.crypto_pwhash_OPSLIMIT_MODERATE,
    limits.memLimit ?? s.crypto_pwhash_MEMLIMIT_MODERATE,
    s.crypto_pwhash_ALG_ARGON2ID13,
  )
}

// ---------------------------------------------------------------- backup

/** The backup key: `crypto_kdf` subkey 1 of the recovery key, context "vsbackup". */
export function deriveBackupKey(recoveryKey: Uint8Array): Uint8Array {
  assertBytes(recoveryKey, RECOVERY_KEY_BYTES, 'recoveryKey')
  return sodium().crypto_kdf_derive_from_key(
    RECOVERY_KEY_BYTES,
    KDF_BACKUP_KEY_ID,
    KDF_CONTEXT,
    recoveryKey,
  )
}

/**
 * Encrypts `secret` for the backup slot `itemId`: `nonce(24) ‖ XChaCha20-Poly1305(secret)`
 * with associated data `encode("backup/v1", itemId)` and a random nonce.
 */
export function wrapSecret(backupKey: Uint8Array, itemId: string, secret: Uint8Array): Uint8Array {
  assertBytes(backupKey, RECOVERY_KEY_BYTES, 'backupKey')
  checkId(itemId, 'itemId')
  if (!(secret instanceof Uint8Array)) throw new FormatError('secret', 'expected bytes')
  const nonce = randomBytes(NONCE_BYTES)
  const ct = sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(
    secret,
    encode(BACKUP_AD, itemId),
    null,
    nonce,
    backupKey,
  )
  return concat(nonce, ct)
}

/**
 * Decrypts a blob made by {@link wrapSecret} for the same `itemId`. Throws
 * {@link DecryptionError} for a wrong key, a blob from another slot, an altered blob,
 * or one the server made up.
 */
export function unwrapSecret(backupKey: Uint8Array, itemId: string, blob: Uint8Array): Uint8Array {
  assertBytes(backupKey, RECOVERY_KEY_BYTES, 'backupKey')
  checkId(itemId, 'itemId')
  if (!(blob instanceof Uint8Array) || blob.length < NONCE_BYTES + TAG_BYTES) {
    throw new DecryptionError('backup blob is too short')
  }
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      blob.subarray(NONCE_BYTES),
      encode(BACKUP_AD, itemId),
      blob.subarray(0, NONCE_BYTES),
      backupKey,
    )
  } catch (cause) {
    throw new DecryptionError(undefined, { cause })
  }
}
