/**
 * Cross-process announcements: a process alone sends no NOTIFY for its commits, keeps the
 * rooms' heads, and tells them to the first process that turns up; from then on the two
 * greet each other and commits travel with their events.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../src/logger.js'
import { EVENTS_CHANNEL, Notifier, type RemoteCommit } from '../src/realtime/notifier.js'
import { createTestDb, type TestDb } from './helpers/test-db.js'
import { until } from './helpers/wait.js'
import { storedEvent } from './helpers/events.js'

const event = storedEvent

describe('Notifier', () => {
  let t: TestDb
  const stops: Array<() => Promise<void>> = []
  beforeAll(async () => {
    t = await createTestDb(inject('dbTemplate'))
  })
  afterAll(async () => {
    for (const s of stops) await s()
    await t.close()
  })

  it('announces nothing while alone, and tells the first process that turns up', async () => {
    const logger = createLogger('silent')
    // Every announcement that carries a room, whoever sent it.
    const announced: Array<{ n: string; r: [string, number][] }> = []
    stops.push(
      await t.db.listen(EVENTS_CHANNEL, (p) => {
        const m = JSON.parse(p) as { n: string; r: [string, number][] }
        if (m.r.length > 0) announced.push(m)
      }),
    )

    const a = new Notifier(t.db, logger)
    await a.start(() => {})
    stops.push(() => a.stop())
    a.announce([event('room-1', 1), event('room-1', 2)])
    a.announceHead('room-2', 5)
    await new Promise((r) => setTimeout(r, 300))
    expect(a.hasPeers()).toBe(false)
    expect(announced).toEqual([])

    const heard: RemoteCommit[] = []
    const b = new Notifier(t.db, logger)
    await b.start((c) => heard.push(c))
    stops.push(() => b.stop())
    // B's hello reaches A, which greets back and tells B the heads it kept.
    await until(() => heard.length >= 2)
    expect(heard).toEqual(
      expect.arrayContaining([
        { roomId: 'room-1', seq: 2 },
        { roomId: 'room-2', seq: 5 },
      ]),
    )
    await until(() => a.hasPeers() && b.hasPeers())

    // Now A's commits go out with their events.
    heard.length = 0
    a.announce([event('room-1', 3)])
    await until(() => heard.length >= 1)
    expect(heard[0]).toMatchObject({
      roomId: 'room-1',
      seq: 3,
      events: [{ room: 'room-1', seq: 3 }],
    })

    // A third process (or one restarted under a new id) is greeted at once, not at the next
    // heartbeat (5 s), so its own commits are announced from the start.
    const c = new Notifier(t.db, logger)
    await c.start(() => {})
    stops.push(() => c.stop())
    await until(() => c.hasPeers(), 2500)
  })

  it('tells the other processes whose sessions ended and whose access changed, apart', async () => {
    const log: string[] = []
    /** A started notifier that logs what it hears of sessions and access, as `label`. */
    const listening = async (label: string) => {
      const n = new Notifier(t.db, createLogger('silent'))
      await n.start(
        () => {},
        (m) => log.push(`${label} ended ${m.userId} ${m.sessionId ?? '*'}`),
        () => {},
        (userId) => log.push(`${label} access ${userId}`),
      )
      stops.push(() => n.stop())
      return n
    }
    const a = await listening('a')
    const b = await listening('b')

    await a.announceAccessChanged('user-1')
    await a.announceSessionsEnded({ userId: 'user-2', sessionId: 'session-2' })
    await b.announceSessionsEnded({ userId: 'user-3' })
    await until(() => log.length >= 3)
    await new Promise((r) => setTimeout(r, 200))
    // Each reaches the other process only, as what it is.
    expect(log.sort()).toEqual(['a ended user-3 *', 'b access user-1', 'b ended user-2 session-2'])
  })
})
