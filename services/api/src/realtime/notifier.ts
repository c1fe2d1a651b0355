/**
 * Cross-process announcements over PostgreSQL LISTEN/NOTIFY. Commits are announced
 * after they are durable, batched per event-loop turn, never one NOTIFY per message
 * inside the message's own transaction: that would serialise every writer on the
 * notification queue lock. A room's new events travel in the payload when they fit, so
 * the other processes deliver them without a database read; otherwise only the room's
 * new head does, and they fetch from their cursor.
 *
 * A process that has heard no other one (no heartbeat for three periods) announces
 * nothing: a NOTIFY cost PostgreSQL as much CPU as the batch it announced, and every
 * listening backend more (docs/benchmarks.md, session 3). It keeps the rooms' new heads
 * for a while instead, and tells them to the first process it hears from; every process
 * greets a newcomer at once, so two processes know each other within a round trip.
 * A newcomer reads its rooms' heads from the database when its clients subscribe, after
 * its first greeting, so between the two nothing committed goes unannounced.
 */
import { sql } from 'kysely'
import { randomId } from '@vs/crypto'
import type { ServerEvent } from '@vs/protocol'
import type { Db, Unlisten } from '../db/index.js'
import type { Logger } from '../logger.js'
import { eventFrame, type StoredEvent } from '../rooms/events.js'

export const EVENTS_CHANNEL = 'vs_events'
export const SESSIONS_CHANNEL = 'vs_sessions'
/** PostgreSQL's limit is 8,000 bytes per payload. */
const MAX_PAYLOAD = 7000
/** Each process's "I am here" on the events channel; peers count as gone after 3 missed. */
const HEARTBEAT_MS = 5_000
/** Notifications sent per statement. */
const NOTIFY_PER_STATEMENT = 16
/** How long heads not announced while alone are kept for a process that turns up. */
const UNANNOUNCED_KEEP_MS = 6 * HEARTBEAT_MS

/** What one notification says: rooms' new heads, and events that fitted (all of a room's). */
interface EventsPayload {
  n: string
  r: [string, number][]
  e?: ServerEvent[]
}

/** What another process committed, as the hub takes it. */
export interface RemoteCommit {
  roomId: string
  seq: number
  /** Every new event of the room up to `seq`, in order, when they fitted the payload. */
  events?: ServerEvent[]
}

