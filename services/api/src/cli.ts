/**
 * Operator CLI: `pnpm cli --help`. Every subcommand has `--help`; long work shows progress.
 */
import { Command, CommanderError } from 'commander'
import { cryptoReady } from '@vs/crypto'
import { ConfigError, envToCfg, readEnv, type ServerConfig } from './config.js'
import { Db } from './db/index.js'
import { migrateToLatestOrThrow, migrationStatus } from './db/migrate.js'
import { auditRecordJson, auditRecords, verifyAuditChain } from './audit.js'
import { loadOrCreateKeys } from './keys.js'
import { createWriteStream } from 'node:fs'
import { sql } from 'kysely'
import { progressBar } from './progress.js'
import { AppContext } from './context.js'
import { bootstrapInvitation } from './identity/bootstrap.js'
import { ORG_KINDS, ROLES, type OrgKind, type Role } from '@vs/protocol'
import { addRetentionCommand } from './retention/cli.js'

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

async function withDb<T>(cfg: ServerConfig, fn: (db: Db) => Promise<T>): Promise<T> {
  await cryptoReady()
  let db: Db
  try {
    db = await Db.open({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir })
  } catch (err) {
    throw new ConfigError('DATABASE_URL', `cannot connect (${(err as Error).message})`)
  }
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

export function buildCli(
  cfg: () => ServerConfig,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Command {
  const program = new Command()
    .name('pnpm cli')
    .description(
      'Veilig Samenwerken operator tool. Uses DATABASE_URL, or the embedded database in DATA_DIR.',
    )
    .showHelpAfterError()

  const migrate = program.command('migrate').description('database migrations')
  migrate
    .command('up')
    .description('apply all pending migrations')
    .action(async () => {
      await withDb(cfg(), async (db) => {
        out(`Migrating ${db.description}…\n`)
        const applied = await migrateToLatestOrThrow(db.db)
        out(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Already up to date.\n')
      })
    })
  migrate
    .command('status')
    .description('list migrations and whether they ran')
    .action(async () => {
      await withDb(cfg(), async (db) => {
        for (const m of await migrationStatus(db.db)) {
          out(
            `${m.executedAt ? 'applied ' : 'pending '} ${m.name}${m.executedAt ? `  (${m.executedAt.toISOString()})` : ''}\n`,
          )
        }
      })
    })

  const admin = program.command('admin').description('regions, organisations and coordinators')
  admin
    .command('create')
    .description(
      'create a region and organisation if needed, and invite a coordinator (prints the invitation code once)',
    )
    .requiredOption('--region <name>', 'region, e.g. Twente')
    .requiredOption('--organisation <name>', 'organisation, e.g. "Veilig Thuis Twente"')
    .option('--kind <kind>', `organisation kind: ${ORG_KINDS.join(', ')}`, 'anders')
    .requiredOption('--name <name>', 'full name of the coordinator')
    .requiredOption('--email <email>', 'e-mail address of the coordinator')
    .option('--discipline <discipline>', 'discipline shown to others', 'coördinator')
    .option('--role <role>', 'professional, advisor or coordinator', 'coordinator')
    .option('--valid-hours <hours>', 'hours until the invitation expires', '72')
    .action(async (opts: Record<string, string>) => {
      if (!(ORG_KINDS as readonly string[]).includes(opts.kind!)) {
        throw new UsageError(`--kind must be one of: ${ORG_KINDS.join(', ')}`)
      }
      if (!(ROLES as readonly string[]).includes(opts.role!)) {
        throw new UsageError(`--role must be one of: ${ROLES.join(', ')}`)
      }
      const hours = Number(opts.validHours)
      if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 14) {
        throw new UsageError('--valid-hours must be a whole number from 1 to 336')
      }
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(opts.email!))
        throw new UsageError('--email is not an e-mail address')
      const c = cfg()
      await withDb(c, async (db) => {
        await migrateToLatestOrThrow(db.db)
        const ctx = await AppContext.fromConfig({ ...c, ephemeralKeys: true }, { db })
        const inv = await bootstrapInvitation(ctx, {
          region: opts.region!,
          organisation: opts.organisation!,
          kind: opts.kind as OrgKind,
          name: opts.name!,
          email: opts.email!,
          discipline: opts.discipline!,
          role: opts.role as Role,
          validHours: hours,
        })
        out(
          `Invitation for ${opts.name} (${opts.role}) at ${opts.organisation}, region ${opts.region}.\n`,
        )
        out(`Code (shown once): ${inv.code}\n`)
        out(`Link: ${c.publicUrl}/#/uitnodiging/${inv.code}\n`)
        out(`Expires: ${inv.expiresAt.toISOString()}\n`)
      })
    })

  const audit = program.command('audit').description('NEN 7513 audit log')
  audit
    .command('verify')
    .description(
      'check the audit hash chain; names any changed, deleted, inserted or reordered record',
    )
    .action(async () => {
      await withDb(cfg(), async (db) => {
        const bar = progressBar('audit verify')
        const c = cfg()
        const logPk = c.ephemeralKeys ? undefined : loadOrCreateKeys(c.keysDir).log.publicKey
        const res = await verifyAuditChain(db.db, (done, total) => bar.update(done, total), logPk)
        bar.stop()
        if (res.ok) {
          out(`Audit chain intact: ${res.count} records, ${res.checkpoints} signed checkpoints.\n`)
        } else {
          for (const p of res.problems) out(`record ${p.seq}: ${p.problem}\n`)
          out(`Audit chain BROKEN: ${res.problems.length} problem(s) in ${res.count} records.\n`)
          process.exitCode = 2
        }
      })
    })

  audit
    .command('export')
    .description('write audit records as JSON lines (one record per line)')
    .requiredOption('--from <date>', 'start (inclusive), ISO date or date-time, e.g. 2026-11-01')
    .requiredOption('--to <date>', 'end (exclusive), ISO date or date-time')
    .option('--out <file>', 'write to this file instead of standard output')
    .action(async (opts: { from: string; to: string; out?: string }) => {
      const from = new Date(opts.from)
      const to = new Date(opts.to)
      if (Number.isNaN(from.getTime())) throw new UsageError('--from is not a date')
      if (Number.isNaN(to.getTime())) throw new UsageError('--to is not a date')
      if (to <= from) throw new UsageError('--to must be after --from')
      await withDb(cfg(), async (db) => {
        const { total } = await db.db
          .selectFrom('audit_log')
          .select(sql<number>`count(*)::int`.as('total'))
          .where('at', '>=', from)
          .where('at', '<', to)
          .executeTakeFirstOrThrow()
        const sink = opts.out ? createWriteStream(opts.out, { mode: 0o600 }) : undefined
        const write = (line: string) => (sink ? sink.write(line) : out(line))
        const bar = progressBar('audit export')
        let done = 0
        for await (const page of auditRecords(db.db, from, to)) {
          for (const r of page) write(JSON.stringify(auditRecordJson(r)) + '\n')
          done += page.length
          bar.update(done, total)
        }
        bar.update(done, total)
        bar.stop()
        if (sink)
          await new Promise<void>((resolve, reject) =>
            sink.end((err?: Error | null) => (err ? reject(err) : resolve())),
          )
        process.stderr.write(`Exported ${done} audit records.\n`)
      })
    })

  addRetentionCommand(program, cfg, out, withDb, (m) => new UsageError(m))

  return program
}

async function main(): Promise<void> {
  let cached: ServerConfig | undefined
  const program = buildCli(() => (cached ??= envToCfg(readEnv())))
  program.exitOverride()
  try {
    await program.parseAsync(process.argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode
      return
    }
    throw err
  }
}

main().catch((err: unknown) => {
  const msg =
    err instanceof ConfigError ? `configuration error: ${err.message}` : (err as Error).message
  process.stderr.write(`vs-cli: ${msg}\n`)
  process.exit(1)
})
