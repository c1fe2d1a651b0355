/**
 * Retention: how long the server keeps a room's ciphertext, per room kind.
 *
 * - consult (adviesvraag): deleted `retentionConsultMonths` (default 6) after it was closed.
 *   A consultation nobody ever closes falls under the long period below, counted from its
 *   last activity, so nothing is kept forever.
 * - case (MDA) and melding: a closed room is archived (read-only; members can still read
 *   it) and deleted `retentionCaseYears` (default 20) after closing. A room that is never
 *   closed is deleted that long after its last activity.
 *
 * Deleting is crypto-shredding as far as the server can reach: the server never holds a
 * room key, only ciphertext and sealed welcomes (epoch secrets sealed to member devices).
 * It deletes every ciphertext row (events, commits, welcomes, file chunks, notices and
 * their metadata) and the membership, in one transaction with a NEN 7513 audit record,
 * and keeps a tombstone row (id, kind, region, dates) so earlier audit records still name
 * a room and the id is never reused. What it cannot reach, it does not pretend to erase:
 * copies on members' devices, database backups and WAL archives until they rotate, and
 * freed pages until PostgreSQL reuses or vacuums them (see docs/security.md).
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import type { Database } from '../db/schema.js'
import { appendAudit } from '../audit.js'
import type { Logger } from '../logger.js'

type Trx = Transaction<Database>

export type RoomKind = 'case' | 'consult' | 'melding'

/** Why a room is due: closed (and when), or inactive since its last activity. */
export type RetentionBasis = 'closed' | 'last-activity'

export interface RetentionPolicy {
  consultMonths: number
  caseYears: number
}

export interface DueRoom {
  roomId: string
  kind: RoomKind
  basis: RetentionBasis
  /** When the retention clock started (closing, or last activity). */
  since: Date
  /** When the room became (or becomes) due for deletion. */
  dueAt: Date
}

export interface DeletedRoom extends DueRoom {
  /** Rows removed per table (ciphertext and metadata). */
  rows: Record<string, number>
}

export interface RetentionReport {
  now: Date
  dryRun: boolean
  policy: RetentionPolicy
  /** Closed case rooms and meldingen moved into the archive by this run. */
  archived: { roomId: string; kind: RoomKind; closedAt: Date }[]
  /** Rooms deleted (or, in a dry run, that would be). */
  deleted: DeletedRoom[]
  /** True when `limit` stopped the run before every due room was handled. */
  more: boolean
}

export interface RetentionOptions {
  now: Date
  policy: RetentionPolicy
  /** List what is due and change nothing. */
  dryRun?: boolean
  /** Rooms to delete in one run at most (the rest waits for the next run). */
  limit?: number
  onProgress?: (done: number, total: number) => void
  logger?: Logger
}

/** `d` moved by whole calendar months (UTC), clamped to the end of a shorter month. */
export function addMonths(d: Date, months: number): Date {
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth() + months
  const target = new Date(Date.UTC(y, m, 1, 0, 0, 0, 0))
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate()
  target.setUTCDate(Math.min(d.getUTCDate(), last))
  target.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds())
  return target
}

interface Candidate {
  id: string
  kind: RoomKind
  closed_at: Date | null
  consult_closed_at: Date | null
  last_activity: Date
}

