/**
 * Accounts: regions, organisations, invitations, sign-in with password + TOTP,
 * sessions with rotating refresh tokens.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import { hash, hashPassword, randomBytes, randomId, toB64, verifyPassword } from '@vs/crypto'
import type { Me, OrgKind, Role, SessionInfo, Tokens } from '@vs/protocol'
import type { AppContext } from '../context.js'
import type { Database } from '../db/schema.js'
import { createError, errors } from '../errors.js'
import { appendAudit } from '../audit.js'
import { ACCESS_TOKEN_TTL_S } from '../auth/tokens.js'
import { checkTotp, newTotpSecret, otpauthUri } from '../auth/totp.js'

export const REFRESH_TTL_MS = 30 * 24 * 3600 * 1000
const LOCK_MS = 15 * 60 * 1000
const INVITATION_DEFAULT_HOURS = 72

type Db = Kysely<Database>

export const signInFailed = () =>
  createError(
    'VS_SIGNIN_FAILED',
    'Aanmelden mislukt: controleer e-mailadres, wachtwoord en code. / Sign-in failed: check email, password and code.',
    401,
  )
export const signInLocked = () =>
  createError(
    'VS_SIGNIN_LOCKED',
    'Te veel mislukte pogingen. Probeer het over 15 minuten opnieuw. / Too many failed attempts; try again in 15 minutes.',
    429,
  )

export async function ensureRegion(
  db: Kysely<Database> | Transaction<Database>,
  name: string,
): Promise<string> {
  // Insert-if-missing: two operators creating the same region at once both succeed.
  await db
    .insertInto('regions')
    .values({ id: randomId(), name })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute()
  const row = await db
    .selectFrom('regions')
    .select('id')
    .where('name', '=', name)
    .executeTakeFirstOrThrow()
  return row.id
}

export async function createOrganisation(
  db: Db | Transaction<Database>,
  regionId: string,
  name: string,
  kind: OrgKind,
): Promise<{ id: string; createdAt: Date }> {
  const dup = await db
    .selectFrom('organisations')
    .select('id')
    .where('region_id', '=', regionId)
    .where('name', '=', name)
    .executeTakeFirst()
  if (dup) {
    throw errors.conflict(
      'VS_ORG_EXISTS',
      'Deze organisatie bestaat al in de regio / Organisation already exists',
    )
  }
  const id = randomId()
  const createdAt = new Date()
  await db
    .insertInto('organisations')
    .values({ id, region_id: regionId, name, kind, created_at: createdAt })
    .execute()
  return { id, createdAt }
}

export function invitationCodeHash(code: string): Uint8Array {
  return hash('invitation/v1', code)
}

export async function createInvitation(
  ctx: AppContext,
  db: Db | Transaction<Database>,
  input: {
    email: string
    name: string
    discipline: string
    organisationId: string
    role: Role
    createdBy: string | null
    validHours?: number | undefined
  },
): Promise<{ id: string; code: string; expiresAt: Date }> {
  const taken = await db
    .selectFrom('users')
    .select('id')
    .where(sql`lower(email)`, '=', input.email.toLowerCase())
    .executeTakeFirst()
  if (taken) {
    throw errors.conflict(
      'VS_EMAIL_TAKEN',
      'Er is al een account met dit e-mailadres / Email already has an account',
    )
  }
  const id = randomId()
  const code = toB64(randomBytes(32))
  const expiresAt = new Date(
    ctx.now().getTime() + (input.validHours ?? INVITATION_DEFAULT_HOURS) * 3600_000,
  )
  await db
    .insertInto('invitations')
    .values({
      id,
      code_hash: invitationCodeHash(code),
      email: input.email,
      name: input.name,
      discipline: input.discipline,
      role: input.role,
      organisation_id: input.organisationId,
      created_by: input.createdBy,
      expires_at: expiresAt,
    })
    .execute()
  return { id, code, expiresAt }
}

async function openInvitation(ctx: AppContext, db: Db | Transaction<Database>, code: string) {
  const inv = await db
    .selectFrom('invitations')
    .innerJoin('organisations', 'organisations.id', 'invitations.organisation_id')
    .selectAll('invitations')
    .select([
      'organisations.name as orgName',
      'organisations.kind as orgKind',
      'organisations.region_id as regionId',
    ])
    .where('code_hash', '=', invitationCodeHash(code))
    .executeTakeFirst()
  if (!inv)
    throw createError('VS_INVITATION_INVALID', 'Uitnodiging onbekend / Unknown invitation', 404)
  if (inv.used_at) {
    throw createError(
      'VS_INVITATION_USED',
      'Deze uitnodiging is al gebruikt / Invitation already used',
      410,
    )
  }
  if (inv.expires_at.getTime() < ctx.now().getTime()) {
    throw createError(
      'VS_INVITATION_EXPIRED',
      'Deze uitnodiging is verlopen / Invitation expired',
      410,
    )
  }
  return inv
}

export async function invitationInfo(ctx: AppContext, code: string) {
  const inv = await openInvitation(ctx, ctx.db.db, code)
  return {
    name: inv.name,
    email: inv.email,
    discipline: inv.discipline,
    role: inv.role,
    organisation: { id: inv.organisation_id, name: inv.orgName, kind: inv.orgKind as OrgKind },
    expiresAt: inv.expires_at.toISOString(),
  }
}

/** Step 1 of redemption: set a password, receive a TOTP secret to enrol. */
export async function acceptInvitation(ctx: AppContext, code: string, password: string) {
  const inv = await openInvitation(ctx, ctx.db.db, code)
  const secret = newTotpSecret()
  await ctx.db.db
    .updateTable('invitations')
    .set({ pending_password_hash: hashPassword(password, ctx.pwhash), pending_totp_secret: secret })
    .where('id', '=', inv.id)
    .where('used_at', 'is', null)
    .execute()
  return { totpSecret: secret, otpauthUri: otpauthUri(secret, inv.email) }
}

