/**
 * `pnpm cli retention run [--dry-run] [--now <date>]`: the same run as the scheduled job,
 * by hand, with progress on stderr and one line per room on stdout.
 */
import type { Command } from 'commander'
import type { Db } from '../db/index.js'
import type { ServerConfig } from '../config.js'
import { isFullyMigrated } from '../db/migrate.js'
import { progressBar } from '../progress.js'
import { retentionPolicy } from './job.js'
import { runRetention, type DueRoom } from './retention.js'

const day = (d: Date) => d.toISOString().slice(0, 10)

function describe(d: DueRoom): string {
  const why = d.basis === 'closed' ? `closed ${day(d.since)}` : `last activity ${day(d.since)}`
  return `${d.kind.padEnd(7)} ${d.roomId}  ${why}, due ${day(d.dueAt)}`
}

export function addRetentionCommand(
  program: Command,
  cfg: () => ServerConfig,
  out: (s: string) => void,
  withDb: <T>(cfg: ServerConfig, fn: (db: Db) => Promise<T>) => Promise<T>,
  usage: (message: string) => Error,
): void {
  const retention = program
    .command('retention')
    .description('retention of room content: archive closed case rooms, delete what is due')
  retention
    .command('run')
    .description(
      'archive closed case rooms and meldingen, and delete (crypto-shred) every room past its ' +
        'period: consultations RETENTION_CONSULT_MONTHS after closing (default 6), case rooms ' +
        'and meldingen RETENTION_CASE_YEARS after closing or last activity (default 20); one ' +
        'audit record per deletion',
    )
    .option('--dry-run', 'list what would be archived and deleted, and change nothing')
    .option('--now <date>', 'with --dry-run: evaluate as of this ISO date, e.g. 2027-06-01')
    .action(async (opts: { dryRun?: boolean; now?: string }) => {
      let now = new Date()
      if (opts.now !== undefined) {
        if (!opts.dryRun) throw usage('--now is only allowed with --dry-run')
        now = new Date(opts.now)
        if (Number.isNaN(now.getTime())) throw usage('--now is not a date')
      }
      const c = cfg()
      const policy = retentionPolicy(c)
      await withDb(c, async (db) => {
        if (!(await isFullyMigrated(db.db)))
          throw usage('the database is not migrated; run `pnpm cli migrate up` first')
        const bar = progressBar(opts.dryRun ? 'retention (dry run)' : 'retention')
        const report = await runRetention(db.db, {
          now,
          policy,
          dryRun: opts.dryRun ?? false,
          onProgress: (done, total) => bar.update(done, total),
        })
        bar.stop()
        const verb = opts.dryRun ? 'would ' : ''
        out(
          `Retention as of ${now.toISOString()}: consultations ${policy.consultMonths} months, ` +
            `case rooms and meldingen ${policy.caseYears} years.\n`,
        )
        for (const a of report.archived)
          out(`${verb}archive ${a.kind.padEnd(7)} ${a.roomId}  closed ${day(a.closedAt)}\n`)
        for (const d of report.deleted) out(`${verb}delete  ${describe(d)}\n`)
        if (opts.dryRun) {
          out(
            `Dry run: ${report.archived.length} to archive, ${report.deleted.length} to delete; nothing changed.\n`,
          )
        } else {
          out(
            `Archived ${report.archived.length}, deleted ${report.deleted.length} rooms; ` +
              `${report.archived.length + report.deleted.length} audit records written.\n`,
          )
        }
      })
    })
}
