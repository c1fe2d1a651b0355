/**
 * The batched write path (`RoomWriter` → one autocommit statement, careful path for the
 * rest): every outcome a batch can mix, gap-free sequence numbers, and the races the
 * statement must leave to the careful path (a commit or a close while it waits for the
 * room's lock, a retry stored by another process), on a real PostgreSQL for the races.
 */
import { sql, type Transaction } from 'kysely'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Db } from '../src/db/index.js'
import type { Database } from '../src/db/schema.js'
import { createLogger } from '../src/logger.js'
import { appendMessages, SenderCache } from '../src/rooms/append.js'
import type { InsertOutcome, NewEvent, StoredEvent } from '../src/rooms/events.js'
import { RoomWriter } from '../src/rooms/writer.js'
import { requirePostgres } from '../../../tests/e2e/helpers/cluster.js'
import { createTemplate, createTestDb, type TestDb } from './helpers/test-db.js'
import { makeDesk, makeRoom } from './helpers/rooms.js'

const logger = createLogger('silent')

function msg(roomId: string, senderId: string, senderDevice: string, idem: string): NewEvent {
  return {
    roomId,
    kind: 'message',
    senderId,
    senderDevice,
    idem,
    body: new TextEncoder().encode(`ciphertext ${idem}`),
  }
}

async function seqs(db: Db, roomId: string): Promise<number[]> {
  const rows = await db.db
    .selectFrom('room_events')
    .select('seq')
    .where('room_id', '=', roomId)
    .orderBy('seq')
    .execute()
  return rows.map((r) => r.seq)
}

/** The room's events as `seq: idempotency key`, in order: which send sits at which number. */
async function keys(db: Db, roomId: string): Promise<string[]> {
  const rows = await db.db
    .selectFrom('room_events')
    .select(['seq', 'idem_key'])
    .where('room_id', '=', roomId)
    .orderBy('seq')
    .execute()
  return rows.map((r) => `${r.seq}: ${r.idem_key}`)
}

async function head(db: Db, roomId: string): Promise<number> {
  const r = await db.db
    .selectFrom('rooms')
    .select('last_seq')
    .where('id', '=', roomId)
    .executeTakeFirstOrThrow()
  return r.last_seq
}