/** Step 2: prove the password and a TOTP code; the account is created and signed in. */
export async function confirmInvitation(
  ctx: AppContext,
  code: string,
  password: string,
  totp: string,
  userAgent: string,
) {
  const result = await ctx.db.db.transaction().execute(async (trx) => {
    const inv = await openInvitation(ctx, trx, code)
    // Lock the invitation row so two confirmations cannot both create an account.
    await sql`select id from invitations where id = ${inv.id} for update`.execute(trx)
    const again = await trx
      .selectFrom('invitations')
      .select('used_at')
      .where('id', '=', inv.id)
      .executeTakeFirstOrThrow()
    if (again.used_at) {
      throw createError(
        'VS_INVITATION_USED',
        'Deze uitnodiging is al gebruikt / Invitation already used',
        410,
      )
    }
    if (!inv.pending_password_hash || !inv.pending_totp_secret) {
      throw createError(
        'VS_INVITATION_NOT_ACCEPTED',
        'Kies eerst een wachtwoord / Choose a password first',
        409,
      )
    }
    if (!verifyPassword(inv.pending_password_hash, password)) {
      throw createError(
        'VS_PASSWORD_MISMATCH',
        'Wachtwoord komt niet overeen / Password does not match',
        400,
      )
    }
    const step = checkTotp(inv.pending_totp_secret, totp, 0, ctx.now())
    if (step === undefined) {
      throw createError(
        'VS_TOTP_INVALID',
        'De code klopt niet; kijk in je authenticator-app / Wrong code',
        400,
      )
    }
    const userId = randomId()
    await trx
      .insertInto('users')
      .values({
        id: userId,
        organisation_id: inv.organisation_id,
        region_id: inv.regionId,
        email: inv.email,
        name: inv.name,
        discipline: inv.discipline,
        role: inv.role,
        password_hash: inv.pending_password_hash,
        totp_secret: inv.pending_totp_secret,
        totp_last_step: step,
      })
      .execute()
    await trx
      .updateTable('invitations')
      .set({
        used_at: ctx.now(),
        user_id: userId,
        pending_password_hash: null,
        pending_totp_secret: null,
      })
      .where('id', '=', inv.id)
      .execute()
    await appendAudit(trx, {
      event: 'account.created',
      actorUserId: userId,
      subjectKind: 'user',
      subjectId: userId,
    })
    return { userId }
  })
  return createSession(ctx, result.userId, userAgent)
}

function attemptKey(kind: string, value: string): Uint8Array {
  return hash('signin-attempt/v1', kind, value)
}

async function isLocked(ctx: AppContext, key: Uint8Array): Promise<boolean> {
  const row = await ctx.db.db
    .selectFrom('sign_in_attempts')
    .select('locked_until')
    .where('key_hash', '=', key)
    .executeTakeFirst()
  return !!row?.locked_until && row.locked_until.getTime() > ctx.now().getTime()
}

async function recordFailure(ctx: AppContext, key: Uint8Array): Promise<void> {
  const now = ctx.now()
  await ctx.db.db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('sign_in_attempts')
      .selectAll()
      .where('key_hash', '=', key)
      .forUpdate()
      .executeTakeFirst()
    const windowOpen = row && now.getTime() - row.window_start.getTime() < LOCK_MS
    const failures = windowOpen ? row.failures + 1 : 1
    const lockedUntil =
      failures >= ctx.cfg.signInMaxFailures ? new Date(now.getTime() + LOCK_MS) : null
    if (row) {
      await trx
        .updateTable('sign_in_attempts')
        .set({
          failures,
          window_start: windowOpen ? row.window_start : now,
          locked_until: lockedUntil,
        })
        .where('key_hash', '=', key)
        .execute()
    } else {
      await trx
        .insertInto('sign_in_attempts')
        .values({ key_hash: key, failures, window_start: now, locked_until: lockedUntil })
        .execute()
    }
  })
}

