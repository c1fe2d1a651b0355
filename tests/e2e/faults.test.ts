/**
 * A crashed API process loses no acknowledged message and duplicates none: three members
 * send at a steady rate through two processes on one PostgreSQL; process 1 is killed with
 * SIGKILL mid-way (no drain, no goodbye to the sockets) and started again on the same
 * port. The SDK reconnects to the same base URL, replays from its cursor and resends what
 * was not acknowledged, with the same idempotency key.
 *
 * PostgreSQL itself is killed and restarted in pg-faults.test.ts, on a private server: the
 * one this file uses is shared with every other suite on this machine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoomsClient, type RoomSession } from '@vs/client/rooms'
import { randomId } from '@vs/crypto'
import { startCluster, type Cluster } from './helpers/cluster.js'
import {
  countAcks,
  enrolCoordinator,
  makeMembers,
  roomHead,
  sleep,
  until,
  within,
  type Member,
} from './helpers/people.js'
import { describeItem, textsOf, timelineProblems } from './helpers/timeline.js'

/** Per member; three members make ~20 messages a second. */
const INTERVAL_MS = 150
const SEND_FOR_MS = 8_000
const KILL_AT_MS = 3_000
/** Sends Anna and Carla each fire at process 1 just before it is killed. */
const BURST = 10

interface Sender {
  member: Member
  client: RoomsClient
  session: RoomSession
  attempted: { text: string; at: number }[]
  acked: Map<string, { seq: number; at: number }>
  acks: { acks: number; duplicates: number }
}