export class Notifier {
  readonly nodeId = randomId()
  private pending = new Map<string, { events: StoredEvent[]; head: number }>()
  private scheduled = false
  private unlisten: Unlisten | undefined
  /** Our own notifications come back to us too; this prefix skips them unparsed. */
  private readonly ownPrefix = JSON.stringify({ n: this.nodeId }).slice(0, -1)
  /** When another process was last heard from (its events or its heartbeat). */
  private peerSeenAt = -Infinity
  /** Other processes by id, and when each was last heard from. */
  private peers = new Map<string, number>()
  /** Rooms' heads committed while no other process was heard from, and when. */
  private unannounced = new Map<string, { head: number; at: number }>()
  private heartbeat: NodeJS.Timeout | undefined

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  async start(
    onRemote: (commit: RemoteCommit) => void,
    onSessionsEnded: (m: { userId: string; sessionId?: string }) => void = () => {},
    /** A LISTEN connection came back: what was announced while it was away is lost. */
    onMissed: () => void = () => {},
    /** A user's access changed (e.g. removed from a desk): re-check the rooms they follow. */
    onAccessChanged: (userId: string) => void = () => {},
  ): Promise<void> {
    const events = await this.db.listen(
      EVENTS_CHANNEL,
      (payload) => {
        if (payload.startsWith(this.ownPrefix)) return
        try {
          const msg = JSON.parse(payload) as EventsPayload
          if (msg.n === this.nodeId) return
          // A process not heard from before (new, or restarted with a new id) is greeted
          // at once, so it need not wait for a heartbeat to know it is not alone.
          const newcomer = !this.peers.has(msg.n)
          this.peerSeenAt = Date.now()
          this.peers.set(msg.n, this.peerSeenAt)
          if (newcomer) this.greet()
          const byRoom = new Map<string, ServerEvent[]>()
          for (const e of msg.e ?? []) {
            const list = byRoom.get(e.room)
            if (list) list.push(e)
            else byRoom.set(e.room, [e])
          }
          for (const [roomId, seq] of msg.r) {
            const events = byRoom.get(roomId)
            onRemote(events ? { roomId, seq, events } : { roomId, seq })
          }
        } catch (err) {
          this.logger.warn({ err }, 'bad notification payload')
        }
      },
      onMissed,
    )
    const sessions = await this.db.listen(
      SESSIONS_CHANNEL,
      (payload) => {
        try {
          const msg = JSON.parse(payload) as { n: string; u: string; s?: string; a?: 1 }
          if (msg.n === this.nodeId) return
          if (msg.a) onAccessChanged(msg.u)
          else onSessionsEnded({ userId: msg.u, ...(msg.s ? { sessionId: msg.s } : {}) })
        } catch (err) {
          this.logger.warn({ err }, 'bad notification payload')
        }
      },
      onMissed,
    )
    this.unlisten = async () => {
      await events()
      await sessions()
    }
    // Every process says it is there, so the others know events are worth sending.
    this.hello()
    this.heartbeat = setInterval(() => {
      this.hello()
      const old = Date.now() - UNANNOUNCED_KEEP_MS
      for (const [roomId, u] of this.unannounced) if (u.at < old) this.unannounced.delete(roomId)
      const gone = Date.now() - 3 * HEARTBEAT_MS
      for (const [id, at] of this.peers) if (at < gone) this.peers.delete(id)
    }, HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  private hello(): void {
    void this.notify([JSON.stringify({ n: this.nodeId, r: [] })])
  }

  /** Whether another process has been heard from lately. */
  hasPeers(): boolean {
    return Date.now() - this.peerSeenAt < 3 * HEARTBEAT_MS
  }

  /**
   * Another process turned up: say hello back at once (so it stops keeping its
   * announcements to itself), and tell it any heads not announced while alone.
   */
  private greet(): void {
    this.hello()
    for (const [roomId, u] of this.unannounced) this.announceHead(roomId, u.head)
    this.unannounced.clear()
  }

  /** Alone: remember the rooms' new heads instead of announcing them. */
  private keep(roomId: string, head: number): void {
    const u = this.unannounced.get(roomId)
    this.unannounced.set(roomId, { head: Math.max(head, u?.head ?? 0), at: Date.now() })
  }

  /** Tells the other processes to close the sockets of ended sessions (sign-out). */
  announceSessionsEnded(m: { userId: string; sessionId?: string }): Promise<void> {
    return this.notifyUser({ u: m.userId, ...(m.sessionId ? { s: m.sessionId } : {}) })
  }

  /** Tells the other processes that a user's access changed (their sockets re-check). */
  announceAccessChanged(userId: string): Promise<void> {
    return this.notifyUser({ u: userId, a: 1 })
  }

  private async notifyUser(m: { u: string; s?: string; a?: 1 }): Promise<void> {
    const payload = JSON.stringify({ n: this.nodeId, ...m })
    try {
      await sql`select pg_notify(${SESSIONS_CHANNEL}, ${payload})`.execute(this.db.db)
    } catch (err) {
      this.logger.warn({ err }, 'notify failed')
    }
  }

  /** Announces committed events to the other processes. */
  announce(events: readonly StoredEvent[]): void {
    if (!this.hasPeers()) {
      for (const e of events) this.keep(e.roomId, e.seq)
      return
    }
    for (const e of events) {
      const p = this.pending.get(e.roomId)
      if (p) {
        p.events.push(e)
        p.head = Math.max(p.head, e.seq)
      } else this.pending.set(e.roomId, { events: [e], head: e.seq })
    }
    this.schedule()
  }

  /** Announces that a room has events up to `seq` (they are fetched, not carried). */
  announceHead(roomId: string, seq: number): void {
    if (!this.hasPeers()) return this.keep(roomId, seq)
    const p = this.pending.get(roomId)
    if (p) p.head = Math.max(p.head, seq)
    else this.pending.set(roomId, { events: [], head: seq })
    this.schedule()
  }

  private schedule(): void {
    // One flush at a time: what commits while a NOTIFY is on its way goes in the next one.
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => void this.flushAll())
  }

  private async flushAll(): Promise<void> {
    while (this.pending.size > 0) await this.flush()
    this.scheduled = false
  }

  private async flush(): Promise<void> {
    const rooms = [...this.pending.entries()]
    this.pending.clear()
    const payloads: string[] = []
    let current: EventsPayload = { n: this.nodeId, r: [] }
    let size = JSON.stringify(current).length
    const emit = () => {
      if (current.r.length) payloads.push(JSON.stringify(current))
      current = { n: this.nodeId, r: [] }
      size = JSON.stringify(current).length
    }
    // The last peer went quiet since this was queued: keep it all for the next one.
    if (!this.hasPeers()) {
      for (const [roomId, p] of rooms) this.keep(roomId, p.head)
      return
    }
    for (const [roomId, p] of rooms) {
      // Writer lanes and HTTP routes publish independently: put each room's events in order.
      const events = p.events.sort((a, b) => a.seq - b.seq)
      const head: [string, number] = [roomId, p.head]
      // Events are carried only when they reach the head the receiver is told about.
      const carry = events.length > 0 && events[events.length - 1]!.seq === p.head
      const frames = carry ? events.map(eventFrame) : []
      const withEvents = JSON.stringify(head).length + JSON.stringify(frames).length + 2
      const headOnly = JSON.stringify(head).length + 1
      // A room's events go whole or not at all: the receiver needs them gap-free.
      const add = carry && withEvents <= MAX_PAYLOAD - 100 ? withEvents : headOnly
      if (size + add > MAX_PAYLOAD) emit()
      current.r.push(head)
      if (add === withEvents) (current.e ??= []).push(...frames)
      size += add
    }
    emit()
    await this.notify(payloads)
  }

  private async notify(payloads: string[]): Promise<void> {
    for (let i = 0; i < payloads.length; i += NOTIFY_PER_STATEMENT) {
      const calls = payloads
        .slice(i, i + NOTIFY_PER_STATEMENT)
        .map((p) => sql`pg_notify(${EVENTS_CHANNEL}, ${p})`)
      try {
        // What is announced is durable already; the announcement itself need not wait for
        // a WAL flush (a NOTIFY gives its transaction an id, so it would).
        await sql`select set_config('synchronous_commit', 'off', true), ${sql.join(calls)}`.execute(
          this.db.db,
        )
      } catch (err) {
        // Other processes still catch up from their cursors on the next event or resync.
        this.logger.warn({ err }, 'notify failed')
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat)
    await this.unlisten?.()
  }
}
