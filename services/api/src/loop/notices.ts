/**
 * Notices (terugkoppeling): posted into a room as an encrypted envelope plus signed
 * metadata the server may see (kind and dates), so it can order, remind and compute
 * the case state without reading the details.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import {
  fromB64,
  randomId,
  signedNoticeMetaFromJson,
  verifyNoticeMeta,
  type SignedNoticeMetaJson,
} from '@vs/crypto'
import type { AppContext } from '../context.js'
import type { Database } from '../db/schema.js'
import type { Principal } from '../identity/principal.js'
import { createError, errors } from '../errors.js'
import { appendAudit } from '../audit.js'
import { actingAs, desksOf, roomAccess } from '../rooms/access.js'
import { insertEvents, memberDeviceAuthoriser, type StoredEvent } from '../rooms/events.js'
import {
  TransitionError,
  beoordelingDue,
  caseState,
  checkTransition,
  type CheckFact,
  type NoticeFact,
  STATE_LABELS,
} from './state.js'
import { addWorkingDays, isoDay } from './workdays.js'

type Db = Kysely<Database> | Transaction<Database>

export interface PostNotice {
  idem: string
  dev: string
  as?: string | undefined
  body: string
  meta: SignedNoticeMetaJson
  owner?: string | undefined
}

async function signerKey(
  db: Db,
  memberId: string,
  device: string,
): Promise<Uint8Array | undefined> {
  const m = /^v(\d+)$/.exec(device)
  if (m) {
    const d = await db
      .selectFrom('desk_key_versions')
      .select('sign_pk')
      .where('desk_id', '=', memberId)
      .where('version', '=', Number(m[1]))
      .executeTakeFirst()
    if (d) return new Uint8Array(d.sign_pk)
  }
  const u = await db
    .selectFrom('devices')
    .select(['sign_pk', 'revoked_at'])
    .where('user_id', '=', memberId)
    .where('device_id', '=', device)
    .executeTakeFirst()
  return u && !u.revoked_at ? new Uint8Array(u.sign_pk) : undefined
}

export async function noticeFacts(
  db: Db,
  roomId: string,
): Promise<{ notices: NoticeFact[]; checks: CheckFact[] }> {
  const rows = await db
    .selectFrom('notices')
    .select(['id', 'kind', 'dates', 'seq'])
    .where('room_id', '=', roomId)
    .orderBy('seq')
    .execute()
  const checks = await db
    .selectFrom('monitoring_checks')
    .select(['notice_id', 'due_on', 'done_on'])
    .where('room_id', '=', roomId)
    .orderBy('due_on')
    .execute()
  return {
    notices: rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      seq: r.seq,
      dates: JSON.parse(r.dates) as Record<string, string>,
    })),
    checks: checks.map((c) => ({ noticeId: c.notice_id, dueOn: c.due_on, doneOn: c.done_on })),
  }
}

export async function postNotice(
  ctx: AppContext,
  principal: Principal,
  roomId: string,
  input: PostNotice,
): Promise<{ seq: number; duplicate: boolean; event?: StoredEvent }> {
  const access = await roomAccess(ctx.db.db, principal, roomId)
  const signer = actingAs(access, principal, input.as)
  let signed
  try {
    signed = signedNoticeMetaFromJson(input.meta)
  } catch {
    throw errors.badRequest('Ongeldige melding-gegevens / Malformed notice metadata')
  }
  const meta = signed.meta
  if (meta.roomId !== roomId)
    throw errors.badRequest('Melding hoort bij een andere kamer / Notice is for another room')
  const pk = await signerKey(ctx.db.db, signer, input.dev)
  if (!pk) throw errors.forbidden('Onbekende ondertekenaar / Unknown signer')
  try {
    verifyNoticeMeta(signed, pk)
  } catch {
    throw createError(
      'VS_NOTICE_SIGNATURE',
      'Handtekening van de melding klopt niet / Notice signature invalid',
      400,
    )
  }
  return ctx.db.db.transaction().execute(async (trx) => {
    await trx.selectFrom('rooms').select('id').where('id', '=', roomId).forUpdate().execute()
    const existing = await trx
      .selectFrom('notices')
      .select(['seq', 'room_id'])
      .where('id', '=', meta.noticeId)
      .executeTakeFirst()
    if (existing) {
      if (existing.room_id !== roomId)
        throw errors.conflict('VS_NOTICE_EXISTS', 'Melding-id bestaat al / Notice id exists')
      return { seq: existing.seq, duplicate: true }
    }
    const facts = await noticeFacts(trx, roomId)
    if (input.owner !== undefined) {
      const m = await trx
        .selectFrom('room_members')
        .select('member_id')
        .where('room_id', '=', roomId)
        .where('member_id', '=', input.owner)
        .executeTakeFirst()
      if (!m) throw errors.badRequest('Eigenaar is geen lid van de kamer / Owner is not a member')
    }
    try {
      checkTransition(
        meta.kind,
        meta.dates,
        facts.notices,
        facts.checks.filter((c) => c.doneOn === null),
        input.owner,
      )
    } catch (err) {
      if (err instanceof TransitionError) throw createError(err.code, err.message, 409)
      throw err
    }
    const [o] = await insertEvents(
      trx,
      [
        {
          roomId,
          kind: 'message',
          senderId: signer,
          senderDevice: input.dev,
          idem: input.idem,
          body: fromB64(input.body),
          ...(signer !== principal.userId ? { actor: principal.userId } : {}),
        },
      ],
      memberDeviceAuthoriser,
    )
    if (!o || !o.ok)
      throw createError(
        o?.ok === false ? o.code : 'VS_NOTICE_FAILED',
        o?.ok === false ? o.message : 'failed',
        403,
      )
    if (o.duplicate) return { seq: o.seq, duplicate: true }
    await trx
      .insertInto('notices')
      .values({
        id: meta.noticeId,
        room_id: roomId,
        seq: o.seq,
        kind: meta.kind,
        dates: JSON.stringify(meta.dates),
        signer_id: signer,
        signer_device: input.dev,
        signature: signed.signature,
        envelope_hash: meta.envelopeHash,
        owner_id: input.owner ?? null,
        created_at: ctx.now(),
      })
      .execute()
    if (meta.kind === 'monitoring-afspraak') {
      const dues = Object.entries(meta.dates)
        .filter(([k]) => k.startsWith('check'))
        .map(([, v]) => v)
        .sort()
      await trx
        .insertInto('monitoring_checks')
        .values(
          dues.map((due) => ({
            id: randomId(),
            room_id: roomId,
            notice_id: meta.noticeId,
            owner_id: input.owner!,
            due_on: due,
          })),
        )
        .execute()
    }
    if (meta.kind === 'monitoring-check') {
      const check = await trx
        .selectFrom('monitoring_checks')
        .select('id')
        .where('room_id', '=', roomId)
        .where('due_on', '=', meta.dates.due!)
        .where('done_on', 'is', null)
        .orderBy('due_on')
        .limit(1)
        .executeTakeFirstOrThrow()
      await trx
        .updateTable('monitoring_checks')
        .set({ done_notice_id: meta.noticeId, done_on: meta.dates.done! })
        .where('id', '=', check.id)
        .execute()
      await trx
        .updateTable('alerts')
        .set({ resolved_at: new Date() })
        .where('ref', '=', check.id)
        .where('resolved_at', 'is', null)
        .execute()
    }
    if (meta.kind === 'veiligheidsbeoordeling') {
      await trx
        .updateTable('alerts')
        .set({ resolved_at: new Date() })
        .where('room_id', '=', roomId)
        .where('kind', '=', 'beoordeling-overdue')
        .where('resolved_at', 'is', null)
        .execute()
    }
    // The poster has seen their own notice.
    await trx
      .insertInto('notice_acks')
      .values({ notice_id: meta.noticeId, member_id: signer })
      .execute()
    await appendAudit(trx, {
      event: 'notice.posted',
      actorUserId: principal.userId,
      actorDeviceId: input.dev,
      onBehalfOf: signer !== principal.userId ? signer : null,
      subjectKind: access.kind,
      subjectId: roomId,
      details: { kind: meta.kind, noticeId: meta.noticeId },
    })
    return { seq: o.seq, duplicate: false, ...(o.event ? { event: o.event } : {}) }
  })
}

export async function acknowledge(
  ctx: AppContext,
  principal: Principal,
  noticeId: string,
  as?: string,
): Promise<void> {
  const n = await ctx.db.db
    .selectFrom('notices')
    .select(['room_id'])
    .where('id', '=', noticeId)
    .executeTakeFirst()
  if (!n) throw errors.notFound('Melding niet gevonden / Notice not found')
  const access = await roomAccess(ctx.db.db, principal, n.room_id)
  const member = actingAs(access, principal, as)
  await ctx.db.db
    .insertInto('notice_acks')
    .values({ notice_id: noticeId, member_id: member })
    .onConflict((oc) => oc.doNothing())
    .execute()
  await ctx.db.db
    .updateTable('alerts')
    .set({ resolved_at: new Date() })
    .where('kind', '=', 'ack-reminder')
    .where('ref', '=', noticeId)
    .where('target_id', '=', member)
    .where('resolved_at', 'is', null)
    .execute()
  await appendAudit(ctx.db.db, {
    event: 'notice.acknowledged',
    actorUserId: principal.userId,
    onBehalfOf: member !== principal.userId ? member : null,
    subjectKind: access.kind,
    subjectId: n.room_id,
    details: { noticeId },
  })
}

export interface NoticeView {
  id: string
  roomId: string
  seq: number
  kind: string
  dates: Record<string, string>
  signer: string
  signerDevice: string
  signature: string
  envelopeHash: string
  owner: string | null
  postedAt: string
  acknowledgedBy: string[]
  pending: string[]
}

export async function roomNotices(ctx: AppContext, roomId: string): Promise<NoticeView[]> {
  const db = ctx.db.db
  const rows = await db
    .selectFrom('notices')
    .selectAll()
    .where('room_id', '=', roomId)
    .orderBy('seq')
    .execute()
  const members = (
    await db.selectFrom('room_members').select('member_id').where('room_id', '=', roomId).execute()
  ).map((m) => m.member_id)
  const acks = rows.length
    ? await db
        .selectFrom('notice_acks')
        .select(['notice_id', 'member_id'])
        .where(
          'notice_id',
          'in',
          rows.map((r) => r.id),
        )
        .execute()
    : []
  return rows.map((r) => {
    const by = acks.filter((a) => a.notice_id === r.id).map((a) => a.member_id)
    return {
      id: r.id,
      roomId: r.room_id,
      seq: r.seq,
      kind: r.kind,
      dates: JSON.parse(r.dates) as Record<string, string>,
      signer: r.signer_id,
      signerDevice: r.signer_device,
      signature: Buffer.from(r.signature).toString('base64url'),
      envelopeHash: Buffer.from(r.envelope_hash).toString('base64url'),
      owner: r.owner_id,
      postedAt: r.created_at.toISOString(),
      acknowledgedBy: by,
      pending: members.filter((m) => !by.includes(m)),
    }
  })
}

export interface CaseOverview {
  roomId: string
  kind: 'case' | 'consult' | 'melding'
  state: string
  stateLabel: { nl: string; en: string }
  createdAt: string
  timeline: { noticeId: string; kind: string; dates: Record<string, string>; seq: number }[]
  overdue: {
    beoordelingDue: string | null
    beoordelingOverdue: boolean
    checksOverdue: { dueOn: string; owner: string }[]
    unacknowledged: number
  }
  nextCheck: { dueOn: string; owner: string } | null
}

/** Every case or melding the principal follows, with state and what is overdue. */
export async function caseOverview(ctx: AppContext, principal: Principal): Promise<CaseOverview[]> {
  const db = ctx.db.db
  const ids = [principal.userId, ...(await desksOf(db, principal.userId))]
  const rooms = await db
    .selectFrom('rooms')
    .innerJoin('room_members', 'room_members.room_id', 'rooms.id')
    .select(['rooms.id', 'rooms.kind', 'rooms.created_at', 'rooms.closed_at'])
    .where('room_members.member_id', 'in', ids)
    .where('rooms.kind', 'in', ['case', 'melding'])
    .distinct()
    .orderBy('rooms.created_at', 'desc')
    .execute()
  const today = isoDay(ctx.now())
  const out: CaseOverview[] = []
  for (const r of rooms) {
    const facts = await noticeFacts(db, r.id)
    const checks = await db
      .selectFrom('monitoring_checks')
      .select(['due_on', 'done_on', 'owner_id'])
      .where('room_id', '=', r.id)
      .orderBy('due_on')
      .execute()
    const state = caseState(r.kind, facts.notices, facts.checks, today, r.closed_at !== null)
    const due = r.kind === 'melding' ? beoordelingDue(isoDay(r.created_at)) : null
    const hasBeoordeling = facts.notices.some((n) => n.kind === 'veiligheidsbeoordeling')
    const unacked = await db
      .selectFrom('notices')
      .leftJoin('notice_acks', (j) =>
        j.onRef('notice_acks.notice_id', '=', 'notices.id').on('notice_acks.member_id', 'in', ids),
      )
      .select(sql<number>`count(*)::int`.as('n'))
      .where('notices.room_id', '=', r.id)
      .where('notice_acks.notice_id', 'is', null)
      .executeTakeFirstOrThrow()
    const open = checks.filter((c) => c.done_on === null)
    out.push({
      roomId: r.id,
      kind: r.kind,
      state,
      stateLabel: STATE_LABELS[state],
      createdAt: r.created_at.toISOString(),
      timeline: facts.notices.map((n) => ({
        noticeId: n.id,
        kind: n.kind,
        dates: n.dates,
        seq: n.seq,
      })),
      overdue: {
        beoordelingDue: due,
        beoordelingOverdue: due !== null && !hasBeoordeling && today > due,
        checksOverdue: open
          .filter((c) => c.due_on < today)
          .map((c) => ({ dueOn: c.due_on, owner: c.owner_id })),
        unacknowledged: unacked.n,
      },
      nextCheck: open[0] ? { dueOn: open[0].due_on, owner: open[0].owner_id } : null,
    })
  }
  await appendAudit(db, { event: 'case.overview', actorUserId: principal.userId })
  return out
}

