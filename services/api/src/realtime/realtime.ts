/**
 * Real time over `/ws`: subscriptions with replay from a cursor, batched durable sends,
 * heartbeats, slow-consumer cut-off, and cross-process delivery through LISTEN/NOTIFY.
 */
import { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ClientFrame, CloseCode, WS_MAX_FRAME_BYTES, type ServerFrame } from '@vs/protocol'
import type { AppContext } from '../context.js'
import type { Principal } from '../identity/principal.js'
import { appendAudit } from '../audit.js'
import { ApiError } from '../errors.js'
import { liveSessions, loadPrincipal } from '../identity/principal.js'
import { roomAccess } from '../rooms/access.js'
import { decodeBody, type StoredEvent } from '../rooms/events.js'
import { RoomWriter } from '../rooms/writer.js'
import { TextFrame } from './frame.js'
import { Hub, type Subscriber } from './hub.js'
import { Notifier } from './notifier.js'

const frameCheck = TypeCompiler.Compile(ClientFrame)

export interface RealtimeLimits {
  /** Bytes queued on a socket before it counts as a slow consumer and is cut off. */
  maxBufferedBytes: number
  /** Connections per user. */
  maxConnectionsPerUser: number
  /** Frames per second per connection (token bucket). */
  framesPerSecond: number
  heartbeatMs: number
}

export const defaultLimits: RealtimeLimits = {
  maxBufferedBytes: 4 * 1024 * 1024,
  maxConnectionsPerUser: 20,
  framesPerSecond: 500,
  heartbeatMs: 30_000,
}

let nextId = 1

/**
 * What a connection keeps of its principal: who it is and which session (for sign-outs).
 * Not the rest (name, role, organisation, region: four more strings per idle socket).
 */
type Who = Pick<Principal, 'userId' | 'sessionId'> & { anonymous: boolean }

function who(p: Principal): Who {
  return { userId: p.userId, sessionId: p.sessionId, anonymous: p.anonymous === true }
}

/**
 * Lets go of the HTTP upgrade request behind a new WebSocket. @fastify/websocket keeps it
 * alive for the socket's whole life twice over: the TCP socket still points at the
 * ServerResponse it made for routing (which holds the IncomingMessage with every header,
 * the ~1 KB token among them), and its error listener on the WebSocket closes over the
 * Fastify request and reply (with their child logger). That made an idle authenticated
 * connection cost about three times a bare `ws` one. The caller adds its own error
 * listener.
 */
function release(socket: WebSocket): void {
  const tcp = tcpOf(socket)
  const res = (tcp as { _httpMessage?: unknown } | undefined)?._httpMessage
  if (res instanceof ServerResponse) res.detachSocket(tcp!)
  socket.removeAllListeners('error')
}

/** The TCP socket under a WebSocket (ws keeps it as `_socket`). */
function tcpOf(socket: WebSocket): Socket | undefined {
  return (socket as unknown as { _socket?: Socket })._socket
}

/** Whether ws's sender holds no frames of its own (its `_state` is DEFAULT, 0). */
function senderIdle(socket: WebSocket): boolean {
  return (socket as unknown as { _sender?: { _state?: number } })._sender?._state === 0
}

class Connection implements Subscriber {
  readonly id = nextId++
  readonly rooms = new Set<string>()
  alive = true
  /** In `Realtime.corked` this turn. */
  corked = false
  /** Moves when this user's access changed: a subscribe in flight then checks again. */
  accessChanges = 0
  private tokens: number
  private lastRefill = Date.now()

  constructor(
    readonly rt: Realtime,
    readonly socket: WebSocket,
    public principal: Who,
    /** When the access token expires (ms, on the app's clock); `Realtime` closes us then. */
    public expiresAt: number,
  ) {
    this.tokens = rt.limits.framesPerSecond
  }

  expired(now: number): boolean {
    return now >= this.expiresAt
  }

