import { type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Retention: a closed case room or melding is archived (read-only, its retention clock
  // runs); when the period is over every ciphertext row is deleted and the room row stays
  // behind as a tombstone (id, kind, dates), so audit records that name it stay readable
  // and the id is never reused.
  await db.schema
    .alterTable('rooms')
    .addColumn('archived_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .execute()
  await db.schema
    .createIndex('room_events_room_created_idx')
    .on('room_events')
    .columns(['room_id', 'created_at'])
    .execute()
  await db.schema.createIndex('consults_closed_idx').on('consults').columns(['closed_at']).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('consults_closed_idx').execute()
  await db.schema.dropIndex('room_events_room_created_idx').execute()
  await db.schema.alterTable('rooms').dropColumn('deleted_at').dropColumn('archived_at').execute()
}
