/**
 * `decodeBody`: the server's fast decoder for message bodies reads exactly the bytes the
 * strict decoder of @vs/crypto reads, refuses what it refuses (given the frame schema's
 * character check), and calls a text canonical exactly when re-encoding gives it back.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromB64, toB64 } from '@vs/crypto'
import { decodeBody, eventFrame } from './events.js'

const B64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Any text the frame schema admits (`^[A-Za-z0-9_-]*$`), impossible lengths included. */
const schemaText = fc
  .array(fc.constantFrom(...B64_CHARS), { maxLength: 64 })
  .map((cs) => cs.join(''))

describe('decodeBody', () => {
  it('reads what fromB64 reads, refuses what it refuses, and knows the canonical text', () => {
    fc.assert(
      fc.property(schemaText, (s) => {
        let strict: Uint8Array | undefined
        try {
          strict = fromB64(s)
        } catch {
          strict = undefined
        }
        const fast = decodeBody(s)
        if (strict === undefined) {
          expect(fast).toBeUndefined()
        } else {
          expect(fast).toBeDefined()
          expect(new Uint8Array(fast!.body)).toEqual(strict)
          expect(fast!.canonical).toBe(toB64(strict) === s)
        }
      }),
      { numRuns: 5000 },
    )
  })

  it('takes every encoder-written text as canonical', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        const d = decodeBody(toB64(bytes))!
        expect(d.canonical).toBe(true)
        expect(new Uint8Array(d.body)).toEqual(bytes)
      }),
    )
  })

  it('a non-canonical text is not echoed: the event frame carries the canonical encoding', () => {
    // 'AB' and 'AA' both decode to one zero byte; only 'AA' is how an encoder writes it.
    const d = decodeBody('AB')!
    expect(d.canonical).toBe(false)
    const e = {
      roomId: 'r',
      seq: 1,
      kind: 'message' as const,
      senderId: 'u',
      senderDevice: 'd',
      createdAt: new Date(0),
      body: d.body,
    }
    expect(eventFrame(e).body).toBe('AA')
    expect(eventFrame({ ...e, bodyB64: 'AA' }).body).toBe('AA')
  })
})
