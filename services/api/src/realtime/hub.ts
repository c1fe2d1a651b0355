/**
 * In-process fan-out. Each connection keeps a cursor per room and only ever delivers the
 * next sequence number; anything else (a gap after a missed notification, a replay after
 * reconnect) is filled from the database in order. So a client sees every event exactly
 * once and in order, however events reach this process.
 */
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'
import { eventFrameBytes, fetchEvents, type StoredEvent } from '../rooms/events.js'
import { TextFrame } from './frame.js'
import type { RemoteCommit } from './notifier.js'

/** What the hub needs from a connection. */
export interface Subscriber {
  readonly id: number
  /** Sends a text frame; returns false if the connection is gone or cut off. */
  sendRaw(frame: TextFrame): boolean
  /**
   * Runs `page` (fetch and send one replay page) once the socket's send buffer is small
   * enough, one page at a time per connection.
   */
  paced<T>(page: () => Promise<T>): Promise<T>
  /**
   * Called when a commit changed the room; the subscriber re-checks its access. Resolves
   * true while they may still see the room, false once they were unsubscribed from it
   * (removed, or the check failed and the connection closes).
   */
  onMembershipChange(roomId: string): Promise<boolean>
}

interface Sub {
  subscriber: Subscriber
  cursor: number
  /** Live delivery holds off: a replay is running, or a re-check after a commit. */
  filling: boolean
  /**
   * The last seq whose membership this subscriber's access check has seen (the room's head
   * when it subscribed, then each re-check a replayed commit asked for).
   */
  checked: number
}

interface RoomSubs {
  subs: Map<number, Sub>
  latest: number
}

/** A replay page: at most this many events and (about) this many body bytes. */
const FILL_PAGE = 500
const FILL_PAGE_BYTES = 256 * 1024
/**
 * Fan-out time per event-loop turn, so acks and reads interleave with a big batch. A cap on
 * time, not on events: a fixed number of events per turn caps the rate the hub can deliver
 * at (events per turn ÷ turn length), and a backlog behind that cap only ever grows.
 */
const PUBLISH_TURN_MS = 4

