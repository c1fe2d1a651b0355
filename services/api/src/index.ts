/**
 * The API process: read env → config → create → migrate → listen → close on SIGTERM.
 */
import { ConfigError, envToCfg, readEnv } from './config.js'
import { StartupError, startServer } from './server.js'

const HELP = `Veilig Samenwerken API server

Usage: pnpm start            (builds the web client, then starts this server)
       tsx services/api/src/index.ts

Environment:
  PORT            port to listen on (default 8080)
  HOST            address to bind (default 0.0.0.0)
  DATABASE_URL    postgres://… to use PostgreSQL; without it the embedded PGlite is used
  DATA_DIR        PGlite data folder (default ./data)
  LOG_LEVEL       fatal|error|warn|info|debug|trace|silent (default info)
  PUBLIC_URL      public origin, used as token issuer/audience (default http://localhost:PORT)
  KEYS_DIR        server keys folder (default DATA_DIR/keys)
  BODY_LIMIT      maximum request body in bytes (default 1048576)
  RATE_LIMIT_MAX  requests per minute per address (default 600)
  TRUST_PROXY     trust X-Forwarded-* headers from a reverse proxy (default false)
  TOKEN_KEYS      token keys as a JSON array of key files (instead of KEYS_DIR)
  LOG_KEY         key-log key as a JSON key file (instead of KEYS_DIR)
`

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(HELP)
    return
  }
  const cfg = envToCfg(readEnv())
  const server = await startServer(cfg)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    server.ctx.logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      server.ctx.logger.error('shutdown took longer than the deadline; exiting')
      process.exit(1)
    }, cfg.shutdownTimeoutMs)
    force.unref()
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.ctx.logger.error({ err }, 'error during shutdown')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`vs-api: configuration error: ${err.message}\n`)
  } else if (err instanceof StartupError) {
    process.stderr.write(`vs-api: cannot start: ${err.message}\n`)
  } else {
    process.stderr.write(
      `vs-api: cannot start: ${err instanceof Error ? err.message : String(err)}\n`,
    )
  }
  process.exit(1)
})
