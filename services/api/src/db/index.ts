/**
 * One database interface over two engines: embedded PGlite (real PostgreSQL in WASM,
 * the default so `pnpm start` needs no server) and PostgreSQL through `pg`
 * (`DATABASE_URL`). The same kysely queries and migrations run on both.
 */
import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { CompiledQuery, Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely'
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

/**
 * One LISTEN on a connection of its own that stays open. The first connection must work
 * (start-up fails otherwise); a connection lost later is replaced, with backoff, until it
 * is closed.
 */
class Listener {
  private client: pg.Client | undefined
  private closed = false
  private timer: NodeJS.Timeout | undefined
  private attempts = 0

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly onPayload: (payload: string) => void,
    private readonly onReconnect: (() => void) | undefined,
  ) {}

  async open(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url, keepAlive: true })
    let ready = false
    let lost = false
    const onLost = () => {
      // A failure while connecting is reported by open() itself.
      if (!ready || lost) return
      lost = true
      if (this.client === c) this.client = undefined
      void c.end().catch(() => {})
      this.retry()
    }
    c.on('error', onLost)
    c.on('end', onLost)
    c.on('notification', (n) => {
      if (n.channel === this.channel) this.onPayload(n.payload ?? '')
    })
    try {
      await c.connect()
      await c.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`)
    } catch (err) {
      await c.end().catch(() => {})
      throw err
    }
    if (this.closed) {
      await c.end().catch(() => {})
      return
    }
    ready = true
    this.client = c
    this.attempts = 0
  }

  private retry(): void {
    if (this.closed || this.timer) return
    const delay = Math.min(1000, 50 * 2 ** this.attempts++)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.open().then(
        () => {
          if (!this.closed) this.onReconnect?.()
        },
        () => this.retry(),
      )
    }, delay)
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    const c = this.client
    this.client = undefined
    await c?.end().catch(() => {})
  }
}

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
      onReconnect?: () => void,
    ) => Promise<Unlisten>,
    private readonly closeImpl: () => Promise<void>,
    private readonly statsImpl: () => { total: number; idle: number; waiting: number },
    private readonly preparedImpl: <T>(
      name: string,
      text: string,
      values: readonly unknown[],
    ) => Promise<T[]>,
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
      // Through kysely's single connection, never `instance.query` directly: PGlite is one
      // session, and a statement sent past kysely's lock would run inside whatever
      // transaction another caller has open on it (and roll back with it).
      async <T>(_name: string, text: string, values: readonly unknown[]) =>
        (await db.executeQuery<T>(CompiledQuery.raw(text, [...values]))).rows,
    )
  }

  private static async openPostgres(url: string, poolSize: number): Promise<Db> {
    const pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: 5000,
      // Connections are replaced every ten minutes: a prepared statement's cached plan
      // (the message append's) is made again against the tables as they are now, not
      // as they were when the connection opened (empty, on a new installation).
      maxLifetimeSeconds: 600,
    })
    // An idle client erroring (e.g. the server restarted) must not crash the process.
    pool.on('error', () => {})
    // Neither must a checked-out one: the pool listens for errors on idle clients only,
    // and a client whose connection drops emits 'error' even while its holder waits on a
    // query (which fails as well) or sits between the statements of a transaction. With
    // no listener that event killed the process. The pool drops such a client on release.
    pool.on('connect', (client) => client.on('error', () => {}))
    const client = await pool.connect()
    client.release()
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
    const parsed = new URL(url)
    const listeners = new Set<Listener>()
    return new Db(
      'postgres',
      db,
      `PostgreSQL at ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`,
      async (channel, onPayload, onReconnect) => {
        const l = new Listener(url, channel, onPayload, onReconnect)
        await l.open()
        listeners.add(l)
        return async () => {
          listeners.delete(l)
          await l.close()
        }
      },
      async () => {
        await Promise.all([...listeners].map((l) => l.close()))
        await db.destroy()
      },
      () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      async <T>(name: string, text: string, values: readonly unknown[]) =>
        (await pool.query<T & pg.QueryResultRow>({ name, text, values: [...values] })).rows,
    )
  }

  /**
   * Subscribes to a NOTIFY channel. On PostgreSQL the subscription survives a lost
   * connection (a restarted server): it connects and LISTENs again by itself, then calls
   * `onReconnect`; notifications sent while it was away are lost, so that is the moment
   * to catch up from the database.
   */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    onReconnect?: () => void,
  ): Promise<Unlisten> {
    return this.listenImpl(channel, onPayload, onReconnect)
  }

  /**
   * Runs a hot statement as a named prepared statement: on PostgreSQL each connection
   * parses and plans `text` once and then only executes it. `text` must be the same for
   * every call with that `name` (pass arrays, not a varying number of parameters).
   */
  prepared<T>(name: string, text: string, values: readonly unknown[]): Promise<T[]> {
    return this.preparedImpl<T>(name, text, values)
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