  sendRaw(frame: TextFrame): boolean {
    if (this.socket.readyState !== this.socket.OPEN) return false
    const buffered = this.socket.bufferedAmount
    if (buffered > this.rt.limits.maxBufferedBytes) {
      // Cut off rather than grow server memory; the client resyncs from its cursor.
      this.close(CloseCode.SlowConsumer, 'slow consumer')
      return false
    }
    const tcp = this.tcp
    this.rt.cork(this, tcp, buffered)
    // The frame as framed once for every recipient, straight into the TCP socket, while
    // ws's sender has nothing queued of its own (it queues only while compressing, which
    // this server never does); else through ws, behind what it holds.
    if (tcp && !tcp.destroyed && senderIdle(this.socket)) tcp.write(frame.wire)
    else this.socket.send(frame.json, { binary: false })
    return true
  }

  /** The TCP socket under the WebSocket. */
  get tcp(): Socket | undefined {
    return tcpOf(this.socket)
  }

  private pacing: Promise<unknown> | undefined

  paced<T>(page: () => Promise<T>): Promise<T> {
    const low = this.rt.limits.maxBufferedBytes / 4
    const run = (this.pacing ?? Promise.resolve()).then(async () => {
      while (this.socket.readyState === this.socket.OPEN && this.socket.bufferedAmount > low) {
        await new Promise((r) => setTimeout(r, 20))
      }
      return page()
    })
    this.pacing = run.catch(() => {})
    return run
  }

  send(frame: ServerFrame): void {
    this.sendRaw(TextFrame.of(JSON.stringify(frame)))
  }

  onMembershipChange(roomId: string): Promise<boolean> {
    return roomAccess(this.rt.ctx.db.db, this.principal, roomId).then(
      () => true,
      (err: unknown) => {
        if (err instanceof ApiError && err.statusCode === 404) {
          this.rt.hub.unsubscribe(this, roomId)
          this.rooms.delete(roomId)
          this.send({ t: 'removed', room: roomId })
          return false
        }
        // Not known whether they may still see it (the database failed): neither keep
        // delivering nor tell them they were removed. The client reconnects, and its
        // subscribe checks again.
        this.rt.ctx.logger.warn({ err }, 'access re-check failed')
        this.rt.hub.unsubscribe(this, roomId)
        this.close(CloseCode.InternalError, 'try again')
        return false
      },
    )
  }

  close(code: CloseCode, reason: string): void {
    if (
      this.socket.readyState === this.socket.OPEN ||
      this.socket.readyState === this.socket.CONNECTING
    ) {
      this.socket.close(code, reason)
    }
  }

  cleanup(): void {
    this.rt.hub.unsubscribeAll(this, this.rooms)
    this.rooms.clear()
  }

