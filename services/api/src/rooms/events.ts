/**
 * Room events: the gap-free per-room sequence and idempotent inserts. Sequence numbers
 * are taken under the room row's lock, after removing retries (same sender, device and
 * idempotency key), so a retry never consumes a number and never duplicates.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import type { ServerEvent } from '@vs/protocol'
import type { Database } from '../db/schema.js'

type Trx = Transaction<Database>

export interface NewEvent {
  roomId: string
  kind: 'commit' | 'message'
  senderId: string
  senderDevice: string
  idem: string
  body: Uint8Array
  /** `body` as the client sent it, when that is its canonical base64url (`decodeBody`). */
  bodyB64?: string
  /**
   * The user sending for `senderId` when that is a desk they advise. The event is stored
   * only if they still advise it when it is written: read under a share lock in the same
   * transaction, so an advisor removed meanwhile is refused, never stored after the removal.
   */
  actor?: string
}

export interface StoredEvent {
  roomId: string
  seq: number
  kind: 'commit' | 'message'
  senderId: string
  senderDevice: string
  createdAt: Date
  body: Uint8Array
  /** `body` as base64url, when the sender's own text of it is at hand (`NewEvent.bodyB64`). */
  bodyB64?: string
}

export type InsertOutcome =
  | { ok: true; seq: number; duplicate: boolean; event?: StoredEvent }
  | { ok: false; code: string; message: string }

/** Unique key of an event: a retry of a send has the same one. */
export const eventKey = (e: {
  roomId: string
  senderId: string
  senderDevice: string
  idem: string
}): string => `${e.roomId}\u0000${e.senderId}\u0000${e.senderDevice}\u0000${e.idem}`

/**
 * Inserts events for any number of rooms in one transaction (one multi-row INSERT).
 * `authorise` decides per event with the rows already locked; refused events get no seq.
 */
