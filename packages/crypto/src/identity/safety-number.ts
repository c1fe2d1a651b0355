/**
 * Safety numbers: a fingerprint of two people's master public keys that they compare in
 * person (read aloud, or one scans the other's QR code) at a casusoverleg.
 *
 * Threat: a server that gives Alice a master key for "Bob" that is its own (a
 * machine-in-the-middle). The key log makes such a swap visible, the safety number
 * makes it checkable by the two people themselves.
 *
 * Shaped like Signal's: per person, iterate a hash over their user id and master key
 * (the iteration makes grinding for a key with a similar-looking number expensive),
 * take 30 decimal digits each, and put the two halves in a fixed order so both sides
 * see the same 60 digits.
 */
import { bytesEqual, encode } from '../encoding.js'
import { assertBytes, hash, SIGN_PUBLIC_KEY_BYTES } from './keys.js'
import { checkId } from './json.js'

/** Hash iterations per person (as Signal's `NumericFingerprintGenerator`). */
export const SAFETY_NUMBER_ITERATIONS = 5200

const FP_START = 'safety-fp/v1'
const FP_ITER = 'safety-fp-iter/v1'
const QR = 'safety-qr/v1'

/** One side of a safety number. */
export interface SafetyParty {
  userId: string
  masterPk: Uint8Array
}

/** A safety number for two people: the same for (A, B) and (B, A). */
export interface SafetyNumber {
  /** 60 decimal digits. */
  digits: string
  /** The digits in 12 groups of 5, for display. */
  groups: string[]
  /** What the QR code carries; compare a scanned one with {@link compareSafetyQr}. */
  qrPayload: Uint8Array
}

function fingerprint(p: SafetyParty): Uint8Array {
  checkId(p.userId, 'userId')
  assertBytes(p.masterPk, SIGN_PUBLIC_KEY_BYTES, 'masterPk')
  let h = hash(FP_START, p.userId, p.masterPk)
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) h = hash(FP_ITER, h, p.masterPk)
  return h
}

/** 30 digits from the first 30 bytes: each 5 bytes as a big-endian integer mod 100000. */
function thirtyDigits(fp: Uint8Array): string {
  let out = ''
  for (let chunk = 0; chunk < 6; chunk++) {
    let v = 0
    for (let j = 0; j < 5; j++) v = v * 256 + fp[chunk * 5 + j]!
    out += String(v % 100000).padStart(5, '0')
  }
  return out
}

/** Lexicographic order of two byte strings (public data: need not be constant-time). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

/**
 * The safety number of `a` and `b`. Order-independent; different user ids or master
 * keys give a different number (up to the ~2^-100 chance of a 30-digit collision).
 */
export function safetyNumber(a: SafetyParty, b: SafetyParty): SafetyNumber {
  const fa = fingerprint(a)
  const fb = fingerprint(b)
  const [lo, hi] = compareBytes(fa, fb) <= 0 ? [fa, fb] : [fb, fa]
  const digits = thirtyDigits(lo) + thirtyDigits(hi)
  const groups = digits.match(/\d{5}/g) ?? []
  return { digits, groups, qrPayload: encode(QR, lo, hi) }
}

/**
 * True if a scanned QR payload is the one my device computed for the same two people
 * and keys. A false result means one of the two sees a different key: do not mark the
 * person verified.
 */
export function compareSafetyQr(mine: SafetyNumber, scannedPayload: Uint8Array): boolean {
  return scannedPayload instanceof Uint8Array && bytesEqual(mine.qrPayload, scannedPayload)
}