  private takeToken(): boolean {
    const now = Date.now()
    this.tokens = Math.min(
      this.rt.limits.framesPerSecond,
      this.tokens + ((now - this.lastRefill) / 1000) * this.rt.limits.framesPerSecond,
    )
    this.lastRefill = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  async onMessage(data: Buffer, isBinary: boolean): Promise<void> {
    // Nothing is done on an expired token, even before the sweep closes the socket.
    if (this.expired(this.rt.ctx.now().getTime()))
      return this.close(CloseCode.AuthExpired, 'token expired')
    if (!this.takeToken()) return this.close(CloseCode.RateLimited, 'too many frames')
    if (isBinary || data.length > WS_MAX_FRAME_BYTES)
      return this.close(CloseCode.BadFrame, 'bad frame')
    let frame: unknown
    try {
      frame = JSON.parse(data.toString('utf8'))
    } catch {
      return this.send({
        t: 'err',
        code: 'VS_BAD_FRAME',
        message: 'Geen geldige JSON / Not valid JSON',
      })
    }
    if (!frameCheck.Check(frame)) {
      const id =
        typeof (frame as { id?: unknown })?.id === 'string'
          ? (frame as { id: string }).id
          : undefined
      return this.send({
        t: 'err',
        ...(id ? { id } : {}),
        code: 'VS_BAD_FRAME',
        message: 'Onbekend of ongeldig bericht / Unknown or invalid frame',
      })
    }
    const f = frame as ClientFrame
    switch (f.t) {
      case 'ping':
        return this.send({ t: 'pong' })
      case 'auth':
        return this.reauth(f.token)
      case 'sub':
        return this.subscribe(f.rooms)
      case 'unsub':
        for (const r of f.rooms) {
          this.rt.hub.unsubscribe(this, r)
          this.rooms.delete(r)
        }
        return
      case 'send':
        return this.sendEvent(f)
    }
  }

  private async reauth(token: string): Promise<void> {
    try {
      const claims = await this.rt.ctx.tokens.verify(token)
      if (claims.userId !== this.principal.userId) throw new Error('other user')
      const p = await loadPrincipal(this.rt.ctx.db.db, claims.userId, claims.sessionId)
      if (!p) throw new Error('session ended')
      this.principal = who(p)
      this.expiresAt = claims.expiresAt
    } catch {
      this.close(CloseCode.Unauthorized, 'authentication failed')
    }
  }

  private async subscribe(rooms: Record<string, number>): Promise<void> {
    for (const [roomId, cursor] of Object.entries(rooms)) {
      try {
        const changes = this.accessChanges
        const access = await roomAccess(this.rt.ctx.db.db, this.principal, roomId)
        this.rooms.add(roomId)
        this.send({ t: 'subscribed', room: roomId, head: access.lastSeq })
        this.rt.hub.subscribe(this, roomId, Math.min(cursor, access.lastSeq), access.lastSeq)
        // Their access changed while it was being checked: check again, now that the
        // room is among those a re-check covers.
        if (this.accessChanges !== changes) void this.onMembershipChange(roomId)
        await appendAudit(this.rt.ctx.db.db, {
          event: 'room.subscribe',
          actorUserId: this.principal.userId,
          subjectKind: access.kind,
          subjectId: roomId,
        })
      } catch {
        this.send({
          t: 'err',
          code: 'VS_ROOM_NOT_FOUND',
          message: `Kamer niet gevonden / Room not found: ${roomId}`,
        })
      }
    }
  }

  private async sendEvent(f: Extract<ClientFrame, { t: 'send' }>): Promise<void> {
    // The frame check admitted only base64url characters in `f.body`.
    const decoded = decodeBody(f.body)
    if (!decoded)
      return this.send({
        t: 'err',
        id: f.id,
        code: 'VS_BAD_FRAME',
        message: 'Ongeldige inhoud / Invalid body',
      })
    const { body, canonical } = decoded
    try {
      // As a desk, the writer asks afresh whether they advise it, in the transaction that
      // stores the message: an advisor removed from the desk loses its voice at once, also
      // on a socket that is already open.
      const o = await this.rt.writer.send({
        roomId: f.room,
        kind: 'message',
        senderId: f.as ?? this.principal.userId,
        senderDevice: f.dev,
        idem: f.idem,
        body,
        ...(canonical ? { bodyB64: f.body } : {}),
        ...(f.as ? { actor: this.principal.userId } : {}),
      })
      if (o.ok) this.send({ t: 'ack', id: f.id, room: f.room, seq: o.seq, duplicate: o.duplicate })
      else this.send({ t: 'err', id: f.id, code: o.code, message: o.message })
    } catch {
      this.send({
        t: 'err',
        id: f.id,
        code: 'VS_UNAVAILABLE',
        message: 'Tijdelijk niet opgeslagen; probeer opnieuw / Not stored, retry',
      })
    }
  }
}

const kConn = Symbol('vs.connection')
type Tagged = WebSocket & { [kConn]?: Connection }

function onPong(this: Tagged): void {
  const c = this[kConn]
  if (c) c.alive = true
}

function onSocketMessage(this: Tagged, data: Buffer, isBinary: boolean): void {
  const c = this[kConn]
  if (!c) return
  c.alive = true
  c.onMessage(data, isBinary).catch((err: unknown) =>
    c.rt.ctx.logger.warn({ err }, 'ws frame failed'),
  )
}

function onSocketClose(this: Tagged): void {
  const c = this[kConn]
  if (c) c.rt.closed(c)
}

function onSocketError(this: Tagged, err: Error): void {
  // A peer's protocol violation or a reset connection: worth a line, not an alarm.
  this[kConn]?.rt.ctx.logger.info({ err }, 'ws socket error')
  this.terminate()
}

export class Realtime {
  /**
   * Connections whose socket is corked until the end of this event-loop turn: every frame
   * a connection gets in one turn (a sender's own event and its ack; several events of a
   * busy room) leaves in one write. Each write is a system call that also delivers the
   * data to the receiving socket, the largest part of the fan-out's CPU time; the busier
   * the server, the more frames share one.
   *
   * An array kept across turns, not a Set: a Set cleared every turn reallocates its table,
   * hundreds of times a second, and enough of those tables were caught alive by a
   * scavenge to be promoted and fill the old generation (found with the sampling heap
   * profiler's survivors of minor collections under load).
   */
  private readonly corked: Array<Connection | undefined> = []
  private corkedCount = 0
  private uncorkScheduled = false