export async function insertEvents(
  trx: Trx,
  events: readonly NewEvent[],
  authorise: (e: NewEvent, members: Map<string, Set<string>>) => InsertOutcome | undefined,
): Promise<InsertOutcome[]> {
  const roomIds = [...new Set(events.map((e) => e.roomId))].sort()
  const rooms = await trx
    .selectFrom('rooms')
    .select(['id', 'last_seq', 'closed_at'])
    .where('id', 'in', roomIds)
    .orderBy('id')
    .forUpdate()
    .execute()
  const lastSeq = new Map(rooms.map((r) => [r.id, r.last_seq]))
  const closed = new Set(rooms.filter((r) => r.closed_at).map((r) => r.id))
  const memberRows = await trx
    .selectFrom('room_members')
    .select(['room_id', 'member_id', 'devices'])
    .where('room_id', 'in', roomIds)
    .execute()
  const members = memberDevices(memberRows)
  const advising = await advisingActors(trx, events)
  const existing = await trx
    .selectFrom('room_events')
    .select(['room_id', 'sender_id', 'sender_device', 'idem_key', 'seq'])
    // Rooms × senders × devices × keys, matched on the whole key below: every column of
    // `room_events_idem_uq` is constrained, so the lookup stays in that index instead of
    // reading the rooms' histories by `room_id`. (A row-value IN list here missed stored
    // rows on PGlite in a 150-tuple batch, so this stays the plain form.)
    .where('room_id', 'in', roomIds)
    .where('sender_id', 'in', [...new Set(events.map((e) => e.senderId))])
    .where('sender_device', 'in', [...new Set(events.map((e) => e.senderDevice))])
    .where('idem_key', 'in', [...new Set(events.map((e) => e.idem))])
    .execute()
  const seen = new Map<string, number>()
  for (const r of existing) {
    seen.set(
      eventKey({
        roomId: r.room_id,
        senderId: r.sender_id,
        senderDevice: r.sender_device,
        idem: r.idem_key,
      }),
      r.seq,
    )
  }

  const now = new Date()
  const outcomes: InsertOutcome[] = []
  const rows: StoredEvent[] = []
  const rowsIdem: string[] = []
  for (const e of events) {
    if (!lastSeq.has(e.roomId)) {
      outcomes.push({
        ok: false,
        code: 'VS_ROOM_NOT_FOUND',
        message: 'Kamer niet gevonden / Room not found',
      })
      continue
    }
    const key = eventKey(e)
    const dup = seen.get(key)
    if (dup !== undefined) {
      outcomes.push({ ok: true, seq: dup, duplicate: true })
      continue
    }
    if (closed.has(e.roomId)) {
      outcomes.push({
        ok: false,
        code: 'VS_ROOM_CLOSED',
        message: 'Deze kamer is gesloten / Room is closed',
      })
      continue
    }
    if (e.actor !== undefined && !advising.has(`${e.senderId}\u0000${e.actor}`)) {
      outcomes.push(notAnAdvisor)
      continue
    }
    const refused = authorise(e, members)
    if (refused) {
      outcomes.push(refused)
      continue
    }
    const seq = lastSeq.get(e.roomId)! + 1
    lastSeq.set(e.roomId, seq)
    seen.set(key, seq)
    const ev: StoredEvent = {
      roomId: e.roomId,
      seq,
      kind: e.kind,
      senderId: e.senderId,
      senderDevice: e.senderDevice,
      createdAt: now,
      body: e.body,
      ...(e.bodyB64 === undefined ? {} : { bodyB64: e.bodyB64 }),
    }
    rows.push(ev)
    rowsIdem.push(e.idem)
    outcomes.push({ ok: true, seq, duplicate: false, event: ev })
  }
  if (rows.length > 0) {
    await trx
      .insertInto('room_events')
      .values(
        rows.map((r, i) => ({
          room_id: r.roomId,
          seq: r.seq,
          kind: r.kind,
          sender_id: r.senderId,
          sender_device: r.senderDevice,
          idem_key: rowsIdem[i]!,
          body: r.body,
          created_at: r.createdAt,
        })),
      )
      .execute()
    const touched = [...new Set(rows.map((r) => r.roomId))]
    const values = sql.join(touched.map((id) => sql`(${id}::text, ${lastSeq.get(id)!}::int)`))
    await sql`update rooms set last_seq = v.seq from (values ${values}) as v(id, seq) where rooms.id = v.id`.execute(
      trx,
    )
  }
  return outcomes
}

const notAnAdvisor: InsertOutcome = {
  ok: false,
  code: 'VS_FORBIDDEN',
  message: 'Je bent geen adviseur van deze desk / Not an advisor of this desk',
}

/**
 * `desk\0user` for each event's actor who advises the desk the event is sent for. The rows
 * are share-locked until the transaction ends: removing the advisor waits for it, and a
 * removal that committed first leaves its row out.
 */
async function advisingActors(trx: Trx, events: readonly NewEvent[]): Promise<Set<string>> {
  const acting = events.filter((e) => e.actor !== undefined)
  if (acting.length === 0) return new Set()
  const rows = await trx
    .selectFrom('desk_members')
    .select(['desk_id', 'user_id'])
    .where('desk_id', 'in', [...new Set(acting.map((e) => e.senderId))])
    .where('user_id', 'in', [...new Set(acting.map((e) => e.actor!))])
    .forShare()
    .execute()
  return new Set(rows.map((r) => `${r.desk_id}\u0000${r.user_id}`))
}

/** A member's device as `memberDevices` keys it. */
export const memberDevice = (memberId: string, deviceId: string): string =>
  `${memberId}\u0000${deviceId}`

/** room → the set of `memberDevice` allowed to send in the room's current epoch. */
export function memberDevices(
  rows: Iterable<{ room_id: string; member_id: string; devices: string }>,
): Map<string, Set<string>> {
  const members = new Map<string, Set<string>>()
  for (const m of rows) {
    let s = members.get(m.room_id)
    if (!s) members.set(m.room_id, (s = new Set()))
    for (const d of JSON.parse(m.devices) as string[]) s.add(memberDevice(m.member_id, d))
  }
  return members
}

