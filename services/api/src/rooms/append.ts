/**
 * The fast path for message sends: a whole batch in one autocommit statement, so room rows
 * are locked only for that statement and its commit (no round trips while holding them).
 *
 * The statement inserts exactly the events the careful path (`insertEvents` under
 * `SELECT … FOR UPDATE`) would insert without question: the room exists, is open and is
 * still at the epoch whose members the writer checked the sender device against
 * (`SenderCache`), and nothing else of the batch for that room is in question. A room's
 * sends are stored all or none: a room whose epoch moved on, or that was closed, gets
 * nothing from the statement, and the careful path answers its sends afterwards. Sequence
 * numbers stay gap-free: each room's `last_seq` moves by exactly the number of rows
 * inserted for it, in the same statement.
 *
 * The members are checked in the process, not in the statement: `room_members` changes
 * only together with `rooms.epoch` (a commit, in one transaction under the room's lock;
 * `chain.ts`), so "the device was a member at epoch e" and "the room is still at epoch e",
 * checked under the lock, together mean "the device is a member now". The join this saves
 * was a tenth of the statement's cost for PostgreSQL (docs/benchmarks.md, session 10).
 *
 * A retry (an idempotency key stored before) is not looked up: the insert's own check of
 * `room_events_idem_uq` fails the whole statement with a unique violation, nothing is
 * written, and the careful path answers the batch. Retries are rare (a reconnect), and the
 * lookup was the statement's most expensive part: as a cached generic plan prepared while
 * the table was small, PostgreSQL probed it through a `room_id`-only index and read every
 * event of the room for every message (docs/benchmarks.md, session 3).
 */
import type { Db } from '../db/index.js'
import { eventKey, memberDevice, memberDevices, type NewEvent, type StoredEvent } from './events.js'

interface Returned {
  room_id: string
  /** The room's `last_seq` before the statement: its sends got base + 1, base + 2, … */
  base: number
}

/**
 * Whether `appendMessages` may take this event (else: the careful path). A send for a desk
 * (`actor`) takes the careful path, which checks the advisor under a lock.
 */
export const appendable = (e: NewEvent): boolean => e.kind === 'message' && e.actor === undefined

/**
 * The statement, planned once per connection; `ordered` says whether it first locks the
 * batch's rooms in id order (`lk`). With other processes writing to the same rooms it must:
 * two processes' batches over the same rooms then queue behind each other instead of
 * deadlocking (a deadlock costs PostgreSQL's `deadlock_timeout`, a second by default,
 * before the victim's batch goes to the careful path). Alone, nothing else locks several
 * rooms at once while a statement is out (one statement per lane, lanes split by room; the
 * careful path runs after the lane's statement, and commits, notices and retention lock one
 * room each), so the lock pass is 5-10% of PostgreSQL's time for nothing (docs/benchmarks.md,
 * session 11). "Alone" is what the process has heard: no other process on the notification
 * channel for three heartbeats. Just after start, or while its LISTEN connection is down,
 * it can be wrong; then a deadlock is possible, which costs the second and the careful
 * path, never a wrong write.
 *
 * The writer counts each room's sends and numbers them within the room (`$8`, from 1), so
 * the statement neither groups nor sorts: `u` moves each room's `last_seq` on by its count,
 * where the room is still at the epoch the writer checked its senders against (`$12`) and
 * open. `rooms.epoch` and `closed_at` are checked on the newest row version, after the
 * row's lock: a room whose membership changed meanwhile gets nothing. The insert is a CTE
 * that the result does not read; PostgreSQL runs it all the same, and the result is one row
 * per stored room.
 */
export function appendSql(ordered: boolean): string {
  return `
  with ${ordered ? 'lk as (select id from rooms where id = any($10::text[]) order by id for no key update),' : ''}
  u as (
    update rooms set last_seq = rooms.last_seq + r.n
    from unnest($10::text[], $11::int[], $12::int[]) as r(id, n, epoch)${ordered ? ' join lk on lk.id = r.id' : ''}
    where rooms.id = r.id and rooms.epoch = r.epoch and rooms.closed_at is null
    returning rooms.id, rooms.last_seq - r.n as base
  ),
  i as (
    insert into room_events
      (room_id, seq, kind, sender_id, sender_device, idem_key, body, created_at)
    select v.room_id, u.base + v.k, 'message', v.sender_id, v.sender_device, v.idem_key,
      substring($5::bytea from v.off + 1 for v.len), $9::timestamptz
    from unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::int[], $7::int[], $8::int[])
      as v(room_id, sender_id, sender_device, idem_key, off, len, k)
    join u on u.id = v.room_id
  )
  select id as room_id, base from u`
}

/**
 * The statement's parameters: per send its room, sender, device, idempotency key, body
 * (see `packBodies`) and number within its room (1, 2, … in `events`' order); per room
 * (sorted in JavaScript's order, which the statement does not rely on: `lk` sorts in SQL),
 * how many sends it has and the epoch the writer checked them at.
 */
export function appendParams(
  events: readonly NewEvent[],
  epochs: ReadonlyMap<string, number>,
  now: Date,
): unknown[] {
  const { bytes, offsets, lengths } = packBodies(events.map((e) => e.body))
  const counts = new Map<string, number>()
  const k = events.map((e) => {
    const n = (counts.get(e.roomId) ?? 0) + 1
    counts.set(e.roomId, n)
    return n
  })
  const rooms = [...counts.keys()].sort()
  return [
    events.map((e) => e.roomId),
    events.map((e) => e.senderId),
    events.map((e) => e.senderDevice),
    events.map((e) => e.idem),
    bytes,
    offsets,
    lengths,
    k,
    now,
    rooms,
    rooms.map((id) => counts.get(id)!),
    rooms.map((id) => epochs.get(id)!),
  ]
}