  readonly hub: Hub
  readonly writer: RoomWriter
  readonly notifier: Notifier
  private readonly connections = new Set<Connection>()
  private readonly perUser = new Map<string, number>()
  private heartbeat: NodeJS.Timeout | undefined
  private expirySweep: NodeJS.Timeout | undefined

  constructor(
    readonly ctx: AppContext,
    readonly limits: RealtimeLimits = defaultLimits,
  ) {
    this.hub = new Hub(ctx.db.db, ctx.logger.child({ area: 'hub' }))
    this.notifier = new Notifier(ctx.db, ctx.logger.child({ area: 'notify' }))
    this.writer = new RoomWriter(
      ctx.db,
      ctx.logger.child({ area: 'writer' }),
      (events) => this.committed(events),
      {
        onStored: (roomId, seq) => this.stored(roomId, seq),
        // Alone, the next statement goes out before the last batch is fanned out (with
        // other processes writing to the same rooms it would only queue on their locks),
        // and it need not lock its rooms in order.
        alone: () => !this.notifier.hasPeers(),
        observer: {
          batch: (events, waited) => {
            ctx.metrics.appendBatch.observe(events)
            for (const w of waited) ctx.metrics.sendWait.observe(w)
          },
          stored: (path, seconds) => ctx.metrics.appendSeconds.observe({ path }, seconds),
          sendersRead: (rooms) => ctx.metrics.senderReads.inc(rooms),
        },
      },
    )
  }

  /**
   * Holds `c`'s writes until the end of this turn (see `corked`); `tcp`: its TCP socket,
   * `buffered`: its backlog.
   */
  cork(c: Connection, tcp: Socket | undefined, buffered: number): void {
    if (c.corked) return
    // A socket with writes still queued (its reader is behind) is left alone.
    if (!tcp || tcp.destroyed || buffered > 0) return
    tcp.cork()
    c.corked = true
    this.corked[this.corkedCount++] = c
    if (this.uncorkScheduled) return
    this.uncorkScheduled = true
    setImmediate(this.uncorkAll)
  }

  private readonly uncorkAll = (): void => {
    this.uncorkScheduled = false
    for (let i = 0; i < this.corkedCount; i++) {
      const k = this.corked[i]!
      this.corked[i] = undefined
      k.corked = false
      k.tcp?.uncork()
    }
    this.corkedCount = 0
  }

  async start(): Promise<void> {
    await this.notifier.start(
      (c) => this.hub.remoteCommit(c),
      (m) => this.disconnectLocal(m),
      () => void this.resync(),
      (userId) => this.recheckLocal(userId),
    )
    this.heartbeat = setInterval(() => {
      for (const c of this.connections) {
        if (!c.alive) {
          c.socket.terminate()
          continue
        }
        c.alive = false
        c.socket.ping()
      }
    }, this.limits.heartbeatMs)
    this.heartbeat.unref()
    // One sweep for every socket's token expiry, rather than a timer per connection (a
    // timer and its closure are a tenth of an idle connection's memory). A socket is
    // closed at most a second late, and answers no frame after its token expired.
    this.expirySweep = setInterval(() => {
      const now = this.ctx.now().getTime()
      for (const c of this.connections) {
        if (c.expired(now)) c.close(CloseCode.AuthExpired, 'token expired')
      }
    }, 1000)
    this.expirySweep.unref()
  }

  /** Fan out locally and announce to other processes, after the commit. */
  committed(events: StoredEvent[]): void {
    for (const e of events) if (e.kind === 'commit') this.writer.roomChanged(e.roomId)
    this.hub.publish(events)
    this.notifier.announce(events)
  }