/** Whether a session of this database is waiting for a lock (PostgreSQL). */
async function waitingOnALock(db: Db): Promise<boolean> {
  const r = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'`.execute(db.db)
  return r.rows[0]!.n > 0
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('RoomWriter on the test database', () => {
  let t: TestDb
  let writer: RoomWriter
  const published: StoredEvent[][] = []

  beforeAll(async () => {
    t = await createTestDb(inject('dbTemplate'))
    writer = new RoomWriter(t.db, logger, (events) => published.push(events))
  })
  afterAll(async () => {
    await writer.close()
    await t.close()
  })

  it('answers a batch mixing every outcome, and numbers only what it stores, gap-free', async () => {
    const room = await makeRoom(t.db, { anna: ['a1', 'a2'], bert: ['b1'] })
    const other = await makeRoom(t.db, { anna: ['a1'] })
    const closed = await makeRoom(t.db, { anna: ['a1'] }, { closed: true })
    const stored = await writer.send(msg(room, 'anna', 'a1', 'earlier-0001'))
    expect(stored).toMatchObject({ ok: true, seq: 1, duplicate: false })
    published.length = 0

    // One event-loop turn: all of these land in the same batches.
    const sends: Promise<InsertOutcome>[] = [
      writer.send(msg(room, 'anna', 'a1', 'm-0001')),
      writer.send(msg(room, 'bert', 'b1', 'm-0002')),
      writer.send(msg(room, 'anna', 'a1', 'm-0001')), // the same send twice in one batch
      writer.send(msg(room, 'anna', 'a1', 'earlier-0001')), // a retry of a stored send
      writer.send(msg(room, 'bert', 'b9', 'm-0003')), // not a member device
      writer.send(msg(room, 'mallory', 'x1', 'm-0004')), // not a member
      writer.send(msg('no-such-room', 'anna', 'a1', 'm-0005')),
      writer.send(msg(closed, 'anna', 'a1', 'm-0006')),
      writer.send(msg(other, 'anna', 'a1', 'm-0007')),
      writer.send(msg(room, 'anna', 'a2', 'm-0008')),
    ]
    const o = await Promise.all(sends)
    expect(o[0]).toMatchObject({ ok: true, seq: 2, duplicate: false })
    expect(o[1]).toMatchObject({ ok: true, seq: 3, duplicate: false })
    expect(o[2]).toEqual({ ok: true, seq: 2, duplicate: true })
    expect(o[3]).toEqual({ ok: true, seq: 1, duplicate: true })
    expect(o[4]).toMatchObject({ ok: false, code: 'VS_NOT_MEMBER_DEVICE' })
    expect(o[5]).toMatchObject({ ok: false, code: 'VS_NOT_MEMBER_DEVICE' })
    expect(o[6]).toMatchObject({ ok: false, code: 'VS_ROOM_NOT_FOUND' })
    expect(o[7]).toMatchObject({ ok: false, code: 'VS_ROOM_CLOSED' })
    expect(o[8]).toMatchObject({ ok: true, seq: 1, duplicate: false })
    expect(o[9]).toMatchObject({ ok: true, seq: 4, duplicate: false })

    // Each send is stored at the number it was acknowledged with, in the order sent.
    expect(await keys(t.db, room)).toEqual([
      '1: earlier-0001',
      '2: m-0001',
      '3: m-0002',
      '4: m-0008',
    ])
    expect(await head(t.db, room)).toBe(4)
    expect(await keys(t.db, other)).toEqual(['1: m-0007'])
    expect(await seqs(t.db, closed)).toEqual([])
    // Published once each, ascending within each room, each with its own body.
    const out = published.flat()
    const text = (e: StoredEvent) => new TextDecoder().decode(e.body)
    expect(out.filter((e) => e.roomId === room).map((e) => `${e.seq}: ${text(e)}`)).toEqual([
      '2: ciphertext m-0001',
      '3: ciphertext m-0002',
      '4: ciphertext m-0008',
    ])
    expect(out.filter((e) => e.roomId === other).map((e) => e.seq)).toEqual([1])
  })

  /** What a commit does to a room's members: a new epoch and its member list, at once. */
  async function commitMembers(roomId: string, members: Record<string, string[]>) {
    await t.db.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('rooms')
        .set((eb) => ({ epoch: eb('epoch', '+', 1) }))
        .where('id', '=', roomId)
        .execute()
      await trx.deleteFrom('room_members').where('room_id', '=', roomId).execute()
      await trx
        .insertInto('room_members')
        .values(
          Object.entries(members).map(([member, devices]) => ({
            room_id: roomId,
            member_id: member,
            member_kind: 'user',
            role: 'member',
            devices: JSON.stringify(devices),
          })),
        )
        .execute()
    })
  }

  /** A writer that logs which path each batch took and how many rooms' members it read. */
  function tracedWriter(): { w: RoomWriter; paths: string[] } {
    const paths: string[] = []
    const w = new RoomWriter(t.db, logger, () => {}, {
      observer: {
        batch: () => {},
        stored: (path) => paths.push(path),
        sendersRead: (rooms) => paths.push(`read ${rooms}`),
      },
    })
    return { w, paths }
  }

  it('refuses a device a commit removed, though it was a member when the writer last looked', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'], bert: ['b1'] })
    const { w, paths } = tracedWriter()
    // The writer has read the room's members (epoch 0) and appended in one statement.
    expect(await w.send(msg(room, 'anna', 'a1', 'rm-0001'))).toMatchObject({ ok: true, seq: 1 })
    expect(paths).toEqual(['read 1', 'fast'])
    await commitMembers(room, { bert: ['b1'] })
    // Anna's device is still among the members the writer read, but the room has moved on:
    // the statement stores nothing for it, and the careful path refuses her.
    expect(await w.send(msg(room, 'anna', 'a1', 'rm-0002'))).toMatchObject({
      ok: false,
      code: 'VS_NOT_MEMBER_DEVICE',
    })
    expect(await w.send(msg(room, 'bert', 'b1', 'rm-0003'))).toMatchObject({ ok: true, seq: 2 })
    expect(await seqs(t.db, room)).toEqual([1, 2])
    // The second send took the careful path; the third the fast one, on members read afresh.
    expect(paths).toEqual(['read 1', 'fast', 'fast', 'careful', 'read 1', 'fast'])
    await w.close()
  })

  it('takes a device a commit added, and then appends its sends in one statement again', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'] })
    const { w, paths } = tracedWriter()
    expect(await w.send(msg(room, 'anna', 'a1', 'add-0001'))).toMatchObject({ ok: true, seq: 1 })
    await commitMembers(room, { anna: ['a1', 'a2'], bert: ['b1'] })
    expect(await w.send(msg(room, 'bert', 'b1', 'add-0002'))).toMatchObject({ ok: true, seq: 2 })
    expect(await w.send(msg(room, 'anna', 'a2', 'add-0003'))).toMatchObject({ ok: true, seq: 3 })
    expect(await w.send(msg(room, 'anna', 'a1', 'add-0004'))).toMatchObject({ ok: true, seq: 4 })
    expect(await seqs(t.db, room)).toEqual([1, 2, 3, 4])
    // Bert's first send found him unknown (careful path, members read afresh); after that
    // every send is appended in one statement, on the members read once more.
    expect(paths).toEqual(['read 1', 'fast', 'careful', 'read 1', 'fast', 'fast'])
    await w.close()
  })

  it('keeps closed and missing rooms as "nobody", so sends to them cost no read per batch', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'] })
    const closed = await makeRoom(t.db, { anna: ['a1'] }, { closed: true })
    const empty = await makeRoom(t.db, {})
    const cache = new SenderCache()
    expect(await cache.load(t.db, [room, closed, empty, 'no-such-room'])).toBe(4)
    expect(await cache.load(t.db, [room, closed, empty, 'no-such-room'])).toBe(0)
    const now = performance.now()
    for (const id of [room, closed, empty, 'no-such-room']) expect(cache.fresh(id, now)).toBe(true)
    expect(cache.epochFor(msg(room, 'anna', 'a1', 'x'))).toBe(0)
    expect(cache.epochFor(msg(room, 'anna', 'a2', 'x'))).toBeUndefined()
    expect(cache.epochFor(msg(closed, 'anna', 'a1', 'x'))).toBeUndefined()
    expect(cache.epochFor(msg(empty, 'anna', 'a1', 'x'))).toBeUndefined()
    expect(cache.epochFor(msg('no-such-room', 'anna', 'a1', 'x'))).toBeUndefined()
    // Read again after the time to live, whatever happened meanwhile.
    const shortLived = new SenderCache(10, 0)
    await shortLived.load(t.db, [room])
    expect(shortLived.fresh(room, performance.now())).toBe(false)
  })

  it.each([true, false])(
    'stores nothing for a missing or closed room, even asked directly (rooms locked in order: %s)',
    async (ordered) => {
      // No foreign key backs this up since session 11: the room's own row is the check.
      const closed = await makeRoom(t.db, { anna: ['a1'] }, { closed: true })
      const stored = await appendMessages(
        t.db,
        [msg('no-such-room', 'anna', 'a1', `nr-${ordered}`), msg(closed, 'anna', 'a1', 'nr-2')],
        new Map([
          ['no-such-room', 0],
          [closed, 0],
        ]),
        new Date(),
        ordered,
      )
      expect(stored.size).toBe(0)
      expect(await seqs(t.db, 'no-such-room')).toEqual([])
      expect(await seqs(t.db, closed)).toEqual([])
    },
  )

  it("never runs its statement inside another caller's open transaction", async () => {
    const room = await makeRoom(t.db, { anna: ['a1'] })
    let appended: ReturnType<typeof appendMessages> | undefined
    await t.db.db
      .transaction()
      .execute(async (trx) => {
        await trx.selectFrom('rooms').select('id').where('id', '=', room).execute()
        appended = appendMessages(
          t.db,
          [msg(room, 'anna', 'a1', 'tx-0001')],
          new Map([[room, 0]]),
          new Date(),
        )
        await new Promise((r) => setTimeout(r, 100))
        throw new Error('roll back')
      })
      .catch(() => {})
    // On the embedded database (one session) it waited for the transaction to end, so the
    // rollback did not take the acknowledged row with it.
    expect((await appended!).size).toBe(1)
    expect(await seqs(t.db, room)).toEqual([1])
  })

  it('stores every body byte for byte, whatever the sizes in one batch', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'] })
    const bodies = [1, 614, 0x10000, 3, 255].map((n, i) =>
      Uint8Array.from({ length: n }, (_, j) => (j * 31 + i * 7) & 0xff),
    )
    const sizes: number[] = []
    const w = new RoomWriter(t.db, logger, () => {}, {
      observer: { batch: (n) => sizes.push(n), stored: () => {} },
    })
    const o = await Promise.all(
      bodies.map((body, i) => w.send({ ...msg(room, 'anna', 'a1', `body-${i}`), body })),
    )
    await w.close()
    expect(o.map((x) => x.ok && x.seq)).toEqual([1, 2, 3, 4, 5])
    // Sent in one turn: one batch, reported to the observer.
    expect(sizes).toEqual([5])
    const rows = await t.db.db
      .selectFrom('room_events')
      .select(['seq', 'body'])
      .where('room_id', '=', room)
      .orderBy('seq')
      .execute()
    expect(rows.map((r) => Buffer.from(r.body).equals(Buffer.from(bodies[r.seq - 1]!)))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ])
  })

  it.each([true, false])(
    "sends the next batch's statement before publishing the last one only when alone (%s)",
    async (alone) => {
      const room = await makeRoom(t.db, { anna: ['a1'] })
      const log: string[] = []
      let second: Promise<InsertOutcome> | undefined
      const prepared = t.db.prepared.bind(t.db)
      const spy: Db['prepared'] = (name, text, values) => {
        log.push(`statement ${(values[3] as string[]).join(',')}`)
        // Queued while the first statement is out: it goes in the next batch.
        second ??= w.send(msg(room, 'anna', 'a1', 'pipe-2'))
        return prepared(name, text, values)
      }
      const w = new RoomWriter(
        Object.assign(Object.create(t.db) as Db, { prepared: spy }),
        logger,
        (events) => log.push(`published ${events.map((e) => e.seq).join(',')}`),
        { alone: () => alone },
      )
      try {
        const first = w.send(msg(room, 'anna', 'a1', 'pipe-1'))
        void first.then((o) => log.push(`acked ${o.ok && o.seq}`))
        await first
        const o2 = await second!
        log.push(`acked ${o2.ok && o2.seq}`)
      } finally {
        await w.close()
      }
      // The second statement went out before the first batch was published (and so before
      // its fan-out); batches still publish and acknowledge in order.
      expect(log.slice(0, 3)).toEqual(
        alone
          ? ['statement pipe-1', 'statement pipe-2', 'published 1']
          : ['statement pipe-1', 'published 1', 'acked 1'],
      )
      expect(log.filter((l) => l.startsWith('published'))).toEqual(['published 1', 'published 2'])
      expect(log.filter((l) => l.startsWith('acked'))).toEqual(['acked 1', 'acked 2'])
      expect(await seqs(t.db, room)).toEqual([1, 2])
    },
  )

  it.each([
    [1, true],
    [4, true],
    [1, false],
  ])(
    'keeps every room gap-free under many concurrent senders (%i lanes, alone: %s)',
    async (lanes, alone) => {
      const w = new RoomWriter(t.db, logger, () => {}, { lanes, alone: () => alone })
      try {
        await manySenders(w)
      } finally {
        await w.close()
      }
    },
  )

  async function manySenders(writer: RoomWriter): Promise<void> {
    const rooms = await Promise.all(
      range(1, 12).map(() => makeRoom(t.db, { anna: ['a1'], bert: ['b1'] })),
    )
    const outcomes = await Promise.all(
      range(1, 600).map((i) =>
        writer.send(
          msg(rooms[i % rooms.length]!, i % 2 ? 'anna' : 'bert', i % 2 ? 'a1' : 'b1', `c-${i}-x`),
        ),
      ),
    )
    expect(outcomes.every((o) => o.ok && !o.duplicate)).toBe(true)
    for (const r of rooms) {
      expect(await seqs(t.db, r)).toEqual(range(1, 50))
      expect(await head(t.db, r)).toBe(50)
    }
    // Each send sits at the number it was acknowledged with.
    const at = new Map<string, string>()
    for (const r of rooms) for (const k of await keys(t.db, r)) at.set(`${r} ${k}`, k)
    outcomes.forEach((o, i) => {
      const r = rooms[(i + 1) % rooms.length]!
      const seq = (o as { seq: number }).seq
      expect(at.get(`${r} ${seq}: c-${i + 1}-x`)).toBe(`${seq}: c-${i + 1}-x`)
    })
    // Retrying all of them stores nothing and answers with the same numbers.
    const again = await Promise.all(
      range(1, 600).map((i) =>
        writer.send(
          msg(rooms[i % rooms.length]!, i % 2 ? 'anna' : 'bert', i % 2 ? 'a1' : 'b1', `c-${i}-x`),
        ),
      ),
    )
    again.forEach((o, i) => {
      expect(o).toEqual({ ok: true, seq: (outcomes[i] as { seq: number }).seq, duplicate: true })
    })
    for (const r of rooms) expect(await head(t.db, r)).toBe(50)
  }
})

