/**
 * Operator CLI: `pnpm cli --help`. Every subcommand has `--help`; long work shows progress.
 */
import { Command, CommanderError } from 'commander'
import { cryptoReady } from '@vs/crypto'
import { ConfigError, envToCfg, readEnv, type ServerConfig } from './config.js'
import { Db } from './db/index.js'
import { migrateToLatestOrThrow, migrationStatus } from './db/migrate.js'
import { verifyAuditChain } from './audit.js'
import { progressBar } from './progress.js'

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

  const audit = program.command('audit').description('NEN 7513 audit log')
  audit
    .command('verify')
    .description(
      'check the audit hash chain; names any changed, deleted, inserted or reordered record',
    )
    .action(async () => {
      await withDb(cfg(), async (db) => {
        const bar = progressBar('audit verify')
        const res = await verifyAuditChain(db.db, (done, total) => bar.update(done, total))
        bar.stop()
        if (res.ok) {
          out(`Audit chain intact: ${res.count} records.\n`)
        } else {
          for (const p of res.problems) out(`record ${p.seq}: ${p.problem}\n`)
          out(`Audit chain BROKEN: ${res.problems.length} problem(s) in ${res.count} records.\n`)
          process.exitCode = 2
        }
      })
    })

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