/**
 * The reminder job: raises each alert once (unique per kind, subject and target).
 * - a notice not acknowledged after 2 working days → reminder to each member who has not;
 * - a monitoring check past its due date → alert to its owner and the room;
 * - a melding without veiligheidsbeoordeling after 5 working days → alert to the desk and the melder.
 */
export async function raiseAlerts(db: Kysely<Database>, now: Date): Promise<number> {
  const today = isoDay(now)
  const rows: {
    id: string
    kind: 'ack-reminder' | 'check-overdue' | 'beoordeling-overdue'
    room_id: string
    target_id: string
    ref: string
  }[] = []
  const notices = await db.selectFrom('notices').select(['id', 'room_id', 'created_at']).execute()
  for (const n of notices) {
    if (addWorkingDays(isoDay(n.created_at), 2) > today) continue
    const members = await db
      .selectFrom('room_members')
      .select('member_id')
      .where('room_id', '=', n.room_id)
      .execute()
    const acked = new Set(
      (
        await db
          .selectFrom('notice_acks')
          .select('member_id')
          .where('notice_id', '=', n.id)
          .execute()
      ).map((a) => a.member_id),
    )
    for (const m of members)
      if (!acked.has(m.member_id))
        rows.push({
          id: randomId(),
          kind: 'ack-reminder',
          room_id: n.room_id,
          target_id: m.member_id,
          ref: n.id,
        })
  }
  const overdue = await db
    .selectFrom('monitoring_checks')
    .select(['id', 'room_id', 'owner_id'])
    .where('done_on', 'is', null)
    .where('due_on', '<', today)
    .execute()
  for (const c of overdue) {
    rows.push({
      id: randomId(),
      kind: 'check-overdue',
      room_id: c.room_id,
      target_id: c.owner_id,
      ref: c.id,
    })
    rows.push({
      id: randomId(),
      kind: 'check-overdue',
      room_id: c.room_id,
      target_id: `room:${c.room_id}`,
      ref: c.id,
    })
  }
  const meldingen = await db
    .selectFrom('rooms')
    .select(['id', 'created_at', 'created_by'])
    .where('kind', '=', 'melding')
    .where('closed_at', 'is', null)
    .execute()
  for (const m of meldingen) {
    if (beoordelingDue(isoDay(m.created_at)) >= today) continue
    const has = await db
      .selectFrom('notices')
      .select('id')
      .where('room_id', '=', m.id)
      .where('kind', '=', 'veiligheidsbeoordeling')
      .executeTakeFirst()
    if (has) continue
    const members = await db
      .selectFrom('room_members')
      .select(['member_id', 'member_kind'])
      .where('room_id', '=', m.id)
      .execute()
    for (const mem of members)
      rows.push({
        id: randomId(),
        kind: 'beoordeling-overdue',
        room_id: m.id,
        target_id: mem.member_id,
        ref: m.id,
      })
  }
  if (rows.length === 0) return 0
  const res = await db
    .insertInto('alerts')
    .values(rows)
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst()
  return Number(res.numInsertedOrUpdatedRows ?? 0)
}

