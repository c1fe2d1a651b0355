/**
 * The scheduled retention job: hourly, under the scheduler's lease so one API process
 * runs it at a time; each run handles at most `RETENTION_BATCH` deletions (each its own
 * transaction with its audit record), the rest waits for the next run.
 */
import type { AppContext } from '../context.js'
import type { Job } from '../jobs/scheduler.js'
import { runRetention, type RetentionPolicy } from './retention.js'

export const RETENTION_BATCH = 500

export function retentionPolicy(cfg: {
  retentionConsultMonths: number
  retentionCaseYears: number
}): RetentionPolicy {
  return { consultMonths: cfg.retentionConsultMonths, caseYears: cfg.retentionCaseYears }
}

export function retentionJob(ctx: AppContext): Job {
  return {
    name: 'retention',
    everyMs: 60 * 60_000,
    leaseMs: 30 * 60_000,
    run: async (now) => {
      const report = await runRetention(ctx.db.db, {
        now,
        policy: retentionPolicy(ctx.cfg),
        limit: RETENTION_BATCH,
        logger: ctx.logger,
      })
      if (report.deleted.length || report.archived.length)
        ctx.logger.info(
          { deleted: report.deleted.length, archived: report.archived.length, more: report.more },
          'retention run',
        )
    },
  }
}
