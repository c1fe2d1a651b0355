/** Stable codes of the identifier guard's errors. */
export type GuardErrorCode = 'VS_GUARD_FINDING_MISMATCH'

/** A finding handed to the guard does not fit the text (stale or out of range). */
export class GuardFindingError extends Error {
  readonly code: GuardErrorCode = 'VS_GUARD_FINDING_MISMATCH'

  constructor(message: string) {
    super(message)
    this.name = 'GuardFindingError'
  }
}