export interface InboxItem {
  kind: 'notice' | 'ack-reminder' | 'check-overdue' | 'beoordeling-overdue'
  roomId: string
  noticeId: string | null
  noticeKind: string | null
  dates: Record<string, string> | null
  at: string
  as: string
}

/** Notices I (or a desk I staff) have not acknowledged, and open alerts for me. */
export async function inbox(ctx: AppContext, principal: Principal): Promise<InboxItem[]> {
  const db = ctx.db.db
  const ids = [principal.userId, ...(await desksOf(db, principal.userId))]
  const rows = await db
    .selectFrom('notices')
    .innerJoin('room_members', 'room_members.room_id', 'notices.room_id')
    .leftJoin('notice_acks', (j) =>
      j
        .onRef('notice_acks.notice_id', '=', 'notices.id')
        .onRef('notice_acks.member_id', '=', 'room_members.member_id'),
    )
    .select([
      'notices.id',
      'notices.room_id',
      'notices.kind',
      'notices.dates',
      'notices.created_at',
      'room_members.member_id',
    ])
    .where('room_members.member_id', 'in', ids)
    .where('notice_acks.notice_id', 'is', null)
    .orderBy('notices.created_at')
    .execute()
  const alerts = await db
    .selectFrom('alerts')
    .selectAll()
    .where('target_id', 'in', ids)
    .where('resolved_at', 'is', null)
    .where('kind', '!=', 'ack-reminder')
    .orderBy('created_at')
    .execute()
  const reminded = await db
    .selectFrom('alerts')
    .select(['ref', 'target_id'])
    .where('target_id', 'in', ids)
    .where('kind', '=', 'ack-reminder')
    .where('resolved_at', 'is', null)
    .execute()
  const remindedSet = new Set(reminded.map((r) => `${r.ref}\u0000${r.target_id}`))
  await appendAudit(db, { event: 'inbox.read', actorUserId: principal.userId })
  return [
    ...rows.map((r) => ({
      kind: remindedSet.has(`${r.id}\u0000${r.member_id}`)
        ? ('ack-reminder' as const)
        : ('notice' as const),
      roomId: r.room_id,
      noticeId: r.id,
      noticeKind: r.kind,
      dates: JSON.parse(r.dates) as Record<string, string>,
      at: r.created_at.toISOString(),
      as: r.member_id,
    })),
    ...alerts.map((a) => ({
      kind: a.kind,
      roomId: a.room_id,
      noticeId: null,
      noticeKind: null,
      dates: null,
      at: a.created_at.toISOString(),
      as: a.target_id,
    })),
  ]
}
