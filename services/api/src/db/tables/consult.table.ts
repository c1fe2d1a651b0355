import type { ColumnType } from 'kysely'

type CreatedAt = ColumnType<Date, Date | undefined, never>

export interface ConsultTable {
  room_id: string
  desk_id: string
  mode: 'family-anonymous' | 'fully-anonymous'
  asker_user_id: string | null
  discipline: string | null
  created_at: CreatedAt
  claimed_by: string | null
  claimed_at: Date | null
  closed_at: Date | null
  outcome: string | null
}

export interface AnonMemberTable {
  id: string
  room_id: string
  device_id: string
  sign_pk: Uint8Array
  box_pk: Uint8Array
  capability_hash: Uint8Array
}

export interface TokenIssuanceTable {
  user_id: string
  period: string
  count: number
}

export interface SpentTokenTable {
  input_hash: Uint8Array
  period: string
}
