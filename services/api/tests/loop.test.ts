/**
 * Closing the loop end to end: signed notices, the case state machine, acknowledgements,
 * the inbox, overdue checks and reminders with a controllable clock, and the scheduler
 * firing once with two "processes".
 */
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  RoomsClient,
  acknowledgeNotice,
  checkSchedule,
  postNotice,
  verifiedNotices,
} from '@vs/client/rooms'
import { Scheduler } from '../src/jobs/scheduler.js'
import { raiseAlerts } from '../src/loop/notices.js'
import { http, listenTestApp, makePerson, until, type Person } from './helpers/index.js'

type T = Awaited<ReturnType<typeof listenTestApp>>
const DAY = 24 * 3600 * 1000

describe('terugkoppeling', () => {
  let t: T
  let clock = Date.now()
  let vt: Person, jgz: Person, huisarts: Person
  const clients: RoomsClient[] = []
  const rooms = (p: Person) => {
    const c = new RoomsClient(p.host)
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    t = await listenTestApp({}, { now: () => new Date(clock) })
    vt = await makePerson(t.ctx, t.url, {
      name: 'Veilig Thuis adviseur',
      organisation: 'Veilig Thuis Twente',
      kind: 'veilig-thuis',
      role: 'advisor',
    })
    jgz = await makePerson(t.ctx, t.url, { name: 'JGZ-verpleegkundige' })
    huisarts = await makePerson(t.ctx, t.url, {
      name: 'Huisarts',
      organisation: 'Huisartsen Hengelo',
      kind: 'huisarts',
    })
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await t.close()
  })

  /** Moves the clock; sessions are refreshed as a real client would (access tokens last 15 minutes). */
  async function advance(days: number): Promise<void> {
    clock += days * DAY
    for (const p of [vt, jgz, huisarts]) {
      const r = await http<{ accessToken: string; refreshToken: string }>(
        t.url,
        'POST',
        '/api/v1/auth/refresh',
        { refreshToken: p.session.refreshToken },
      )
      p.session.refreshToken = r.refreshToken
      p.host.token = r.accessToken
    }
  }

  it('walks a case from hulp-gestart to monitoring, with acknowledgements and reminders', async () => {
    const vtRooms = rooms(vt)
    const jgzRooms = rooms(jgz)
    const roomId = await vtRooms.create({
      kind: 'case',
      label: 'Gezin Vlinder',
      members: [{ userId: jgz.userId }, { userId: huisarts.userId }],
    })

    // A hulp-beëindigd before any hulp-gestart is refused, clearly.
    await expect(
      postNotice(vt.host, vtRooms, roomId, {
        kind: 'hulp-beeindigd',
        dates: { end: '2026-11-24' },
        details: { reden: 'doel bereikt' },
      }),
    ).rejects.toMatchObject({ status: 409, code: 'VS_NOTICE_NO_HELP' })

    const started = await postNotice(vt.host, vtRooms, roomId, {
      kind: 'hulp-gestart',
      dates: { start: '2026-11-24' },
      details: {
        programma: 'Stevig Ouderschap',
        organisatie: 'GGD Twente',
        contact: '053-0000000',
      },
    })
    // Everyone following receives it in real time, decrypts it, and it is in their inbox.
    const js = await jgzRooms.open(roomId)
    await until(() => js.timeline.some((i) => i.kind === 'notice'))
    const inbox = await http<{ noticeId: string; kind: string }[]>(
      t.url,
      'GET',
      '/api/v1/inbox',
      undefined,
      jgz.host.token,
    )
    expect(inbox).toContainEqual(
      expect.objectContaining({ noticeId: started.noticeId, kind: 'notice' }),
    )

    const verified = await verifiedNotices(jgz.host, jgzRooms, roomId)
    expect(verified).toEqual([
      expect.objectContaining({
        id: started.noticeId,
        kind: 'hulp-gestart',
        verified: true,
        details: expect.objectContaining({ programma: 'Stevig Ouderschap' }),
        pending: expect.arrayContaining([jgz.userId, huisarts.userId]),
      }),
    ])

    await acknowledgeNotice(jgz.host, started.noticeId)
    const afterAck = await verifiedNotices(vt.host, vtRooms, roomId)
    expect(afterAck[0]!.acknowledgedBy.sort()).toEqual([vt.userId, jgz.userId].sort())
    expect(afterAck[0]!.pending).toEqual([huisarts.userId])

    // Two working days later the huisarts is reminded (once).
    await advance(5)
    expect(await raiseAlerts(t.ctx.db.db, new Date(clock))).toBeGreaterThan(0)
    const again = await raiseAlerts(t.ctx.db.db, new Date(clock))
    expect(again).toBe(0)
    const hInbox = await http<{ noticeId: string; kind: string }[]>(
      t.url,
      'GET',
      '/api/v1/inbox',
      undefined,
      huisarts.host.token,
    )
    expect(hInbox).toContainEqual(
      expect.objectContaining({ noticeId: started.noticeId, kind: 'ack-reminder' }),
    )

    let cases = await http<{ roomId: string; state: string }[]>(
      t.url,
      'GET',
      '/api/v1/cases',
      undefined,
      jgz.host.token,
    )
    expect(cases.find((c) => c.roomId === roomId)?.state).toBe('hulp-loopt')

    await postNotice(vt.host, vtRooms, roomId, {
      kind: 'hulp-beeindigd',
      dates: { end: '2026-12-01' },
      details: { reden: 'doel bereikt' },
    })
    const today = new Date(clock).toISOString().slice(0, 10)
    const schedule = checkSchedule(today, new Date(clock + 90 * DAY).toISOString().slice(0, 10), 30)
    const afspraak = await postNotice(vt.host, vtRooms, roomId, {
      kind: 'monitoring-afspraak',
      dates: schedule,
      details: { wie: 'JGZ', hoeVaak: 'maandelijks' },
      owner: jgz.userId,
    })
    expect(afspraak.seq).toBeGreaterThan(0)
    cases = await http(t.url, 'GET', '/api/v1/cases', undefined, jgz.host.token)
    const c1 = cases.find((c) => c.roomId === roomId) as unknown as {
      state: string
      nextCheck: { dueOn: string; owner: string }
    }
    expect(c1.state).toBe('hulp-beeindigd-monitoring')
    expect(c1.nextCheck).toEqual({ dueOn: schedule.check01, owner: jgz.userId })

    // The first check goes past its due date: an alert for its owner and the room.
    await advance(20)
    await advance(15)
    await raiseAlerts(t.ctx.db.db, new Date(clock))
    const overdue = await http<{ kind: string; roomId: string }[]>(
      t.url,
      'GET',
      '/api/v1/inbox',
      undefined,
      jgz.host.token,
    )
    expect(overdue).toContainEqual(expect.objectContaining({ kind: 'check-overdue', roomId }))
    const jgzRooms2 = jgzRooms
    await postNotice(jgz.host, jgzRooms2, roomId, {
      kind: 'monitoring-check',
      dates: { done: new Date(clock).toISOString().slice(0, 10), due: schedule.check01! },
      details: { uitkomst: 'stabiel veilig' },
    })
    const resolved = await http<{ kind: string }[]>(
      t.url,
      'GET',
      '/api/v1/inbox',
      undefined,
      jgz.host.token,
    )
    expect(resolved.filter((i) => i.kind === 'check-overdue')).toEqual([])
    // A check for a date with no open check is refused.
    await expect(
      postNotice(jgz.host, jgzRooms2, roomId, {
        kind: 'monitoring-check',
        dates: { done: '2027-01-01', due: '2020-01-01' },
        details: {},
      }),
    ).rejects.toMatchObject({ status: 409 })
  })

  it('shows a notice the server altered as not verified', async () => {
    const vtRooms = rooms(vt)
    const roomId = await vtRooms.create({ kind: 'case', members: [{ userId: jgz.userId }] })
    const n = await postNotice(vt.host, vtRooms, roomId, {
      kind: 'hulp-gestart',
      dates: { start: '2026-11-24' },
      details: { programma: 'VoorZorg' },
    })
    await sql`update notices set dates = ${JSON.stringify({ start: '2025-01-01' })} where id = ${n.noticeId}`.execute(
      t.ctx.db.db,
    )
    const jgzRooms = rooms(jgz)
    const list = await verifiedNotices(jgz.host, jgzRooms, roomId)
    expect(list[0]).toMatchObject({ id: n.noticeId, verified: false })
  })

  it('flags a melding without veiligheidsbeoordeling after 5 working days', async () => {
    const hRooms = rooms(huisarts)
    const roomId = await hRooms.create({ kind: 'melding', members: [{ userId: vt.userId }] })
    let cases = await http<
      { roomId: string; state: string; overdue: { beoordelingOverdue: boolean } }[]
    >(t.url, 'GET', '/api/v1/cases', undefined, huisarts.host.token)
    expect(cases.find((c) => c.roomId === roomId)).toMatchObject({
      state: 'gemeld',
      overdue: { beoordelingOverdue: false },
    })
    await advance(10)
    await raiseAlerts(t.ctx.db.db, new Date(clock))
    cases = await http(t.url, 'GET', '/api/v1/cases', undefined, huisarts.host.token)
    expect(cases.find((c) => c.roomId === roomId)).toMatchObject({
      overdue: { beoordelingOverdue: true },
    })
    const vtInbox = await http<{ kind: string; roomId: string }[]>(
      t.url,
      'GET',
      '/api/v1/inbox',
      undefined,
      vt.host.token,
    )
    expect(vtInbox).toContainEqual(expect.objectContaining({ kind: 'beoordeling-overdue', roomId }))
  })

  it('runs a scheduled job once when two processes race for it', async () => {
    let runs = 0
    const job = {
      name: `race-${Date.now()}`,
      everyMs: 60_000,
      run: async () => {
        runs++
        await new Promise((r) => setTimeout(r, 200))
      },
    }
    const a = new Scheduler(t.ctx.db, t.ctx.logger)
    const b = new Scheduler(t.ctx.db, t.ctx.logger)
    const results = await Promise.all([a.runOnce(job), b.runOnce(job)])
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(runs).toBe(1)
    // The lease is released after the run: the next round runs again.
    expect(await a.runOnce(job)).toBe(true)
    expect(runs).toBe(2)
  })
})
