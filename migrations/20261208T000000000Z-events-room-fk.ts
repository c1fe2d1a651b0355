import { type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Every insert into room_events already holds its room's row lock and has checked the room
  // exists and is open (the writer's statement updates the row; the careful path reads it
  // FOR UPDATE), and rooms are never deleted (retention keeps a tombstone row). The foreign
  // key checked it once more per row, with a query and a row lock of its own: about a tenth
  // of the append statement's PostgreSQL time (docs/benchmarks.md, session 11).
  await db.schema.alterTable('room_events').dropConstraint('room_events_room_id_fkey').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('room_events')
    .addForeignKeyConstraint('room_events_room_id_fkey', ['room_id'], 'rooms', ['id'])
    .execute()
}
