/**
 * Consultations (adviesvraag) with a Veilig Thuis desk: opened by a signed-in
 * professional (family anonymous) or by anyone holding a valid token (also the asker
 * anonymous: no account, no session, no address stored). Advisors claim, answer, hand
 * over and close.
 */
import {
  fromB64,
  parseCommit,
  randomBytes,
  redemptionFromJson,
  toB64,
  verifyRedemption,
  hash,
} from '@vs/crypto'
import type { WelcomeWire } from '@vs/protocol'
import type { AppContext } from '../context.js'
import type { Principal } from '../identity/principal.js'
import { createError, errors } from '../errors.js'
import { appendAudit } from '../audit.js'
import { capabilityHash } from '../auth/plugin.js'
import { createRoom, insertGenesis, checkMembersInRegion } from '../rooms/chain.js'
import { advisesDesk } from '../rooms/access.js'
import type { StoredEvent } from '../rooms/events.js'
import { issuerKey, periodOf } from './tokens.js'

export const OUTCOMES = [
  'advies gegeven',
  'geadviseerd te melden',
  'geadviseerd MDA/casusoverleg',
  'doorverwezen',
  'anders',
] as const

async function adviesDesk(ctx: AppContext, deskId: string, regionId?: string) {
  const desk = await ctx.db.db
    .selectFrom('desks')
    .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
    .select(['desks.id', 'desks.purpose', 'desks.key_version', 'organisations.region_id'])
    .where('desks.id', '=', deskId)
    .executeTakeFirst()
  if (!desk || (regionId && desk.region_id !== regionId))
    throw errors.notFound('Desk niet gevonden / Desk not found')
  if (desk.key_version < 1)
    throw errors.conflict(
      'VS_DESK_NO_KEY',
      'Deze desk heeft nog geen sleutel / Desk has no key yet',
    )
  return desk
}

function checkConsultGenesis(genesisBytes: Uint8Array, deskId: string, asker: string) {
  let g
  try {
    g = parseCommit(genesisBytes)
  } catch {
    throw createError('VS_COMMIT_MALFORMED', 'Ongeldige commit / Malformed commit', 400)
  }
  const ids = g.members.map((m) => `${m.kind}:${m.userId}`).sort()
  if (
    g.kind !== 'consult' ||
    ids.length !== 2 ||
    !ids.includes(`desk:${deskId}`) ||
    !ids.includes(`user:${asker}`)
  ) {
    throw errors.badRequest(
      'Een adviesvraag is een kamer met jou en de desk / A consultation is a room of you and the desk',
    )
  }
  return g
}

export async function openConsult(
  ctx: AppContext,
  principal: Principal,
  input: {
    deskId: string
    genesis: string
    welcomes: WelcomeWire[]
    discipline?: string | undefined
  },
): Promise<{ roomId: string; event: StoredEvent }> {
  await adviesDesk(ctx, input.deskId, principal.regionId)
  const bytes = fromB64(input.genesis)
  checkConsultGenesis(bytes, input.deskId, principal.userId)
  return createRoom(ctx, principal, bytes, input.welcomes, [], async (trx, g) => {
    await trx
      .insertInto('consults')
      .values({
        room_id: g.roomId,
        desk_id: input.deskId,
        mode: 'family-anonymous',
        asker_user_id: principal.userId,
        discipline: input.discipline ?? null,
        created_at: ctx.now(),
      })
      .execute()
  })
}

/**
 * Opens a fully anonymous consultation: the token is checked and spent in the same
 * transaction that creates the room, so it cannot be used twice.
 */
