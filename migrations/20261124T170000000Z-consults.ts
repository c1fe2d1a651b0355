import { sql, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // A consultation (adviesvraag): a room between an asker and a desk. No family data;
  // in the fully anonymous mode no account link either (asker_user_id is null).
  await db.schema
    .createTable('consults')
    .addColumn('room_id', 'text', (c) => c.primaryKey().references('rooms.id'))
    .addColumn('desk_id', 'text', (c) => c.notNull().references('desks.id'))
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('asker_user_id', 'text')
    .addColumn('discipline', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('claimed_by', 'text')
    .addColumn('claimed_at', 'timestamptz')
    .addColumn('closed_at', 'timestamptz')
    .addColumn('outcome', 'text')
    .execute()
  await db.schema
    .createIndex('consults_desk_idx')
    .on('consults')
    .columns(['desk_id', 'closed_at'])
    .execute()

  // Anonymous askers: a fresh key pair and a capability (stored only as a hash).
  await db.schema
    .createTable('anon_members')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('sign_pk', 'bytea', (c) => c.notNull())
    .addColumn('box_pk', 'bytea', (c) => c.notNull())
    .addColumn('capability_hash', 'bytea', (c) => c.notNull().unique())
    // Deferred: the anonymous member's keys are stored before the room they create.
    .addForeignKeyConstraint('anon_members_room_fk', ['room_id'], 'rooms', ['id'], (cb) =>
      cb.deferrable().initiallyDeferred(),
    )
    .execute()

  // Blind token issuance is counted per professional per month; redeemed tokens are
  // remembered (by a hash of their input) so none is redeemed twice.
  await db.schema
    .createTable('token_issuance')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('token_issuance_pk', ['user_id', 'period'])
    .execute()
  await db.schema
    .createTable('spent_tokens')
    .addColumn('input_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('period', 'text', (c) => c.notNull())
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['spent_tokens', 'token_issuance', 'anon_members', 'consults'])
    await db.schema.dropTable(t).execute()
}
