/** The central table interface; one `*.table.ts` per table. */
import type { AuditLogTable } from './tables/audit-log.table.js'

export interface Database {
  audit_log: AuditLogTable
}
