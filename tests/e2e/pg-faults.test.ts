/**
 * PostgreSQL killed with SIGKILL mid-conversation loses no acknowledged message and
 * duplicates none. The database runs on a private PostgreSQL server made for this file
 * (helpers/pg-cluster.ts: initdb in a temporary directory, 127.0.0.1 on a free port, fsync
 * on), never on the server the other suites share. Two API processes use it; three
 * members send at a steady rate through them; mid-way the postmaster and every backend
 * get SIGKILL, stay dead for a moment while the members keep sending, and PostgreSQL is
 * started again (crash recovery). The API processes are not restarted: their pools and
 * their LISTEN connections must find the database again on their own, and the SDK must
 * resend every send the server could not store, with the same idempotency key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import type { RoomsClient } from '@vs/client/rooms'
import { startCluster, type Cluster } from './helpers/cluster.js'
import { createPgCluster, type PgCluster } from './helpers/pg-cluster.js'
import { roomHead, sleep, within, type Member } from './helpers/people.js'
import { enrolAnnaBertCarla, ms, openSteady, type Sender } from './helpers/steady.js'

/** Per member; three members make ~20 messages a second. */
const INTERVAL_MS = 150
const SEND_FOR_MS = 7_000
const KILL_AT_MS = 2_500
/** How long PostgreSQL stays dead before it is started again. */
const DOWN_MS = 1_500
const READY_POLL_MS = 100

/** What watchWire records of one client. */
interface Wire {
  /** Idempotency key of each acknowledged send, by the seq it was stored at. */
  idemBySeq: Map<number, string>
  /** Every `send` frame put on the wire, by frame id: how often, with which keys. */
  frames: Map<string, { count: number; idems: Set<string> }>
  /** Error frames the server answered sends with, by code. */
  errors: Map<string, number>
}

/** Records what the SDK puts on the wire and which key each acknowledged send carried. */
function watchWire(client: RoomsClient): Wire {
  const idemBySeq = new Map<number, string>()
  const frames = new Map<string, { count: number; idems: Set<string> }>()
  const conn = client.connection
  const send = conn.send.bind(conn)
  conn.send = (room, idem, ...rest) =>
    send(room, idem, ...rest).then((r) => {
      idemBySeq.set(r.seq, idem)
      return r
    })
  // The SDK's private frame writer: every send and resend goes through it.
  const internals = conn as unknown as { raw: (frame: unknown) => void }
  const raw = internals.raw.bind(conn)
  internals.raw = (frame) => {
    const f = frame as { t?: string; id?: string; idem?: string }
    if (f.t === 'send' && f.id && f.idem) {
      const seen = frames.get(f.id) ?? { count: 0, idems: new Set<string>() }
      seen.count++
      seen.idems.add(f.idem)
      frames.set(f.id, seen)
    }
    raw(frame)
  }
  const errors = new Map<string, number>()
  const onFrame = (conn as unknown as { onFrame: (f: unknown) => void }).onFrame.bind(conn)
  ;(conn as unknown as { onFrame: (f: unknown) => void }).onFrame = (frame) => {
    const f = frame as { t?: string; code?: string }
    if (f.t === 'err' && f.code) errors.set(f.code, (errors.get(f.code) ?? 0) + 1)
    onFrame(frame)
  }
  return { idemBySeq, frames, errors }
}