describe('RoomWriter sending for a desk', () => {
  let t: TestDb
  beforeAll(async () => {
    t = await createTestDb(inject('dbTemplate'))
  })
  afterAll(async () => t.close())

  it('stores a message for a desk only from one of its advisors', async () => {
    const { deskId, advisorIds } = await makeDesk(t.db, 2)
    const [ina, jan] = advisorIds as [string, string]
    const room = await makeRoom(t.db, { [deskId]: ['v1'] })
    const writer = new RoomWriter(t.db, logger, () => {})
    const asDesk = (idem: string, actor: string) => ({ ...msg(room, deskId, 'v1', idem), actor })
    expect(await writer.send(asDesk('d-0001', ina))).toMatchObject({ ok: true, seq: 1 })
    await t.db.db
      .deleteFrom('desk_members')
      .where('desk_id', '=', deskId)
      .where('user_id', '=', ina)
      .execute()
    const [removed, stays] = await Promise.all([
      writer.send(asDesk('d-0002', ina)),
      writer.send(asDesk('d-0003', jan)),
    ])
    expect(removed).toMatchObject({ ok: false, code: 'VS_FORBIDDEN' })
    expect(stays).toMatchObject({ ok: true, seq: 2 })
    // Not someone who never advised it, either.
    expect(await writer.send(asDesk('d-0004', 'anna'))).toMatchObject({
      ok: false,
      code: 'VS_FORBIDDEN',
    })
    expect(await seqs(t.db, room)).toEqual([1, 2])
    await writer.close()
  })
})

