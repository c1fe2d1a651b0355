/**
 * Strict readers for the JSON and binary record forms of certificates and log entries
 * (internal). Input comes from the server, so every field is checked for type and size before a byte of
 * it reaches a signature check; unknown fields are refused, because they would travel
 * along unsigned and a reader might trust them.
 */
import { bytesEqual, decodeFields, fromB64, fromUtf8, readU64, utf8 } from '../encoding.js'
import { FormatError } from './errors.js'

/** Longest user, device, desk or subject identifier we accept. */
export const MAX_ID_LENGTH = 256

export type JsonObject = Record<string, unknown>

/** Returns `value` as an object with exactly the `keys`, or throws a {@link FormatError}. */
export function readObject(value: unknown, keys: readonly string[], what: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError(what, 'expected an object')
  }
  const obj = value as JsonObject
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) throw new FormatError(`${what}.${k}`, 'unexpected field')
  }
  for (const k of keys) {
    if (!(k in obj)) throw new FormatError(`${what}.${k}`, 'missing field')
  }
  return obj
}

/** A non-empty string of at most {@link MAX_ID_LENGTH} characters. */
export function readId(obj: JsonObject, key: string, what: string): string {
  const v = obj[key]
  checkId(v, `${what}.${key}`)
  return v
}

/** Throws unless `v` is a non-empty identifier string of bounded length. */
export function checkId(v: unknown, field: string): asserts v is string {
  if (typeof v !== 'string') throw new FormatError(field, 'expected a string')
  if (v.length === 0 || v.length > MAX_ID_LENGTH) {
    throw new FormatError(field, `expected 1 to ${MAX_ID_LENGTH} characters`)
  }
}

/** A non-negative safe integer (timestamps in ms, versions, sizes, indices). */
export function readUint(obj: JsonObject, key: string, what: string): number {
  const v = obj[key]
  checkUint(v, `${what}.${key}`)
  return v
}

/** Throws unless `v` is a non-negative safe integer. */
export function checkUint(v: unknown, field: string): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new FormatError(field, 'expected a non-negative integer')
  }
}

/** Base64url bytes, of exactly `len` bytes when given. */
export function readBytes(obj: JsonObject, key: string, what: string, len?: number): Uint8Array {
  const v = obj[key]
  const field = `${what}.${key}`
  if (typeof v !== 'string') throw new FormatError(field, 'expected a base64url string')
  let b: Uint8Array
  try {
    b = fromB64(v)
  } catch (cause) {
    throw new FormatError(field, 'not base64url', { cause })
  }
  if (len !== undefined && b.length !== len) {
    throw new FormatError(field, `expected ${len} bytes, got ${b.length}`)
  }
  return b
}

/**
 * Splits a record made by `encode(context, ...fields)` and checks the context and the
 * field count, so a record of one kind can never be read as another.
 */
export function readRecord(bytes: Uint8Array, context: string, count: number): Uint8Array[] {
  let fields: Uint8Array[]
  try {
    fields = decodeFields(bytes)
  } catch (cause) {
    throw new FormatError(context, 'not a canonical encoding', { cause })
  }
  const [ctx, ...rest] = fields
  if (ctx === undefined || !bytesEqual(ctx, utf8(context))) {
    throw new FormatError(context, 'wrong record type')
  }
  if (rest.length !== count) {
    throw new FormatError(context, `expected ${count} fields, got ${rest.length}`)
  }
  return rest
}

/** Field `i` of a record as an identifier string. */
export function recordId(fields: Uint8Array[], i: number, field: string): string {
  let s: string
  try {
    s = fromUtf8(at(fields, i))
  } catch (cause) {
    throw new FormatError(field, 'not UTF-8', { cause })
  }
  checkId(s, field)
  return s
}

/** Field `i` of a record as a u64 number. */
export function recordUint(fields: Uint8Array[], i: number, field: string): number {
  try {
    return readU64(at(fields, i))
  } catch (cause) {
    throw new FormatError(field, 'not a u64', { cause })
  }
}

/** Field `i` of a record as bytes of exactly `len` bytes. */
export function recordBytes(
  fields: Uint8Array[],
  i: number,
  field: string,
  len: number,
): Uint8Array {
  const b = at(fields, i)
  if (b.length !== len) throw new FormatError(field, `expected ${len} bytes, got ${b.length}`)
  return b.slice()
}

function at(fields: Uint8Array[], i: number): Uint8Array {
  const f = fields[i]
  if (f === undefined) throw new FormatError(`field ${i}`, 'missing')
  return f
}