describe('an API process killed with SIGKILL mid-conversation', () => {
  let cluster: Cluster
  let members: Member[]
  const clients: RoomsClient[] = []

  beforeAll(async () => {
    cluster = await startCluster({ processes: 2 })
    const [p1, p2] = cluster.apis
    const coordinator = await enrolCoordinator(p2!.url, cluster.coordinatorCode)
    members = await makeMembers(p2!.url, coordinator, [
      { name: 'Anna', baseUrl: p1!.url },
      { name: 'Bert', baseUrl: p2!.url },
      { name: 'Carla', baseUrl: p1!.url },
    ])
  }, 40_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await cluster?.close()
  })

  it('loses no acknowledged message, duplicates none, and the SDK delivers every unacknowledged send after the restart', async () => {
    const [anna, bert, carla] = members as [Member, Member, Member]
    // Bert (on the surviving process) opens the room.
    const bertClient = new RoomsClient(bert.host)
    clients.push(bertClient)
    const roomId = await bertClient.create({
      kind: 'case',
      label: 'Gezin Merel',
      members: [{ userId: anna.userId }, { userId: carla.userId }],
    })
    const senders: Sender[] = []
    for (const member of [anna, bert, carla]) {
      const client = member === bert ? bertClient : new RoomsClient(member.host)
      if (client !== bertClient) clients.push(client)
      const session = await client.open(roomId)
      await client.connection.waitOpen()
      senders.push({
        member,
        client,
        session,
        attempted: [],
        acked: new Map(),
        acks: countAcks(client),
      })
    }

    const t0 = Date.now()
    const sends: Promise<void>[] = []
    const sendOne = (s: Sender, label: string): void => {
      const text = `${s.member.name} ${label} ${randomId().slice(0, 8)}`
      s.attempted.push({ text, at: Date.now() })
      sends.push(
        s.client.sendText(roomId, text).then((seq) => {
          s.acked.set(text, { seq, at: Date.now() })
        }),
      )
    }

    // The crash: Anna and Carla fire a burst at process 1 and it is killed a few
    // milliseconds later, so sends are on the wire, in the server's batch or committed
    // without their ack having left; then it starts again on the same port.
    let killedAt = 0
    let restartedAt = 0
    const fault = (async () => {
      await sleep(KILL_AT_MS)
      for (let i = 0; i < BURST; i++)
        for (const s of senders) if (s.member !== bert) sendOne(s, `burst ${i}`)
      await sleep(5)
      const port = cluster.apis[0]!.port
      await cluster.kill(0)
      killedAt = Date.now()
      const api = await cluster.restart(0)
      restartedAt = Date.now()
      expect(api.port).toBe(port)
    })()

    // Steady sending, not waiting for acks: sends made while process 1 is down wait in
    // the SDK and go out when it reconnects.
    const sendSteadily = async (s: Sender): Promise<void> => {
      await sleep(Math.random() * INTERVAL_MS)
      for (let i = 0; Date.now() - t0 < SEND_FOR_MS; i++) {
        sendOne(s, `#${i}`)
        await sleep(INTERVAL_MS)
      }
    }
    await within(
      Promise.all([fault, ...senders.map(sendSteadily)]).then(() => Promise.all(sends)),
      40_000,
      () =>
        `every send acknowledged (attempted/acked: ${senders.map((s) => `${s.member.name} ${s.attempted.length}/${s.acked.size}`).join(', ')})`,
    )
    const allAckedAt = Date.now()

    const head = await roomHead(bert.host, roomId)
    await until(
      () => senders.every((s) => s.session.cursor >= head),
      15_000,
      () =>
        `every member at seq ${head} (${senders.map((s) => `${s.member.name} ${s.session.cursor}`).join(', ')})`,
    )

    // The room holds exactly what was attempted: genesis, label, and each send once.
    const attempted = senders.flatMap((s) => s.attempted.map((a) => a.text))
    expect(head).toBe(attempted.length + 2)
    const reference = senders[0]!.session.timeline.map(describeItem)
    for (const s of senders) {
      expect(timelineProblems(s.session, head), s.member.name).toEqual([])
      expect(s.session.timeline.map(describeItem), s.member.name).toEqual(reference)
    }
    const texts = textsOf(senders[0]!.session.timeline)
    expect(texts.map((t) => t.text).sort()).toEqual([...attempted].sort())
    const bySeq = new Map(texts.map((t) => [t.seq, t.text]))
    for (const s of senders) {
      expect(s.acked.size, s.member.name).toBe(s.attempted.length)
      for (const [text, { seq }] of s.acked) expect(bySeq.get(seq), text).toBe(text)
    }

    // The crash really hit traffic: Anna and Carla (on process 1) had sends out before the
    // kill that were acknowledged only after the restart, so the SDK resent them; their
    // sockets reopened; Bert on process 2 kept going during the outage.
    const resent = senders
      .filter((s) => s.member !== bert)
      .flatMap((s) => s.attempted.filter((a) => a.at < killedAt))
      .filter((a) => {
        const ack = senders.map((s) => s.acked.get(a.text)).find(Boolean)
        return ack !== undefined && ack.at >= restartedAt
      })
    const madeDuringOutage = senders
      .filter((s) => s.member !== bert)
      .flatMap((s) => s.attempted.filter((a) => a.at >= killedAt && a.at < restartedAt))
    expect(madeDuringOutage.length + resent.length).toBeGreaterThan(0)
    for (const s of senders.filter((x) => x.member !== bert))
      expect(s.client.connection.opens, s.member.name).toBeGreaterThan(1)
    const bertDuringOutage = [...senders[1]!.acked.values()].filter(
      (a) => a.at > killedAt && a.at < restartedAt,
    )
    expect(bertDuringOutage.length).toBeGreaterThan(0)

    const ms = (n: number) => `${Math.round(n)} ms`
    console.log(
      [
        `faults: ${attempted.length} messages attempted over ${ms(SEND_FOR_MS)}, all stored once; ` +
          `process 1 down for ${ms(restartedAt - killedAt)} (kill at ${ms(killedAt - t0)})`,
        `sent before the kill and acknowledged only after the restart: ${resent.length}; ` +
          `made during the outage: ${madeDuringOutage.length}; ` +
          `acks answering a resend as duplicate: ${senders.map((s) => `${s.member.name} ${s.acks.duplicates}`).join(', ')}`,
        `last ack ${ms(allAckedAt - restartedAt)} after the restart; ` +
          `socket opens: ${senders.map((s) => `${s.member.name} ${s.client.connection.opens}`).join(', ')}`,
      ].join('\n'),
    )
  }, 60_000)
})
