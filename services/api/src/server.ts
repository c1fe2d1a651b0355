/**
 * Start-up and shutdown, shared by `index.ts` and the tests that run a real process:
 * config → context → migrate → app → listen; SIGTERM/SIGINT drain and close.
 */
import { ConfigError, type ServerConfig } from './config.js'
import { AppContext, type ContextOverrides } from './context.js'
import { KeyConfigError } from './keys.js'
import { MigrationError, migrateToLatestOrThrow } from './db/migrate.js'
import { createApp, type App } from './app.js'

export class StartupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StartupError'
  }
}

export interface RunningServer {
  ctx: AppContext
  app: App
  url: string
  close(): Promise<void>
}

function describeConnectError(err: unknown): string {
  const e = err as { code?: string; message?: string }
  return e.code ?? e.message ?? String(err)
}

export async function startServer(
  cfg: ServerConfig,
  overrides: ContextOverrides = {},
): Promise<RunningServer> {
  let ctx: AppContext
  try {
    ctx = await AppContext.fromConfig(cfg, overrides)
  } catch (err) {
    if (err instanceof KeyConfigError) throw new ConfigError(err.variable, err.message)
    if (cfg.databaseUrl) {
      throw new ConfigError(
        'DATABASE_URL',
        `cannot connect to the database (${describeConnectError(err)})`,
      )
    }
    throw new StartupError(
      `cannot open the embedded database in ${cfg.dataDir}: ${describeConnectError(err)}`,
    )
  }
  try {
    const applied = await migrateToLatestOrThrow(ctx.db.db)
    if (applied.length > 0) ctx.logger.info({ applied }, 'migrations applied')
  } catch (err) {
    await ctx.close()
    if (err instanceof MigrationError) throw new StartupError(err.message)
    throw err
  }
  const app = await createApp(ctx)
  try {
    await app.listen({ port: cfg.port, host: cfg.host })
  } catch (err) {
    await app.close()
    await ctx.close()
    throw new ConfigError(
      'PORT',
      `cannot listen on ${cfg.host}:${cfg.port} (${describeConnectError(err)})`,
    )
  }
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : cfg.port
  const shownHost = cfg.host === '0.0.0.0' || cfg.host === '::' ? 'localhost' : cfg.host
  const url = `http://${shownHost}:${port}`
  ctx.logger.info(
    { url, database: ctx.db.kind },
    `Veilig Samenwerken listening on ${url}, database: ${ctx.db.description}`,
  )
  let closing: Promise<void> | undefined
  return {
    ctx,
    app,
    url,
    close() {
      closing ??= (async () => {
        await app.close()
        await ctx.close()
      })()
      return closing
    },
  }
}