/** Every live room that is due for deletion at `now`, oldest first. */
export async function dueRooms(
  db: Kysely<Database>,
  now: Date,
  policy: RetentionPolicy,
): Promise<DueRoom[]> {
  const consultCutoff = addMonths(now, -policy.consultMonths)
  const caseCutoff = addMonths(now, -12 * policy.caseYears)
  // A coarse filter in SQL (nothing newer than the earlier cut-off can be due), then the
  // exact rule per room below, so the SQL and the documented rule cannot drift apart.
  const latest = consultCutoff > caseCutoff ? consultCutoff : caseCutoff
  const rows = (await db
    .selectFrom('rooms')
    .leftJoin('consults', 'consults.room_id', 'rooms.id')
    .select([
      'rooms.id',
      'rooms.kind',
      'rooms.closed_at',
      'consults.closed_at as consult_closed_at',
      sql<Date>`greatest(rooms.created_at, rooms.last_commit_at, (select e.created_at from room_events e where e.room_id = rooms.id order by e.seq desc limit 1))`.as(
        'last_activity',
      ),
    ])
    .where('rooms.deleted_at', 'is', null)
    .where((eb) =>
      eb.or([
        eb('rooms.closed_at', '<=', latest),
        eb('consults.closed_at', '<=', latest),
        eb('rooms.last_commit_at', '<=', latest),
      ]),
    )
    .execute()) as Candidate[]
  const due: DueRoom[] = []
  for (const r of rows) {
    const d = dueOf(r, policy)
    if (d.dueAt <= now) due.push(d)
  }
  due.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || (a.roomId < b.roomId ? -1 : 1))
  return due
}

function dueOf(r: Candidate, policy: RetentionPolicy): DueRoom {
  const lastActivity = new Date(r.last_activity)
  if (r.kind === 'consult') {
    const closed = r.consult_closed_at ?? r.closed_at
    if (closed) {
      const since = new Date(closed)
      return {
        roomId: r.id,
        kind: r.kind,
        basis: 'closed',
        since,
        dueAt: addMonths(since, policy.consultMonths),
      }
    }
  } else if (r.closed_at) {
    const since = new Date(r.closed_at)
    return {
      roomId: r.id,
      kind: r.kind,
      basis: 'closed',
      since,
      dueAt: addMonths(since, 12 * policy.caseYears),
    }
  }
  return {
    roomId: r.id,
    kind: r.kind,
    basis: 'last-activity',
    since: lastActivity,
    dueAt: addMonths(lastActivity, 12 * policy.caseYears),
  }
}

/** Closed case rooms and meldingen not yet in the archive. */
async function toArchive(db: Kysely<Database>) {
  return db
    .selectFrom('rooms')
    .select(['id', 'kind', 'closed_at'])
    .where('kind', 'in', ['case', 'melding'])
    .where('closed_at', 'is not', null)
    .where('archived_at', 'is', null)
    .where('deleted_at', 'is', null)
    .orderBy('closed_at')
    .execute()
}

/**
 * Deletes one room's content in the caller's transaction: locks the room row first (so a
 * concurrent write either lands before and is deleted too, or waits and is refused as the
 * room is closed and has no members), then every dependent row, then stamps the tombstone.
 * Returns the rows removed per table, or undefined when the room was already deleted.
 */
