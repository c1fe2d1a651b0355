/**
 * The realtime connection: one WebSocket per client with the access token as a
 * subprotocol (never in the URL), subscriptions with cursors, sends that are retried
 * with the same idempotency key until acknowledged, reconnect with jittered backoff,
 * and an application-level heartbeat (browsers cannot see WebSocket pings).
 */
import {
  CloseCode,
  WS_AUTH_PREFIX,
  WS_SUBPROTOCOL,
  type ServerEvent,
  type ServerFrame,
} from '@vs/protocol'

interface MinimalSocket {
  readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onerror: ((ev: unknown) => void) | null
}
type SocketCtor = new (url: string, protocols: string[]) => MinimalSocket

async function socketCtor(): Promise<SocketCtor> {
  const g = globalThis as { WebSocket?: SocketCtor }
  if (g.WebSocket) return g.WebSocket
  const mod = (await import('ws')) as unknown as { WebSocket: SocketCtor }
  return mod.WebSocket
}

export class SendError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'SendError'
  }
}

export interface ConnectionOptions {
  /** e.g. http://127.0.0.1:8080; `/ws` is appended with the ws(s) scheme. */
  baseUrl: string
  accessToken: () => Promise<string>
  /** The authentication subprotocol; default `vs.auth.<access token>`. */
  authProtocol?: () => Promise<string>
  onEvent: (ev: ServerEvent) => void
  onRemoved?: (roomId: string) => void
  onStatus?: (status: 'connecting' | 'open' | 'closed') => void
  /** Backoff bounds in ms. */
  minBackoffMs?: number
  maxBackoffMs?: number
  heartbeatMs?: number
}

interface PendingSend {
  frame: {
    t: 'send'
    id: string
    room: string
    idem: string
    dev: string
    as?: string
    body: string
  }
  resolve: (r: { seq: number; duplicate: boolean }) => void
  reject: (err: Error) => void
  sent: boolean
}

const OPEN = 1

export class RealtimeConnection {
  private socket: MinimalSocket | undefined
  private cursors = new Map<string, number>()
  private pending = new Map<string, PendingSend>()
  private nextId = 1
  private attempts = 0
  private stopped = false
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined
  private lastPong = Date.now()
  private openWaiters: (() => void)[] = []
  /** Bumped by drop/stop: a connect() that started earlier must not open a socket. */
  private generation = 0
  /** Number of times the connection was (re)opened; useful for tests and status. */
  opens = 0

  constructor(private readonly opts: ConnectionOptions) {}

  get isOpen(): boolean {
    return this.socket?.readyState === OPEN
  }

  start(): void {
    this.stopped = false
    void this.connect()
  }

  /** Resolves when the socket is open (after a reconnect too). */
  waitOpen(): Promise<void> {
    if (this.isOpen) return Promise.resolve()
    return new Promise((r) => this.openWaiters.push(r))
  }

  /** Subscribes (or moves the cursor of) a room; the server replays everything after `cursor`. */
  subscribe(roomId: string, cursor: number): void {
    this.cursors.set(roomId, cursor)
    if (this.isOpen) this.raw({ t: 'sub', rooms: { [roomId]: cursor } })
  }

  unsubscribe(roomId: string): void {
    this.cursors.delete(roomId)
    if (this.isOpen) this.raw({ t: 'unsub', rooms: [roomId] })
  }

  /** The client delivered `seq` of `roomId`: a reconnect resumes after it. */
  advance(roomId: string, seq: number): void {
    if ((this.cursors.get(roomId) ?? -1) < seq && this.cursors.has(roomId))
      this.cursors.set(roomId, seq)
  }

  /**
   * Sends an opaque body; resolves with the server's sequence number once it is durable.
   * Survives reconnects: unacknowledged sends are sent again with the same idempotency key.
   */
  send(
    room: string,
    idem: string,
    dev: string,
    body: string,
    as?: string,
  ): Promise<{ seq: number; duplicate: boolean }> {
    const id = String(this.nextId++)
    return new Promise((resolve, reject) => {
      const p: PendingSend = {
        frame: { t: 'send', id, room, idem, dev, body, ...(as ? { as } : {}) },
        resolve,
        reject,
        sent: false,
      }
      this.pending.set(id, p)
      if (this.isOpen) {
        this.raw(p.frame)
        p.sent = true
      }
    })
  }

