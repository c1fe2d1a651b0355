/**
 * Batches concurrent message sends: everything queued in one event-loop turn goes into
 * one transaction with one multi-row INSERT. Each sender is acknowledged only after that
 * transaction committed, so an ack always means "durable".
 */
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'
import {
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

export class RoomWriter {
  private queue: Pending[] = []
  private scheduled = false
  private inflight = 0
  private closed = false

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly onCommitted: (events: StoredEvent[]) => void,
    private readonly maxBatch = 512,
    private readonly maxInflight = 4,
  ) {}

  send(event: NewEvent): Promise<InsertOutcome> {
    if (this.closed) return Promise.reject(new Error('writer closed'))
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject })
      this.schedule()
    })
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inflight >= this.maxInflight) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      void this.flush()
    })
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch)
    if (batch.length === 0) return
    this.inflight++
    try {
      const outcomes = await this.db.db.transaction().execute((trx) =>
        insertEvents(
          trx,
          batch.map((p) => p.event),
          memberDeviceAuthoriser,
        ),
      )
      const committed: StoredEvent[] = []
      outcomes.forEach((o, i) => {
        if (o.ok && o.event) committed.push(o.event)
        batch[i]!.resolve(o)
      })
      if (committed.length) this.onCommitted(committed)
    } catch (err) {
      this.logger.warn({ err, batch: batch.length }, 'event batch failed')
      for (const p of batch) p.reject(err)
    } finally {
      this.inflight--
      this.schedule()
    }
  }

  /** Waits for queued writes to finish; refuses new ones. */
  async close(): Promise<void> {
    this.closed = true
    while (this.queue.length > 0 || this.inflight > 0) {
      this.schedule()
      await new Promise((r) => setTimeout(r, 5))
    }
  }
}
