/**
 * Two API processes behind deploy/Caddyfile (Caddy from Debian's package) on 127.0.0.1, one
 * PostgreSQL database, one KEYS_DIR and PUBLIC_URL: what compose and Kubernetes run, without
 * containers. Clients only ever talk to the proxy.
 *
 * - A client whose node stops mid-conversation moves to the other node and nothing is lost,
 *   duplicated or reordered (the SDK resubscribes from its cursors and resends unacknowledged
 *   messages with their idempotency keys; the other node got every event through NOTIFY).
 * - A rolling restart of both nodes under light load loses nothing, and every client moved.
 *
 * PostgreSQL: DATABASE_URL when set, else postgres://postgres@127.0.0.1:5432/postgres; a fresh
 * database per run, dropped afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cryptoReady } from '@vs/crypto'
import { RoomsClient, type RoomSession, type TimelineItem } from '@vs/client/rooms'
import { TestHost, createEmptyPostgresDb, freePort, http } from '@vs/api/testing'
import {
  ApiNode,
  Proxy,
  caddyBin,
  enrolAll,
  keygen,
  makeKeys,
  sleep,
  until,
  type Member,
} from './cluster.js'

const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

if (!caddyBin && process.env.CI) {
  throw new Error('caddy is missing: CI must `apt-get install -y caddy` (see .ci/run)')
}

interface Sent {
  text: string
  seq: number
}

function texts(items: readonly TimelineItem[]): { text: string; seq: number; gaps: number }[] {
  return items.flatMap((i) =>
    i.kind === 'message' && i.content.type === 'text'
      ? [{ text: (i.content.body as { text: string }).text, seq: i.seq, gaps: i.gaps }]
      : [],
  )
}

/** Every message exactly once, in one order for everyone, no sender gaps, no seq holes. */
function expectComplete(sessions: RoomSession[], sent: Sent[]): void {
  const want = [...sent].sort((a, b) => a.seq - b.seq)
  expect(new Set(want.map((s) => s.seq)).size).toBe(want.length)
  for (const s of sessions) {
    const got = texts(s.timeline)
    expect(got.map((g) => g.text)).toEqual(want.map((w) => w.text))
    expect(got.map((g) => g.seq)).toEqual(want.map((w) => w.seq))
    expect(got.every((g) => g.gaps === 0)).toBe(true)
    const seqs = s.timeline.map((i) => i.seq)
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    expect(seqs.at(-1)! - seqs[0]! + 1).toBe(seqs.length)
  }
}

