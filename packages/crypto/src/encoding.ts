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

const MAX_U64 = 0xffff_ffff_ffff_ffffn
const TWO_32 = 2 ** 32
/** Strings up to this length are checked for ASCII and copied by hand; longer ones go through TextEncoder. */
const SHORT_STRING = 64

function checkU64(n: number | bigint): void {
  if (typeof n === 'number') {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`cannot encode ${n}: only non-negative safe integers`)
    }
  } else if (n < 0n || n > MAX_U64) {
    throw new RangeError('u64 out of range')
  }
}

function writeU32(out: Uint8Array, off: number, n: number): void {
  out[off] = n >>> 24
  out[off + 1] = n >>> 16
  out[off + 2] = n >>> 8
  out[off + 3] = n
}

function writeU64(out: Uint8Array, off: number, n: number | bigint): void {
  if (typeof n === 'number') {
    writeU32(out, off, Math.floor(n / TWO_32))
    writeU32(out, off + 4, n >>> 0)
  } else {
    writeU32(out, off, Number(n >> 32n))
    writeU32(out, off + 4, Number(n & 0xffff_ffffn))
  }
}

/** Whether a short string is all ASCII (then its UTF-8 bytes are its char codes). */
function isShortAscii(s: string): boolean {
  if (s.length > SHORT_STRING) return false
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** `u32 length ‖ UTF-8` of each context string seen, so constant contexts are encoded once. */
const contextPrefixes = new Map<string, Uint8Array>()
const MAX_CACHED_CONTEXTS = 256

function contextPrefix(context: string): Uint8Array {
  let p = contextPrefixes.get(context)
  if (p === undefined) {
    const b = utf8(context)
    p = new Uint8Array(4 + b.length)
    writeU32(p, 0, b.length)
    p.set(b, 4)
    if (contextPrefixes.size < MAX_CACHED_CONTEXTS) contextPrefixes.set(context, p)
  }
  return p
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

/**
 * Canonical encoding of `context ‖ fields…`, every part length-prefixed. Two passes:
 * the first checks and sizes every field, the second writes them into one buffer.
 */
export function encode(context: string, ...fields: Field[]): Uint8Array {
  const prefix = contextPrefix(context)
  let size = prefix.length
  // UTF-8 of the strings that are not short ASCII, by field index.
  let encoded: (Uint8Array | undefined)[] | undefined
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]
    size += 4
    if (f instanceof Uint8Array) size += f.length
    else if (typeof f === 'string') {
      if (isShortAscii(f)) size += f.length
      else {
        const b = utf8(f)
        ;(encoded ??= [])[i] = b
        size += b.length
      }
    } else if (typeof f === 'number' || typeof f === 'bigint') {
      checkU64(f)
      size += 8
    } else if (typeof f === 'boolean') size += 1
  }
  const out = new Uint8Array(size)
  out.set(prefix, 0)
  let off = prefix.length
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]
    if (f instanceof Uint8Array) {
      writeU32(out, off, f.length)
      out.set(f, off + 4)
      off += 4 + f.length
    } else if (typeof f === 'string') {
      const b = encoded?.[i]
      if (b) {
        writeU32(out, off, b.length)
        out.set(b, off + 4)
        off += 4 + b.length
      } else {
        writeU32(out, off, f.length)
        off += 4
        for (let j = 0; j < f.length; j++) out[off++] = f.charCodeAt(j)
      }
    } else if (typeof f === 'number' || typeof f === 'bigint') {
      writeU32(out, off, 8)
      writeU64(out, off + 4, f)
      off += 12
    } else if (typeof f === 'boolean') {
      writeU32(out, off, 1)
      out[off + 4] = f ? 1 : 0
      off += 5
    } else {
      // null (and anything else) is an empty field; the buffer is already zeroed.
      off += 4
    }
  }
  return out
}

/** Splits an encoding made by {@link encode} back into raw fields (context first). */
export function decodeFields(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let off = 0
  while (off < data.length) {
    if (off + 4 > data.length) throw new RangeError('truncated length prefix')
    const len = readU32(data, off)
    off += 4
    if (off + len > data.length) throw new RangeError('truncated field')
    out.push(data.subarray(off, off + len))
    off += len
  }
  return out
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0
}

