import { Type, type Static } from '@sinclair/typebox'
import { B64, DeviceId, Id, IsoDate } from './common.js'

export const RoomKindWire = Type.Union([
  Type.Literal('case'),
  Type.Literal('consult'),
  Type.Literal('melding'),
])

export const WelcomeWire = Type.Object({
  memberId: Id,
  deviceId: DeviceId,
  sealed: B64({ maxLength: 2048 }),
})
export type WelcomeWire = Static<typeof WelcomeWire>

export const CreateRoom = Type.Object({
  /** Serialized genesis commit (base64url). */
  genesis: B64({ maxLength: 65536 }),
  welcomes: Type.Array(WelcomeWire, { maxItems: 2000 }),
})
export type CreateRoom = Static<typeof CreateRoom>

export const AppendCommit = Type.Object({
  commit: B64({ maxLength: 65536 }),
  welcomes: Type.Array(WelcomeWire, { maxItems: 2000 }),
  /** Idempotency key for the commit event. */
  idem: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
})
export type AppendCommit = Static<typeof AppendCommit>

export const RoomSummary = Type.Object({
  id: Id,
  kind: RoomKindWire,
  epoch: Type.Integer(),
  lastSeq: Type.Integer(),
  createdAt: IsoDate,
  /** The member ids the caller acts as here (own id and/or desk ids). */
  as: Type.Array(Id),
  readSeq: Type.Integer(),
})
export type RoomSummary = Static<typeof RoomSummary>

export const SendMessage = Type.Object({
  idem: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
  dev: DeviceId,
  as: Type.Optional(Id),
  body: B64({ maxLength: 100_000 }),
})
export type SendMessage = Static<typeof SendMessage>

export const SendResult = Type.Object({ seq: Type.Integer(), duplicate: Type.Boolean() })
export type SendResult = Static<typeof SendResult>

export const FileCreate = Type.Object({
  /** Total ciphertext size in bytes; at most 25 MB of plaintext plus overhead. */
  size: Type.Integer({ minimum: 1, maximum: 27 * 1024 * 1024 }),
  chunkCount: Type.Integer({ minimum: 1, maximum: 64 }),
})
export const MAX_FILE_CHUNK_BYTES = 1024 * 1024 + 1024
