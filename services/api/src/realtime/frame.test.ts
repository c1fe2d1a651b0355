/**
 * `TextFrame.wire` is a complete, unmasked WebSocket text frame: ws's own receiver reads
 * the payload back unchanged, for each of the three length encodings of RFC 6455 §5.2.
 */
import * as ws from 'ws'
import { describe, expect, it } from 'vitest'
import { TextFrame } from './frame.js'

interface ReceiverLike {
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void
  on(event: 'error', fn: (err: Error) => void): void
  write(chunk: Buffer): void
}
const Receiver = (ws as unknown as { Receiver: new (o: { isServer: boolean }) => ReceiverLike })
  .Receiver

function readBack(wire: Buffer): { text: string; binary: boolean } {
  // A client-side receiver: server frames are unmasked.
  const r = new Receiver({ isServer: false })
  let got: { text: string; binary: boolean } | undefined
  r.on('message', (data, isBinary) => (got = { text: data.toString(), binary: isBinary }))
  r.on('error', (err) => {
    throw err
  })
  r.write(wire)
  if (!got) throw new Error('no message read')
  return got
}

describe('TextFrame', () => {
  for (const size of [0, 125, 126, 65_535, 65_536, 200_000]) {
    it(`frames a ${size}-byte payload that ws reads back as text`, () => {
      const json = JSON.stringify({ t: 'ev', body: 'x'.repeat(Math.max(0, size - 20)) }).slice(
        0,
        size,
      )
      const f = TextFrame.of(json)
      expect(f.json.toString()).toBe(json)
      expect(f.wire).toBe(f.wire) // framed once, then reused
      expect(f.wire[0]).toBe(0x81) // FIN, text
      expect(f.wire[1]! & 0x80).toBe(0) // not masked
      expect(readBack(f.wire)).toEqual({ text: json, binary: false })
    })
  }
})
