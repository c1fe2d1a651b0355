import { type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Retention finds a room's last event through the primary key (newest seq) instead. This
  // index cost every message insert an index entry, and its (room_id, …) prefix made
  // PostgreSQL look idempotency keys up by room alone, reading the room's whole history
  // per message (docs/benchmarks.md, session 3).
  await db.schema.dropIndex('room_events_room_created_idx').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('room_events_room_created_idx')
    .on('room_events')
    .columns(['room_id', 'created_at'])
    .execute()
}
