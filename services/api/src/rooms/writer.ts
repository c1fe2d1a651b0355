/**
 * Batches concurrent message sends (group commit). One statement is in flight per lane, and
 * everything queued on the lane meanwhile goes into the next one: under load the batches
 * grow by themselves, and PostgreSQL's cost per statement (about 180–200 µs of its CPU,
 * against 16–22 µs per row; `tests/bench/append-cost.ts`) is shared by more messages,
 * while a quiet lane writes a lone send at once. The default is one lane: four lanes made
 * four times as many statements of a quarter the size for the same traffic, and cost
 * PostgreSQL more CPU and the senders more latency (docs/benchmarks.md, session 3). With several lanes, sends
 * are split by room, so two batches in flight on one process never touch the same room row
 * (other processes' batches may; a deadlock sends the victim's batch to the careful path).
 *
 * When a statement stored its whole batch, the lane's next statement is sent before that
 * batch is acknowledged and fanned out, so PostgreSQL commits the next batch while this
 * process delivers the last (docs/benchmarks.md, session 6: the writer's queue wait halved).
 * Only while `alone()` says so: the app says no while other processes write too,
 * where a statement sent at once queues on the rooms another process's statement holds,
 * and a two-process run did worse with it.
 *
 * Each batch is one autocommit statement (`appendMessages`); what that statement leaves out
 * (retries, refusals, races with a commit) goes through the careful path, `insertEvents`
 * under row locks. Each sender is acknowledged only after its row committed, so an ack
 * always means "durable".
 */
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { appendable, appendMessages, SenderCache } from './append.js'
import {
  eventKey,
  insertEvents,
  memberDeviceAuthoriser,
  type InsertOutcome,
  type NewEvent,
  type StoredEvent,
} from './events.js'

interface Pending {
  event: NewEvent
  /** performance.now() when queued. */
  at: number
  resolve: (o: InsertOutcome) => void
  reject: (err: unknown) => void
}

interface Lane {
  queue: Pending[]
  scheduled: boolean
  busy: boolean
}

/** FNV-1a: a cheap, stable spread of room ids over lanes. */
function laneOf(roomId: string, lanes: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < roomId.length; i++) {
    h ^= roomId.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % lanes
}

/** What the writer reports about its work (Prometheus in the app). */
export interface WriterObserver {
  /** A batch left the queue: its size and how long each send waited, in seconds. */
  batch(events: number, waitedS: readonly number[]): void
  /** A statement (fast) or transaction (careful) finished, in seconds. */
  stored(path: 'fast' | 'careful', seconds: number): void
  /** The members of this many rooms were read for the sender cache (it had none fresh). */
  sendersRead?(rooms: number): void
}

/** Errors after which the fast statement has written nothing and the careful path decides. */
const CAREFUL_AFTER = new Set(['23505', '40P01', '40001'])

export interface WriterOptions {
  /** A send answered as already stored (a retry), with its seq. */
  onStored?: (roomId: string, seq: number) => void
  observer?: WriterObserver
  /** Most sends in one statement. */
  maxBatch?: number
  /** Statements in flight at once, each for its own share of the rooms (default 1). */
  lanes?: number
  /**
   * Whether this process is the only one writing (default: yes). Alone, a lane's next
   * statement goes out before the last batch is published, and the statement does not
   * lock its rooms in order first (`appendSql`).
   */
  alone?: () => boolean
}