let dummyHash: string | undefined

/**
 * Sign-in with password and TOTP (NEN 7510: two factors, always). Every failure gives
 * the same answer whether or not the account exists, and an unknown account still costs
 * a password hash, so neither the message nor the timing tells who has an account.
 * Failures are counted per account (by e-mail, known or not) and per address.
 */
export async function signIn(
  ctx: AppContext,
  input: { email: string; password: string; totp: string },
  ip: string,
  userAgent: string,
) {
  const acctKey = attemptKey('account', input.email.toLowerCase())
  const ipKey = attemptKey('ip', ip)
  if ((await isLocked(ctx, acctKey)) || (await isLocked(ctx, ipKey))) {
    await appendAudit(ctx.db.db, {
      event: 'sign-in',
      outcome: 'denied',
      details: { reason: 'locked' },
    })
    throw signInLocked()
  }
  const user = await ctx.db.db
    .selectFrom('users')
    .select(['id', 'password_hash', 'totp_secret', 'totp_last_step', 'disabled_at'])
    .where(sql`lower(email)`, '=', input.email.toLowerCase())
    .executeTakeFirst()
  dummyHash ??= hashPassword(toB64(randomBytes(16)), ctx.pwhash)
  const passwordOk = verifyPassword(user?.password_hash ?? dummyHash, input.password)
  const step =
    user && passwordOk
      ? checkTotp(user.totp_secret, input.totp, user.totp_last_step, ctx.now())
      : undefined
  if (!user || user.disabled_at || !passwordOk || step === undefined) {
    await recordFailure(ctx, acctKey)
    await recordFailure(ctx, ipKey)
    await appendAudit(ctx.db.db, {
      event: 'sign-in',
      outcome: 'failed',
      actorUserId: user?.id ?? null,
      details: { reason: !user ? 'unknown-account' : !passwordOk ? 'password' : 'totp' },
    })
    throw signInFailed()
  }
  // Record the step before answering so the same code cannot sign in twice.
  const updated = await ctx.db.db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', user.id)
    .where('totp_last_step', '<', step)
    .executeTakeFirst()
  if (Number(updated.numUpdatedRows) !== 1) throw signInFailed()
  await ctx.db.db.deleteFrom('sign_in_attempts').where('key_hash', '=', acctKey).execute()
  await appendAudit(ctx.db.db, {
    event: 'sign-in',
    actorUserId: user.id,
    subjectKind: 'user',
    subjectId: user.id,
  })
  return createSession(ctx, user.id, userAgent)
}

function refreshHash(token: string): Uint8Array {
  return hash('refresh/v1', token)
}

async function issueRefresh(
  db: Db | Transaction<Database>,
  ctx: AppContext,
  sessionId: string,
): Promise<string> {
  const token = toB64(randomBytes(32))
  await db
    .insertInto('refresh_tokens')
    .values({
      token_hash: refreshHash(token),
      session_id: sessionId,
      expires_at: new Date(ctx.now().getTime() + REFRESH_TTL_MS),
    })
    .execute()
  return token
}

export async function createSession(ctx: AppContext, userId: string, userAgent: string) {
  const sessionId = randomId()
  const now = ctx.now()
  await ctx.db.db
    .insertInto('sessions')
    .values({
      id: sessionId,
      user_id: userId,
      user_agent: userAgent.slice(0, 200),
      created_at: now,
      last_used_at: now,
    })
    .execute()
  const refreshToken = await issueRefresh(ctx.db.db, ctx, sessionId)
  const accessToken = await ctx.tokens.issue({ userId, sessionId })
  return {
    accessToken,
    refreshToken,
    expiresIn: ACCESS_TOKEN_TTL_S,
    sessionId,
    user: await me(ctx, userId),
  }
}

/**
 * Rotates a refresh token. A token that was already rotated means two parties hold it
 * (it was stolen): the whole session, with every token descended from it, is revoked,
 * and `onRevoked` is told which session so its live sockets can be closed too.
 */