describe.skipIf(!caddyBin)('two API nodes behind the reverse proxy', () => {
  let drop: (() => Promise<void>) | undefined
  let keysDir: string
  let env: Record<string, string>
  let nodes: ApiNode[] = []
  let proxy: Proxy | undefined
  const clients: RoomsClient[] = []
  let anna: Member, bert: Member, carla: Member

  const client = (m: Member) => {
    const c = new RoomsClient(m.host)
    clients.push(c)
    return c
  }

  /** Waits until the proxy sends new requests to `node` again (after a restart). */
  async function routedTo(node: ApiNode): Promise<void> {
    const before = await node.served('/healthz')
    await until(
      `proxy routes to ${node.name}`,
      async () => {
        await fetch(`${proxy!.url}/healthz`)
        return (await node.served('/healthz')) > before
      },
      20_000,
    )
  }

  async function totalConnections(): Promise<number[]> {
    return Promise.all(nodes.map((n) => n.wsConnections()))
  }

  beforeAll(async () => {
    await cryptoReady()
    const db = await createEmptyPostgresDb(serverUrl)
    drop = db.drop
    keysDir = await mkdtemp(path.join(tmpdir(), 'vs-keys-'))
    makeKeys(keysDir)
    const proxyPort = await freePort()
    const publicUrl = `http://127.0.0.1:${proxyPort}`
    env = {
      DATABASE_URL: db.url,
      KEYS_DIR: keysDir,
      PUBLIC_URL: publicUrl,
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_MAX: '100000',
    }
    nodes = [new ApiNode('A', await freePort(), env), new ApiNode('B', await freePort(), env)]
    // Both replicas start at once on an empty database: the migration lock keeps that safe.
    await Promise.all(nodes.map((n) => n.start()))
    proxy = await Proxy.start(
      proxyPort,
      nodes.map((n) => n.port),
    )
    for (const n of nodes) await routedTo(n)
    const people = await enrolAll(env, publicUrl, ['Anna', 'Bert', 'Carla'])
    ;[anna, bert, carla] = people as [Member, Member, Member]
  }, 90_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await Promise.all(nodes.map((n) => n.stop()))
    await proxy?.stop()
    await drop?.()
    if (keysDir) await rm(keysDir, { recursive: true, force: true })
  })

  it('moves a client to the other node mid-conversation without losing a message', async () => {
    const a = client(anna)
    const b = client(bert)
    const roomId = await a.create({
      kind: 'case',
      members: [{ userId: bert.userId }, { userId: carla.userId }],
    })
    const [as, bs] = await Promise.all([a.open(roomId), b.open(roomId)])
    await Promise.all([a.connection.waitOpen(), b.connection.waitOpen()])
    await until(
      'both sockets counted',
      async () => (await totalConnections()).reduce((x, y) => x + y) >= 2,
    )
    const sent: Sent[] = []
    const talk = async (c: RoomsClient, who: string, from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const text = `${who} ${i}`
        sent.push({ text, seq: await c.sendText(roomId, text) })
        await sleep(15)
      }
    }
    await Promise.all([talk(a, 'anna', 0, 10), talk(b, 'bert', 0, 10)])

    // Stop the node holding a socket while both keep talking.
    const counts = await totalConnections()
    const victim = nodes[counts[0]! > 0 ? 0 : 1]!
    const other = nodes.find((n) => n !== victim)!
    const opens = [a.connection.opens, b.connection.opens]
    const talking = Promise.all([talk(a, 'anna', 10, 30), talk(b, 'bert', 10, 30)])
    await sleep(100)
    expect(await victim.stop()).toBe(0)
    await talking

    // Whoever was on the stopped node reconnected through the proxy to the other one.
    const moved = [a, b].filter((c, i) => c.connection.opens > opens[i]!)
    expect(moved.length).toBeGreaterThan(0)
    await until(
      'all sockets on the surviving node',
      async () => (await other.wsConnections()) === 2,
    )
    await until('everything delivered', () =>
      [as, bs].every((s) => texts(s.timeline).length === sent.length),
    )
    expectComplete([as, bs], sent)
    // A member who was offline throughout reads the same history from the surviving node.
    const late = client(carla)
    expectComplete([await late.open(roomId)], sent)
    late.close()

    await victim.start()
    await routedTo(victim)
  }, 60_000)

  it('loses nothing in a rolling restart of both nodes under light load', async () => {
    const a = client(anna)
    const b = client(bert)
    const c = client(carla)
    const room1 = await a.create({
      kind: 'case',
      members: [{ userId: bert.userId }, { userId: carla.userId }],
    })
    const room2 = await b.create({ kind: 'case', members: [{ userId: carla.userId }] })
    const sessions = {
      room1: await Promise.all([a.open(room1), b.open(room1), c.open(room1)]),
      room2: await Promise.all([b.open(room2), c.open(room2)]),
    }
    await Promise.all([a, b, c].map((x) => x.connection.waitOpen()))
    const opens = [a, b, c].map((x) => x.connection.opens)
    const sent: Record<'room1' | 'room2', Sent[]> = { room1: [], room2: [] }

    // Light load: three people writing every ~40 ms, and someone listing rooms over HTTP.
    let running = true
    const writer = async (x: RoomsClient, who: string, room: 'room1' | 'room2', id: string) => {
      for (let i = 0; running && i < 400; i++) {
        const text = `${who} ${room} ${i}`
        sent[room].push({ text, seq: await x.sendText(id, text) })
        await sleep(40)
      }
    }
    // A request that races a node's shutdown may get 503 ("closing", nothing was done): the
    // poller retries such a request once, as an idempotent client should. Until the planned
    // drain (/readyz 503 before closing) lands, that retry is what keeps reads whole.
    const firstTry: number[] = []
    const failed: number[] = []
    let httpOk = 0
    const listRooms = () => http(proxy!.url, 'GET', '/api/v1/rooms', undefined, anna.host.token)
    const status = (err: unknown) => (err as { status?: number }).status ?? 0
    const poller = async () => {
      for (let i = 0; running && i < 2000; i++) {
        try {
          await listRooms()
          httpOk++
        } catch (err) {
          firstTry.push(status(err))
          await sleep(200)
          await listRooms().then(
            () => httpOk++,
            (e: unknown) => failed.push(status(e)),
          )
        }
        await sleep(50)
      }
    }
    const load = Promise.all([
      writer(a, 'anna', 'room1', room1),
      writer(b, 'bert', 'room1', room1),
      writer(c, 'carla', 'room2', room2),
      poller(),
    ])

    for (const node of nodes) {
      await sleep(500)
      expect(await node.restart()).toBe(0)
      await routedTo(node)
    }
    await sleep(500)
    running = false
    await load

    await until('everything delivered', () =>
      [
        ...sessions.room1.map((s) => [s, sent.room1] as const),
        ...sessions.room2.map((s) => [s, sent.room2] as const),
      ].every(([s, want]) => texts(s.timeline).length === want.length),
    )
    expectComplete(sessions.room1, sent.room1)
    expectComplete(sessions.room2, sent.room2)
    expect(sent.room1.length + sent.room2.length).toBeGreaterThan(50)
    // Both nodes restarted, so every client had to move at least once.
    ;[a, b, c].forEach((x, i) => expect(x.connection.opens).toBeGreaterThan(opens[i]!))
    expect(httpOk).toBeGreaterThan(20)
    expect(failed).toEqual([])
    expect(firstTry.every((s) => s === 503)).toBe(true)
  }, 60_000)

  it('rotates the token-signing key across both nodes with overlap: no token is refused', async () => {
    const kid = (jwt: string) =>
      (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
    const [first, second] = nodes as [ApiNode, ApiNode]
    const oldToken = anna.host.token
    const rooms = (node: ApiNode, token: string) =>
      http<unknown[]>(node.url, 'GET', '/api/v1/rooms', undefined, token)
    const refresh = async (node: ApiNode) => {
      const s = await http<{ accessToken: string; refreshToken: string }>(
        node.url,
        'POST',
        '/api/v1/auth/refresh',
        { refreshToken: anna.session.refreshToken },
      )
      anna.session = { ...anna.session, ...s }
      return s.accessToken
    }

    // Step 1: every node learns the new key; nothing signs with it yet.
    keygen('add', keysDir)
    await first.restart()
    await second.restart()
    expect(kid(await refresh(second))).toBe(kid(oldToken))

    // Step 2: the new key signs, one node at a time. A token from a node that already signs
    // with it is accepted by the node that does not yet, and the old tokens everywhere.
    keygen('promote', keysDir)
    await first.restart()
    const fresh = await refresh(first)
    expect(kid(fresh)).not.toBe(kid(oldToken))
    await rooms(second, fresh)
    await rooms(first, oldToken)
    await second.restart()
    for (const node of nodes) {
      await rooms(node, fresh)
      await rooms(node, oldToken)
    }
    // And a realtime client with the new token works through the proxy.
    const c = client({
      ...anna,
      host: new TestHost(proxy!.url, anna.userId, anna.host.device(), fresh),
    })
    await c.connection.waitOpen()
    expect((await c.list()).length).toBeGreaterThan(0)
  }, 60_000)
})
