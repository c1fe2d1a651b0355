/**
 * The fast path for message sends: a whole batch in one autocommit statement, so room rows
 * are locked only for that statement and its commit (no round trips while holding them).
 *
 * The statement inserts exactly the events the careful path (`insertEvents` under
 * `SELECT … FOR UPDATE`) would insert without question: the room exists, is open and is
 * still at the epoch the membership check read, the sender device is a member, and the
 * idempotency key is new. Everything else (retries, refusals, a commit or close racing the
 * batch) is left out and answered by the careful path afterwards. Sequence numbers stay
 * gap-free: each room's `last_seq` moves by exactly the number of rows inserted for it, in
 * the same statement.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database } from '../db/schema.js'
import { eventKey, type NewEvent, type StoredEvent } from './events.js'

interface Returned {
  room_id: string
  seq: number
  sender_id: string
  sender_device: string
  idem_key: string
}

/**
 * Appends the messages it can in one statement; returns the stored events by `eventKey`.
 * Events missing from the result were not written and need the careful path. `events`
 * must not hold the same key twice. Throws on a unique violation (a concurrent retry on
 * another process): nothing was written then.
 */
export async function appendMessages(
  db: Kysely<Database>,
  events: readonly NewEvent[],
  now: Date,
): Promise<Map<string, StoredEvent>> {
  const stored = new Map<string, StoredEvent>()
  if (events.length === 0) return stored
  const rows: RawBuilder<unknown>[] = events.map(
    (e, i) =>
      sql`(${i}::int, ${e.roomId}::text, ${e.senderId}::text, ${e.senderDevice}::text, ${e.idem}::text, ${e.body}::bytea)`,
  )
  // `rooms.epoch = n.epoch` and `closed_at is null` are re-checked on the newest row
  // version when the UPDATE had to wait for a concurrent commit: a room whose membership
  // changed meanwhile gets nothing from this statement.
  const result = await sql<Returned>`
    with v (ord, room_id, sender_id, sender_device, idem_key, body) as (values ${sql.join(rows)}),
    ok as (
      select v.*, r.epoch
      from v
      join rooms r on r.id = v.room_id and r.closed_at is null
      join room_members m on m.room_id = v.room_id and m.member_id = v.sender_id
      where m.devices::jsonb ? v.sender_device
        and not exists (
          select 1 from room_events e
          where e.room_id = v.room_id and e.sender_id = v.sender_id
            and e.sender_device = v.sender_device and e.idem_key = v.idem_key
        )
    ),
    n as (select room_id, min(epoch) as epoch, count(*)::int as n from ok group by room_id),
    u as (
      update rooms set last_seq = rooms.last_seq + n.n
      from n
      where rooms.id = n.room_id and rooms.epoch = n.epoch and rooms.closed_at is null
      returning rooms.id, rooms.last_seq - n.n as base
    )
    insert into room_events (room_id, seq, kind, sender_id, sender_device, idem_key, body, created_at)
    select ok.room_id, u.base + row_number() over (partition by ok.room_id order by ok.ord),
      'message', ok.sender_id, ok.sender_device, ok.idem_key, ok.body, ${now}::timestamptz
    from ok join u on u.id = ok.room_id
    returning room_id, seq, sender_id, sender_device, idem_key`.execute(db)
  const byKey = new Map(events.map((e) => [eventKey(e), e]))
  for (const r of result.rows) {
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
    })
  }
  return stored
}