export async function refresh(
  ctx: AppContext,
  token: string,
  onRevoked?: (session: { userId: string; sessionId: string }) => void,
): Promise<Tokens> {
  const invalid = () =>
    createError('VS_REFRESH_INVALID', 'Sessie verlopen, meld je opnieuw aan / Session expired', 401)
  return ctx.db.db
    .transaction()
    .execute(async (trx) => {
      const row = await trx
        .selectFrom('refresh_tokens')
        .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
        .select([
          'refresh_tokens.token_hash',
          'refresh_tokens.rotated_at',
          'refresh_tokens.expires_at',
          'sessions.id as sessionId',
          'sessions.user_id as userId',
          'sessions.revoked_at',
        ])
        .where('refresh_tokens.token_hash', '=', refreshHash(token))
        .forUpdate()
        .executeTakeFirst()
      if (!row || row.revoked_at) throw invalid()
      if (row.rotated_at) {
        await trx
          .updateTable('sessions')
          .set({ revoked_at: ctx.now(), revoked_reason: 'refresh-token-reuse' })
          .where('id', '=', row.sessionId)
          .execute()
        await appendAudit(trx, {
          event: 'session.revoked',
          actorUserId: row.userId,
          subjectKind: 'session',
          subjectId: row.sessionId,
          details: { reason: 'refresh-token-reuse' },
        })
        return { revoked: { userId: row.userId, sessionId: row.sessionId } }
      }
      if (row.expires_at.getTime() < ctx.now().getTime()) throw invalid()
      await trx
        .updateTable('refresh_tokens')
        .set({ rotated_at: ctx.now() })
        .where('token_hash', '=', row.token_hash)
        .execute()
      await trx
        .updateTable('sessions')
        .set({ last_used_at: ctx.now() })
        .where('id', '=', row.sessionId)
        .execute()
      const refreshToken = await issueRefresh(trx, ctx, row.sessionId)
      const accessToken = await ctx.tokens.issue({ userId: row.userId, sessionId: row.sessionId })
      return { accessToken, refreshToken, expiresIn: ACCESS_TOKEN_TTL_S, sessionId: row.sessionId }
    })
    .then((r) => {
      // Thrown after the revocation committed.
      if (r.revoked) {
        onRevoked?.(r.revoked)
        throw createError(
          'VS_REFRESH_REUSED',
          'Sessie ingetrokken: token hergebruikt / Session revoked: token reuse',
          401,
        )
      }
      return r
    })
}

export async function revokeSessions(
  ctx: AppContext,
  userId: string,
  which: { sessionId: string } | 'all',
  reason: string,
): Promise<number> {
  let q = ctx.db.db
    .updateTable('sessions')
    .set({ revoked_at: ctx.now(), revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
  if (which !== 'all') q = q.where('id', '=', which.sessionId)
  const res = await q.executeTakeFirst()
  await appendAudit(ctx.db.db, {
    event: 'session.revoked',
    actorUserId: userId,
    subjectKind: 'session',
    subjectId: which === 'all' ? 'all' : which.sessionId,
    details: { reason },
  })
  return Number(res.numUpdatedRows)
}

export async function listSessions(
  ctx: AppContext,
  userId: string,
  currentId: string,
): Promise<SessionInfo[]> {
  const rows = await ctx.db.db
    .selectFrom('sessions')
    .select(['id', 'created_at', 'last_used_at', 'user_agent'])
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .orderBy('last_used_at', 'desc')
    .execute()
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at.toISOString(),
    userAgent: r.user_agent,
    current: r.id === currentId,
  }))
}

export async function me(ctx: AppContext, userId: string): Promise<Me> {
  const u = await ctx.db.db
    .selectFrom('users')
    .innerJoin('organisations', 'organisations.id', 'users.organisation_id')
    .innerJoin('regions', 'regions.id', 'users.region_id')
    .select([
      'users.id',
      'users.name',
      'users.email',
      'users.discipline',
      'users.role',
      'users.region_id',
      'users.master_pk',
      'organisations.id as orgId',
      'organisations.name as orgName',
      'organisations.kind as orgKind',
      'regions.name as regionName',
    ])
    .where('users.id', '=', userId)
    .executeTakeFirstOrThrow()
  return {
    userId: u.id,
    name: u.name,
    email: u.email,
    discipline: u.discipline,
    role: u.role,
    organisation: { id: u.orgId, name: u.orgName, kind: u.orgKind as OrgKind },
    regionId: u.region_id,
    regionName: u.regionName,
    hasMasterKey: u.master_pk !== null,
  }
}

/** A fresh second factor for sensitive actions (reading the audit log). */
export async function stepUpTotp(ctx: AppContext, userId: string, code: string): Promise<void> {
  const u = await ctx.db.db
    .selectFrom('users')
    .select(['totp_secret', 'totp_last_step'])
    .where('id', '=', userId)
    .executeTakeFirstOrThrow()
  const step = checkTotp(u.totp_secret, code, u.totp_last_step, ctx.now())
  const bad = () =>
    createError(
      'VS_TOTP_REQUIRED',
      'Voer een nieuwe code uit je authenticator-app in / Enter a fresh authenticator code',
      403,
    )
  if (step === undefined) throw bad()
  const res = await ctx.db.db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', userId)
    .where('totp_last_step', '<', step)
    .executeTakeFirst()
  if (Number(res.numUpdatedRows) !== 1) throw bad()
}
