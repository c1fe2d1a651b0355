/**
 * Test databases. The global setup migrates one template per run (a PGlite data-dir dump,
 * or a PostgreSQL template database when DATABASE_URL is set); each test file gets its
 * own copy and drops it afterwards, so files run in parallel without sharing state.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { cryptoReady } from '@vs/crypto'
import { Db, pgliteOptions } from '../../src/db/index.js'
import { migrateToLatestOrThrow } from '../../src/db/migrate.js'

export interface TestDbTemplate {
  kind: 'pglite' | 'postgres'
  /** PGlite: path of the dumped data dir. PostgreSQL: name of the template database. */
  ref: string
  /** PostgreSQL server URL (without database) when kind is postgres. */
  serverUrl?: string
}

export interface TestDb {
  db: Db
  /** PostgreSQL URL of this test's own database (undefined on PGlite). */
  databaseUrl: string | undefined
  close(): Promise<void>
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

async function adminQuery(serverUrl: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') })
  await c.connect()
  try {
    await c.query(text)
  } finally {
    await c.end()
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

/** Called once per run by the vitest global setup. */
export async function createTemplate(
  databaseUrl: string | undefined,
  dumpPath: string,
): Promise<{ template: TestDbTemplate; teardown: () => Promise<void> }> {
  await cryptoReady()
  if (databaseUrl) {
    const name = uniqueName('vs_tpl')
    await adminQuery(databaseUrl, `CREATE DATABASE ${name}`)
    const db = await Db.open({ databaseUrl: withDatabase(databaseUrl, name) })
    await migrateToLatestOrThrow(db.db)
    await db.close()
    return {
      template: { kind: 'postgres', ref: name, serverUrl: databaseUrl },
      teardown: () => adminQuery(databaseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    }
  }
  const pglite = await PGlite.create(pgliteOptions)
  const db = await Db.open({ pglite })
  await migrateToLatestOrThrow(db.db)
  const blob = await pglite.dumpDataDir('none')
  const { writeFile } = await import('node:fs/promises')
  await writeFile(dumpPath, new Uint8Array(await blob.arrayBuffer()))
  await db.close()
  return { template: { kind: 'pglite', ref: dumpPath }, teardown: async () => {} }
}

/** A fresh, migrated database for one test file. */
export async function createTestDb(template: TestDbTemplate): Promise<TestDb> {
  await cryptoReady()
  if (template.kind === 'postgres') {
    const serverUrl = template.serverUrl!
    const name = uniqueName('vs_test')
    await adminQuery(serverUrl, `CREATE DATABASE ${name} TEMPLATE ${template.ref}`)
    const url = withDatabase(serverUrl, name)
    const db = await Db.open({ databaseUrl: url, poolSize: 10 })
    return {
      db,
      databaseUrl: url,
      async close() {
        await db.close()
        await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      },
    }
  }
  const data = await readFile(template.ref)
  const pglite = await PGlite.create({ ...pgliteOptions, loadDataDir: new Blob([data]) })
  const db = await Db.open({ pglite })
  return { db, databaseUrl: undefined, close: () => db.close() }
}

/** A new empty PostgreSQL database (for real-process tests that migrate themselves). */
export async function createEmptyPostgresDb(
  serverUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = uniqueName('vs_proc')
  await adminQuery(serverUrl, `CREATE DATABASE ${name}`)
  return {
    url: withDatabase(serverUrl, name),
    drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  }
}