export class RoomWriter {
  private readonly lanes: Lane[]
  private readonly onStored: (roomId: string, seq: number) => void
  private readonly observer: WriterObserver | undefined
  private readonly maxBatch: number
  private readonly alone: () => boolean
  private readonly senders = new SenderCache()
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly onCommitted: (events: StoredEvent[]) => void,
    opts: WriterOptions = {},
  ) {
    this.onStored = opts.onStored ?? (() => {})
    this.observer = opts.observer
    this.maxBatch = opts.maxBatch ?? 512
    this.alone = opts.alone ?? (() => true)
    this.lanes = Array.from({ length: opts.lanes ?? 1 }, () => ({
      queue: [],
      scheduled: false,
      busy: false,
    }))
  }

  send(event: NewEvent): Promise<InsertOutcome> {
    if (this.closed) return Promise.reject(new Error('writer closed'))
    const lane = this.lanes[laneOf(event.roomId, this.lanes.length)]!
    return new Promise((resolve, reject) => {
      lane.queue.push({ event, at: performance.now(), resolve, reject })
      this.schedule(lane)
    })
  }

  private schedule(lane: Lane): void {
    if (lane.scheduled || lane.busy || lane.queue.length === 0) return
    lane.scheduled = true
    setImmediate(() => {
      lane.scheduled = false
      void this.flush(lane)
    })
  }

  private async flush(lane: Lane): Promise<void> {
    const batch = lane.queue.splice(0, this.maxBatch)
    if (batch.length === 0) return
    if (this.observer) {
      const now = performance.now()
      this.observer.batch(
        batch.length,
        batch.map((p) => (now - p.at) / 1000),
      )
    }
    lane.busy = true
    let released = false
    /** Frees the lane; its next statement goes out now (overlap) or on the next turn. */
    const release = (now: boolean): void => {
      if (released) return
      released = true
      lane.busy = false
      if (!now) this.schedule(lane)
      else if (lane.queue.length > 0) void this.flush(lane)
    }
    try {
      const alone = this.alone()
      await this.write(batch, alone, alone ? () => release(true) : undefined)
    } finally {
      release(false)
    }
  }

  /**
   * Writes a batch and settles every send in it. What the one statement stored is
   * acknowledged and published before the careful path runs, so a failure there can only
   * refuse the sends that are not stored.
   */
  private async write(batch: Pending[], alone: boolean, overlapNext?: () => void): Promise<void> {
    // The same send twice in one batch (a quick retry): the second gets the first's outcome.
    const first = new Map<string, number>()
    const unique: NewEvent[] = []
    batch.forEach((p, i) => {
      const key = eventKey(p.event)
      if (!first.has(key)) {
        first.set(key, i)
        unique.push(p.event)
      }
    })
    const settled = batch.map(() => false)
    /** Rooms where a send's device was not among the cached members. */
    const unknown = new Set<string>()
    const settle = (outcomes: Map<string, InsertOutcome>): void => {
      const committed: StoredEvent[] = []
      batch.forEach((p, i) => {
        const key = eventKey(p.event)
        const o = outcomes.get(key)
        if (settled[i] || !o) return
        settled[i] = true
        if (first.get(key) !== i && o.ok)
          return p.resolve({ ok: true, seq: o.seq, duplicate: true })
        if (o.ok && o.event) committed.push(o.event)
        // A retry of a stored send: if its first attempt was never published (the process
        // died between commit and fan-out), this is when the others learn of it.
        else if (o.ok) this.onStored(p.event.roomId, o.seq)
        p.resolve(o)
      })
      // Ascending seq overall is ascending seq within each room, which the hub needs.
      committed.sort((a, b) => a.seq - b.seq)
      if (committed.length) this.onCommitted(committed)
    }
    try {
      try {
        const appendables = unique.filter(appendable)
        // Rooms not seen yet, forgotten or read too long ago: their epoch and members, one
        // read for all.
        const now = performance.now()
        if (appendables.some((e) => !this.senders.fresh(e.roomId, now))) {
          const read = await this.senders.load(
            this.db,
            appendables.map((e) => e.roomId),
          )
          this.observer?.sendersRead?.(read)
        }
        const epochs = new Map<string, number>()
        const checked = appendables.filter((e) => {
          const epoch = this.senders.epochFor(e)
          if (epoch !== undefined) epochs.set(e.roomId, epoch)
          // Not a member device as far as the cache knows: the careful path decides.
          else unknown.add(e.roomId)
          return epoch !== undefined
        })
        const t0 = performance.now()
        const fast = await appendMessages(this.db, checked, epochs, new Date(), !alone)
        // A room the statement left out has moved on (a commit, a close): read it afresh.
        const storedRooms = new Set<string>()
        for (const e of fast.values()) storedRooms.add(e.roomId)
        for (const roomId of epochs.keys())
          if (!storedRooms.has(roomId)) this.senders.forget(roomId)
        if (checked.length > 0) this.observer?.stored('fast', (performance.now() - t0) / 1000)
        const outcomes = new Map<string, InsertOutcome>()
        for (const [key, e] of fast) {
          outcomes.set(key, { ok: true, seq: e.seq, duplicate: false, event: e })
        }
        if (overlapNext && fast.size === unique.length) {
          // All stored: nothing can go to the careful path, so the lane is free, and the
          // next batch's statement is sent (the pool hands it a connection on the next
          // tick) before this batch is acknowledged and published on the tick after.
          // Batches still publish in order: each one's tick is queued before the next
          // statement can even complete.
          overlapNext()
          process.nextTick(() => {
            try {
              settle(outcomes)
            } catch (err) {
              this.failed(batch, settled, err)
            }
          })
          return
        }
        settle(outcomes)
      } catch (err) {
        // The statement wrote nothing: a retry stored meanwhile by another process (unique
        // key), or another process locking the same rooms in another order (deadlock,
        // serialization). The careful path sorts it out.
        if (!CAREFUL_AFTER.has((err as { code?: string }).code ?? '')) throw err
      }
      const rest = unique.filter((e) => !settled[first.get(eventKey(e))!])
      if (rest.length > 0) {
        const t0 = performance.now()
        const outcomes = await this.carefully(rest)
        this.observer?.stored('careful', (performance.now() - t0) / 1000)
        // The careful path stored a send the cache did not allow (the device joined, the
        // room was made after it was read): read the room afresh for the next batch.
        rest.forEach((e, i) => {
          const o = outcomes[i]!
          if (o.ok && !o.duplicate && unknown.has(e.roomId)) this.senders.forget(e.roomId)
        })
        settle(new Map(rest.map((e, i) => [eventKey(e), outcomes[i]!])))
      }
    } catch (err) {
      this.failed(batch, settled, err)
    }
  }

  private failed(batch: Pending[], settled: boolean[], err: unknown): void {
    this.logger.warn({ err, batch: batch.length }, 'event batch failed')
    batch.forEach((p, i) => {
      if (!settled[i]) p.reject(err)
    })
  }

  /**
   * The careful path: one transaction under the rooms' row locks. Run again (up to three
   * times) after a unique-key conflict, deadlock or serialization failure: the transaction
   * rolled back whole, and the next attempt reads what the other writer committed.
   */
  private async carefully(events: NewEvent[]): Promise<InsertOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.db
          .transaction()
          .execute((trx) => insertEvents(trx, events, memberDeviceAuthoriser))
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        if (attempt >= 3 || !CAREFUL_AFTER.has(code)) throw err
        this.logger.info({ code, attempt }, 'careful write conflicted; trying again')
      }
    }
  }

  /**
   * A commit changed the room's members: read them afresh for its next batch (without
   * this, that batch's statement would find the epoch moved on and leave the room to the
   * careful path, which is correct but slower).
   */
  roomChanged(roomId: string): void {
    this.senders.forget(roomId)
  }

  /** Waits for queued writes to finish; refuses new ones. */
  async close(): Promise<void> {
    this.closed = true
    while (this.lanes.some((l) => l.queue.length > 0 || l.busy)) {
      for (const l of this.lanes) this.schedule(l)
      await new Promise((r) => setTimeout(r, 5))
    }
  }
}