describe('RoomWriter when the careful path fails', () => {
  let t: TestDb
  beforeAll(async () => {
    t = await createTestDb(inject('dbTemplate'))
  })
  afterAll(async () => t.close())

  it('still acknowledges and publishes what the one statement stored, and refuses only the rest', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'] })
    const published: StoredEvent[] = []
    const stored: [string, number][] = []
    const writer = new RoomWriter(t.db, logger, (events) => published.push(...events), {
      onStored: (roomId, seq) => stored.push([roomId, seq]),
    })
    // Stored earlier by a process that died before publishing it.
    const earlier = new RoomWriter(t.db, logger, () => {})
    await earlier.send(msg(room, 'anna', 'a1', 'before-crash'))
    await earlier.close()

    // The careful transaction (needed for the refusal) fails this once: the connection drops.
    const real = t.db.db.transaction.bind(t.db.db)
    let failed = false
    t.db.db.transaction = (() => {
      if (failed) return real()
      failed = true
      throw Object.assign(new Error('connection terminated'), { code: '57P01' })
    }) as typeof t.db.db.transaction
    try {
      const [fresh, refused] = await Promise.allSettled([
        writer.send(msg(room, 'anna', 'a1', 'fresh-0001')),
        writer.send(msg(room, 'anna', 'a9', 'not-a-member-device')),
      ])
      expect(fresh).toMatchObject({ status: 'fulfilled', value: { ok: true, seq: 2 } })
      expect(refused.status).toBe('rejected')
      expect(published.map((e) => e.seq)).toEqual([2])
    } finally {
      t.db.db.transaction = real
    }
    // Sent again, the retry is a duplicate of seq 1, and the writer says so, so the hub and
    // the other processes can catch up on the event nobody published.
    expect(await writer.send(msg(room, 'anna', 'a1', 'before-crash'))).toEqual({
      ok: true,
      seq: 1,
      duplicate: true,
    })
    expect(stored).toEqual([[room, 1]])
    await writer.close()
  })
})

