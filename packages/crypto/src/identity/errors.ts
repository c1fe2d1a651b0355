/**
 * Typed errors of the identity code. Every failed check throws one of these; nothing
 * returns null or a boolean a caller could forget to look at (except the explicitly
 * boolean `verifyPassword` and `compareSafetyQr`).
 */

/** Base class of every error thrown by `identity/`; `code` is stable for callers and tests. */
export class IdentityError<C extends string = string> extends Error {
  readonly code: C

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A signature does not verify under the expected public key (or has the wrong size). */
export class SignatureError extends IdentityError<'bad-signature'> {
  constructor(message = 'signature does not verify', options?: ErrorOptions) {
    super('bad-signature', message, options)
  }
}

export type CertificateErrorCode = 'expired' | 'revoked' | 'wrong-subject'

/** A correctly signed certificate that must still not be trusted. */
export class CertificateError extends IdentityError<CertificateErrorCode> {}

/**
 * Input that does not have the expected shape: a JSON form with a missing or extra
 * field, a key or signature of the wrong length, a non-integer timestamp.
 */
export class FormatError extends IdentityError<'malformed'> {
  readonly field: string

  constructor(field: string, message: string, options?: ErrorOptions) {
    super('malformed', `${field}: ${message}`, options)
    this.field = field
  }
}

export type KeyLogErrorCode = 'bad-signature' | 'rollback' | 'fork' | 'gap' | 'malformed'

/** The key log the server showed us is not an extension of what we verified before. */
export class KeyLogError extends IdentityError<KeyLogErrorCode> {}

export type RecoveryKeyErrorCode = 'length' | 'character' | 'checksum'

/** A recovery key typed by the user does not parse; the message is fit to show. */
export class RecoveryKeyError extends IdentityError<RecoveryKeyErrorCode> {}

/** A backup blob does not decrypt: wrong key, wrong slot, altered or planted. */
export class DecryptionError extends IdentityError<'decryption-failed'> {
  constructor(
    message = 'cannot decrypt: wrong key, wrong item or altered data',
    options?: ErrorOptions,
  ) {
    super('decryption-failed', message, options)
  }
}
