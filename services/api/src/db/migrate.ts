import type { Kysely } from 'kysely'
import { Migrator, type MigrationResultSet } from 'kysely/migration'
import { migrationProvider } from '@vs/migrations'

export class MigrationError extends Error {
  constructor(
    readonly migration: string | undefined,
    cause: unknown,
  ) {
    super(
      `migration ${migration ?? '(unknown)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    )
    this.name = 'MigrationError'
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: migrationProvider })
}

/** kysely's Migrator returns errors instead of throwing; this throws. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToLatestOrThrow(db: Kysely<any>): Promise<string[]> {
  const { error, results }: MigrationResultSet = await migrator(db).migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error) throw new MigrationError(failed?.migrationName, error)
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

export interface MigrationStatus {
  name: string
  executedAt: Date | undefined
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrationStatus(db: Kysely<any>): Promise<MigrationStatus[]> {
  const list = await migrator(db).getMigrations()
  return list.map((m) => ({ name: m.name, executedAt: m.executedAt }))
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function isFullyMigrated(db: Kysely<any>): Promise<boolean> {
  const list = await migrationStatus(db)
  return list.every((m) => m.executedAt !== undefined)
}