export async function shredRoom(
  trx: Trx,
  roomId: string,
  now: Date,
): Promise<Record<string, number> | undefined> {
  const room = await trx
    .selectFrom('rooms')
    .select(['id', 'deleted_at'])
    .where('id', '=', roomId)
    .forUpdate()
    .executeTakeFirst()
  if (!room || room.deleted_at) return undefined
  const rows: Record<string, number> = {}
  const count = (table: string, r: { numDeletedRows: bigint }[]) => {
    rows[table] = r.reduce((n, x) => n + Number(x.numDeletedRows), 0)
  }
  const notices = trx.selectFrom('notices').select('id').where('room_id', '=', roomId)
  const files = trx.selectFrom('room_files').select('id').where('room_id', '=', roomId)
  count(
    'notice_acks',
    await trx.deleteFrom('notice_acks').where('notice_id', 'in', notices).execute(),
  )
  count(
    'monitoring_checks',
    await trx.deleteFrom('monitoring_checks').where('room_id', '=', roomId).execute(),
  )
  count('alerts', await trx.deleteFrom('alerts').where('room_id', '=', roomId).execute())
  count('notices', await trx.deleteFrom('notices').where('room_id', '=', roomId).execute())
  count(
    'room_file_chunks',
    await trx.deleteFrom('room_file_chunks').where('file_id', 'in', files).execute(),
  )
  count('room_files', await trx.deleteFrom('room_files').where('room_id', '=', roomId).execute())
  count(
    'room_welcomes',
    await trx.deleteFrom('room_welcomes').where('room_id', '=', roomId).execute(),
  )
  count('room_reads', await trx.deleteFrom('room_reads').where('room_id', '=', roomId).execute())
  count('room_events', await trx.deleteFrom('room_events').where('room_id', '=', roomId).execute())
  count(
    'room_commits',
    await trx.deleteFrom('room_commits').where('room_id', '=', roomId).execute(),
  )
  count(
    'room_members',
    await trx.deleteFrom('room_members').where('room_id', '=', roomId).execute(),
  )
  count(
    'anon_members',
    await trx.deleteFrom('anon_members').where('room_id', '=', roomId).execute(),
  )
  count('consults', await trx.deleteFrom('consults').where('room_id', '=', roomId).execute())
  await trx
    .updateTable('rooms')
    .set({
      deleted_at: now,
      closed_at: sql<Date>`coalesce(closed_at, ${now})`,
      // The head hash names ciphertext that no longer exists; the creator is personal data.
      head_hash: new Uint8Array(32),
      created_by: null,
    })
    .where('id', '=', roomId)
    .execute()
  return rows
}

/**
 * One retention run: archives closed case rooms and meldingen, then deletes every room
 * past its period, each in its own transaction with an audit record
 * (`retention.deleted`, subject the room, details: kind, basis, dates, rows removed).
 * A dry run computes the same lists and writes nothing.
 */
export async function runRetention(
  db: Kysely<Database>,
  opts: RetentionOptions,
): Promise<RetentionReport> {
  const { now, policy } = opts
  const dryRun = opts.dryRun ?? false
  const report: RetentionReport = {
    now,
    dryRun,
    policy,
    archived: [],
    deleted: [],
    more: false,
  }
  for (const r of await toArchive(db)) {
    const closedAt = new Date(r.closed_at!)
    report.archived.push({ roomId: r.id, kind: r.kind, closedAt })
    if (dryRun) continue
    await db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('rooms')
        .set({ archived_at: now })
        .where('id', '=', r.id)
        .where('archived_at', 'is', null)
        .executeTakeFirst()
      if (Number(res.numUpdatedRows) !== 1) return
      await appendAudit(trx, {
        event: 'retention.archived',
        subjectKind: r.kind,
        subjectId: r.id,
        details: { closedAt: closedAt.toISOString() },
      })
    })
  }

  let due = await dueRooms(db, now, policy)
  if (opts.limit !== undefined && due.length > opts.limit) {
    due = due.slice(0, opts.limit)
    report.more = true
  }
  let done = 0
  opts.onProgress?.(0, due.length)
  for (const d of due) {
    if (dryRun) {
      report.deleted.push({ ...d, rows: {} })
    } else {
      const rows = await db.transaction().execute(async (trx) => {
        const removed = await shredRoom(trx, d.roomId, now)
        if (!removed) return undefined
        await appendAudit(trx, {
          event: 'retention.deleted',
          subjectKind: d.kind,
          subjectId: d.roomId,
          details: {
            basis: d.basis,
            since: d.since.toISOString(),
            dueAt: d.dueAt.toISOString(),
            events: removed.room_events ?? 0,
            commits: removed.room_commits ?? 0,
            welcomes: removed.room_welcomes ?? 0,
            fileChunks: removed.room_file_chunks ?? 0,
            notices: removed.notices ?? 0,
          },
        })
        return removed
      })
      if (rows) {
        report.deleted.push({ ...d, rows })
        opts.logger?.info(
          { roomId: d.roomId, kind: d.kind, basis: d.basis },
          'retention: room deleted',
        )
      }
    }
    opts.onProgress?.(++done, due.length)
  }
  return report
}
