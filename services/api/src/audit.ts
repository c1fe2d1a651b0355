/**
 * NEN 7513 audit log: append-only and tamper-evident. Each record's hash covers the
 * previous record's hash and the record's own canonical encoding, so changing,
 * deleting, inserting or reordering any record breaks the chain from that point on.
 * Appends are serialised with a transaction-scoped advisory lock.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import { encode, sign, sodium, verify } from '@vs/crypto'
import type { Database } from './db/schema.js'
import type { AuditRecord } from './db/tables/audit-log.table.js'

const AUDIT_LOCK = 7513_0001

export interface AuditEvent {
  event: string
  actorUserId?: string | null
  actorDeviceId?: string | null
  onBehalfOf?: string | null
  subjectKind?: string | null
  subjectId?: string | null
  outcome?: 'ok' | 'denied' | 'failed'
  details?: Record<string, string | number | boolean> | null
}

export const GENESIS_HASH = new Uint8Array(32)

export function auditHash(
  prev: Uint8Array,
  r: Pick<
    AuditRecord,
    | 'at'
    | 'event'
    | 'actor_user_id'
    | 'actor_device_id'
    | 'on_behalf_of'
    | 'subject_kind'
    | 'subject_id'
    | 'outcome'
    | 'details'
  >,
): Uint8Array {
  const bytes = encode(
    'audit/v1',
    prev,
    r.at.getTime(),
    r.event,
    r.actor_user_id,
    r.actor_device_id,
    r.on_behalf_of,
    r.subject_kind,
    r.subject_id,
    r.outcome,
    r.details,
  )
  return sodium().crypto_generichash(32, bytes, null)
}

/** Appends one record inside `trx` (or its own transaction). */
export async function appendAudit(
  db: Kysely<Database> | Transaction<Database>,
  ev: AuditEvent,
): Promise<void> {
  const run = async (trx: Transaction<Database>) => {
    await sql`select pg_advisory_xact_lock(${AUDIT_LOCK})`.execute(trx)
    const last = await trx
      .selectFrom('audit_log')
      .select('hash')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    const row = {
      // Millisecond precision so the hash input survives the database round trip.
      at: new Date(Date.now()),
      event: ev.event,
      actor_user_id: ev.actorUserId ?? null,
      actor_device_id: ev.actorDeviceId ?? null,
      on_behalf_of: ev.onBehalfOf ?? null,
      subject_kind: ev.subjectKind ?? null,
      subject_id: ev.subjectId ?? null,
      outcome: ev.outcome ?? 'ok',
      details: ev.details ? JSON.stringify(ev.details) : null,
    }
    const prev = last ? new Uint8Array(last.hash) : GENESIS_HASH
    await trx
      .insertInto('audit_log')
      .values({ ...row, prev_hash: prev, hash: auditHash(prev, row) })
      .execute()
  }
  if (db.isTransaction) await run(db as Transaction<Database>)
  else await db.transaction().execute(run)
}

export interface AuditProblem {
  seq: number
  problem:
    | 'changed'
    | 'broken-link'
    | 'reordered-or-missing'
    | 'checkpoint-mismatch'
    | 'checkpoint-missing-record'
    | 'checkpoint-bad-signature'
}

/** Signs the chain head if it moved since the last checkpoint. */
export async function writeCheckpoint(
  db: Kysely<Database>,
  logPrivateKey: Uint8Array,
): Promise<number | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${AUDIT_LOCK})`.execute(trx)
    const last = await trx
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    if (!last) return undefined
    const cp = await trx
      .selectFrom('audit_checkpoints')
      .select('seq')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    if (cp && cp.seq >= last.seq) return undefined
    const hash = new Uint8Array(last.hash)
    await trx
      .insertInto('audit_checkpoints')
      .values({
        seq: last.seq,
        hash,
        signature: sign('audit-checkpoint/v1', logPrivateKey, last.seq, hash),
        at: new Date(),
      })
      .execute()
    return last.seq
  })
}

/** Walks the whole chain; reports the first record that does not fit and why. */
export async function verifyAuditChain(
  db: Kysely<Database>,
  onProgress?: (done: number, total: number) => void,
  logPublicKey?: Uint8Array,
): Promise<{ ok: boolean; count: number; checkpoints: number; problems: AuditProblem[] }> {
  const { total } = await db
    .selectFrom('audit_log')
    .select(sql<number>`count(*)::int`.as('total'))
    .executeTakeFirstOrThrow()
  let prev = GENESIS_HASH
  let lastSeq = 0
  let done = 0
  const problems: AuditProblem[] = []
  const pageSize = 1000
  for (;;) {
    const rows = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', lastSeq)
      .orderBy('seq')
      .limit(pageSize)
      .execute()
    for (const r of rows) {
      const prevHash = new Uint8Array(r.prev_hash)
      if (Buffer.compare(prevHash, prev) !== 0) {
        problems.push({ seq: r.seq, problem: done === 0 ? 'broken-link' : 'reordered-or-missing' })
      }
      const h = auditHash(prevHash, r)
      if (Buffer.compare(h, new Uint8Array(r.hash)) !== 0) {
        problems.push({ seq: r.seq, problem: 'changed' })
      }
      prev = new Uint8Array(r.hash)
      lastSeq = r.seq
      done++
    }
    onProgress?.(done, total)
    if (rows.length < pageSize) break
  }
  // Checkpoints: the signed (seq, hash) must still match the record at that seq.
  const cps = await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute()
  for (const cp of cps) {
    if (logPublicKey) {
      try {
        verify(
          'audit-checkpoint/v1',
          logPublicKey,
          new Uint8Array(cp.signature),
          cp.seq,
          new Uint8Array(cp.hash),
        )
      } catch {
        problems.push({ seq: cp.seq, problem: 'checkpoint-bad-signature' })
        continue
      }
    }
    const r = await db
      .selectFrom('audit_log')
      .select('hash')
      .where('seq', '=', cp.seq)
      .executeTakeFirst()
    if (!r) problems.push({ seq: cp.seq, problem: 'checkpoint-missing-record' })
    else if (Buffer.compare(new Uint8Array(r.hash), new Uint8Array(cp.hash)) !== 0) {
      problems.push({ seq: cp.seq, problem: 'checkpoint-mismatch' })
    }
  }
  return { ok: problems.length === 0, count: done, checkpoints: cps.length, problems }
}

/** Audit records in a time range, oldest first, in pages (for export). */
export async function* auditRecords(
  db: Kysely<Database>,
  from: Date,
  to: Date,
  pageSize = 1000,
): AsyncGenerator<AuditRecord[]> {
  let last = 0
  for (;;) {
    const rows = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('at', '>=', from)
      .where('at', '<', to)
      .where('seq', '>', last)
      .orderBy('seq')
      .limit(pageSize)
      .execute()
    if (rows.length === 0) return
    yield rows
    last = rows[rows.length - 1]!.seq
  }
}

export function auditRecordJson(r: AuditRecord): Record<string, unknown> {
  return {
    seq: r.seq,
    at: r.at.toISOString(),
    event: r.event,
    actorUserId: r.actor_user_id,
    actorDeviceId: r.actor_device_id,
    onBehalfOf: r.on_behalf_of,
    subjectKind: r.subject_kind,
    subjectId: r.subject_id,
    outcome: r.outcome,
    details: r.details ? (JSON.parse(r.details) as unknown) : null,
    hash: Buffer.from(r.hash).toString('hex'),
    prevHash: Buffer.from(r.prev_hash).toString('hex'),
  }
}