describe('PostgreSQL killed with SIGKILL mid-conversation and started again', () => {
  let pgServer: PgCluster | undefined
  let cluster: Cluster | undefined
  let members: Member[]
  const clients: RoomsClient[] = []

  const setup: string[] = []
  beforeAll(async () => {
    let t = Date.now()
    const lap = (what: string) => {
      setup.push(`${what} ${Date.now() - t} ms`)
      t = Date.now()
    }
    pgServer = await createPgCluster()
    lap('initdb and start')
    cluster = await startCluster({ processes: 2, serverUrl: pgServer.url })
    lap('migrate and two API processes')
    members = await enrolAnnaBertCarla(cluster, 1)
    lap('people')
  }, 50_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    try {
      await cluster?.close()
    } finally {
      await pgServer?.cleanup()
    }
  })

  it('loses no acknowledged message, duplicates none, the SDK resends what the database refused, and both processes recover without a restart', async () => {
    const pgs = pgServer!
    const cl = cluster!
    const bert = members[1]!
    const pids = cl.apis.map((a) => a.child.pid)

    const steady = await openSteady(
      bert,
      members,
      'Gezin Merel',
      clients,
      { intervalMs: INTERVAL_MS, sendForMs: SEND_FOR_MS },
      watchWire,
    )
    const { roomId, senders } = steady
    const t0 = steady.t0

    // /readyz of both processes, all along.
    const ready: { api: number; at: number; status: number }[] = []
    let polling = true
    const poller = (async () => {
      while (polling) {
        await Promise.all(
          cl.apis.map(async (a, api) => {
            const at = Date.now()
            const status = await fetch(`${a.url}/readyz`, { signal: AbortSignal.timeout(2_000) })
              .then((r) => r.status)
              .catch(() => 0)
            ready.push({ api, at, status })
          }),
        )
        await sleep(READY_POLL_MS)
      }
    })()

    // The fault: SIGKILL to the postmaster and all its backends while sends are on the
    // wire and in the writers' batches; dead for DOWN_MS; then crash recovery.
    let killedAt = 0
    let restartingAt = 0
    let upAt = 0
    let outageHttpStatus = 0
    const fault = (async () => {
      await sleep(KILL_AT_MS)
      await pgs.kill9()
      killedAt = Date.now()
      // An ordinary request while the database is gone: an error, not a hang.
      const res = await fetch(`${cl.apis[1]!.url}/api/v1/rooms`, {
        headers: { authorization: `Bearer ${bert.host.token}` },
        signal: AbortSignal.timeout(5_000),
      })
      outageHttpStatus = res.status
      await sleep(DOWN_MS - (Date.now() - killedAt))
      restartingAt = Date.now()
      await pgs.restart()
      upAt = Date.now()
    })()

    try {
      await steady.run(fault, 30_000)
    } catch (err) {
      const sdk = senders.map(
        (s) =>
          `${s.member.name}: socket ${s.client.connection.isOpen ? 'open' : 'closed'}, ` +
          `opens ${s.client.connection.opens}, errors ${JSON.stringify(Object.fromEntries(s.errors))}`,
      )
      throw new Error(
        `${(err as Error).message}\n--- SDK ---\n${sdk.join('\n')}\n` +
          `--- API output ---\n${cl.output().slice(-4_000)}\n` +
          `--- PostgreSQL log ---\n${pgs.log().slice(-4_000)}`,
        { cause: err },
      )
    }
    const allAckedAt = Date.now()

    // The last word goes through process 1 only. Process 2 learns of it from NOTIFY alone
    // (nobody on process 2 sends after it), so Bert sees it only if process 2's LISTEN
    // connection came back after the restart.
    steady.sendOne(senders[0]!, 'last word')
    await within(Promise.all(steady.sends), 10_000, () => 'the last word acknowledged')
    const head = await roomHead(bert.host, roomId)
    await steady.converge(head, 10_000)
    polling = false
    await poller

    // Every send acknowledged, at the seq that holds its text, in every member's timeline.
    const attempted = steady.expectEverySendStoredOnce(head)

    // The database after crash recovery: seqs 1…head once each, no idempotency key twice,
    // and every acknowledged send at its seq with the key it was sent with.
    const db = new pg.Client({ connectionString: cl.databaseUrl })
    await db.connect()
    try {
      const rows = (
        await db.query<{
          seq: number
          kind: string
          sender_id: string
          sender_device: string
          idem_key: string
        }>(
          'select seq::int as seq, kind, sender_id, sender_device, idem_key from room_events where room_id = $1 order by seq',
          [roomId],
        )
      ).rows
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1))
      const keys = rows.map((r) => `${r.sender_id}/${r.sender_device}/${r.idem_key}`)
      expect(keys.length - new Set(keys).size).toBe(0)
      expect(rows.filter((r) => r.kind === 'message')).toHaveLength(attempted.length + 1)
      const room = await db.query<{ last_seq: number }>(
        'select last_seq::int as last_seq from rooms where id = $1',
        [roomId],
      )
      expect(room.rows[0]?.last_seq).toBe(head)
      for (const s of senders)
        for (const [seq, idem] of s.idemBySeq) {
          const row = rows[seq - 1]!
          expect(row.idem_key, `${s.member.name} seq ${seq}`).toBe(idem)
          expect(row.sender_id, `${s.member.name} seq ${seq}`).toBe(s.member.userId)
        }
    } finally {
      await db.end()
    }

    // The crash was real: PostgreSQL recovered from its WAL, not from a clean shutdown.
    expect(pgs.log()).toMatch(/not properly shut down; automatic recovery in progress/)

    // Sends made while PostgreSQL was dead were refused by the server, resent by the SDK
    // with the same idempotency key, and acknowledged once it was back.
    const duringOutage = senders.flatMap((s) =>
      s.attempted
        .filter((a) => a.at >= killedAt && a.at < restartingAt)
        .map((a) => ({ s, text: a.text, ack: s.acked.get(a.text)! })),
    )
    expect(duringOutage.length).toBeGreaterThan(0)
    for (const { text, ack } of duringOutage)
      expect(ack.at, text).toBeGreaterThanOrEqual(restartingAt)
    for (const s of senders)
      expect(
        [...s.errors.keys()].filter((c) => c !== 'VS_UNAVAILABLE'),
        s.member.name,
      ).toEqual([])
    expect(senders.reduce((n, s) => n + (s.errors.get('VS_UNAVAILABLE') ?? 0), 0)).toBeGreaterThan(
      0,
    )
    const resentFrames = senders.flatMap((s) => [...s.frames.values()].filter((f) => f.count > 1))
    expect(resentFrames.length).toBeGreaterThanOrEqual(duringOutage.length)
    for (const f of resentFrames) expect(f.idems.size).toBe(1)
    const idemOf = (s: Sender & Wire, text: string) => s.idemBySeq.get(s.acked.get(text)!.seq)!
    for (const { s, text } of duringOutage) {
      const frame = [...s.frames.values()].find((f) => f.idems.has(idemOf(s, text)))
      expect(frame?.count, `${text} sent more than once`).toBeGreaterThan(1)
    }

    // Readiness: 200 before the kill, 503 on both processes while the database was gone,
    // 200 again after the restart; neither process exited or was restarted.
    expect(outageHttpStatus).toBeGreaterThanOrEqual(500)
    for (const api of [0, 1]) {
      const mine = ready.filter((r) => r.api === api)
      expect(
        mine.some((r) => r.at < killedAt && r.status === 200),
        `process ${api + 1} ready before`,
      ).toBe(true)
      expect(
        mine.some((r) => r.at >= killedAt && r.at < restartingAt && r.status === 503),
        `process ${api + 1} not ready during the outage`,
      ).toBe(true)
      expect(
        mine.some((r) => r.at >= upAt && r.status === 200),
        `process ${api + 1} ready after`,
      ).toBe(true)
      expect(mine.at(-1)?.status, `process ${api + 1} ready at the end`).toBe(200)
      expect(mine.every((r) => r.status === 200 || r.status === 503)).toBe(true)
    }
    expect(cl.apis.map((a) => a.child.pid)).toEqual(pids)
    for (const a of cl.apis) expect(a.child.exitCode).toBeNull()

    const firstReadyAfter = [0, 1].map(
      (api) => ready.find((r) => r.api === api && r.at >= restartingAt && r.status === 200)?.at,
    )
    console.log(
      [
        `pg-faults: ${attempted.length} messages attempted over ${ms(SEND_FOR_MS)}, all stored once; ` +
          `PostgreSQL killed at ${ms(killedAt - t0)}, dead for ${ms(restartingAt - killedAt)}, ` +
          `crash recovery until accepting queries ${ms(upAt - restartingAt)}`,
        `made during the outage: ${duringOutage.length}; frames resent with the same key: ${resentFrames.length}; ` +
          `acks answering a resend as duplicate: ${steady.perSender((s) => s.acks.duplicates)}`,
        `/readyz 200 again ${firstReadyAfter.map((at) => (at ? ms(at - restartingAt) : '?')).join(' / ')} after the restart began; ` +
          `last ack ${ms(allAckedAt - upAt)} after PostgreSQL was up; HTTP during the outage: ${outageHttpStatus}; ` +
          `VS_UNAVAILABLE answers: ${steady.perSender((s) => s.errors.get('VS_UNAVAILABLE') ?? 0)}; ` +
          `socket opens: ${steady.perSender((s) => s.client.connection.opens)}`,
        `setup: ${setup.join(', ')}`,
      ].join('\n'),
    )
  }, 55_000)
})