/** Reads a u64 field produced by {@link encode} as a number (throws above 2^53). */
export function readU64(b: Uint8Array): number {
  if (b.length !== 8) throw new RangeError('u64 field must be 8 bytes')
  const hi = readU32(b, 0)
  // Number.MAX_SAFE_INTEGER is 2^53 - 1: the high word may use 21 bits.
  if (hi > 0x1f_ffff) throw new RangeError('u64 above 2^53')
  return hi * TWO_32 + readU32(b, 4)
}

/** Constant-time equality of two byte arrays of any length. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const B64_ENCODE = Uint8Array.from(B64_ALPHABET, (c) => c.charCodeAt(0))
/** Sextet of each ASCII code, -1 for characters outside the base64url alphabet. */
const B64_DECODE = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) B64_DECODE[B64_ENCODE[i]!] = i
/** Only ever given base64url characters (ASCII), where windows-1252 is ASCII: the fastest decoder. */
const asciiDecoder = new TextDecoder('latin1')

/** Unpadded base64url, the encoding of bytes on the wire and in JSON (Node and browser). */
export function toB64(b: Uint8Array): string {
  const n = b.length
  const rest = n % 3
  const full = n - rest
  const out = new Uint8Array(((n - rest) / 3) * 4 + (rest === 0 ? 0 : rest + 1))
  let j = 0
  for (let i = 0; i < full; i += 3) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!
    out[j] = B64_ENCODE[v >>> 18]!
    out[j + 1] = B64_ENCODE[(v >>> 12) & 63]!
    out[j + 2] = B64_ENCODE[(v >>> 6) & 63]!
    out[j + 3] = B64_ENCODE[v & 63]!
    j += 4
  }
  if (rest === 1) {
    const v = b[full]!
    out[j] = B64_ENCODE[v >>> 2]!
    out[j + 1] = B64_ENCODE[(v & 3) << 4]!
  } else if (rest === 2) {
    const v = (b[full]! << 8) | b[full + 1]!
    out[j] = B64_ENCODE[v >>> 10]!
    out[j + 1] = B64_ENCODE[(v >>> 4) & 63]!
    out[j + 2] = B64_ENCODE[(v & 15) << 2]!
  }
  return asciiDecoder.decode(out)
}

function notB64(): TypeError {
  return new TypeError('not base64url')
}

/**
 * Decodes unpadded base64url. Refuses any other character (no padding, no `+/`, no
 * whitespace) and impossible lengths; like `atob`, the unused low bits of the last
 * character are not checked.
 */
export function fromB64(s: string): Uint8Array {
  const n = s.length
  const rest = n % 4
  if (rest === 1) throw notB64()
  const full = n - rest
  const out = new Uint8Array((full / 4) * 3 + (rest === 0 ? 0 : rest - 1))
  let j = 0
  for (let i = 0; i < full; i += 4) {
    const c0 = s.charCodeAt(i)
    const c1 = s.charCodeAt(i + 1)
    const c2 = s.charCodeAt(i + 2)
    const c3 = s.charCodeAt(i + 3)
    if ((c0 | c1 | c2 | c3) > 0x7f) throw notB64()
    const a = B64_DECODE[c0]!
    const b = B64_DECODE[c1]!
    const c = B64_DECODE[c2]!
    const d = B64_DECODE[c3]!
    if ((a | b | c | d) < 0) throw notB64()
    const v = (a << 18) | (b << 12) | (c << 6) | d
    out[j] = v >>> 16
    out[j + 1] = v >>> 8
    out[j + 2] = v
    j += 3
  }
  if (rest > 0) {
    let v = 0
    for (let i = full; i < n; i++) {
      const c = s.charCodeAt(i)
      const x = c > 0x7f ? -1 : B64_DECODE[c]!
      if (x < 0) throw notB64()
      v = (v << 6) | x
    }
    if (rest === 2) out[j] = v >>> 4
    else {
      out[j] = v >>> 10
      out[j + 1] = v >>> 2
    }
  }
  return out
}
