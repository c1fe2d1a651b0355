import { sql, type Kysely } from 'kysely'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Every version of every desk key, so a room's history stays verifiable after rotation.
  await db.schema
    .createTable('desk_key_versions')
    .addColumn('desk_id', 'text', (c) => c.notNull().references('desks.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('sign_pk', 'bytea', (c) => c.notNull())
    .addColumn('box_pk', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('desk_key_versions_pk', ['desk_id', 'version'])
    .execute()

  await db.schema
    .createTable('rooms')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull().references('regions.id'))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('epoch', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('head_hash', 'bytea', (c) => c.notNull())
    .addColumn('last_commit_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .execute()

  // Current membership as derived from the commit chain; the server authorises with it.
  await db.schema
    .createTable('room_members')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('member_kind', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('devices', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('room_members_pk', ['room_id', 'member_id'])
    .execute()
  await db.schema
    .createIndex('room_members_member_idx')
    .on('room_members')
    .columns(['member_id'])
    .execute()

  // One linear chain per room: (room, epoch) is unique.
  await db.schema
    .createTable('room_commits')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('epoch', 'integer', (c) => c.notNull())
    .addColumn('commit', 'bytea', (c) => c.notNull())
    .addColumn('commit_hash', 'bytea', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('room_commits_pk', ['room_id', 'epoch'])
    .execute()

  // Room events: gap-free seq per room; the body is opaque ciphertext (envelope or commit).
  await db.schema
    .createTable('room_events')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('sender_id', 'text', (c) => c.notNull())
    .addColumn('sender_device', 'text', (c) => c.notNull())
    .addColumn('idem_key', 'text', (c) => c.notNull())
    .addColumn('body', 'bytea', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('room_events_pk', ['room_id', 'seq'])
    .addUniqueConstraint('room_events_idem_uq', [
      'room_id',
      'sender_id',
      'sender_device',
      'idem_key',
    ])
    .execute()

  await db.schema
    .createTable('room_welcomes')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('epoch', 'integer', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('sealed', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('room_welcomes_pk', ['room_id', 'epoch', 'member_id', 'device_id'])
    .execute()

  await db.schema
    .createTable('room_reads')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('room_reads_pk', ['room_id', 'member_id'])
    .execute()

  // Encrypted attachments, uploaded in chunks of ciphertext.
  await db.schema
    .createTable('room_files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id'))
    .addColumn('uploader_id', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('chunk_count', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .execute()
  await db.schema
    .createTable('room_file_chunks')
    .addColumn('file_id', 'text', (c) => c.notNull().references('room_files.id'))
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('data', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('room_file_chunks_pk', ['file_id', 'idx'])
    .execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'room_file_chunks',
    'room_files',
    'room_reads',
    'room_welcomes',
    'room_events',
    'room_commits',
    'room_members',
    'rooms',
    'desk_key_versions',
  ]) {
    await db.schema.dropTable(t).execute()
  }
}