  /**
   * A retried send was stored already (seq known). Its first attempt may never have been
   * published (the process died between commit and fan-out): make sure this process and the
   * others have everything up to it. Costs nothing when they have.
   */
  stored(roomId: string, seq: number): void {
    this.hub.remoteAdvance(roomId, seq)
    this.notifier.announceHead(roomId, seq)
  }

  accept(socket: WebSocket, req: FastifyRequest): void {
    const principal = req.principal!
    const count = this.perUser.get(principal.userId) ?? 0
    if (count >= this.limits.maxConnectionsPerUser) {
      socket.close(CloseCode.TooManyConnections, 'too many connections')
      return
    }
    this.perUser.set(principal.userId, count + 1)
    release(socket)
    const conn = new Connection(this, socket, who(principal), req.tokenExpiresAt)
    this.connections.add(conn)
    this.ctx.metrics.wsConnections.inc()
    // Shared listeners that find the connection on the socket: no closures per socket.
    ;(socket as Tagged)[kConn] = conn
    socket.on('pong', onPong)
    socket.on('message', onSocketMessage)
    socket.on('close', onSocketClose)
    socket.on('error', onSocketError)
  }

  /** The token expiries (ms) of a user's live connections, for tests and diagnostics. */
  expiriesOf(userId: string): number[] {
    return [...this.connections]
      .filter((c) => c.principal.userId === userId)
      .map((c) => c.expiresAt)
  }

  /** Bookkeeping when a connection's socket has closed. */
  closed(conn: Connection): void {
    conn.cleanup()
    this.connections.delete(conn)
    this.ctx.metrics.wsConnections.dec()
    const userId = conn.principal.userId
    const n = (this.perUser.get(userId) ?? 1) - 1
    if (n <= 0) this.perUser.delete(userId)
    else this.perUser.set(userId, n)
  }

  /**
   * After a lost LISTEN connection: other processes' commits and sign-outs announced
   * meanwhile never arrive. Catch every subscribed room up to the database's head, and
   * close the sockets of sessions that ended.
   */
  async resync(): Promise<void> {
    const db = this.ctx.db.db
    try {
      const rooms = this.hub.roomIds()
      if (rooms.length > 0) {
        const heads = await db
          .selectFrom('rooms')
          .select(['id', 'last_seq'])
          .where('id', 'in', rooms)
          .execute()
        for (const r of heads) this.hub.catchUp(r.id, r.last_seq)
      }
      const sessions = [
        ...new Set(
          [...this.connections]
            .filter((c) => !c.principal.anonymous)
            .map((c) => c.principal.sessionId),
        ),
      ]
      const alive = await liveSessions(db, sessions)
      for (const c of this.connections) {
        if (c.principal.anonymous) continue
        if (!alive.has(c.principal.sessionId)) c.close(CloseCode.Unauthorized, 'signed out')
        // An access change announced while we were not listening (an advisor removed from
        // a desk) would otherwise go unnoticed until they reconnect.
        else this.recheck(c)
      }
    } catch (err) {
      this.ctx.logger.warn({ err }, 'resync after a lost notification connection failed')
    }
  }

  /** Closes every socket of a user or session (sign-out), on every process. */
  disconnect(match: { userId: string; sessionId?: string }): void {
    this.disconnectLocal(match)
    void this.notifier.announceSessionsEnded(match)
  }

  /**
   * A user's access changed without a room commit (removed as a desk's advisor): their
   * sockets, on every process, re-check each room they follow and leave those they may no
   * longer see.
   */
  accessChanged(userId: string): void {
    this.recheckLocal(userId)
    void this.notifier.announceAccessChanged(userId)
  }

  private recheckLocal(userId: string): void {
    for (const c of this.connections) if (c.principal.userId === userId) this.recheck(c)
  }

  private recheck(c: Connection): void {
    c.accessChanges++
    for (const roomId of c.rooms) void c.onMembershipChange(roomId)
  }

  private disconnectLocal(match: { userId: string; sessionId?: string }): void {
    for (const c of this.connections) {
      if (
        c.principal.userId === match.userId &&
        (!match.sessionId || c.principal.sessionId === match.sessionId)
      ) {
        c.close(CloseCode.Unauthorized, 'signed out')
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat)
    clearInterval(this.expirySweep)
    await this.writer.close()
    await this.notifier.stop()
  }
}
