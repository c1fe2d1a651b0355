/**
 * When the LISTEN connection is lost and comes back, the notifications sent meanwhile are
 * gone. `Realtime.resync` (run on every reconnect) must catch subscribers up with what
 * another process committed, take sockets out of rooms their user may no longer see, and
 * close the sockets of sessions that ended elsewhere.
 */
import WebSocket from 'ws'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoomsClient } from '@vs/client/rooms'
import { CloseCode, WS_AUTH_PREFIX, WS_SUBPROTOCOL } from '@vs/protocol'
import { createLogger } from '../src/logger.js'
import { RoomWriter } from '../src/rooms/writer.js'
import { listenTestApp, makePerson, until, type Person, type TestApp } from './helpers/index.js'

interface Socket {
  ws: WebSocket
  frames: { t: string; room?: string; seq?: number }[]
  closed: Promise<number>
}

function open(url: string, token: string): Promise<Socket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', [
    WS_SUBPROTOCOL,
    WS_AUTH_PREFIX + token,
  ])
  const frames: Socket['frames'] = []
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Socket['frames'][number]))
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, frames, closed }))
    ws.once('error', reject)
  })
}

describe('resync after a lost notification connection', () => {
  let t: TestApp & { url: string }
  let anna: Person, bert: Person
  let roomId: string

  beforeAll(async () => {
    t = await listenTestApp()
    anna = await makePerson(t.ctx, t.url, { name: 'Anna' })
    bert = await makePerson(t.ctx, t.url, { name: 'Bert' })
    const rooms = new RoomsClient(anna.host, { realtime: false })
    roomId = await rooms.create({ kind: 'case', members: [{ userId: bert.userId }] })
    rooms.close()
  })
  afterAll(async () => t.close())

  it('delivers what another process committed while the notification was lost', async () => {
    const s = await open(t.url, bert.session.accessToken)
    s.ws.send(JSON.stringify({ t: 'sub', rooms: { [roomId]: 0 } }))
    await until(() => s.frames.some((f) => f.t === 'ev' && f.seq === 1))
    // "Another process": stores Anna's message and announces it to nobody.
    const elsewhere = new RoomWriter(t.ctx.db, createLogger('silent'), () => {})
    const o = await elsewhere.send({
      roomId,
      kind: 'message',
      senderId: anna.userId,
      senderDevice: anna.device.deviceId,
      idem: 'lost-notification-1',
      body: new Uint8Array([1, 2, 3]),
    })
    await elsewhere.close()
    expect(o).toMatchObject({ ok: true, seq: 2 })
    await new Promise((r) => setTimeout(r, 300))
    expect(s.frames.some((f) => f.t === 'ev' && f.seq === 2)).toBe(false)
    await t.app.realtime.resync()
    await until(() => s.frames.some((f) => f.t === 'ev' && f.seq === 2))
    expect(s.frames.filter((f) => f.t === 'ev').map((f) => f.seq)).toEqual([1, 2])
    s.ws.close()
  })

  it('takes a socket out of a room it may no longer see, and leaves the others', async () => {
    const gone = await open(t.url, bert.session.accessToken)
    const stays = await open(t.url, anna.session.accessToken)
    for (const s of [gone, stays]) {
      s.ws.send(JSON.stringify({ t: 'sub', rooms: { [roomId]: 0 } }))
      await until(() => s.frames.some((f) => f.t === 'subscribed'))
    }
    // Access lost with nothing announced to this process (as when an advisor is removed
    // from a desk while the notification connection is down).
    await t.ctx.db.db
      .deleteFrom('room_members')
      .where('room_id', '=', roomId)
      .where('member_id', '=', bert.userId)
      .execute()
    await t.app.realtime.resync()
    await until(() => gone.frames.some((f) => f.t === 'removed' && f.room === roomId))
    await new Promise((r) => setTimeout(r, 200))
    expect(stays.frames.some((f) => f.t === 'removed')).toBe(false)
    expect(gone.ws.readyState).toBe(WebSocket.OPEN)
    for (const s of [gone, stays]) s.ws.close()
  })

  it('closes a socket, rather than tell it it was removed, when the re-check fails', async () => {
    const s = await open(t.url, anna.session.accessToken)
    s.ws.send(JSON.stringify({ t: 'sub', rooms: { [roomId]: 0 } }))
    await until(() => s.frames.some((f) => f.t === 'subscribed'))
    // The access query fails (a table it reads is missing) while the rest still works.
    await sql`alter table desk_members rename to desk_members_away`.execute(t.ctx.db.db)
    try {
      await t.app.realtime.resync()
      expect(await s.closed).toBe(CloseCode.InternalError)
    } finally {
      await sql`alter table desk_members_away rename to desk_members`.execute(t.ctx.db.db)
    }
    expect(s.frames.some((f) => f.t === 'removed')).toBe(false)
  })

  it('closes the sockets of a session that ended meanwhile, and only those', async () => {
    const ended = await open(t.url, bert.session.accessToken)
    const other = await open(t.url, anna.session.accessToken)
    await t.ctx.db.db
      .updateTable('sessions')
      .set({ revoked_at: new Date() })
      .where('id', '=', bert.session.sessionId)
      .execute()
    await t.app.realtime.resync()
    expect(await ended.closed).toBe(CloseCode.Unauthorized)
    expect(other.ws.readyState).toBe(WebSocket.OPEN)
    other.ws.close()
  })
})
