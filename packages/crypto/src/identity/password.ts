/**
 * Server-side password hashing for account login: Argon2id via `crypto_pwhash_str`,
 * which stores algorithm, limits and salt in the string.
 *
 * Threat: a leaked user table. A memory-hard hash makes offline guessing expensive.
 * The login password is not an encryption key: end-to-end keys never derive from it.
 * These calls block the thread (~100 ms at INTERACTIVE limits); a busy server runs them
 * in a worker.
 */
import { sodium } from '../sodium.js'
import type { PwhashLimits } from './recovery.js'

function limitsOf(limits: PwhashLimits): { ops: number; mem: number } {
  const s = sodium()
  return {
    ops: limits.opsLimit ?? s.crypto_pwhash_OPSLIMIT_INTERACTIVE,
    mem: limits.memLimit ?? s.crypto_pwhash_MEMLIMIT_INTERACTIVE,
  }
}

/** An Argon2id hash string (`$argon2id$v=19$m=…`) with INTERACTIVE limits by default. */
export function hashPassword(password: string, limits: PwhashLimits = {}): string {
  const { ops, mem } = limitsOf(limits)
  return sodium().crypto_pwhash_str(password.normalize('NFC'), ops, mem)
}

/** True if `password` matches `hash`; false also for a hash string that does not parse. */
export function verifyPassword(hash: string, password: string): boolean {
  try {
    return sodium().crypto_pwhash_str_verify(hash, password.normalize('NFC'))
  } catch {
    return false
  }
}

/**
 * True if `hash` was made with other limits or another algorithm than `limits` (default
 * INTERACTIVE), or does not parse: rehash at the next successful login.
 */
export function passwordNeedsRehash(hash: string, limits: PwhashLimits = {}): boolean {
  const { ops, mem } = limitsOf(limits)
  try {
    return sodium().crypto_pwhash_str_needs_rehash(hash, ops, mem)
  } catch {
    return true
  }
}
