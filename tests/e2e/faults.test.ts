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
import type { RoomsClient } from '@vs/client/rooms'
import { startCluster, type Cluster } from './helpers/cluster.js'
import { roomHead, sleep, type Member } from './helpers/people.js'
import { enrolAnnaBertCarla, ms, openSteady } from './helpers/steady.js'

/** Per member; three members make ~20 messages a second. */
const INTERVAL_MS = 150
const SEND_FOR_MS = 8_000
const KILL_AT_MS = 3_000
/** Sends Anna and Carla each fire at process 1 just before it is killed. */
const BURST = 10

describe('an API process killed with SIGKILL mid-conversation', () => {
  let cluster: Cluster
  let members: Member[]
  const clients: RoomsClient[] = []

  beforeAll(async () => {
    cluster = await startCluster({ processes: 2 })
    members = await enrolAnnaBertCarla(cluster, 1)
  }, 40_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await cluster?.close()
  })

  it('loses no acknowledged message, duplicates none, and the SDK delivers every unacknowledged send after the restart', async () => {
    const bert = members[1]!
    // Bert (on the surviving process) opens the room.
    const steady = await openSteady(bert, members, 'Gezin Merel', clients, {
      intervalMs: INTERVAL_MS,
      sendForMs: SEND_FOR_MS,
    })
    const { roomId, senders } = steady
    const t0 = steady.t0

    // The crash: Anna and Carla fire a burst at process 1 and it is killed a few
    // milliseconds later, so sends are on the wire, in the server's batch or committed
    // without their ack having left; then it starts again on the same port.
    let killedAt = 0
    let restartedAt = 0
    const fault = (async () => {
      await sleep(KILL_AT_MS)
      for (let i = 0; i < BURST; i++)
        for (const s of senders) if (s.member !== bert) steady.sendOne(s, `burst ${i}`)
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
    await steady.run(fault, 40_000)
    const allAckedAt = Date.now()

    const head = await roomHead(bert.host, roomId)
    await steady.converge(head, 15_000)

    // The room holds exactly what was attempted: genesis, label, and each send once.
    const attempted = steady.expectEverySendStoredOnce(head)

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

    console.log(
      [
        `faults: ${attempted.length} messages attempted over ${ms(SEND_FOR_MS)}, all stored once; ` +
          `process 1 down for ${ms(restartedAt - killedAt)} (kill at ${ms(killedAt - t0)})`,
        `sent before the kill and acknowledged only after the restart: ${resent.length}; ` +
          `made during the outage: ${madeDuringOutage.length}; ` +
          `acks answering a resend as duplicate: ${steady.perSender((s) => s.acks.duplicates)}`,
        `last ack ${ms(allAckedAt - restartedAt)} after the restart; ` +
          `socket opens: ${steady.perSender((s) => s.client.connection.opens)}`,
      ].join('\n'),
    )
  }, 60_000)
})
