/**
 * Cross-process announcements over PostgreSQL LISTEN/NOTIFY. Commits are announced
 * after they are durable, batched per event-loop turn (room → highest seq), never one
 * NOTIFY per message inside the message's own transaction: that would serialise every
 * writer on the notification queue lock.
 */
import { sql } from 'kysely'
import { randomId } from '@vs/crypto'
import type { Db, Unlisten } from '../db/index.js'
import type { Logger } from '../logger.js'

export const EVENTS_CHANNEL = 'vs_events'
export const SESSIONS_CHANNEL = 'vs_sessions'
const MAX_PAYLOAD = 7000

export class Notifier {
  readonly nodeId = randomId()
  private pending = new Map<string, number>()
  private scheduled = false
  private unlisten: Unlisten | undefined

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  async start(
    onRemote: (roomId: string, seq: number) => void,
    onSessionsEnded: (m: { userId: string; sessionId?: string }) => void = () => {},
  ): Promise<void> {
    const events = await this.db.listen(EVENTS_CHANNEL, (payload) => {
      try {
        const msg = JSON.parse(payload) as { n: string; r: [string, number][] }
        if (msg.n === this.nodeId) return
        for (const [room, seq] of msg.r) onRemote(room, seq)
      } catch (err) {
        this.logger.warn({ err }, 'bad notification payload')
      }
    })
    const sessions = await this.db.listen(SESSIONS_CHANNEL, (payload) => {
      try {
        const msg = JSON.parse(payload) as { n: string; u: string; s?: string }
        if (msg.n !== this.nodeId)
          onSessionsEnded({ userId: msg.u, ...(msg.s ? { sessionId: msg.s } : {}) })
      } catch (err) {
        this.logger.warn({ err }, 'bad notification payload')
      }
    })
    this.unlisten = async () => {
      await events()
      await sessions()
    }
  }

  /** Tells the other processes to close the sockets of ended sessions (sign-out). */
  async announceSessionsEnded(m: { userId: string; sessionId?: string }): Promise<void> {
    const payload = JSON.stringify({
      n: this.nodeId,
      u: m.userId,
      ...(m.sessionId ? { s: m.sessionId } : {}),
    })
    try {
      await sql`select pg_notify(${SESSIONS_CHANNEL}, ${payload})`.execute(this.db.db)
    } catch (err) {
      this.logger.warn({ err }, 'notify failed')
    }
  }

  announce(roomId: string, seq: number): void {
    if ((this.pending.get(roomId) ?? 0) < seq) this.pending.set(roomId, seq)
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => void this.flush())
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    const entries = [...this.pending.entries()]
    this.pending.clear()
    const payloads: string[] = []
    let chunk: [string, number][] = []
    for (const e of entries) {
      chunk.push(e)
      if (JSON.stringify(chunk).length > MAX_PAYLOAD) {
        chunk.pop()
        payloads.push(JSON.stringify({ n: this.nodeId, r: chunk }))
        chunk = [e]
      }
    }
    if (chunk.length) payloads.push(JSON.stringify({ n: this.nodeId, r: chunk }))
    for (const p of payloads) {
      try {
        await sql`select pg_notify(${EVENTS_CHANNEL}, ${p})`.execute(this.db.db)
      } catch (err) {
        // Other processes still catch up from their cursors on the next event or resync.
        this.logger.warn({ err }, 'notify failed')
      }
    }
  }

  async stop(): Promise<void> {
    await this.unlisten?.()
  }
}
