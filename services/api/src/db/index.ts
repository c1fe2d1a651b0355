/**
 * One database interface over two engines: embedded PGlite (real PostgreSQL in WASM,
 * the default so `pnpm start` needs no server) and PostgreSQL through `pg`
 * (`DATABASE_URL`). The same kysely queries and migrations run on both.
 */
import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { Database } from './schema.js'

export type DbKind = 'pglite' | 'postgres'

// int8 columns hold counters and millisecond times, all far below 2^53: read them as
// numbers on both engines so the same code runs on each.
pg.types.setTypeParser(20, (v: string) => Number(v))

/** PGlite options shared by every place that opens an embedded database. */
export const pgliteOptions = { parsers: { 20: (v: string) => Number(v) } }

export interface DbOptions {
  databaseUrl?: string | undefined
  /** PGlite data folder; ignored with a URL. `undefined` with no URL means in-memory. */
  dataDir?: string | undefined
  /** An already opened PGlite instance (tests load a migrated template). */
  pglite?: PGlite
  poolSize?: number
}

export type Unlisten = () => Promise<void>

export class Db {
  private closed = false

  private constructor(
    readonly kind: DbKind,
    readonly db: Kysely<Database>,
    /** Human description for the start-up log line (never includes a password). */
    readonly description: string,
    private readonly listenImpl: (
      channel: string,
      onPayload: (payload: string) => void,
    ) => Promise<Unlisten>,
    private readonly closeImpl: () => Promise<void>,
    private readonly statsImpl: () => { total: number; idle: number; waiting: number },
  ) {}

  static async open(opts: DbOptions): Promise<Db> {
    if (opts.databaseUrl) return Db.openPostgres(opts.databaseUrl, opts.poolSize ?? 20)
    return Db.openPglite(opts)
  }

  private static async openPglite(opts: DbOptions): Promise<Db> {
    let pglite = opts.pglite
    if (!pglite) {
      if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true })
      pglite = opts.dataDir
        ? await PGlite.create(opts.dataDir, pgliteOptions)
        : await PGlite.create(pgliteOptions)
    }
    const instance = pglite
    const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite: instance }) })
    return new Db(
      'pglite',
      db,
      opts.dataDir ? `PGlite (embedded) in ${opts.dataDir}` : 'PGlite (embedded, in memory)',
      async (channel, onPayload) => {
        const unsub = await instance.listen(channel, onPayload)
        return async () => {
          if (!instance.closed) await unsub()
        }
      },
      async () => {
        await db.destroy()
        if (!instance.closed) await instance.close()
      },
      () => ({ total: 1, idle: 1, waiting: 0 }),
    )
  }

  private static async openPostgres(url: string, poolSize: number): Promise<Db> {
    const pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: 5000,
    })
    // An idle client erroring (e.g. the server restarted) must not crash the process.
    pool.on('error', () => {})
    const client = await pool.connect()
    client.release()
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    const parsed = new URL(url)
    const listeners: pg.Client[] = []
    return new Db(
      'postgres',
      db,
      `PostgreSQL at ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`,
      async (channel, onPayload) => {
        // LISTEN needs a connection of its own that stays open.
        const c = new pg.Client({ connectionString: url })
        c.on('error', () => {})
        await c.connect()
        c.on('notification', (n) => {
          if (n.channel === channel) onPayload(n.payload ?? '')
        })
        await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`)
        listeners.push(c)
        return async () => {
          listeners.splice(listeners.indexOf(c), 1)
          await c.end().catch(() => {})
        }
      },
      async () => {
        await Promise.all(listeners.map((c) => c.end().catch(() => {})))
        await db.destroy()
      },
      () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    )
  }

  /** Subscribes to a NOTIFY channel. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<Unlisten> {
    return this.listenImpl(channel, onPayload)
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db)
  }

  poolStats(): { total: number; idle: number; waiting: number } {
    return this.statsImpl()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.closeImpl()
  }
}
