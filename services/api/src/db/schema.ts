/** The central table interface. */
import type {
  AnonMemberTable,
  ConsultTable,
  SpentTokenTable,
  TokenIssuanceTable,
} from './tables/consult.table.js'
import type { AuditCheckpointTable, AuditLogTable, JobTable } from './tables/audit-log.table.js'
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
import type {
  DeskKeyVersionTable,
  RoomCommitTable,
  RoomEventTable,
  RoomFileChunkTable,
  RoomFileTable,
  RoomMemberTable,
  RoomReadTable,
  RoomTable,
  RoomWelcomeTable,
} from './tables/room.table.js'
import type {
  AlertTable,
  MonitoringCheckTable,
  NoticeAckTable,
  NoticeTable,
} from './tables/notice.table.js'

export interface Database {
  audit_log: AuditLogTable
  audit_checkpoints: AuditCheckpointTable
  jobs: JobTable
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
  desk_key_versions: DeskKeyVersionTable
  rooms: RoomTable
  room_members: RoomMemberTable
  room_commits: RoomCommitTable
  room_events: RoomEventTable
  room_welcomes: RoomWelcomeTable
  room_reads: RoomReadTable
  room_files: RoomFileTable
  room_file_chunks: RoomFileChunkTable
  notices: NoticeTable
  notice_acks: NoticeAckTable
  monitoring_checks: MonitoringCheckTable
  alerts: AlertTable
  consults: ConsultTable
  anon_members: AnonMemberTable
  token_issuance: TokenIssuanceTable
  spent_tokens: SpentTokenTable
}
