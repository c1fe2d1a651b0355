/**
 * Typed errors of the room protocol. Every failure throws one of these with a stable
 * `code` (clients switch on it, tests assert on it); nothing in this folder returns
 * `null` for "invalid".
 */

/** Why a membership commit or chain was refused. */
export type ChainErrorCode =
  | 'malformed'
  | 'bad-genesis'
  | 'wrong-room'
  | 'bad-signature'
  | 'unauthorised-committer'
  | 'fork'
  | 'rollback'
  | 'bad-prev'
  | 'bad-epoch'
  | 'bad-delta'
  | 'no-admin'
  | 'unknown-device'

/** A commit or commit chain is invalid; the state it was checked against is unchanged. */
export class ChainError extends Error {
  override readonly name = 'ChainError'
  constructor(
    readonly code: ChainErrorCode,
    message: string,
    /** Epoch of the offending commit, when known. */
    readonly epoch?: number,
  ) {
    super(message)
  }
}

/** Why a welcome (an epoch secret sealed to one device) was refused. */
export type WelcomeErrorCode =
  | 'malformed'
  | 'decrypt-failed'
  | 'bad-signature'
  | 'wrong-room'
  | 'wrong-epoch'
  | 'wrong-commit'
  | 'wrong-recipient'
  | 'not-member'
  | 'conflict'

/** A welcome could not be created or opened. */
export class WelcomeError extends Error {
  override readonly name = 'WelcomeError'
  constructor(
    readonly code: WelcomeErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** Why a message envelope was refused. */
export type EnvelopeErrorCode =
  | 'malformed'
  | 'unknown-sender'
  | 'bad-signature'
  | 'replay'
  | 'wrong-epoch'
  | 'wrong-room'
  | 'decrypt-failed'
  | 'missing-key'

/** A text to show the user, Dutch first. */
export interface UserMessage {
  nl: string
  en: string
}

const USER_MESSAGES: Partial<Record<EnvelopeErrorCode, UserMessage>> = {
  'missing-key': {
    nl: 'De sleutel van dit apparaat ontbreekt voor dit bericht — herstel met je herstelsleutel.',
    en: 'This device is missing the key for this message — restore it with your recovery key.',
  },
  'unknown-sender': {
    nl: 'Dit bericht komt van een apparaat dat geen lid is van dit gesprek en is geweigerd.',
    en: 'This message comes from a device that is not a member of this conversation and was refused.',
  },
  replay: {
    nl: 'Dit bericht is al eerder ontvangen en is opnieuw aangeboden; het is geweigerd.',
    en: 'This message was received before and offered again; it was refused.',
  },
}

/** An envelope could not be sealed or opened; the receiver state is unchanged. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError'
  /** What to show the user, for the codes where the user can do something about it. */
  readonly userMessage: UserMessage | undefined
  constructor(
    readonly code: EnvelopeErrorCode,
    message: string,
  ) {
    super(message)
    this.userMessage = USER_MESSAGES[code]
  }
}

/** Why signed notice metadata was refused. */
export type NoticeErrorCode =
  'malformed' | 'bad-signature' | 'wrong-room' | 'wrong-envelope' | 'mismatch'

/** Notice metadata is malformed, not signed by the expected key, or differs from the content. */
export class NoticeError extends Error {
  override readonly name = 'NoticeError'
  constructor(
    readonly code: NoticeErrorCode,
    message: string,
  ) {
    super(message)
  }
}
