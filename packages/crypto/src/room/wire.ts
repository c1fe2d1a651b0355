/**
 * Strict readers for the binary and JSON forms of room objects. Parsing is where
 * attacker-controlled bytes enter, so every reader checks type, length and range and
 * fails through a caller-supplied constructor (each module throws its own error class).
 */
import { bytesEqual, decodeFields, fromB64, fromUtf8, readU64, utf8 } from '../encoding.js'

/** Builds the module's typed error for a malformed input. */
export type Fail = (message: string) => Error

/**
 * Identifiers (room, user, desk, device, notice ids) are 1–128 printable ASCII characters
 * without spaces. Restricting them to ASCII keeps sorting identical in every language
 * (UTF-16 and UTF-8 order agree) and rules out look-alike Unicode ids.
 */
const ID = /^[\x21-\x7e]{1,128}$/

export function isId(v: unknown): v is string {
  return typeof v === 'string' && ID.test(v)
}

export function expectId(v: unknown, what: string, fail: Fail): string {
  if (!isId(v)) throw fail(`${what} must be 1–128 printable ASCII characters`)
  return v
}

export function expectUint(v: unknown, what: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw fail(`${what} must be a non-negative safe integer`)
  }
  return v
}

export function expectBytes(v: unknown, length: number, what: string, fail: Fail): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== length) {
    throw fail(`${what} must be ${length} bytes`)
  }
  return v
}

export function expectOneOf<T extends string>(
  v: unknown,
  values: readonly T[],
  what: string,
  fail: Fail,
): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw fail(`${what} must be one of ${values.join(', ')}`)
  }
  return v as T
}

/** A plain JSON object with exactly the given keys (unknown keys are refused, not ignored). */
export function expectObject(
  v: unknown,
  keys: readonly string[],
  what: string,
  fail: Fail,
): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw fail(`${what} must be an object`)
  }
  const rec = v as Record<string, unknown>
  const present = Object.keys(rec)
  if (present.length !== keys.length || !present.every((k) => keys.includes(k))) {
    throw fail(`${what} must have exactly the fields ${keys.join(', ')}`)
  }
  return rec
}

export function expectArray(v: unknown, max: number, what: string, fail: Fail): unknown[] {
  if (!Array.isArray(v)) throw fail(`${what} must be an array`)
  if (v.length > max) throw fail(`${what} has more than ${max} entries`)
  return v
}

/** Base64url string in JSON → bytes of an exact length. */
export function expectB64(v: unknown, length: number, what: string, fail: Fail): Uint8Array {
  if (typeof v !== 'string') throw fail(`${what} must be a base64url string`)
  let b: Uint8Array
  try {
    b = fromB64(v)
  } catch {
    throw fail(`${what} must be base64url`)
  }
  return expectBytes(b, length, what, fail)
}

/** UTF-8 of the (few, constant) context strings, encoded once each. */
const contexts = new Map<string, Uint8Array>()

function contextBytes(context: string): Uint8Array {
  let b = contexts.get(context)
  if (b === undefined) {
    b = utf8(context)
    if (contexts.size < 256) contexts.set(context, b)
  }
  return b
}

/**
 * Splits a canonical encoding, checks its context string and exact field count, and
 * returns the fields after the context.
 */
export function fieldsOf(
  data: Uint8Array,
  context: string,
  count: number,
  fail: Fail,
): Uint8Array[] {
  let fields: Uint8Array[]
  try {
    fields = decodeFields(data)
  } catch {
    throw fail(`not a canonical ${context} encoding`)
  }
  const ctx = fields[0]
  if (ctx === undefined || !bytesEqual(ctx, contextBytes(context)))
    throw fail(`expected context ${context}`)
  if (count >= 0 && fields.length !== count + 1) throw fail(`${context} must have ${count} fields`)
  return fields.slice(1)
}

/** Like {@link fieldsOf} for encodings with a variable number of trailing fields. */
export function fieldsOfAtLeast(
  data: Uint8Array,
  context: string,
  min: number,
  max: number,
  fail: Fail,
): Uint8Array[] {
  const fields = fieldsOf(data, context, -1, fail)
  if (fields.length < min || fields.length > max) {
    throw fail(`${context} must have ${min}–${max} fields`)
  }
  return fields
}

export function field(fields: Uint8Array[], i: number, fail: Fail): Uint8Array {
  const f = fields[i]
  if (f === undefined) throw fail(`missing field ${i}`)
  return f
}

export function readString(b: Uint8Array, fail: Fail): string {
  try {
    return fromUtf8(b)
  } catch {
    throw fail('invalid UTF-8')
  }
}

export function readIdField(b: Uint8Array, what: string, fail: Fail): string {
  return expectId(readString(b, fail), what, fail)
}

export function readUint(b: Uint8Array, what: string, fail: Fail): number {
  try {
    return readU64(b)
  } catch {
    throw fail(`${what} must be an 8-byte integer below 2^53`)
  }
}

/** Canonical string order for ids: plain code-unit order (ids are ASCII, so it is byte order). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
