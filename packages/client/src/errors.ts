/**
 * Typed errors of the SDK. Every error has a stable `code` for programs and a message
 * in Dutch and English (`"nl / en"`, like the server's), fit to show to a person.
 */

/** Base class of the SDK's own errors. */
export class VsClientError<C extends string = string> extends Error {
  readonly code: C

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/**
 * The server refused a request (`status` ≥ 400, `code` from its `{error:{code,message}}`
 * body), or could not be reached (`status` 0, code `VS_NETWORK`).
 */
export class ApiRequestError extends VsClientError {
  readonly status: number

  constructor(status: number, code: string, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.status = status
  }
}

export type NotSignedInErrorCode = 'VS_NOT_SIGNED_IN' | 'VS_SESSION_ENDED'

/** There is no session (or it ended: signed out elsewhere, refresh token reused). */
export class NotSignedInError extends VsClientError<NotSignedInErrorCode> {}

export type DeviceErrorCode =
  | 'VS_NO_DEVICE'
  | 'VS_DEVICE_PRESENT'
  | 'VS_MASTER_KEY_EXISTS'
  | 'VS_NO_MASTER_KEY'
  | 'VS_MASTER_KEY_MISMATCH'
  | 'VS_RECOVERY_KEY_INVALID'
  | 'VS_RECOVERY_KEY_WRONG'

/** This device cannot do what was asked with the keys it has (or has not). */
export class DeviceError extends VsClientError<DeviceErrorCode> {}

export type LinkErrorCode =
  | 'VS_LINK_CODE_FORMAT'
  | 'VS_LINK_CODE_MISMATCH'
  | 'VS_LINK_NOT_FOUND'
  | 'VS_LINK_EXPIRED'
  | 'VS_LINK_TIMEOUT'
  | 'VS_LINK_ABORTED'
  | 'VS_LINK_BAD_RESPONSE'

/**
 * Linking a device failed. `VS_LINK_CODE_MISMATCH` means the keys the server handed the
 * approving device are not the ones the new device showed a code for: a typo, or a
 * server swapping in its own keys. Never link in that case.
 */
export class LinkError extends VsClientError<LinkErrorCode> {}

export type KeyLogIntegrityErrorCode =
  | 'VS_KEYLOG_BAD_SIGNATURE'
  | 'VS_KEYLOG_ROLLBACK'
  | 'VS_KEYLOG_FORK'
  | 'VS_KEYLOG_GAP'
  | 'VS_KEYLOG_MALFORMED'
  | 'VS_KEYLOG_KEY_CHANGED'
  | 'VS_KEYLOG_MISMATCH'

/**
 * The key log the server showed is not an honest extension of what this client verified
 * before (rolled back, forked, badly signed, signed by another log key), or the server
 * answers with a key the log does not record. Show it loudly: the server may be
 * showing different people different keys.
 */
export class KeyLogIntegrityError extends VsClientError<KeyLogIntegrityErrorCode> {}

/**
 * The master key of a person you verified (safety number) has changed. Nothing is sent
 * to or trusted from them until you compare the new safety number and verify again.
 */
export class KeyChangedError extends VsClientError<'VS_KEY_CHANGED'> {
  readonly userId: string

  constructor(userId: string, options?: ErrorOptions) {
    super(
      'VS_KEY_CHANGED',
      'De sleutel van deze persoon is veranderd sinds je die hebt geverifieerd. Vergelijk het veiligheidsnummer opnieuw voordat je verder gaat. / ' +
        "This person's key changed since you verified it. Compare the safety number again before you continue.",
      options,
    )
    this.userId = userId
  }
}

export type KeyErrorCode = 'VS_NO_KEYS' | 'VS_BAD_CERT' | 'VS_DESK_KEY_INVALID'

/** Someone's keys are missing or do not check out. */
export class KeyError extends VsClientError<KeyErrorCode> {}

/** The key store could not be read or written. */
export class KeyStoreError extends VsClientError<'VS_STORE_UNAVAILABLE' | 'VS_STORE_CORRUPT'> {}