/** Default authorisation for messages: the sender device must be in the room's current epoch. */
export function memberDeviceAuthoriser(
  e: NewEvent,
  members: Map<string, Set<string>>,
): InsertOutcome | undefined {
  if (members.get(e.roomId)?.has(memberDevice(e.senderId, e.senderDevice))) return undefined
  return {
    ok: false,
    code: 'VS_NOT_MEMBER_DEVICE',
    message: 'Dit apparaat is geen lid van deze kamer / This device is not a member of this room',
  }
}

/** base64url without padding, as `toB64` in @vs/crypto writes it, at native speed. */
export function bodyB64(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64url')
}

/**
 * A message body from a frame whose schema already admitted only base64url characters
 * (no padding): undefined for a length no encoding has (4n + 1); else the native decoder
 * reads the same bytes as `fromB64` in @vs/crypto, at a fraction of the cost.
 * `canonical`: the text is the one encoding of those bytes (the unused low bits of its
 * last character are zero, as every encoder writes them), so it can go out in event
 * frames as it came in.
 */
export function decodeBody(b64: string): { body: Buffer; canonical: boolean } | undefined {
  const rest = b64.length % 4
  if (rest === 1) return undefined
  const body = Buffer.from(b64, 'base64url')
  if (rest === 0) return { body, canonical: true }
  const v = b64Value(b64.charCodeAt(b64.length - 1))
  return { body, canonical: (v & (rest === 2 ? 0x0f : 0x03)) === 0 }
}

/** The value of one base64url character (the caller knows it is one). */
function b64Value(c: number): number {
  if (c === 45) return 62 // '-'
  if (c === 95) return 63 // '_'
  if (c >= 97) return c - 71 // a-z
  if (c >= 65) return c - 65 // A-Z
  return c + 4 // 0-9
}

/** An event as the `ev` frame every subscriber gets, serialized once for all of them. */
export function eventFrameBytes(e: StoredEvent): Buffer {
  return Buffer.from(JSON.stringify(eventFrame(e)))
}

export function eventFrame(e: StoredEvent): ServerEvent {
  return {
    t: 'ev',
    room: e.roomId,
    seq: e.seq,
    kind: e.kind,
    from: e.senderId,
    dev: e.senderDevice,
    at: e.createdAt.getTime(),
    body: e.bodyB64 ?? bodyB64(e.body),
  }
}

/**
 * Events after `after`, in order: at most `limit`, and no more than `maxBytes` of bodies
 * in all, except that the first event always comes (a page is never empty while events
 * remain).
 */
export async function fetchEvents(
  db: Trx | Kysely<Database>,
  roomId: string,
  after: number,
  limit: number,
  maxBytes = Number.MAX_SAFE_INTEGER,
): Promise<StoredEvent[]> {
  // The page's last seq comes from a running total of body sizes (read from the tuple
  // headers, not the bodies); then one index range scan fetches exactly that page.
  const sizes = db
    .selectFrom('room_events')
    .select([
      'seq',
      sql<number>`sum(octet_length(body)) over (order by seq)`.as('upto'),
      sql<number>`row_number() over (order by seq)`.as('n'),
    ])
    .where('room_id', '=', roomId)
    .where('seq', '>', after)
    .orderBy('seq')
    .limit(limit)
    .as('sizes')
  const last = db
    .selectFrom(sizes)
    .select(({ fn }) => fn.max('sizes.seq').as('last'))
    .where(({ eb, or }) => or([eb('sizes.upto', '<=', maxBytes), eb('sizes.n', '=', 1)]))
  const rows = await db
    .selectFrom('room_events')
    .select(['room_id', 'seq', 'kind', 'sender_id', 'sender_device', 'created_at', 'body'])
    .where('room_id', '=', roomId)
    .where('seq', '>', after)
    .where('seq', '<=', last)
    .orderBy('seq')
    .execute()
  return rows.map((r) => ({
    roomId: r.room_id,
    seq: r.seq,
    kind: r.kind,
    senderId: r.sender_id,
    senderDevice: r.sender_device,
    createdAt: r.created_at,
    body: new Uint8Array(r.body),
  }))
}