/**
 * Bodies as one binary parameter plus each body's offset and length in it, for a
 * statement to cut out again with `substring(bytes from off + 1 for len)`. A `bytea[]`
 * parameter would go as a text array literal, hex-encoded by the driver and decoded again
 * by the server, at twice the size.
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

const ORDERED_SQL = appendSql(true)
const ALONE_SQL = appendSql(false)

/**
 * Appends the messages it can in one statement (`ordered`: see `appendSql`); returns the
 * stored events by `eventKey`. It does not authorise: the caller has checked every sender device against the room's
 * members at `epochs`' epoch (`SenderCache`), and the statement only confirms the epoch. Events
 * missing from the result were not written (their room is closed, gone or at another
 * epoch now) and need the careful path. `events` must not hold the same key twice. Throws
 * on a unique violation (a retry in the batch, or stored meanwhile by another process):
 * nothing was written then.
 */
export async function appendMessages(
  db: Db,
  events: readonly NewEvent[],
  epochs: ReadonlyMap<string, number>,
  now: Date,
  ordered = true,
): Promise<Map<string, StoredEvent>> {
  const stored = new Map<string, StoredEvent>()
  if (events.length === 0) return stored
  const rows = await db.prepared<Returned>(
    ordered ? 'vs_append_messages' : 'vs_append_messages_alone',
    ordered ? ORDERED_SQL : ALONE_SQL,
    appendParams(events, epochs, now),
  )
  // Each stored room's sends got base + 1, base + 2, … in the order they are in `events`.
  const next = new Map(rows.map((r) => [r.room_id, r.base]))
  for (const e of events) {
    const base = next.get(e.roomId)
    if (base === undefined) continue
    next.set(e.roomId, base + 1)
    stored.set(eventKey(e), {
      roomId: e.roomId,
      seq: base + 1,
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

/** Who may send to a room, as of one epoch. */
interface RoomSenders {
  /** undefined: the room was closed or did not exist when read (nobody may append). */
  epoch: number | undefined
  /** `memberDevice(member, device)` of every member device at that epoch. */
  devices: Set<string>
  /** performance.now() when read. */
  at: number
}

/** How long a room's members are trusted without being read again. */
const SENDERS_TTL_MS = 60_000

/**
 * The member devices of the rooms the writer appends to, each as of one epoch, so the
 * append statement need not join `room_members` (see the file's comment for why a stale
 * entry is safe: the statement stores nothing for a room no longer at the entry's epoch,
 * and the writer forgets the entry then). Rooms found closed or missing are kept too, as
 * "nobody", so sends to them do not cost a read every batch; the writer forgets a room
 * whenever the careful path stored a send the entry did not allow. Entries are read again
 * after a minute however they fared, so the fast path never leans on the one invariant
 * (members change only with the epoch) for longer than that.
 */
export class SenderCache {
  private rooms = new Map<string, RoomSenders>()

  /** `max`: rooms kept; the least recently read go first. */
  constructor(
    private readonly max = 10_000,
    private readonly ttlMs = SENDERS_TTL_MS,
  ) {}

  /** The epoch a send may be appended at, or undefined (careful path). */
  epochFor(e: NewEvent): number | undefined {
    const r = this.rooms.get(e.roomId)
    return r?.devices.has(memberDevice(e.senderId, e.senderDevice)) ? r.epoch : undefined
  }

  /** Whether the room's entry is there and young enough; `now`: performance.now(). */
  fresh(roomId: string, now: number): boolean {
    const r = this.rooms.get(roomId)
    return r !== undefined && now - r.at < this.ttlMs
  }

  forget(roomId: string): void {
    this.rooms.delete(roomId)
  }

  /**
   * Reads the rooms that are not fresh: epoch and members in one statement, so both are
   * of the same moment (one snapshot). Returns how many rooms it read.
   */
  async load(db: Db, roomIds: Iterable<string>): Promise<number> {
    const at = performance.now()
    const missing = [...new Set(roomIds)].filter((id) => !this.fresh(id, at))
    if (missing.length === 0) return 0
    const rows = await db.db
      .selectFrom('rooms')
      .leftJoin('room_members', 'room_members.room_id', 'rooms.id')
      .select([
        'rooms.id as room_id',
        'rooms.epoch',
        'rooms.closed_at',
        'room_members.member_id',
        'room_members.devices',
      ])
      .where('rooms.id', 'in', missing)
      .execute()
    const open = rows.filter((r) => r.closed_at === null)
    const epochs = new Map(open.map((r) => [r.room_id, r.epoch]))
    // Only open rooms' members; a room without members has one row with nulls (left join).
    const devices = memberDevices(
      open.flatMap(({ room_id, member_id, devices }) =>
        member_id === null || devices === null ? [] : [{ room_id, member_id, devices }],
      ),
    )
    for (const roomId of missing) {
      this.rooms.delete(roomId)
      if (this.rooms.size >= this.max) this.rooms.delete(this.rooms.keys().next().value!)
      this.rooms.set(roomId, {
        epoch: epochs.get(roomId),
        devices: devices.get(roomId) ?? new Set(),
        at,
      })
    }
    return missing.length
  }
}
