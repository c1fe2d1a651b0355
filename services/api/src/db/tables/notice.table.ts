import type { ColumnType } from 'kysely'

type CreatedAt = ColumnType<Date, Date | undefined, never>

export interface NoticeTable {
  id: string
  room_id: string
  seq: number
  kind: string
  /** JSON object of name → YYYY-MM-DD. */
  dates: string
  signer_id: string
  signer_device: string
  signature: Uint8Array
  envelope_hash: Uint8Array
  owner_id: string | null
  created_at: CreatedAt
}

export interface NoticeAckTable {
  notice_id: string
  member_id: string
  at: CreatedAt
}

export interface MonitoringCheckTable {
  id: string
  room_id: string
  notice_id: string
  owner_id: string
  due_on: string
  done_notice_id: string | null
  done_on: string | null
}

export interface AlertTable {
  id: string
  kind: 'ack-reminder' | 'check-overdue' | 'beoordeling-overdue'
  room_id: string
  target_id: string
  ref: string
  created_at: CreatedAt
  resolved_at: Date | null
}
