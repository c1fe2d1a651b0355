/**
 * The hub's live fan-out: every event reaches every subscriber of its room once and in
 * order, however many were published at once, and a large backlog is sent over several
 * event-loop turns instead of one (acks and reads get their turn in between).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../src/logger.js'
import type { TextFrame } from '../src/realtime/frame.js'
import { Hub, type Subscriber } from '../src/realtime/hub.js'
import type { StoredEvent } from '../src/rooms/events.js'
import { createTestDb, type TestDb } from './helpers/test-db.js'
import { storedEvent } from './helpers/events.js'
import { makeRoom } from './helpers/rooms.js'
import { until } from './helpers/wait.js'

class Recorder implements Subscriber {
  private static next = 1
  readonly id = Recorder.next++
  readonly frames: Array<{ room: string; seq: number }> = []
  sendRaw(frame: TextFrame): boolean {
    const f = JSON.parse(frame.json.toString()) as { room: string; seq: number }
    this.frames.push({ room: f.room, seq: f.seq })
    return true
  }
  paced<T>(page: () => Promise<T>): Promise<T> {
    return page()
  }
  /** Rooms whose access it was asked to re-check, in order. */
  readonly rechecks: string[] = []
  /** How a re-check ends (default: still a member, at once). */
  decide: (roomId: string) => Promise<boolean> = async () => true
  onMembershipChange(roomId: string): Promise<boolean> {
    this.rechecks.push(roomId)
    return this.decide(roomId)
  }
}

/** A promise and the function that settles it. */
function gate<T>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void
  const promise = new Promise<T>((r) => (open = r))
  return { promise, open }
}

const event = (roomId: string, seq: number): StoredEvent =>
  storedEvent(roomId, seq, new Uint8Array(600).fill(seq & 0xff))