export async function openAnonymousConsult(
  ctx: AppContext,
  input: {
    token: { period: string; input: string; output: string }
    deskId: string
    discipline?: string | undefined
    member: { id: string; deviceId: string; signPk: string; boxPk: string }
    genesis: string
    welcomes: WelcomeWire[]
  },
): Promise<{ roomId: string; capability: string; event: StoredEvent }> {
  const desk = await adviesDesk(ctx, input.deskId)
  const period = periodOf(ctx.now())
  if (input.token.period !== period) {
    throw createError(
      'VS_TOKEN_PERIOD',
      'Dit token is verlopen; haal nieuwe tokens op terwijl je bent aangemeld / Token expired',
      400,
    )
  }
  let token
  try {
    token = redemptionFromJson({ input: input.token.input, output: input.token.output })
    await verifyRedemption(issuerKey(ctx, period), token.input, token.output)
  } catch {
    throw createError('VS_TOKEN_INVALID', 'Ongeldig token / Invalid token', 400)
  }
  if (!input.member.id.startsWith('anon_'))
    throw errors.badRequest(
      'Anonieme id moet met anon_ beginnen / Anonymous id must start with anon_',
    )
  const bytes = fromB64(input.genesis)
  const g = checkConsultGenesis(bytes, input.deskId, input.member.id)
  if (g.committer.userId !== input.member.id || g.committer.deviceId !== input.member.deviceId) {
    throw errors.badRequest(
      'De kamer moet door jouw nieuwe sleutel zijn gemaakt / Genesis must be signed by your new key',
    )
  }
  const capability = toB64(randomBytes(32))
  const r = await ctx.db.db.transaction().execute(async (trx) => {
    const spent = await trx
      .insertInto('spent_tokens')
      .values({ input_hash: hash('spent-token/v1', token.input), period })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst()
    if (Number(spent.numInsertedOrUpdatedRows ?? 0) !== 1) {
      throw createError('VS_TOKEN_SPENT', 'Dit token is al gebruikt / Token already used', 409)
    }
    await trx
      .insertInto('anon_members')
      .values({
        id: input.member.id,
        room_id: g.roomId,
        device_id: input.member.deviceId,
        sign_pk: fromB64(input.member.signPk),
        box_pk: fromB64(input.member.boxPk),
        capability_hash: capabilityHash(capability),
      })
      .execute()
    await checkMembersInRegion(trx, desk.region_id, g)
    const created = await insertGenesis(trx, ctx, desk.region_id, null, g, bytes, input.welcomes)
    await trx
      .insertInto('consults')
      .values({
        room_id: g.roomId,
        desk_id: input.deskId,
        mode: 'fully-anonymous',
        asker_user_id: null,
        discipline: input.discipline ?? null,
        created_at: ctx.now(),
      })
      .execute()
    return created
  })
  return { ...r, capability }
}

export interface DeskConsult {
  roomId: string
  mode: 'family-anonymous' | 'fully-anonymous'
  asker: { name: string; discipline: string; organisation: string } | null
  discipline: string | null
  createdAt: string
  waitingMinutes: number
  claimedBy: { userId: string; name: string } | null
  closedAt: string | null
  outcome: string | null
}

async function requireAdvisor(
  ctx: AppContext,
  principal: Principal,
  deskId: string,
): Promise<void> {
  if (!(await advisesDesk(ctx.db.db, principal.userId, deskId)))
    throw errors.forbidden('Alleen adviseurs van deze desk / Only advisors of this desk')
}

export async function deskConsults(
  ctx: AppContext,
  principal: Principal,
  deskId: string,
  includeClosed: boolean,
): Promise<DeskConsult[]> {
  await requireAdvisor(ctx, principal, deskId)
  let q = ctx.db.db
    .selectFrom('consults')
    .leftJoin('users as asker', 'asker.id', 'consults.asker_user_id')
    .leftJoin('organisations', 'organisations.id', 'asker.organisation_id')
    .leftJoin('users as claimer', 'claimer.id', 'consults.claimed_by')
    .select([
      'consults.room_id',
      'consults.mode',
      'consults.discipline',
      'consults.created_at',
      'consults.claimed_by',
      'consults.closed_at',
      'consults.outcome',
      'asker.name as askerName',
      'asker.discipline as askerDiscipline',
      'organisations.name as askerOrg',
      'claimer.name as claimerName',
    ])
    .where('consults.desk_id', '=', deskId)
    .orderBy('consults.created_at')
  if (!includeClosed) q = q.where('consults.closed_at', 'is', null)
  const rows = await q.execute()
  const now = ctx.now().getTime()
  await appendAudit(ctx.db.db, {
    event: 'desk.inbox.read',
    actorUserId: principal.userId,
    subjectKind: 'desk',
    subjectId: deskId,
  })
  return rows.map((r) => ({
    roomId: r.room_id,
    mode: r.mode,
    asker:
      r.mode === 'family-anonymous' && r.askerName
        ? { name: r.askerName, discipline: r.askerDiscipline ?? '', organisation: r.askerOrg ?? '' }
        : null,
    discipline: r.discipline,
    createdAt: r.created_at.toISOString(),
    waitingMinutes: Math.max(0, Math.floor((now - r.created_at.getTime()) / 60_000)),
    claimedBy: r.claimed_by ? { userId: r.claimed_by, name: r.claimerName ?? '' } : null,
    closedAt: r.closed_at ? r.closed_at.toISOString() : null,
    outcome: r.outcome,
  }))
}

