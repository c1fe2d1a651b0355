/**
 * Case rooms end to end in one process: real WebSockets, real database, real crypto.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { RoomsClient, type TimelineItem } from '@vs/client/rooms'
import {
  HttpError,
  http,
  listenTestApp,
  makePerson,
  newDevice,
  registerDevice,
  until,
  type Person,
} from './helpers/index.js'

type T = Awaited<ReturnType<typeof listenTestApp>>

function texts(items: readonly TimelineItem[]): string[] {
  return items.flatMap((i) =>
    i.kind === 'message' && i.content.type === 'text'
      ? [(i.content.body as { text: string }).text]
      : [],
  )
}

describe('case rooms', () => {
  let t: T
  let anna: Person, bert: Person, carla: Person, dirk: Person
  const clients: RoomsClient[] = []
  const client = (p: Person) => {
    const c = new RoomsClient(p.host)
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    t = await listenTestApp()
    anna = await makePerson(t.ctx, t.url, { name: 'Anna (verloskundige)' })
    bert = await makePerson(t.ctx, t.url, { name: 'Bert (huisarts)' })
    carla = await makePerson(t.ctx, t.url, { name: 'Carla (JGZ)' })
    dirk = await makePerson(t.ctx, t.url, { name: 'Dirk (wijkteam)' })
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await t.close()
  })

  it('delivers messages in real time, in order, to every member, and catches up an offline member', async () => {
    const a = client(anna)
    const b = client(bert)
    const roomId = await a.create({
      kind: 'case',
      label: 'Gezin Zonnebloem',
      members: [{ userId: bert.userId }, { userId: carla.userId }],
    })
    const bs = await b.open(roomId)
    await a.sendText(roomId, 'Zorgen over moeder na de bevalling')
    await b.sendText(roomId, 'Ik zie haar morgen op het spreekuur')
    await a.sendText(roomId, 'Dank je')
    await until(() => texts(bs.timeline).length === 3)
    const as = await a.open(roomId)
    await until(() => texts(as.timeline).length === 3)
    expect(texts(bs.timeline)).toEqual([
      'Zorgen over moeder na de bevalling',
      'Ik zie haar morgen op het spreekuur',
      'Dank je',
    ])
    expect(RoomsClient.label(bs.timeline)).toBe('Gezin Zonnebloem')
    // The writer reports its work: sends appended in one statement, and the room's members
    // read into its sender cache (once for the three sends, or a few times at most).
    const metrics = await (await fetch(`${t.url}/metrics`)).text()
    expect(
      Number(/^vs_room_append_seconds_count\{path="fast"\} (\d+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(1)
    const reads = Number(/^vs_room_sender_reads_total (\d+)$/m.exec(metrics)?.[1])
    expect(reads).toBeGreaterThanOrEqual(1)
    expect(reads).toBeLessThan(3)
    // Carla was offline the whole time: she gets all of it, once, in order.
    const c = client(carla)
    const cs = await c.open(roomId)
    expect(texts(cs.timeline)).toEqual(texts(bs.timeline))
    expect(cs.timeline.map((i) => i.seq)).toEqual(bs.timeline.map((i) => i.seq))
  })

  it('never duplicates a retried send (same idempotency key)', async () => {
    const a = client(anna)
    const roomId = await a.create({ kind: 'case', members: [{ userId: bert.userId }] })
    const session = await a.open(roomId)
    const { body } = session.seal({ type: 'text', body: { text: 'eenmaal' } }, new Uint8Array(32))
    const send = () =>
      http<{ seq: number; duplicate: boolean }>(
        t.url,
        'POST',
        `/api/v1/rooms/${roomId}/events`,
        { idem: 'retry-key-0001', dev: anna.device.deviceId, body },
        anna.host.token,
      )
    const first = await send()
    const second = await send()
    expect(second).toEqual({ seq: first.seq, duplicate: true })
    const page = await http<{ events: unknown[] }>(
      t.url,
      'GET',
      `/api/v1/rooms/${roomId}/events`,
      undefined,
      anna.host.token,
    )
    expect(page.events).toHaveLength(first.seq)
  })

  it('locks a removed member out of everything sent after the removal', async () => {
    const a = client(anna)
    const d = client(dirk)
    const roomId = await a.create({
      kind: 'case',
      members: [{ userId: dirk.userId }, { userId: bert.userId }],
    })
    const ds = await d.open(roomId)
    await a.sendText(roomId, 'voor iedereen')
    await until(() => texts(ds.timeline).length === 1)
    let removedEvent = false
    d.connection['opts'].onRemoved = () => (removedEvent = true)
    await a.removeMembers(roomId, [dirk.userId])
    await a.sendText(roomId, 'na verwijdering')
    await until(() => removedEvent)
    // The server refuses him, and even the ciphertext (if he had it) is under a key he never got.
    await expect(
      http(t.url, 'GET', `/api/v1/rooms/${roomId}/events`, undefined, dirk.host.token),
    ).rejects.toMatchObject({ status: 404 })
    const welcomes = await t.ctx.db.db
      .selectFrom('room_welcomes')
      .select('epoch')
      .where('room_id', '=', roomId)
      .where('member_id', '=', dirk.userId)
      .execute()
    expect(welcomes.map((w) => w.epoch)).toEqual([0])
    expect(texts(ds.timeline)).toEqual(['voor iedereen'])
    await expect(d.sendText(roomId, 'mag ik nog?')).rejects.toThrow()
  })

  it('gives a member\u2019s new device access without re-inviting', async () => {
    const a = client(anna)
    const roomId = await a.create({ kind: 'case', members: [{ userId: bert.userId }] })
    await a.sendText(roomId, 'eerste')
    const second = newDevice()
    await registerDevice(t.url, bert.host.token, bert.userId, bert.master, second, 'tablet')
    const b1 = client(bert)
    expect(await b1.addMyNewDevices(roomId)).toBeGreaterThan(0)
    await a.sendText(roomId, 'na nieuw apparaat')
    const { TestHost } = await import('./helpers/people.js')
    const b2 = client({ ...bert, host: new TestHost(t.url, bert.userId, second, bert.host.token) })
    const s2 = await b2.open(roomId)
    // History before the device joined is not readable (no key forwarding); what follows is.
    expect(texts(s2.timeline)).toEqual(['na nieuw apparaat'])
    const missing = s2.timeline.filter((i) => i.kind === 'undecryptable')
    expect(missing.length).toBeGreaterThan(0)
    expect(missing[0]).toMatchObject({
      code: 'missing-key',
      reason: { nl: expect.stringMatching(/herstelsleutel/) },
    })
  })

  it('refuses a commit the chain does not justify (a member adding someone)', async () => {
    const a = client(anna)
    const roomId = await a.create({ kind: 'case', members: [{ userId: bert.userId }] })
    const b = client(bert)
    await expect(b.addMembers(roomId, [{ userId: carla.userId }])).rejects.toThrow()
    const chain = await http<{ commits: string[] }>(
      t.url,
      'GET',
      `/api/v1/rooms/${roomId}/commits`,
      undefined,
      anna.host.token,
    )
    expect(chain.commits).toHaveLength(1)
  })

  it('starts a new epoch before sending when the key is a week old', async () => {
    const a = client(anna)
    const roomId = await a.create({ kind: 'case', members: [{ userId: bert.userId }] })
    await a.sendText(roomId, 'deze week')
    const real = Date.now
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => real() + 8 * 24 * 3600 * 1000)
    try {
      await a.sendText(roomId, 'volgende week')
    } finally {
      spy.mockRestore()
    }
    const chain = await http<{ commits: string[] }>(
      t.url,
      'GET',
      `/api/v1/rooms/${roomId}/commits`,
      undefined,
      anna.host.token,
    )
    expect(chain.commits).toHaveLength(2)
    const bs = await client(bert).open(roomId)
    expect(texts(bs.timeline)).toEqual(['deze week', 'volgende week'])
    expect(
      bs.timeline
        .filter((i) => i.kind === 'membership')
        .map((i) => (i as { action: string }).action),
    ).toEqual(['create', 'rotate'])
  })

  it('hides rooms from non-members', async () => {
    const a = client(anna)
    const roomId = await a.create({ kind: 'case', members: [{ userId: bert.userId }] })
    for (const path of [
      `/api/v1/rooms/${roomId}/events`,
      `/api/v1/rooms/${roomId}/commits`,
      `/api/v1/rooms/${roomId}/welcomes?device=${carla.device.deviceId}`,
    ]) {
      await expect(http(t.url, 'GET', path, undefined, carla.host.token)).rejects.toBeInstanceOf(
        HttpError,
      )
      await expect(http(t.url, 'GET', path, undefined, carla.host.token)).rejects.toMatchObject({
        status: 404,
      })
    }
  })

  it('carries encrypted attachments and afspraken, and read markers', async () => {
    const a = client(anna)
    const b = client(bert)
    const roomId = await a.create({ kind: 'case', members: [{ userId: bert.userId }] })
    const file = new Uint8Array(2_500_000).map((_, i) => (i * 7) % 251)
    await a.attach(roomId, file, 'verslag.pdf', 'application/pdf')
    await a.addAfspraak(roomId, { what: 'Huisbezoek', who: 'Carla (JGZ)', due: '2026-12-01' })
    const bs = await b.open(roomId)
    await until(() =>
      bs.timeline.some((i) => i.kind === 'message' && i.content.type === 'afspraak'),
    )
    const f = bs.timeline.find((i) => i.kind === 'message' && i.content.type === 'file')
    expect(f).toBeDefined()
    const got = await b.download(
      roomId,
      (f as Extract<TimelineItem, { kind: 'message' }>).content.body as never,
    )
    expect(Buffer.compare(got, file)).toBe(0)
    expect(RoomsClient.afspraken(bs.timeline)).toEqual([
      expect.objectContaining({ what: 'Huisbezoek', who: 'Carla (JGZ)', due: '2026-12-01' }),
    ])
    await b.markRead(roomId, bs.cursor)
    expect(await a.reads(roomId)).toEqual([{ memberId: bert.userId, seq: bs.cursor }])
  })
})
