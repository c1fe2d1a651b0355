/**
 * Canonical binary encoding for everything that is signed, hashed or used as
 * associated data. Never `JSON.stringify` an object for that purpose: key order and
 * number formatting are not canonical, and two parsers may disagree (a classic
 * signature-confusion bug).
 *
 * Layout: a context string (e.g. "msg/v1") as the first field, then each field as
 * `u32 big-endian length ‖ bytes`. Strings are UTF-8, integers are u64 big-endian
 * (inside a length-prefixed field of 8 bytes), booleans one byte. Because every
 * field is length-prefixed, no two different field lists share an encoding.
 */

export type Field = Uint8Array | string | number | bigint | boolean | null

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

export function utf8(s: string): Uint8Array {
  return textEncoder.encode(s)
}

export function fromUtf8(b: Uint8Array): string {
  return textDecoder.decode(b)
}

function u64(n: number | bigint): Uint8Array {
  const v = typeof n === 'bigint' ? n : BigInt(n)
  if (typeof n === 'number' && (!Number.isSafeInteger(n) || n < 0)) {
    throw new RangeError(`cannot encode ${n}: only non-negative safe integers`)
  }
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError('u64 out of range')
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, v)
  return out
}

function fieldBytes(f: Field): Uint8Array {
  if (f instanceof Uint8Array) return f
  if (typeof f === 'string') return utf8(f)
  if (typeof f === 'number' || typeof f === 'bigint') return u64(f)
  if (typeof f === 'boolean') return Uint8Array.of(f ? 1 : 0)
  return new Uint8Array(0)
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0
  for (const p of parts) len += p.length
  const out = new Uint8Array(len)
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

/** Canonical encoding of `context ‖ fields…`, every part length-prefixed. */
export function encode(context: string, ...fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = []
  for (const f of [context, ...fields]) {
    const b = fieldBytes(f)
    const len = new Uint8Array(4)
    new DataView(len.buffer).setUint32(0, b.length)
    parts.push(len, b)
  }
  return concat(...parts)
}

/** Splits an encoding made by {@link encode} back into raw fields (context first). */
export function decodeFields(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let off = 0
  while (off < data.length) {
    if (off + 4 > data.length) throw new RangeError('truncated length prefix')
    const len = view.getUint32(off)
    off += 4
    if (off + len > data.length) throw new RangeError('truncated field')
    out.push(data.subarray(off, off + len))
    off += len
  }
  return out
}

/** Reads a u64 field produced by {@link encode} as a number (throws above 2^53). */
export function readU64(b: Uint8Array): number {
  if (b.length !== 8) throw new RangeError('u64 field must be 8 bytes')
  const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('u64 above 2^53')
  return Number(v)
}

/** Constant-time equality of two byte arrays of any length. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

const B64URL = /^[A-Za-z0-9_-]*$/

/** Unpadded base64url, the encoding of bytes on the wire and in JSON (Node and browser). */
export function toB64(b: Uint8Array): string {
  let bin = ''
  for (let i = 0; i < b.length; i += 0x8000) {
    bin += String.fromCharCode(...b.subarray(i, i + 0x8000))
  }
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function fromB64(s: string): Uint8Array {
  if (!B64URL.test(s) || s.length % 4 === 1) throw new TypeError('not base64url')
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}
