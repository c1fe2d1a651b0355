import { sql, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // What the server needs to see of a notice: its kind and dates (signed by the poster,
  // so clients can check the server did not alter them). Details stay in the envelope.
  await db.schema
    .createTable('notices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('dates', 'text', (c) => c.notNull())
    .addColumn('signer_id', 'text', (c) => c.notNull())
    .addColumn('signer_device', 'text', (c) => c.notNull())
    .addColumn('signature', 'bytea', (c) => c.notNull())
    .addColumn('envelope_hash', 'bytea', (c) => c.notNull())
    .addColumn('owner_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema
    .createIndex('notices_room_idx')
    .on('notices')
    .columns(['room_id', 'seq'])
    .execute()

  await db.schema
    .createTable('notice_acks')
    .addColumn('notice_id', 'text', (c) => c.notNull().references('notices.id'))
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('notice_acks_pk', ['notice_id', 'member_id'])
    .execute()

  await db.schema
    .createTable('monitoring_checks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('notice_id', 'text', (c) => c.notNull().references('notices.id'))
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('due_on', 'text', (c) => c.notNull())
    .addColumn('done_notice_id', 'text')
    .addColumn('done_on', 'text')
    .execute()
  await db.schema
    .createIndex('monitoring_checks_room_idx')
    .on('monitoring_checks')
    .columns(['room_id'])
    .execute()

  // Reminders and alerts raised by the scheduler; unique so a job never raises one twice.
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('ref', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('resolved_at', 'timestamptz')
    .addUniqueConstraint('alerts_once_uq', ['kind', 'ref', 'target_id'])
    .execute()
  await db.schema.createIndex('alerts_target_idx').on('alerts').columns(['target_id']).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['alerts', 'monitoring_checks', 'notice_acks', 'notices'])
    await db.schema.dropTable(t).execute()
}
