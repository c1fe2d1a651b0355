import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decodeFields, encode, fromB64, toB64 } from './encoding.js'

describe('canonical encoding', () => {
  it('never gives two different field lists the same bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 5 }),
        fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 5 }),
        (a, b) => {
          const same = a.length === b.length && a.every((x, i) => Buffer.compare(x, b[i]!) === 0)
          const ea = encode('ctx/v1', ...a)
          const eb = encode('ctx/v1', ...b)
          expect(Buffer.compare(ea, eb) === 0).toBe(same)
        },
      ),
    )
  })

  it('round-trips fields and starts with the context string', () => {
    const fields = decodeFields(encode('msg/v1', 'room', 7, new Uint8Array([1, 2])))
    expect(new TextDecoder().decode(fields[0])).toBe('msg/v1')
    expect(fields).toHaveLength(4)
  })

  it('refuses negative or unsafe integers', () => {
    expect(() => encode('x', -1)).toThrow(RangeError)
    expect(() => encode('x', 2 ** 60)).toThrow(RangeError)
  })

  it('round-trips base64url and refuses other alphabets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromB64(toB64(b))).toEqual(b)
      }),
    )
    expect(() => fromB64('a+b/')).toThrow(TypeError)
  })
})
