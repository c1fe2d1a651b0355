/**
 * The hub's live fan-out: every event reaches every subscriber of its room once and in
 * order, however many were published at once, and a large backlog is sent over several
 * event-loop turns instead of one (acks and reads get their turn in between).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../src/logger.js'
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
  sendRaw(frame: Buffer): boolean {
    const f = JSON.parse(frame.toString()) as { room: string; seq: number }
    this.frames.push({ room: f.room, seq: f.seq })
    return true
  }
  paced<T>(page: () => Promise<T>): Promise<T> {
    return page()
  }
  /** Rooms whose access it was asked to re-check, in order. */
  readonly rechecks: string[] = []
  onMembershipChange(roomId: string): void {
    this.rechecks.push(roomId)
  }
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

  it('re-checks access after a replay that carried a membership commit', async () => {
    // A subscribe read the room's head (1) and the member's access before a commit that
    // removed them (2) was stored and fanned out to the room's other subscriber here. The
    // hub then replays 1 and 2 to the new subscriber from the database: it must also have
    // them re-check their access, as live delivery of a commit does, or a removed member
    // goes on receiving the room's events until they reconnect.
    const room = await makeRoom(t.db, { anna: ['a1'], bert: ['b1'] })
    await t.db.db
      .insertInto('room_events')
      .values(
        (['message', 'commit'] as const).map((kind, i) => ({
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
    await t.db.db.updateTable('rooms').set({ last_seq: 2 }).where('id', '=', room).execute()

    const hub = new Hub(t.db.db, createLogger('silent'))
    const anna = new Recorder()
    hub.subscribe(anna, room, 2, 2)
    const bert = new Recorder()
    hub.subscribe(bert, room, 0, 1)
    // Carla's check read the head after the commit: the same replay needs no second look.
    const carla = new Recorder()
    hub.subscribe(carla, room, 0, 2)
    await until(() => bert.frames.length === 2 && carla.frames.length === 2)
    expect(bert.frames.map((f) => f.seq)).toEqual([1, 2])
    await until(() => bert.rechecks.length > 0)
    expect(bert.rechecks).toEqual([room])
    expect(carla.rechecks).toEqual([])
    expect(anna.frames).toEqual([])
  })
})
