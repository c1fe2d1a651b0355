import type { StoredEvent } from '../../src/rooms/events.js'

/** A stored message event as the writer hands it on, for hub and notifier tests. */
export function storedEvent(
  roomId: string,
  seq: number,
  body: Uint8Array = new Uint8Array([seq & 0xff]),
): StoredEvent {
  return {
    roomId,
    seq,
    kind: 'message',
    senderId: 'anna',
    senderDevice: 'a1',
    createdAt: new Date(0),
    body,
  }
}