async function consultFor(ctx: AppContext, principal: Principal, roomId: string) {
  const c = await ctx.db.db
    .selectFrom('consults')
    .selectAll()
    .where('room_id', '=', roomId)
    .executeTakeFirst()
  if (!c) throw errors.notFound('Adviesvraag niet gevonden / Consultation not found')
  await requireAdvisor(ctx, principal, c.desk_id)
  return c
}

/** Claims a consultation; of two advisors racing, exactly one wins. */
export async function claimConsult(
  ctx: AppContext,
  principal: Principal,
  roomId: string,
): Promise<void> {
  const c = await consultFor(ctx, principal, roomId)
  if (c.closed_at)
    throw errors.conflict(
      'VS_CONSULT_CLOSED',
      'Deze adviesvraag is gesloten / Consultation is closed',
    )
  const res = await ctx.db.db
    .updateTable('consults')
    .set({ claimed_by: principal.userId, claimed_at: ctx.now() })
    .where('room_id', '=', roomId)
    .where('claimed_by', 'is', null)
    .where('closed_at', 'is', null)
    .executeTakeFirst()
  if (Number(res.numUpdatedRows) !== 1) {
    throw errors.conflict(
      'VS_CONSULT_TAKEN',
      'Een collega heeft deze adviesvraag al opgepakt / A colleague already took it',
    )
  }
  await appendAudit(ctx.db.db, {
    event: 'consult.claimed',
    actorUserId: principal.userId,
    subjectKind: 'consult',
    subjectId: roomId,
  })
}

export async function handOver(
  ctx: AppContext,
  principal: Principal,
  roomId: string,
  to: string,
): Promise<void> {
  const c = await consultFor(ctx, principal, roomId)
  if (c.claimed_by !== principal.userId)
    throw errors.forbidden(
      'Alleen wie de vraag heeft opgepakt kan overdragen / Only the claimer can hand over',
    )
  if (!(await advisesDesk(ctx.db.db, to, c.desk_id)))
    throw errors.badRequest(
      'Collega is geen adviseur van deze desk / Colleague is not an advisor of this desk',
    )
  await ctx.db.db
    .updateTable('consults')
    .set({ claimed_by: to, claimed_at: ctx.now() })
    .where('room_id', '=', roomId)
    .execute()
  await appendAudit(ctx.db.db, {
    event: 'consult.handed-over',
    actorUserId: principal.userId,
    onBehalfOf: to,
    subjectKind: 'consult',
    subjectId: roomId,
  })
}

export async function closeConsult(
  ctx: AppContext,
  principal: Principal,
  roomId: string,
  outcome: string,
): Promise<void> {
  const c = await consultFor(ctx, principal, roomId)
  if (c.claimed_by !== principal.userId)
    throw errors.forbidden('Pak de vraag eerst op / Claim the consultation first')
  if (c.closed_at) throw errors.conflict('VS_CONSULT_CLOSED', 'Al gesloten / Already closed')
  await ctx.db.db
    .updateTable('consults')
    .set({ closed_at: ctx.now(), outcome })
    .where('room_id', '=', roomId)
    .execute()
  await appendAudit(ctx.db.db, {
    event: 'consult.closed',
    actorUserId: principal.userId,
    subjectKind: 'consult',
    subjectId: roomId,
    details: { outcome },
  })
}