export class Hub {
  private rooms = new Map<string, RoomSubs>()
  private remoteFetches = new Map<string, Promise<void>>()
  private outbox: StoredEvent[] = []
  private draining = false

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
  ) {}

  subscribe(subscriber: Subscriber, roomId: string, cursor: number, roomHead: number): void {
    let r = this.rooms.get(roomId)
    if (!r) this.rooms.set(roomId, (r = { subs: new Map(), latest: roomHead }))
    // The database may be ahead of this hub (another process's NOTIFY is on its way):
    // deliver the difference to existing subscribers now, or that NOTIFY would look old.
    else if (roomHead > r.latest) this.remoteAdvance(roomId, roomHead)
    const sub: Sub = { subscriber, cursor, filling: false, checked: roomHead }
    r.subs.set(subscriber.id, sub)
    if (cursor < r.latest) void this.fill(roomId, sub)
    // An event committed on this process between reading `roomHead` and registering
    // here was published to nobody: look at the database head once more.
    void this.db
      .selectFrom('rooms')
      .select('last_seq')
      .where('id', '=', roomId)
      .executeTakeFirst()
      .then((row) => row && this.remoteAdvance(roomId, row.last_seq))
      .catch((err: unknown) => this.logger.warn({ err, roomId }, 'head check failed'))
  }

  unsubscribe(subscriber: Subscriber, roomId: string): void {
    const r = this.rooms.get(roomId)
    if (!r) return
    r.subs.delete(subscriber.id)
    if (r.subs.size === 0) this.rooms.delete(roomId)
  }

  unsubscribeAll(subscriber: Subscriber, roomIds: Iterable<string>): void {
    for (const id of roomIds) this.unsubscribe(subscriber, id)
  }

  /** Rooms with at least one subscriber on this process. */
  roomIds(): string[] {
    return [...this.rooms.keys()]
  }

  hasSubscribers(roomId: string): boolean {
    return this.rooms.has(roomId)
  }

  /** Events committed by this process (each batch in seq order; the hub fills any gap). */
  publish(events: readonly StoredEvent[]): void {
    for (const e of events) this.outbox.push(e)
    if (this.draining) return
    this.draining = true
    this.drainOutbox()
  }

  private drainOutbox(): void {
    const until = performance.now() + PUBLISH_TURN_MS
    let taken = 0
    try {
      while (taken < this.outbox.length) {
        if (taken > 0 && (taken & 7) === 0 && performance.now() > until) break
        const e = this.outbox[taken++]!
        const r = this.rooms.get(e.roomId)
        if (!r) continue
        r.latest = Math.max(r.latest, e.seq)
        // Serialize (and frame) once for every recipient.
        const frame = new TextFrame(eventFrameBytes(e))
        for (const sub of r.subs.values()) this.offer(e.roomId, sub, e.seq, frame)
        if (e.kind === 'commit')
          for (const sub of r.subs.values()) this.recheck(e.roomId, sub, e.seq)
      }
    } catch (err) {
      // Never leave the outbox stuck: log, and go on with the rest.
      this.logger.warn({ err }, 'fan-out failed')
    } finally {
      this.outbox.splice(0, taken)
      if (this.outbox.length === 0) this.draining = false
      else setImmediate(() => this.drainOutbox())
    }
  }

  /**
   * Another process committed up to `seq`: deliver the events it sent along when they
   * follow on from what this hub has; otherwise fetch what it has not seen.
   */
  remoteCommit(c: RemoteCommit): void {
    const r = this.rooms.get(c.roomId)
    if (!r || c.seq <= r.latest) return
    const first = c.events?.[0]
    if (!c.events || !first || first.seq !== r.latest + 1 || this.remoteFetches.has(c.roomId)) {
      this.remoteAdvance(c.roomId, c.seq)
      return
    }
    r.latest = c.seq
    for (const e of c.events) {
      const frame = TextFrame.of(JSON.stringify(e))
      for (const sub of r.subs.values()) this.offer(c.roomId, sub, e.seq, frame)
      if (e.kind === 'commit') for (const sub of r.subs.values()) this.recheck(c.roomId, sub, e.seq)
    }
  }

  /** Another process committed up to `seq` in `roomId`; fetch what we have not seen. */
  remoteAdvance(roomId: string, seq: number): void {
    const r = this.rooms.get(roomId)
    if (!r || seq <= r.latest) return
    if (this.remoteFetches.has(roomId)) {
      // A fetch is running; it re-checks the target when it ends.
      r.latest = Math.max(r.latest, seq)
      return
    }
    const from = r.latest
    r.latest = seq
    const p = this.fetchAndPublish(roomId, from)
      .catch((err: unknown) => {
        this.logger.warn({ err, roomId }, 'remote fetch failed')
        // Forget the head it could not fetch up to, so the next announcement (or a resync)
        // fetches again; subscribers' cursors keep anything already sent from repeating.
        const rs = this.rooms.get(roomId)
        if (rs) rs.latest = Math.min(rs.latest, from)
      })
      .finally(() => this.remoteFetches.delete(roomId))
    this.remoteFetches.set(roomId, p)
  }

  /**
   * Brings a room's subscribers up to `head` (the database's, after a lost notification
   * connection): fetches what this hub has not seen, and restarts replays that stopped.
   */
  catchUp(roomId: string, head: number): void {
    this.remoteAdvance(roomId, head)
    const r = this.rooms.get(roomId)
    if (!r) return
    for (const sub of r.subs.values()) if (sub.cursor < r.latest) void this.fill(roomId, sub)
  }

  private async fetchAndPublish(roomId: string, from: number): Promise<void> {
    let cursor = from
    for (;;) {
      const r = this.rooms.get(roomId)
      if (!r || cursor >= r.latest) return
      const events = await fetchEvents(this.db, roomId, cursor, FILL_PAGE, FILL_PAGE_BYTES)
      if (events.length === 0) return
      for (const e of events) {
        const frame = new TextFrame(eventFrameBytes(e))
        const rs = this.rooms.get(roomId)
        if (!rs) return
        for (const sub of rs.subs.values()) this.offer(roomId, sub, e.seq, frame)
        if (e.kind === 'commit')
          for (const sub of rs.subs.values()) this.recheck(roomId, sub, e.seq)
      }
      cursor = events[events.length - 1]!.seq
    }
  }

  /**
   * A commit just went out live to `sub`: nothing more goes to them until their access is
   * checked again, so a member the commit removed receives nothing after it; then what
   * came meanwhile follows from the database. A commit that did not go out live is met by
   * the replay that will send it (`fill`), which checks in the same way.
   */
  private recheck(roomId: string, sub: Sub, seq: number): void {
    if (sub.filling || sub.cursor !== seq) return
    sub.filling = true
    sub.checked = seq
    void sub.subscriber.onMembershipChange(roomId).then(
      (still) => {
        sub.filling = false
        const r = this.rooms.get(roomId)
        if (still && r?.subs.get(sub.subscriber.id) === sub && sub.cursor < r.latest)
          void this.fill(roomId, sub)
      },
      (err: unknown) => {
        sub.filling = false
        this.logger.warn({ err, roomId }, 'access re-check failed')
      },
    )
  }

  private offer(roomId: string, sub: Sub, seq: number, frame: TextFrame): void {
    if (sub.filling || seq <= sub.cursor) return
    if (seq === sub.cursor + 1) {
      if (sub.subscriber.sendRaw(frame)) sub.cursor = seq
      return
    }
    void this.fill(roomId, sub)
  }

  /** Delivers cursor+1 … latest from the database, in order, then resumes live delivery. */
  private async fill(roomId: string, sub: Sub): Promise<void> {
    if (sub.filling) return
    sub.filling = true
    try {
      const current = () => {
        const r = this.rooms.get(roomId)
        return r && r.subs.get(sub.subscriber.id) === sub ? r : undefined
      }
      for (;;) {
        const r = current()
        if (!r || sub.cursor >= r.latest) break
        // One page at a time per connection (over all its rooms), and only into a socket
        // that took the previous one: a long replay neither holds the event loop nor counts
        // as a slow consumer.
        const next = await sub.subscriber.paced(async (): Promise<'more' | 'stop' | 'check'> => {
          await new Promise((r) => setImmediate(r))
          const events = await fetchEvents(this.db, roomId, sub.cursor, FILL_PAGE, FILL_PAGE_BYTES)
          // Unsubscribed (or removed from the room) meanwhile: nothing more goes out.
          if (events.length === 0 || !current()) return 'stop'
          for (const e of events) {
            if (!sub.subscriber.sendRaw(new TextFrame(eventFrameBytes(e)))) return 'stop'
            sub.cursor = e.seq
            // A membership commit newer than their last access check may be one that
            // removed them (it reached this hub's other subscribers live, before this one
            // was registered): the rest waits for a fresh check, as live delivery does.
            if (e.kind === 'commit' && e.seq > sub.checked) {
              sub.checked = e.seq
              return 'check'
            }
          }
          return 'more'
        })
        if (next === 'stop') break
        if (next === 'check' && !(await sub.subscriber.onMembershipChange(roomId))) break
      }
    } catch (err) {
      this.logger.warn({ err, roomId }, 'fill failed')
    } finally {
      sub.filling = false
    }
  }

  stats(): { rooms: number; subscriptions: number } {
    let subscriptions = 0
    for (const r of this.rooms.values()) subscriptions += r.subs.size
    return { rooms: this.rooms.size, subscriptions }
  }
}
