import type { ColumnType } from 'kysely'

type CreatedAt = ColumnType<Date, Date | undefined, never>

export interface DeskKeyVersionTable {
  desk_id: string
  version: number
  sign_pk: Uint8Array
  box_pk: Uint8Array
  created_at: CreatedAt
}

export interface RoomTable {
  id: string
  kind: 'case' | 'consult' | 'melding'
  region_id: string
  created_by: string | null
  created_at: CreatedAt
  last_seq: number
  epoch: number
  head_hash: Uint8Array
  last_commit_at: ColumnType<Date, Date | undefined, Date>
  closed_at: Date | null
  /** Set by the retention job when a closed case room or melding enters the archive. */
  archived_at: ColumnType<Date | null, Date | null | undefined, Date | null>
  /** Set when retention deleted the room's content; the row stays as a tombstone. */
  deleted_at: ColumnType<Date | null, Date | null | undefined, Date | null>
}

export interface RoomMemberTable {
  room_id: string
  member_id: string
  member_kind: 'user' | 'desk'
  role: 'admin' | 'member'
  /** JSON array of device ids. */
  devices: string
}

export interface RoomCommitTable {
  room_id: string
  epoch: number
  commit: Uint8Array
  commit_hash: Uint8Array
  seq: number
}

export interface RoomEventTable {
  room_id: string
  seq: number
  kind: 'commit' | 'message'
  sender_id: string
  sender_device: string
  idem_key: string
  body: Uint8Array
  created_at: CreatedAt
}

export interface RoomWelcomeTable {
  room_id: string
  epoch: number
  member_id: string
  device_id: string
  sealed: Uint8Array
}

export interface RoomReadTable {
  room_id: string
  member_id: string
  seq: number
  at: ColumnType<Date, Date | undefined, Date>
}

export interface RoomFileTable {
  id: string
  room_id: string
  uploader_id: string
  size: number
  chunk_count: number
  created_at: CreatedAt
  completed_at: Date | null
}

export interface RoomFileChunkTable {
  file_id: string
  idx: number
  data: Uint8Array
}
