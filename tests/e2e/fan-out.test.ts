/**
 * Cross-process fan-out when someone subscribes at the wrong moment: Anna (process 1)
 * sends; at the instant her message is committed, another member's client subscribes to
 * the room on process 2 (exactly what the SDK does on every connect and reconnect). Bert,
 * already subscribed on process 2, must still get the message in real time, not only
 * when the next message happens to arrive.
 */
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoomsClient } from '@vs/client/rooms'
import { WS_AUTH_PREFIX, WS_SUBPROTOCOL } from '@vs/protocol'
import { startCluster, type Cluster } from './helpers/cluster.js'
import { enrolCoordinator, makeMembers, sleep, type Member } from './helpers/people.js'

const ROUNDS = 50
const SUBSCRIBERS = 4
const DELIVERY_MS = 2_000

describe('cross-process fan-out while others subscribe', () => {
  let cluster: Cluster
  let members: Member[]
  const clients: RoomsClient[] = []

  beforeAll(async () => {
    cluster = await startCluster({ processes: 2 })
    const [p1, p2] = cluster.apis
    const coordinator = await enrolCoordinator(p1!.url, cluster.coordinatorCode)
    members = await makeMembers(p1!.url, coordinator, [
      { name: 'Anna', baseUrl: p1!.url },
      { name: 'Bert', baseUrl: p2!.url },
      { name: 'Carla', baseUrl: p2!.url },
    ])
  }, 40_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await cluster?.close()
  })

  it('delivers a message from the other process to a subscriber while someone else subscribes on its process', async () => {
    const [anna, bert, carla] = members as [Member, Member, Member]
    const a = new RoomsClient(anna.host)
    const b = new RoomsClient(bert.host)
    clients.push(a, b)
    const roomId = await a.create({
      kind: 'case',
      members: [{ userId: bert.userId }, { userId: carla.userId }],
    })
    const bs = await b.open(roomId)
    await Promise.all([a.connection.waitOpen(), b.connection.waitOpen()])
    const wsUrl = cluster.apis[1]!.url.replace(/^http/, 'ws') + '/ws'

    for (let round = 0; round < ROUNDS; round++) {
      // Carla's clients, connected to process 2 but not yet subscribed; several, so that
      // one of them lands in the moment between the commit and process 2's NOTIFY.
      const sockets = await Promise.all(
        Array.from({ length: SUBSCRIBERS }, async () => {
          const ws = new WebSocket(wsUrl, [WS_SUBPROTOCOL, WS_AUTH_PREFIX + carla.host.token])
          await new Promise<void>((resolve, reject) => {
            ws.once('open', () => resolve())
            ws.once('error', reject)
          })
          return ws
        }),
      )
      try {
        const seq = await a.sendText(roomId, `ronde ${round}`)
        // Anna's ack means committed; process 2's NOTIFY is on its way: subscribe now.
        const sub = JSON.stringify({ t: 'sub', rooms: { [roomId]: 0 } })
        sockets.forEach((ws, i) => (i % 2 ? setImmediate(() => ws.send(sub)) : ws.send(sub)))
        const end = Date.now() + DELIVERY_MS
        while (bs.cursor < seq && Date.now() < end) await sleep(10)
        expect(
          bs.cursor,
          `round ${round}: Bert (process 2) did not get seq ${seq} within ${DELIVERY_MS} ms`,
        ).toBeGreaterThanOrEqual(seq)
      } finally {
        for (const ws of sockets) ws.close()
      }
    }
  }, 60_000)
})
