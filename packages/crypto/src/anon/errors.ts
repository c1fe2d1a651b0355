/**
 * Typed errors of the anonymous-token code. Every failure throws one of these;
 * nothing returns null or a boolean the caller could forget to check.
 */

/** Stable codes, safe to map onto API error responses. */
export type AnonErrorCode =
  | 'VS_OPRF_NOT_READY'
  | 'VS_OPRF_INVALID_INPUT'
  | 'VS_OPRF_DESERIALIZE'
  | 'VS_OPRF_VERIFY'
  | 'VS_OPRF_DERIVE_KEY_PAIR'
  | 'VS_TOKEN_FORMAT'
  | 'VS_TOKEN_REDEMPTION'

/** Base class of every error thrown by `anon/`. */
export class AnonTokenError extends Error {
  readonly code: AnonErrorCode

  constructor(code: AnonErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** libsodium was used before `cryptoReady()` resolved. */
export class OprfNotReadyError extends AnonTokenError {
  constructor() {
    super('VS_OPRF_NOT_READY', 'libsodium is not initialised: await cryptoReady() first')
  }
}

/**
 * An input the protocol refuses (RFC 9497 `InvalidInputError`): an input that hashes
 * to the identity, an over-long input, an empty or over-sized batch, a zero scalar.
 */
export class OprfInvalidInputError extends AnonTokenError {
  constructor(message: string, options?: ErrorOptions) {
    super('VS_OPRF_INVALID_INPUT', message, options)
  }
}

/**
 * Bytes that are not a valid serialised element or scalar (RFC 9497 `DeserializeError`):
 * wrong length, not a canonical ristretto255 encoding, the identity, a scalar ≥ ℓ.
 */
export class OprfDeserializeError extends AnonTokenError {
  constructor(message: string, options?: ErrorOptions) {
    super('VS_OPRF_DESERIALIZE', message, options)
  }
}

/**
 * The DLEQ proof does not verify (RFC 9497 `VerifyError`): the issuer evaluated with
 * a key other than the one it published, or the response was altered.
 */
export class OprfVerifyError extends AnonTokenError {
  constructor(message: string, options?: ErrorOptions) {
    super('VS_OPRF_VERIFY', message, options)
  }
}

/** `DeriveKeyPair` found no non-zero scalar in 256 tries (never happens in practice). */
export class OprfDeriveKeyPairError extends AnonTokenError {
  constructor(message: string) {
    super('VS_OPRF_DERIVE_KEY_PAIR', message)
  }
}

/** A token message (JSON wire shape) is malformed. */
export class TokenFormatError extends AnonTokenError {
  constructor(message: string, options?: ErrorOptions) {
    super('VS_TOKEN_FORMAT', message, options)
  }
}

/** A redeemed token does not verify under the issuer key. */
export class TokenRedemptionError extends AnonTokenError {
  constructor(message: string, options?: ErrorOptions) {
    super('VS_TOKEN_REDEMPTION', message, options)
  }
}
