import { describe, expect, it } from 'vitest'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PGliteDialect, sql } from 'kysely'
import { Migrator } from 'kysely/migration'
import { MigrationError } from './migrate.js'

describe('migrations', () => {
  it('a failing migration surfaces as an error naming the migration', async () => {
    const pglite = await PGlite.create()
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const db = new Kysely<any>({ dialect: new PGliteDialect({ pglite }) })
    try {
      const migrator = new Migrator({
        db,
        provider: {
          getMigrations: async () => ({
            '001-ok': { up: async (d) => void (await sql`create table ok (id int)`.execute(d)) },
            '002-broken': { up: async (d) => void (await sql`create tabel broken`.execute(d)) },
          }),
        },
      })
      const { error, results } = await migrator.migrateToLatest()
      const failed = results?.find((r) => r.status === 'Error')
      const err = new MigrationError(failed?.migrationName, error)
      expect(err.message).toMatch(/^migration 002-broken failed: /)
    } finally {
      await db.destroy()
    }
  })
})