describe('Hub fan-out', () => {
  let t: TestDb
  beforeAll(async () => {
    t = await createTestDb(inject('dbTemplate'))
  })
  afterAll(async () => {
    await t.close()
  })

  it('delivers a large backlog to every subscriber once, in order, over several turns', async () => {
    const hub = new Hub(t.db.db, createLogger('silent'))
    const rooms = ['room-a', 'room-b', 'room-c']
    const subs = rooms.map(() => [new Recorder(), new Recorder()])
    rooms.forEach((room, i) => subs[i]!.forEach((s) => hub.subscribe(s, room, 0, 0)))
    const perRoom = 3000
    const events: StoredEvent[] = []
    for (let seq = 1; seq <= perRoom; seq++) for (const room of rooms) events.push(event(room, seq))

    // Published as three batches in one turn; count the turns the fan-out takes.
    let turns = 0
    let done = false
    const tick = () => {
      turns++
      if (!done) setImmediate(tick)
    }
    setImmediate(tick)
    hub.publish(events.slice(0, 3000))
    hub.publish(events.slice(3000, 6000))
    hub.publish(events.slice(6000))
    const all = () => subs.flat().every((s) => s.frames.length >= perRoom)
    for (let i = 0; i < 2000 && !all(); i++) await new Promise((r) => setImmediate(r))
    done = true

    rooms.forEach((room, i) => {
      for (const s of subs[i]!) {
        expect(s.frames.every((f) => f.room === room)).toBe(true)
        expect(s.frames.map((f) => f.seq)).toEqual(Array.from({ length: perRoom }, (_, k) => k + 1))
      }
    })
    // 54,000 frames went out, and the event loop turned in between.
    expect(turns).toBeGreaterThan(1)
  })

  it('holds live delivery after a commit until access is checked again: nothing more for a removed member', async () => {
    const room = await makeRoom(t.db, { anna: ['a1'], bert: ['b1'], carla: ['c1'] })
    const kinds = ['message', 'commit', 'message', 'message'] as const
    const stored = kinds.map((kind, i) => ({ ...event(room, i + 1), kind }))
    await t.db.db
      .insertInto('room_events')
      .values(
        stored.map((e) => ({
          room_id: room,
          seq: e.seq,
          kind: e.kind,
          sender_id: 'anna',
          sender_device: 'a1',
          idem_key: `h${e.seq}`,
          body: e.body,
        })),
      )
      .execute()
    await t.db.db.updateTable('rooms').set({ last_seq: 4 }).where('id', '=', room).execute()

    const hub = new Hub(t.db.db, createLogger('silent'))
    // Bert stays; Carla was the one the commit removed.
    const [bert, carla] = [new Recorder(), new Recorder()]
    const [bertCheck, carlaCheck] = [gate<boolean>(), gate<boolean>()]
    bert.decide = () => bertCheck.promise
    carla.decide = async () => {
      const still = await carlaCheck.promise
      if (!still) hub.unsubscribe(carla, room)
      return still
    }
    hub.subscribe(bert, room, 0, 0)
    hub.subscribe(carla, room, 0, 0)
    hub.publish(stored)
    await until(() => bert.rechecks.length === 1 && carla.rechecks.length === 1)
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    // Up to the commit, and no further while the checks run.
    expect(bert.frames.map((f) => f.seq)).toEqual([1, 2])
    expect(carla.frames.map((f) => f.seq)).toEqual([1, 2])

    carlaCheck.open(false)
    bertCheck.open(true)
    await until(() => bert.frames.length === 4)
    expect(bert.frames.map((f) => f.seq)).toEqual([1, 2, 3, 4])
    // More follows live for Bert; Carla gets nothing after her removal.
    const fifth = event(room, 5)
    await t.db.db
      .insertInto('room_events')
      .values({
        room_id: room,
        seq: 5,
        kind: 'message',
        sender_id: 'anna',
        sender_device: 'a1',
        idem_key: 'h5',
        body: fifth.body,
      })
      .execute()
    hub.publish([fifth])
    await until(() => bert.frames.length === 5)
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(carla.frames.map((f) => f.seq)).toEqual([1, 2])
  })

  it('re-checks access after a replay that carried a membership commit, before the rest', async () => {
    // A subscribe read the room's head (1) and the member's access before a commit that
    // removed them (2) was stored and fanned out to the room's other subscriber here. The
    // hub then replays 1 and 2 to the new subscriber from the database: it must also have
    // them re-check their access, as live delivery of a commit does, and send nothing past
    // the commit (3) until it has, or a removed member goes on receiving the room's events.
    const room = await makeRoom(t.db, { anna: ['a1'], bert: ['b1'] })
    await t.db.db
      .insertInto('room_events')
      .values(
        (['message', 'commit', 'message'] as const).map((kind, i) => ({
          room_id: room,
          seq: i + 1,
          kind,
          sender_id: 'anna',
          sender_device: 'a1',
          idem_key: `k${i + 1}`,
          body: new Uint8Array([i + 1]),
        })),
      )
      .execute()
    await t.db.db.updateTable('rooms').set({ last_seq: 3 }).where('id', '=', room).execute()

    const hub = new Hub(t.db.db, createLogger('silent'))
    const anna = new Recorder()
    hub.subscribe(anna, room, 3, 3)
    const bert = new Recorder()
    bert.decide = async () => (hub.unsubscribe(bert, room), false)
    hub.subscribe(bert, room, 0, 1)
    // Carla's check read the head after the commit: the same replay needs no second look.
    const carla = new Recorder()
    hub.subscribe(carla, room, 0, 3)
    await until(() => bert.rechecks.length > 0 && carla.frames.length === 3)
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(bert.frames.map((f) => f.seq)).toEqual([1, 2])
    expect(bert.rechecks).toEqual([room])
    expect(carla.frames.map((f) => f.seq)).toEqual([1, 2, 3])
    expect(carla.rechecks).toEqual([])
    expect(anna.frames).toEqual([])
  })
})
