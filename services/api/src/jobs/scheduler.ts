/**
 * Periodic jobs inside the API process. Before a run, a process takes the job's lease
 * with one atomic UPDATE (free or expired leases only), so with several API processes
 * exactly one runs each round; no connection is held while the job works. Jobs keep
 * their own progress in the database (what was sent, up to where), so a restart
 * resumes where it stopped and nothing fires twice.
 */
import { sql } from 'kysely'
import { randomId } from '@vs/crypto'
import type { Db } from '../db/index.js'
import type { Logger } from '../logger.js'

export interface Job {
  name: string
  everyMs: number
  /** How long a run may take before another process may take over. */
  leaseMs?: number
  run(now: Date): Promise<void>
}

export class Scheduler {
  readonly owner = randomId()
  private timers: NodeJS.Timeout[] = []
  private running = new Set<Promise<boolean>>()
  private stopped = false

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  add(job: Job): void {
    const t = setInterval(() => {
      if (this.stopped) return
      const p = this.runOnce(job).finally(() => this.running.delete(p))
      this.running.add(p)
    }, job.everyMs)
    t.unref()
    this.timers.push(t)
  }

  /** Runs a job now unless another process holds its lease; returns whether it ran. */
  async runOnce(job: Job): Promise<boolean> {
    const now = this.now()
    const leaseUntil = new Date(now.getTime() + (job.leaseMs ?? 60_000))
    try {
      await this.db.db
        .insertInto('jobs')
        .values({ name: job.name })
        .onConflict((oc) => oc.doNothing())
        .execute()
      const taken = await this.db.db
        .updateTable('jobs')
        .set({ lease_owner: this.owner, lease_until: leaseUntil })
        .where('name', '=', job.name)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .executeTakeFirst()
      if (Number(taken.numUpdatedRows) !== 1) return false
      try {
        await job.run(now)
      } finally {
        await this.db.db
          .updateTable('jobs')
          .set({ lease_owner: null, lease_until: null, last_run_at: sql`now()` })
          .where('name', '=', job.name)
          .where('lease_owner', '=', this.owner)
          .execute()
      }
      return true
    } catch (err) {
      this.logger.warn({ err, job: job.name }, 'job failed')
      return false
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    await Promise.all(this.running)
  }
}
