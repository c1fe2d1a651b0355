/**
 * The fast path for message sends: a whole batch in one autocommit statement, so room rows
 * are locked only for that statement and its commit (no round trips while holding them).
 *
 * The statement inserts exactly the events the careful path (`insertEvents` under
 * `SELECT … FOR UPDATE`) would insert without question: the room exists, is open and is
 * still at the epoch the membership check read, and the sender device is a member.
 * Everything else (refusals, a commit or close racing the batch) is left out and answered
 * by the careful path afterwards. Sequence numbers stay gap-free: each room's `last_seq`
 * moves by exactly the number of rows inserted for it, in the same statement.
 *
 * A retry (an idempotency key stored before) is not looked up: the insert's own check of
 * `room_events_idem_uq` fails the whole statement with a unique violation, nothing is
 * written, and the careful path answers the batch. Retries are rare (a reconnect), and the
 * lookup was the statement's most expensive part: as a cached generic plan prepared while
 * the table was small, PostgreSQL probed it through a `room_id`-only index and read every
 * event of the room for every message (docs/benchmarks.md, session 3).
 */
import type { Db } from '../db/index.js'
import { eventKey, type NewEvent, type StoredEvent } from './events.js'

interface Returned {
  room_id: string
  seq: number
  sender_id: string
  sender_device: string
  idem_key: string
}

/**
 * Device ids the fast path takes (the protocol's `DeviceId`): with no quote or escape in
 * them, a quoted id occurs in the members' JSON device list exactly when it is an element
 * (the statement also leaves any list with an escape in it to the careful path).
 */
const PLAIN_DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/

/**
 * Whether `appendMessages` may take this event (else: the careful path). A send for a desk
 * (`actor`) takes the careful path, which checks the advisor under a lock.
 */
export const appendable = (e: NewEvent): boolean =>
  e.kind === 'message' && e.actor === undefined && PLAIN_DEVICE_ID.test(e.senderDevice)

/**
 * The statement, planned once per connection. `lk` locks the batch's rooms in id order
 * before the UPDATE touches them, so two processes' batches over the same rooms queue
 * behind each other instead of deadlocking (a deadlock costs PostgreSQL's `deadlock_timeout`,
 * a second by default, before the victim's batch goes to the careful path).
 * `rooms.epoch = n.epoch` and `closed_at is null` are re-checked on the newest row version
 * when the lock had to wait for a concurrent commit: a room whose membership changed
 * meanwhile gets nothing from it.
 */
export const APPEND_SQL = `
  with v as (
    select v.ord, v.room_id, v.sender_id, v.sender_device, v.idem_key,
      substring($6::bytea from v.off + 1 for v.len) as body
    from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $7::int[], $8::int[])
      as v(ord, room_id, sender_id, sender_device, idem_key, off, len)
  ),
  ok as (
    select v.*, r.epoch
    from v
    join rooms r on r.id = v.room_id and r.closed_at is null
    join room_members m on m.room_id = v.room_id and m.member_id = v.sender_id
    where strpos(m.devices, '"' || v.sender_device || '"') > 0 and strpos(m.devices, '\\') = 0
  ),
  n as (select room_id, min(epoch) as epoch, count(*)::int as n from ok group by room_id),
  lk as (
    select id from rooms where id in (select room_id from n) order by id for no key update
  ),
  u as (
    update rooms set last_seq = rooms.last_seq + n.n
    from n join lk on lk.id = n.room_id
    where rooms.id = n.room_id and rooms.epoch = n.epoch and rooms.closed_at is null
    returning rooms.id, rooms.last_seq - n.n as base
  )
  insert into room_events (room_id, seq, kind, sender_id, sender_device, idem_key, body, created_at)
  select ok.room_id, u.base + row_number() over (partition by ok.room_id order by ok.ord),
    'message', ok.sender_id, ok.sender_device, ok.idem_key, ok.body, $9::timestamptz
  from ok join u on u.id = ok.room_id
  returning room_id, seq, sender_id, sender_device, idem_key`

/**
 * The statement's parameters. The bodies travel as one binary parameter with offsets and
 * lengths: a `bytea[]` parameter would go as a text array literal, hex-encoded by the
 * driver and decoded again by the server, at twice the size.
 */
export function appendParams(events: readonly NewEvent[], now: Date): unknown[] {
  const { bytes, offsets, lengths } = packBodies(events.map((e) => e.body))
  return [
    events.map((_, i) => i),
    events.map((e) => e.roomId),
    events.map((e) => e.senderId),
    events.map((e) => e.senderDevice),
    events.map((e) => e.idem),
    bytes,
    offsets,
    lengths,
    now,
  ]
}

/**
 * Bodies as one binary parameter plus each body's offset and length in it, for a
 * statement to cut out again with `substring(bytes from off + 1 for len)`.
 */
export function packBodies(bodies: readonly Uint8Array[]): {
  bytes: Buffer
  offsets: number[]
  lengths: number[]
} {
  const offsets: number[] = []
  const lengths: number[] = []
  let off = 0
  for (const b of bodies) {
    offsets.push(off)
    lengths.push(b.byteLength)
    off += b.byteLength
  }
  return { bytes: Buffer.concat(bodies), offsets, lengths }
}

/**
 * Appends the messages it can in one statement; returns the stored events by `eventKey`.
 * Events missing from the result were not written and need the careful path. `events`
 * must not hold the same key twice. Throws on a unique violation (a retry in the batch,
 * or stored meanwhile by another process): nothing was written then.
 */
export async function appendMessages(
  db: Db,
  events: readonly NewEvent[],
  now: Date,
): Promise<Map<string, StoredEvent>> {
  const stored = new Map<string, StoredEvent>()
  if (events.length === 0) return stored
  const rows = await db.prepared<Returned>(
    'vs_append_messages',
    APPEND_SQL,
    appendParams(events, now),
  )
  const byKey = new Map(events.map((e) => [eventKey(e), e]))
  for (const r of rows) {
    const key = eventKey({
      roomId: r.room_id,
      senderId: r.sender_id,
      senderDevice: r.sender_device,
      idem: r.idem_key,
    })
    const e = byKey.get(key)!
    stored.set(key, {
      roomId: e.roomId,
      seq: r.seq,
      kind: 'message',
      senderId: e.senderId,
      senderDevice: e.senderDevice,
      createdAt: now,
      body: e.body,
      ...(e.bodyB64 === undefined ? {} : { bodyB64: e.bodyB64 }),
    })
  }
  return stored
}
