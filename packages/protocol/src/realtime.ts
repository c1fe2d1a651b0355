/**
 * WebSocket frames at `/ws` (subprotocol `vs.v1`; the access token travels as a second
 * subprotocol `vs.auth.<token>`, never in the URL). JSON text frames; bytes base64url.
 */
import { Type, type Static } from '@sinclair/typebox'
import { DeviceId, Id } from './common.js'

export const WS_SUBPROTOCOL = 'vs.v1'
export const WS_AUTH_PREFIX = 'vs.auth.'
/** Largest client frame the server accepts (an envelope of up to 64 KiB plus JSON). */
export const WS_MAX_FRAME_BYTES = 128 * 1024

const Body = Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 100_000 })
const IdemKey = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' })

export const ClientSubscribe = Type.Object({
  t: Type.Literal('sub'),
  /** roomId → the last sequence number this client holds (0 for none). */
  rooms: Type.Record(Id, Type.Integer({ minimum: 0, maximum: 2_147_483_647 }), {
    maxProperties: 1000,
  }),
})
export const ClientUnsubscribe = Type.Object({
  t: Type.Literal('unsub'),
  rooms: Type.Array(Id, { maxItems: 1000 }),
})
export const ClientSend = Type.Object({
  t: Type.Literal('send'),
  /** Client's request id, echoed in the ack. */
  id: Type.String({ maxLength: 64 }),
  room: Id,
  /** Idempotency key: a retry with the same key never creates a second event. */
  idem: IdemKey,
  /** The sending device (must be the caller's, and in the room's current epoch). */
  dev: DeviceId,
  /** Act as a desk the caller staffs (desk rooms). */
  as: Type.Optional(Id),
  body: Body,
})
export const ClientAuth = Type.Object({
  t: Type.Literal('auth'),
  token: Type.String({ maxLength: 4096 }),
})
export const ClientPing = Type.Object({ t: Type.Literal('ping') })
export const ClientFrame = Type.Union([
  ClientSubscribe,
  ClientUnsubscribe,
  ClientSend,
  ClientAuth,
  ClientPing,
])
export type ClientFrame = Static<typeof ClientFrame>
export type ClientSend = Static<typeof ClientSend>

/** A room event as delivered: `kind` 'commit' carries a serialized commit, 'message' an envelope. */
export interface ServerEvent {
  t: 'ev'
  room: string
  seq: number
  kind: 'commit' | 'message'
  from: string
  dev: string
  at: number
  body: string
}
export interface ServerAck {
  t: 'ack'
  id: string
  room: string
  seq: number
  duplicate: boolean
}
export interface ServerError {
  t: 'err'
  id?: string
  code: string
  message: string
}
export interface ServerSubscribed {
  t: 'subscribed'
  room: string
  /** The room's last sequence number when the subscription started. */
  head: number
}
export interface ServerRemoved {
  t: 'removed'
  room: string
}
export interface ServerPong {
  t: 'pong'
}
export type ServerFrame =
  ServerEvent | ServerAck | ServerError | ServerSubscribed | ServerRemoved | ServerPong

export const RoomEventWire = Type.Object({
  seq: Type.Integer(),
  kind: Type.Union([Type.Literal('commit'), Type.Literal('message')]),
  from: Type.String(),
  dev: Type.String(),
  at: Type.Integer(),
  body: Body,
})
export type RoomEventWire = Static<typeof RoomEventWire>
