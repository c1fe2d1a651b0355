import type { Generated, Insertable, Selectable } from 'kysely'

/**
 * NEN 7513 audit record: event, time, which (pseudonymous) room/case, which user and
 * device, on whose behalf. `hash` chains each record to the one before it.
 */
export interface AuditLogTable {
  seq: Generated<number>
  at: Date
  event: string
  actor_user_id: string | null
  actor_device_id: string | null
  on_behalf_of: string | null
  subject_kind: string | null
  subject_id: string | null
  outcome: string
  details: string | null
  prev_hash: Uint8Array
  hash: Uint8Array
}

export type AuditRecord = Selectable<AuditLogTable>
export type NewAuditRecord = Insertable<AuditLogTable>

export interface AuditCheckpointTable {
  seq: number
  hash: Uint8Array
  signature: Uint8Array
  at: Date
}

export interface JobTable {
  name: string
  lease_owner: string | null
  lease_until: Date | null
  last_run_at: Date | null
}
