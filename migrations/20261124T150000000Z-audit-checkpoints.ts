import { sql, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Signed checkpoints over the audit chain: truncating or rewriting the log before a
  // checkpoint is detectable even by someone who can rewrite every hash after it.
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', 'integer', (c) => c.primaryKey())
    .addColumn('hash', 'bytea', (c) => c.notNull())
    .addColumn('signature', 'bytea', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  // Scheduled jobs: a lease per job so one process runs it at a time, and the last run
  // so a restart resumes instead of repeating.
  await db.schema
    .createTable('jobs')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('last_run_at', 'timestamptz')
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('jobs').execute()
  await db.schema.dropTable('audit_checkpoints').execute()
}
