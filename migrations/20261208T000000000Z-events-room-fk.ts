import { sql, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Every insert into room_events already holds its room's row lock and has checked the room
  // exists and is open (the writer's statement updates the row; the careful path reads it
  // FOR UPDATE), and rooms are never deleted (retention keeps a tombstone row). The foreign
  // key checked it once more per row, with a query and a row lock of its own: about a tenth
  // of the append statement's PostgreSQL time (docs/benchmarks.md, session 11).
  // Dropping it locks both tables for a moment: give up after 5 s rather than queue behind a
  // long reader with every message send queued behind the migration (run it again later).
  await sql`set local lock_timeout = '5s'`.execute(db)
  await db.schema.alterTable('room_events').dropConstraint('room_events_room_id_fkey').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  // NOT VALID: checked for new rows at once, without scanning every event under lock (which
  // would block sends for the length of the scan, and fail on any orphan row). Run
  // `alter table room_events validate constraint room_events_room_id_fkey` afterwards.
  await sql`alter table room_events add constraint room_events_room_id_fkey
    foreign key (room_id) references rooms (id) not valid`.execute(db)
}