describe('the one-statement append racing other transactions (PostgreSQL)', () => {
  let t: TestDb
  let teardown: () => Promise<void>

  beforeAll(async () => {
    const tpl = await createTemplate(await requirePostgres(), '')
    teardown = tpl.teardown
    t = await createTestDb(tpl.template)
  }, 60_000)
  afterAll(async () => {
    await t?.close()
    await teardown?.()
  })

  /**
   * Another transaction holds `room`'s row (it changed it) while `run` starts; it commits
   * once `run`'s statement is waiting for that row.
   */
  async function whileLocked<T>(
    room: string,
    change: Record<string, unknown>,
    run: () => Promise<T>,
    also: (trx: Transaction<Database>) => Promise<void> = async () => {},
  ): Promise<T> {
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let locked!: () => void
    const isLocked = new Promise<void>((r) => (locked = r))
    const trx = t.db.db.transaction().execute(async (trx) => {
      await trx.updateTable('rooms').set(change).where('id', '=', room).execute()
      await also(trx)
      locked()
      await held
    })
    await isLocked
    const result = run()
    // Let the statement reach the lock and wait on it, then commit the change.
    await new Promise((r) => setTimeout(r, 200))
    release()
    await trx
    return result
  }

  it.each([true, false])(
    'leaves out a room whose epoch moved on while it waited (a commit changed the members; rooms locked in order: %s)',
    async (ordered) => {
      const room = await makeRoom(t.db, { anna: ['a1'] })
      const other = await makeRoom(t.db, { anna: ['a1'] })
      const stored = await whileLocked(room, { epoch: 1 }, () =>
        appendMessages(
          t.db,
          [msg(room, 'anna', 'a1', 'e-0001'), msg(other, 'anna', 'a1', 'e-0002')],
          new Map([
            [room, 0],
            [other, 0],
          ]),
          new Date(),
          ordered,
        ),
      )
      expect([...stored.values()].map((e) => [e.roomId, e.seq])).toEqual([[other, 1]])
      expect(await seqs(t.db, room)).toEqual([])
      expect(await head(t.db, room)).toBe(0)
      // Through the writer, the careful path stores it after the commit.
      const writer = new RoomWriter(t.db, logger, () => {})
      const o = await whileLocked(room, { epoch: 2 }, () =>
        writer.send(msg(room, 'anna', 'a1', 'e-0003')),
      )
      expect(o).toMatchObject({ ok: true, seq: 1, duplicate: false })
      await writer.close()
    },
  )

  it('keeps rooms gap-free with two processes writing to the same rooms at once', async () => {
    // Two writers on their own connections, as two API processes, with the statement that
    // locks the rooms in order first. This shows that statement numbers correctly under
    // contention; it cannot show the order itself (without the lock pass the update happens
    // to lock the rooms in the same order, the order the writer sorts them in).
    const rooms = await Promise.all(range(1, 8).map(() => makeRoom(t.db, { anna: ['a1'] })))
    let careful = 0
    const observer = {
      batch: () => {},
      stored: (path: string) => void (careful += +(path === 'careful')),
    }
    const writers = [0, 1].map(
      () => new RoomWriter(t.db, logger, () => {}, { alone: () => false, observer }),
    )
    try {
      const outcomes = await Promise.all(
        range(0, 399).map((i) =>
          writers[i % 2]!.send(msg(rooms[(i * 7) % rooms.length]!, 'anna', 'a1', `p-${i}-x`)),
        ),
      )
      expect(outcomes.every((o) => o.ok && !o.duplicate)).toBe(true)
      for (const r of rooms) {
        expect(await seqs(t.db, r)).toEqual(range(1, 50))
        expect(await head(t.db, r)).toBe(50)
      }
      // No batch went to the careful path (as it would after a deadlock).
      expect(careful).toBe(0)
    } finally {
      await Promise.all(writers.map((w) => w.close()))
    }
  })

  it('refuses a message for a desk whose sender is removed as its advisor while it is written', async () => {
    const { deskId, advisorIds } = await makeDesk(t.db, 1)
    const ina = advisorIds[0]!
    const room = await makeRoom(t.db, { [deskId]: ['v1'] })
    const writer = new RoomWriter(t.db, logger, () => {})
    // The coordinator's removal has deleted Ina's row but not committed yet when her send
    // reaches the database: the send waits for it, and then finds her gone. Read without
    // the lock, the row would still be there, and her message stored after her removal.
    let commit!: () => void
    const committed = new Promise<void>((r) => (commit = r))
    let deleted!: () => void
    const isDeleted = new Promise<void>((r) => (deleted = r))
    const removal = t.db.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('desk_members')
        .where('desk_id', '=', deskId)
        .where('user_id', '=', ina)
        .execute()
      deleted()
      await committed
    })
    await isDeleted
    const sent = writer.send({ ...msg(room, deskId, 'v1', 'x-0001'), actor: ina })
    let settled = false
    void sent.finally(() => (settled = true))
    // Until it waits for the lock (or, read without one, is already answered).
    while (!settled && !(await waitingOnALock(t.db))) await new Promise((r) => setTimeout(r, 10))
    commit()
    await removal
    expect(await sent).toMatchObject({ ok: false, code: 'VS_FORBIDDEN' })
    expect(await seqs(t.db, room)).toEqual([])
    await writer.close()
  })

  it('leaves out a room closed while it waited', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'] })
    const writer = new RoomWriter(t.db, logger, () => {})
    const o = await whileLocked(room, { closed_at: new Date() }, () =>
      writer.send(msg(room, 'anna', 'a1', 'c-0001')),
    )
    expect(o).toMatchObject({ ok: false, code: 'VS_ROOM_CLOSED' })
    expect(await seqs(t.db, room)).toEqual([])
    await writer.close()
  })

  it('answers a retry stored meanwhile by another process as a duplicate, numbering the rest', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'], bert: ['b1'] })
    const writer = new RoomWriter(t.db, logger, () => {})
    const retry = msg(room, 'anna', 'a1', 'r-0001')
    // Another process stores Anna's send (her first attempt) while this one, holding her
    // retry and Bert's send, waits for the room: the statement hits the unique key.
    const o = await whileLocked(
      room,
      { last_seq: 1 },
      () => Promise.all([writer.send(retry), writer.send(msg(room, 'bert', 'b1', 'r-0002'))]),
      async (trx) => {
        await trx
          .insertInto('room_events')
          .values({
            room_id: room,
            seq: 1,
            kind: 'message',
            sender_id: 'anna',
            sender_device: 'a1',
            idem_key: retry.idem,
            body: retry.body,
          })
          .execute()
      },
    )
    expect(o[0]).toEqual({ ok: true, seq: 1, duplicate: true })
    expect(o[1]).toMatchObject({ ok: true, seq: 2, duplicate: false })
    expect(await seqs(t.db, room)).toEqual([1, 2])
    expect(await head(t.db, room)).toBe(2)
    await writer.close()
  })
})
