/**
 * An open WebSocket must not keep its HTTP upgrade request alive: the request holds every
 * header (the access token among them), and with Fastify's request, reply and child logger
 * it made an idle connection cost about three times a bare `ws` one (docs/benchmarks.md).
 */
import type { IncomingMessage } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { WS_AUTH_PREFIX, WS_SUBPROTOCOL } from '@vs/protocol'
import { collectGarbage, listenTestApp, makePerson, type Person } from './helpers/index.js'

describe('realtime memory', () => {
  let t: Awaited<ReturnType<typeof listenTestApp>>
  let anna: Person
  const upgrades: Array<WeakRef<IncomingMessage>> = []

  beforeAll(async () => {
    t = await listenTestApp()
    anna = await makePerson(t.ctx, t.url, { name: 'Anna (verloskundige)' })
    t.app.server.on('upgrade', (req: IncomingMessage) => upgrades.push(new WeakRef(req)))
  })
  afterAll(() => t.close())

  it('lets go of the upgrade request once the socket is open, and still answers on it', async () => {
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws`, [
      WS_SUBPROTOCOL,
      `${WS_AUTH_PREFIX}${anna.session.accessToken}`,
    ])
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const pong = new Promise<string>((resolve) =>
      ws.once('message', (d: Buffer) => resolve(d.toString())),
    )
    ws.send(JSON.stringify({ t: 'ping' }))
    expect(JSON.parse(await pong)).toEqual({ t: 'pong' })
    expect(upgrades).toHaveLength(1)
    await collectGarbage()
    expect(upgrades[0]!.deref()).toBeUndefined()
    // The socket is still served after the collection.
    const again = new Promise<string>((resolve) =>
      ws.once('message', (d: Buffer) => resolve(d.toString())),
    )
    ws.send(JSON.stringify({ t: 'ping' }))
    expect(JSON.parse(await again)).toEqual({ t: 'pong' })
    ws.close()
  })
})
