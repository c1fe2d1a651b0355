/** The central table interface. */
import type { AuditLogTable } from './tables/audit-log.table.js'
import type {
  DeskKeyGrantTable,
  DeskMemberTable,
  DeskTable,
  DeviceLinkTable,
  DeviceTable,
  InvitationTable,
  KeyLogTable,
  OrganisationTable,
  RefreshTokenTable,
  RegionTable,
  SessionTable,
  SignInAttemptTable,
  UserTable,
} from './tables/identity.table.js'

export interface Database {
  audit_log: AuditLogTable
  regions: RegionTable
  organisations: OrganisationTable
  users: UserTable
  invitations: InvitationTable
  sessions: SessionTable
  refresh_tokens: RefreshTokenTable
  sign_in_attempts: SignInAttemptTable
  devices: DeviceTable
  device_links: DeviceLinkTable
  key_log: KeyLogTable
  desks: DeskTable
  desk_members: DeskMemberTable
  desk_key_grants: DeskKeyGrantTable
}