  /** Sends a fresh token so the server keeps the connection past the old token's expiry. */
  async reauth(): Promise<void> {
    if (this.isOpen) this.raw({ t: 'auth', token: await this.opts.accessToken() })
  }

  stop(): void {
    this.stopped = true
    this.generation++
    clearTimeout(this.reconnectTimer)
    clearInterval(this.heartbeatTimer)
    this.socket?.close(CloseCode.Normal, 'bye')
    this.socket = undefined
    for (const p of this.pending.values())
      p.reject(new SendError('VS_STOPPED', 'connection stopped'))
    this.pending.clear()
  }

  /** Drops the socket as if the network failed (tests, and "reconnect now"). */
  drop(): void {
    this.generation++
    const s = this.socket
    this.socket = undefined
    s?.close(CloseCode.Normal, 'dropped')
    this.onClosed()
  }

  private raw(frame: unknown): void {
    this.socket?.send(JSON.stringify(frame))
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    const generation = ++this.generation
    this.opts.onStatus?.('connecting')
    let auth: string
    let Ctor: SocketCtor
    try {
      auth = this.opts.authProtocol
        ? await this.opts.authProtocol()
        : WS_AUTH_PREFIX + (await this.opts.accessToken())
      Ctor = await socketCtor()
    } catch {
      return this.scheduleReconnect()
    }
    if (this.stopped || generation !== this.generation) return
    this.socket?.close(CloseCode.Normal, 'replaced')
    const url = this.opts.baseUrl.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws'
    const socket = new Ctor(url, [WS_SUBPROTOCOL, auth])
    this.socket = socket
    socket.onopen = () => {
      if (this.socket !== socket) return
      this.attempts = 0
      this.opens++
      this.lastPong = Date.now()
      this.opts.onStatus?.('open')
      if (this.cursors.size) this.raw({ t: 'sub', rooms: Object.fromEntries(this.cursors) })
      for (const p of this.pending.values()) {
        this.raw(p.frame)
        p.sent = true
      }
      this.startHeartbeat()
      const waiters = this.openWaiters.splice(0)
      for (const w of waiters) w()
    }
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return
      this.lastPong = Date.now()
      this.onFrame(JSON.parse(String(ev.data)) as ServerFrame)
    }
    socket.onclose = () => {
      if (this.socket !== socket) return
      this.socket = undefined
      this.onClosed()
    }
    socket.onerror = () => {}
  }

  private onClosed(): void {
    clearInterval(this.heartbeatTimer)
    this.opts.onStatus?.('closed')
    for (const p of this.pending.values()) p.sent = false
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    clearTimeout(this.reconnectTimer)
    const min = this.opts.minBackoffMs ?? 250
    const max = this.opts.maxBackoffMs ?? 30_000
    const delay = Math.min(max, min * 2 ** this.attempts) * (0.5 + Math.random() / 2)
    this.attempts++
    this.reconnectTimer = setTimeout(() => void this.connect(), delay)
  }

  private startHeartbeat(): void {
    clearInterval(this.heartbeatTimer)
    const every = this.opts.heartbeatMs ?? 20_000
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastPong > every * 2) return this.drop()
      this.raw({ t: 'ping' })
    }, every)
  }

  private onFrame(f: ServerFrame): void {
    switch (f.t) {
      case 'ev':
        this.opts.onEvent(f)
        return
      case 'ack': {
        const p = this.pending.get(f.id)
        if (!p) return
        this.pending.delete(f.id)
        p.resolve({ seq: f.seq, duplicate: f.duplicate })
        return
      }
      case 'err': {
        if (!f.id) return
        const p = this.pending.get(f.id)
        if (!p) return
        // A transient server problem: keep it pending, it is re-sent on reconnect.
        if (f.code === 'VS_UNAVAILABLE') {
          setTimeout(() => this.isOpen && p.sent && this.raw(p.frame), 500)
          return
        }
        this.pending.delete(f.id)
        p.reject(new SendError(f.code, f.message))
        return
      }
      case 'removed':
        this.cursors.delete(f.room)
        this.opts.onRemoved?.(f.room)
        return
      default:
        return
    }
  }
}
