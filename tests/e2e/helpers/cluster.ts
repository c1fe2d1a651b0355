/**
 * Real API processes (`services/api/src/index.ts` through tsx's loader) sharing one PostgreSQL
 * database, for the cross-process suites. Every process gets the same KEYS_DIR and
 * PUBLIC_URL, so an access token issued by one is valid on every other; a process can be
 * killed and restarted on the same port, so clients keep a fixed base URL.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import {
  apiRoot,
  createEmptyPostgresDb,
  freePort,
  repoRoot,
  runScript,
  type ApiProcess,
} from '@vs/api/testing'

/** The PostgreSQL the CI and the developers' machines run; used when DATABASE_URL is unset. */
export const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres'

function withoutPassword(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable URL)'
  }
}

/**
 * The PostgreSQL server these suites run on: DATABASE_URL, else the local server.
 * Several processes need one database they can all reach, which PGlite cannot offer, so
 * no PostgreSQL is a failure with a clear message, never a silent skip.
 */
export async function requirePostgres(): Promise<string> {
  const url = process.env.DATABASE_URL || LOCAL_POSTGRES
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  c.on('error', () => {})
  try {
    await c.connect()
    await c.query('select 1')
  } catch (err) {
    throw new Error(
      `This cross-process suite needs PostgreSQL (several API processes must share one ` +
        `database; PGlite is in-process only). Could not connect to ${withoutPassword(url)}: ` +
        `${(err as Error).message}. Set DATABASE_URL=postgres://… or start PostgreSQL on ` +
        `127.0.0.1:5432.`,
      { cause: err },
    )
  } finally {
    await c.end().catch(() => {})
  }
  return url
}

/**
 * Starts the API on `port` (a free one if not given) and waits until /healthz answers.
 *
 * The server runs as one plain `node --import tsx` process, not under the `tsx` command:
 * that command is a wrapper that forks the real server, so SIGKILL to it would kill only
 * the wrapper and leave the server running (and holding its port).
 */
export async function spawnApi(
  env: Record<string, string>,
  port?: number,
  timeoutMs = 30_000,
): Promise<ApiProcess> {
  const p = port ?? (await freePort())
  const url = `http://127.0.0.1:${p}`
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(apiRoot, 'src', 'index.ts')],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...env,
        HOST: '127.0.0.1',
        PORT: String(p),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  let exitCode: number | null | undefined
  void exited.then((c) => (exitCode = c))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (exitCode !== undefined) throw new Error(`API exited with ${exitCode}: ${out}`)
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      if (res.ok) break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`API did not start within ${timeoutMs} ms: ${out}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    child,
    url,
    port: p,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

export interface Cluster {
  /** The test's own database on the PostgreSQL server. */
  databaseUrl: string
  /** The environment every process (and the CLI) runs with. */
  env: Record<string, string>
  /** The running processes; `restart` replaces an entry in place. */
  apis: ApiProcess[]
  /** Kills process `i` with SIGKILL (no drain, no goodbye) and waits until it is gone. */
  kill(i: number): Promise<void>
  /** Starts process `i` again on the port it had. */
  restart(i: number): Promise<ApiProcess>
  /** Single-use invitation code of the region's first coordinator (made with the CLI). */
  coordinatorCode: string
  /** Everything every process ever printed, killed ones included. */
  output(): string
  close(): Promise<void>
}

/**
 * Creates an empty database, migrates it with the CLI, and starts `processes` API processes.
 * `serverUrl` puts the database on another PostgreSQL server than DATABASE_URL (a private
 * one the test may kill, see pg-cluster.ts).
 */
export async function startCluster(
  opts: { processes?: number; logLevel?: string; serverUrl?: string } = {},
): Promise<Cluster> {
  const serverUrl = opts.serverUrl ?? (await requirePostgres())
  const database = await createEmptyPostgresDb(serverUrl)
  const keysDir = await mkdtemp(path.join(tmpdir(), 'vs-e2e-keys-'))
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    KEYS_DIR: keysDir,
    // Never used for PGlite (DATABASE_URL is set), but keep the repo's ./data untouched.
    DATA_DIR: keysDir,
    LOG_LEVEL: opts.logLevel ?? 'warn',
    PUBLIC_URL: 'http://127.0.0.1',
    RATE_LIMIT_MAX: '100000',
  }
  const apis: ApiProcess[] = []
  const dead: ApiProcess[] = []
  const cluster: Cluster = {
    coordinatorCode: '',
    databaseUrl: database.url,
    env,
    apis,
    async kill(i) {
      const api = apis[i]!
      api.child.kill('SIGKILL')
      await api.exited
    },
    async restart(i) {
      const old = apis[i]!
      dead.push(old)
      const next = await spawnApi(env, old.port)
      apis[i] = next
      return next
    },
    output() {
      return [...dead, ...apis].map((a) => a.output()).join('\n')
    },
    async close() {
      await Promise.all(apis.map((a) => a.stop('SIGKILL')))
      await database.drop().catch(() => {})
      await rm(keysDir, { recursive: true, force: true })
    },
  }
  try {
    // The operator's first step, as in production: the CLI migrates the database and
    // invites the region's first coordinator. It runs before any API process, so they
    // never race on migrations; they start one after another because the first one
    // creates the shared keys in KEYS_DIR.
    const cli = runScript(
      'cli.ts',
      [
        'admin',
        'create',
        '--region',
        'Twente',
        '--organisation',
        'GGD Twente',
        '--kind',
        'jgz',
        '--name',
        'Coördinator Twente',
        '--email',
        'coordinator@example.nl',
        '--role',
        'coordinator',
      ],
      env,
    )
    const code = await cli.exited
    const m = /Code \(shown once\): (\S+)/.exec(cli.output())
    if (code !== 0 || !m) throw new Error(`admin create failed (${code}): ${cli.output()}`)
    cluster.coordinatorCode = m[1]!
    for (let i = 0; i < (opts.processes ?? 2); i++) apis.push(await spawnApi(env))
  } catch (err) {
    await cluster.close()
    throw err
  }
  return cluster
}
