import type { ColumnType, Generated, Selectable } from 'kysely'

type CreatedAt = ColumnType<Date, Date | undefined, never>

export interface RegionTable {
  id: string
  name: string
  created_at: CreatedAt
}

export interface OrganisationTable {
  id: string
  region_id: string
  name: string
  kind: string
  created_at: CreatedAt
}

export interface UserTable {
  id: string
  organisation_id: string
  region_id: string
  email: string
  name: string
  discipline: string
  role: 'professional' | 'advisor' | 'coordinator'
  password_hash: string
  totp_secret: string
  totp_last_step: ColumnType<number, number | undefined, number>
  master_pk: Uint8Array | null
  master_backup: Uint8Array | null
  created_at: CreatedAt
  disabled_at: Date | null
}
export type UserRow = Selectable<UserTable>

export interface InvitationTable {
  id: string
  code_hash: Uint8Array
  email: string
  name: string
  discipline: string
  role: 'professional' | 'advisor' | 'coordinator'
  organisation_id: string
  created_by: string | null
  created_at: CreatedAt
  expires_at: Date
  pending_password_hash: string | null
  pending_totp_secret: string | null
  used_at: Date | null
  user_id: string | null
}

export interface SessionTable {
  id: string
  user_id: string
  created_at: CreatedAt
  last_used_at: ColumnType<Date, Date | undefined, Date>
  user_agent: string
  revoked_at: Date | null
  revoked_reason: string | null
}

export interface RefreshTokenTable {
  token_hash: Uint8Array
  session_id: string
  created_at: CreatedAt
  expires_at: Date
  rotated_at: Date | null
}

export interface SignInAttemptTable {
  key_hash: Uint8Array
  failures: number
  window_start: Date
  locked_until: Date | null
}

export interface DeviceTable {
  user_id: string
  device_id: string
  name: string
  sign_pk: Uint8Array
  box_pk: Uint8Array
  not_after: number
  cert_sig: Uint8Array
  created_at: CreatedAt
  revoked_at: Date | null
  revoke_sig: Uint8Array | null
}
export type DeviceRow = Selectable<DeviceTable>

export interface DeviceLinkTable {
  id: string
  user_id: string
  device_id: string
  sign_pk: Uint8Array
  box_pk: Uint8Array
  mac: Uint8Array
  created_at: CreatedAt
  expires_at: Date
  approved_at: Date | null
  cert: string | null
  sealed_master: Uint8Array | null
}

export interface KeyLogTable {
  idx: number
  kind: string
  subject: string
  payload: Uint8Array
  head: Uint8Array
  created_at: CreatedAt
}

export interface DeskTable {
  id: string
  organisation_id: string
  name: string
  purpose: 'advies' | 'meldingen'
  key_version: Generated<number>
  sign_pk: Uint8Array | null
  box_pk: Uint8Array | null
  needs_rotation: Generated<boolean>
  created_at: CreatedAt
}

export interface DeskMemberTable {
  desk_id: string
  user_id: string
  added_at: CreatedAt
}

export interface DeskKeyGrantTable {
  desk_id: string
  key_version: number
  user_id: string
  device_id: string
  sealed: Uint8Array
  created_at: CreatedAt
}
