/**
 * Batches concurrent message sends. Sends are split into lanes by room, so two batches in
 * flight never touch the same room row and never wait on each other's locks; PostgreSQL
 * flushes their commits together. Everything queued on a lane in one event-loop turn goes
 * into one autocommit statement (`appendMessages`); what that statement leaves out
 * (retries, refusals, races with a commit) goes through the careful path, `insertEvents`
 * under row locks. Each sender is acknowledged only after its row committed, so an ack
 * always means "durable".
 */
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import { appendable, appendMessages } from './append.js'
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

export class RoomWriter {
  private readonly lanes: Lane[]
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly onCommitted: (events: StoredEvent[]) => void,
    private readonly maxBatch = 512,
    lanes = 4,
  ) {
    this.lanes = Array.from({ length: lanes }, () => ({
      queue: [],
      scheduled: false,
      busy: false,
    }))
  }

  send(event: NewEvent): Promise<InsertOutcome> {
    if (this.closed) return Promise.reject(new Error('writer closed'))
    const lane = this.lanes[laneOf(event.roomId, this.lanes.length)]!
    return new Promise((resolve, reject) => {
      lane.queue.push({ event, resolve, reject })
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
    lane.busy = true
    try {
      const outcomes = await this.write(batch.map((p) => p.event))
      const committed: StoredEvent[] = []
      outcomes.forEach((o, i) => {
        if (o.ok && o.event) committed.push(o.event)
        batch[i]!.resolve(o)
      })
      // Ascending seq overall is ascending seq within each room, which the hub needs.
      committed.sort((a, b) => a.seq - b.seq)
      if (committed.length) this.onCommitted(committed)
    } catch (err) {
      this.logger.warn({ err, batch: batch.length }, 'event batch failed')
      for (const p of batch) p.reject(err)
    } finally {
      lane.busy = false
      this.schedule(lane)
    }
  }

  /** Outcomes in the order of `events`; committed events come back in seq order per room. */
  private async write(events: NewEvent[]): Promise<InsertOutcome[]> {
    // The same send twice in one batch (a quick retry): the second gets the first's outcome.
    const first = new Map<string, number>()
    const unique: NewEvent[] = []
    events.forEach((e, i) => {
      const key = eventKey(e)
      if (!first.has(key)) {
        first.set(key, i)
        unique.push(e)
      }
    })
    const now = new Date()
    let fast = new Map<string, StoredEvent>()
    try {
      fast = await appendMessages(this.db, unique.filter(appendable), now)
    } catch (err) {
      // A unique violation: a retry of one of these was stored meanwhile by another
      // process. The statement wrote nothing; the careful path sorts it out.
      if ((err as { code?: string }).code !== '23505') throw err
    }
    const rest = unique.filter((e) => !fast.has(eventKey(e)))
    const careful = new Map<string, InsertOutcome>()
    if (rest.length > 0) {
      const outcomes = await this.db.db
        .transaction()
        .execute((trx) => insertEvents(trx, rest, memberDeviceAuthoriser))
      rest.forEach((e, i) => careful.set(eventKey(e), outcomes[i]!))
    }
    return events.map((e, i) => {
      const key = eventKey(e)
      const stored = fast.get(key)
      const o: InsertOutcome = stored
        ? { ok: true, seq: stored.seq, duplicate: false, event: stored }
        : careful.get(key)!
      if (first.get(key) === i || !o.ok) return o
      return { ok: true, seq: o.seq, duplicate: true }
    })
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
