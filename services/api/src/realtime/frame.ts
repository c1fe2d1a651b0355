/**
 * An outgoing WebSocket text frame, framed once for every recipient. A server's frames are
 * not masked (RFC 6455 §5.1), so the bytes on the wire are the same for every socket: the
 * hub frames an event once and each recipient's TCP socket gets that one buffer, instead
 * of `ws` building a header and writing header and payload separately per recipient
 * (docs/benchmarks.md, session 9). The header is made by `ws`'s own `Sender.frame`.
 */
import * as ws from 'ws'

type FrameFn = (
  data: Buffer,
  options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean },
) => Buffer[]

/** `ws`'s `Sender.frame` (exported by `ws`, missing from its type definitions). */
const exported = (ws as unknown as { Sender?: { frame?: FrameFn } }).Sender?.frame
// Fail at start-up, not in the middle of a fan-out, if a `ws` upgrade ever drops it.
if (typeof exported !== 'function') throw new Error('ws no longer exports Sender.frame')
const frameWith: FrameFn = exported

const TEXT = { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }

export class TextFrame {
  private framed: Buffer | undefined

  /** `json`: the frame's payload, UTF-8 JSON. */
  constructor(readonly json: Buffer) {}

  static of(json: string): TextFrame {
    return new TextFrame(Buffer.from(json))
  }

  /** The whole frame as it goes on the wire (header + payload), made on first use. */
  get wire(): Buffer {
    if (!this.framed) {
      // [header, payload], or the header alone for an empty payload.
      const parts = frameWith(this.json, TEXT)
      this.framed = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
    }
    return this.framed
  }
}
