/**
 * TOTP (RFC 6238, SHA-1, 6 digits, 30 s) for the second factor. A code is accepted in
 * the current step ±1, and never twice: the last accepted step is stored per user, so a
 * code seen over someone's shoulder cannot be replayed within its window.
 */
import { Secret, TOTP } from 'otpauth'

export const TOTP_PERIOD = 30

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32
}

function totp(secret: string, label = '', issuer = 'Veilig Samenwerken'): TOTP {
  return new TOTP({
    issuer,
    label,
    algorithm: 'SHA1',
    digits: 6,
    period: TOTP_PERIOD,
    secret: Secret.fromBase32(secret),
  })
}

export function otpauthUri(secret: string, email: string): string {
  return totp(secret, email).toString()
}

/** Returns the accepted time step, or undefined if the code is wrong or already used. */
export function checkTotp(
  secret: string,
  code: string,
  lastStep: number,
  now: Date,
): number | undefined {
  const t = totp(secret)
  const delta = t.validate({ token: code, timestamp: now.getTime(), window: 1 })
  if (delta === null) return undefined
  const step = Math.floor(now.getTime() / 1000 / TOTP_PERIOD) + delta
  if (step <= lastStep) return undefined
  return step
}
