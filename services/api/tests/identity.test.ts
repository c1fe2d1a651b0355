/**
 * Identity rules, proven against a real app and database: invitations, sign-in with two
 * factors, access tokens, refresh rotation, sessions, devices and the key log.
 *
 * Every app here runs on a test-controlled clock (`ctx.now`), so TOTP windows, lockouts,
 * invitation and token expiry are exercised without waiting. The clock only moves forward.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { SignJWT, decodeProtectedHeader, importJWK } from 'jose'
import WebSocket from 'ws'
import {
  KeyLogVerifier,
  certifyDevice,
  decodeDeviceRevocation,
  deviceCertToJSON,
  fromB64,
  generateBoxKeyPair,
  generateSigningKeyPair,
  keyLogEntryFromJSON,
  randomBytes,
  randomId,
  revokeDevice,
  signedHeadFromJSON,
  signingKeyPairFromSeed,
  toB64,
  verifySignedHead,
  type DeviceCert,
} from '@vs/crypto'
import { CloseCode, WS_AUTH_PREFIX, WS_SUBPROTOCOL } from '@vs/protocol'
import type {
  DeviceInfo,
  DeviceLinkState,
  KeyLogPage,
  Session,
  SessionInfo,
  Tokens,
  UserKeys,
} from '@vs/protocol'
import type { ServerConfig } from '../src/config.js'
import { AppContext } from '../src/context.js'
import { createApp, type App } from '../src/app.js'
import { createLogger } from '../src/logger.js'
import { bootstrapInvitation } from '../src/identity/bootstrap.js'
import {
  createTestDb,
  makePerson,
  newDevice,
  testConfig,
  totpNow,
  type Person,
  type TestDb,
} from './helpers/index.js'

const STEP_MS = 30_000
const MINUTE = 60_000
const TYP = 'vs-access+jwt'

// ------------------------------------------------------------------ a clocked app

interface ClockedApp {
  app: App
  ctx: AppContext
  testDb: TestDb
  url: string
  clock: { ms: number }
  close(): Promise<void>
}

/** Like `listenTestApp`, but `ctx.now` reads `clock.ms`, which the test moves. */
async function clockedApp(overrides: Partial<ServerConfig> = {}): Promise<ClockedApp> {
  const clock = { ms: Date.now() }
  const testDb = await createTestDb(inject('dbTemplate'))
  const cfg = testConfig(overrides)
  const ctx = await AppContext.fromConfig(cfg, {
    db: testDb.db,
    logger: createLogger(cfg.logLevel),
    now: () => new Date(clock.ms),
  })
  const app = await createApp(ctx)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    app,
    ctx,
    testDb,
    url: `http://127.0.0.1:${port}`,
    clock,
    async close() {
      await app.close()
      await testDb.close()
    },
  }
}

/**
 * Moves the clock to one second into a TOTP step at least one full step ahead, so the
 * next code is one the account has never used (the server refuses a step twice).
 */
function nextStep(t: ClockedApp): number {
  t.clock.ms = (Math.floor(t.clock.ms / STEP_MS) + 2) * STEP_MS + 1000
  return t.clock.ms
}

let ipCounter = 0
/** A fresh client address: sign-in failures and rate limits are also counted per address. */
function freshIp(): string {
  ipCounter++
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`
}

interface Res {
  statusCode: number
  json(): unknown
}

function post(
  t: ClockedApp,
  url: string,
  body: unknown,
  opts: { token?: string; ip?: string } = {},
) {
  return t.app.inject({
    method: 'POST',
    url,
    payload: body as Record<string, unknown>,
    remoteAddress: opts.ip ?? freshIp(),
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
  })
}

function get(t: ClockedApp, url: string, token?: string) {
  return t.app.inject({
    method: 'GET',
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  })
}

function errorCode(res: Res): string | undefined {
  return (res.json() as { error?: { code?: string } }).error?.code
}

function signInBody(p: Person, totp: string, password = p.password) {
  return { email: p.email, password, totp }
}

/** Signs in with correct credentials and a fresh code; returns the session. */
async function signIn(t: ClockedApp, p: Person): Promise<Session> {
  const at = nextStep(t)
  const res = await post(t, '/api/v1/auth/sign-in', signInBody(p, totpNow(p.totpSecret, at)))
  expect(res.statusCode, res.body).toBe(200)
  return res.json() as Session
}

function wrongCode(code: string): string {
  return String((Number(code) + 500_000) % 1_000_000).padStart(6, '0')
}

/** A live WebSocket of a session; `closed` resolves with the close code. */
async function openSocket(t: ClockedApp, token: string) {
  const ws = new WebSocket(`${t.url.replace('http', 'ws')}/ws`, [
    WS_SUBPROTOCOL,
    `${WS_AUTH_PREFIX}${token}`,
  ])
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { ws, closed }
}

/** Resolves with the close code, or 'open' if the socket is still open after `ms`. */
function closedWithin(s: { closed: Promise<number> }, ms = 2000): Promise<number | 'open'> {
  return Promise.race([s.closed, new Promise<'open'>((r) => setTimeout(() => r('open'), ms))])
}

// ------------------------------------------------------------------ routes

interface Route {
  method: string
  path: string
}

const PUBLIC_PATHS = [
  '/',
  '/healthz',
  '/readyz',
  '/metrics',
  '/api/v1/auth/sign-in',
  '/api/v1/auth/refresh',
]
const PUBLIC_PREFIXES = [
  '/docs',
  '/api/v1/invitations/{code}',
  // Anonymous consultation: no account by design (it runs on blind-signed tokens).
  '/api/v1/anon/',
]

/** Routes anyone may call: ops, docs, the web client, invitation redemption and sign-in. */
function isPublic(path: string): boolean {
  return PUBLIC_PATHS.includes(path) || PUBLIC_PREFIXES.some((p) => path.startsWith(p))
}

/** Every route the OpenAPI description lists that needs a session, plus the WebSocket. */
async function authenticatedRoutes(app: App): Promise<Route[]> {
  const doc = (await app.inject({ url: '/docs/json' })).json() as {
    paths: Record<string, Record<string, unknown>>
  }
  const routes: Route[] = [{ method: 'GET', path: '/ws' }]
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (isPublic(path)) continue
    for (const method of Object.keys(methods)) routes.push({ method: method.toUpperCase(), path })
  }
  return routes
}

/** Calls a route with random ids in the path and an empty JSON body. */
function callRoute(app: App, r: Route, token?: string) {
  const url = r.path.replace(/\{[^}]+\}/g, () => randomId())
  return app.inject({
    method: r.method as 'GET',
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(r.method === 'GET' ? {} : { payload: {} }),
  })
}

async function expectEveryRoute401(
  app: App,
  routes: Route[],
  token: string | undefined,
  code?: string,
): Promise<void> {
  const wrong: string[] = []
  for (const r of routes) {
    const res = await callRoute(app, r, token)
    if (res.statusCode !== 401 || (code && errorCode(res) !== code)) {
      wrong.push(`${r.method} ${r.path} → ${res.statusCode} ${res.body.slice(0, 80)}`)
    }
  }
  expect(wrong).toEqual([])
}

// ------------------------------------------------------------------ invitations

describe('invitations', () => {
  let t: ClockedApp
  beforeAll(async () => {
    t = await clockedApp()
  })
  afterAll(() => t.close())

  async function invite(validHours?: number) {
    const email = `inv-${randomId().slice(0, 8)}@example.nl`
    const inv = await bootstrapInvitation(t.ctx, {
      region: 'Twente',
      organisation: 'Kraamzorg Twente',
      kind: 'kraamzorg',
      name: 'Ineke Kraamverzorgster',
      email,
      discipline: 'kraamverzorgende',
      role: 'professional',
      ...(validHours ? { validHours } : {}),
    })
    return { ...inv, email }
  }
  const password = 'een lang genoeg wachtwoord'

  async function pendingHash(id: string) {
    const row = await t.ctx.db.db
      .selectFrom('invitations')
      .select(['pending_password_hash', 'pending_totp_secret', 'used_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    return row
  }

  it('shows the invitee their name, role and organisation', async () => {
    const inv = await invite()
    const res = await get(t, `/api/v1/invitations/${inv.code}`)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({
      name: 'Ineke Kraamverzorgster',
      email: inv.email,
      role: 'professional',
      organisation: { id: inv.organisationId, name: 'Kraamzorg Twente', kind: 'kraamzorg' },
    })
  })

  it('refuses a password under 12 characters and changes nothing', async () => {
    const inv = await invite()
    const res = await post(t, `/api/v1/invitations/${inv.code}/accept`, { password: 'kort-11-tek' })
    expect(res.statusCode).toBe(400)
    expect(await pendingHash(inv.id)).toEqual({
      pending_password_hash: null,
      pending_totp_secret: null,
      used_at: null,
    })
    expect((await get(t, `/api/v1/invitations/${inv.code}`)).statusCode).toBe(200)
  })

  it('refuses a wrong TOTP code at confirmation and keeps the invitation usable', async () => {
    const inv = await invite()
    const accepted = await post(t, `/api/v1/invitations/${inv.code}/accept`, { password })
    expect(accepted.statusCode).toBe(200)
    const { totpSecret } = accepted.json() as { totpSecret: string }
    const bad = await post(t, `/api/v1/invitations/${inv.code}/confirm`, {
      password,
      totp: wrongCode(totpNow(totpSecret, t.clock.ms)),
    })
    expect(bad.statusCode).toBe(400)
    expect(errorCode(bad)).toBe('VS_TOTP_INVALID')
    expect((await pendingHash(inv.id)).used_at).toBeNull()
    const users = await t.ctx.db.db
      .selectFrom('users')
      .select('id')
      .where('email', '=', inv.email)
      .execute()
    expect(users).toEqual([])

    const ok = await post(t, `/api/v1/invitations/${inv.code}/confirm`, {
      password,
      totp: totpNow(totpSecret, t.clock.ms),
    })
    expect(ok.statusCode).toBe(200)
    const session = ok.json() as Session
    expect(session.user).toMatchObject({ email: inv.email, role: 'professional' })
    expect((await get(t, '/api/v1/me', session.accessToken)).statusCode).toBe(200)
  })

  it('refuses a confirmation with a password other than the one chosen', async () => {
    const inv = await invite()
    const accepted = await post(t, `/api/v1/invitations/${inv.code}/accept`, { password })
    const { totpSecret } = accepted.json() as { totpSecret: string }
    const res = await post(t, `/api/v1/invitations/${inv.code}/confirm`, {
      password: 'een ander lang wachtwoord',
      totp: totpNow(totpSecret, t.clock.ms),
    })
    expect(res.statusCode).toBe(400)
    expect(errorCode(res)).toBe('VS_PASSWORD_MISMATCH')
    expect((await pendingHash(inv.id)).used_at).toBeNull()
  })

  it('refuses a used invitation everywhere (410 VS_INVITATION_USED)', async () => {
    const inv = await invite()
    const accepted = await post(t, `/api/v1/invitations/${inv.code}/accept`, { password })
    const { totpSecret } = accepted.json() as { totpSecret: string }
    const ok = await post(t, `/api/v1/invitations/${inv.code}/confirm`, {
      password,
      totp: totpNow(totpSecret, t.clock.ms),
    })
    expect(ok.statusCode).toBe(200)
    const again = [
      await get(t, `/api/v1/invitations/${inv.code}`),
      await post(t, `/api/v1/invitations/${inv.code}/accept`, { password }),
      await post(t, `/api/v1/invitations/${inv.code}/confirm`, {
        password,
        totp: totpNow(totpSecret, t.clock.ms + STEP_MS),
      }),
    ]
    for (const res of again) {
      expect(res.statusCode).toBe(410)
      expect(errorCode(res)).toBe('VS_INVITATION_USED')
    }
    const users = await t.ctx.db.db
      .selectFrom('users')
      .select('id')
      .where('email', '=', inv.email)
      .execute()
    expect(users).toHaveLength(1)
  })

  it('refuses an expired invitation (410 VS_INVITATION_EXPIRED)', async () => {
    const inv = await invite(1)
    const accepted = await post(t, `/api/v1/invitations/${inv.code}/accept`, { password })
    const { totpSecret } = accepted.json() as { totpSecret: string }
    t.clock.ms = inv.expiresAt.getTime() + 1000
    const after = [
      await get(t, `/api/v1/invitations/${inv.code}`),
      await post(t, `/api/v1/invitations/${inv.code}/accept`, { password }),
      await post(t, `/api/v1/invitations/${inv.code}/confirm`, {
        password,
        totp: totpNow(totpSecret, t.clock.ms),
      }),
    ]
    for (const res of after) {
      expect(res.statusCode).toBe(410)
      expect(errorCode(res)).toBe('VS_INVITATION_EXPIRED')
    }
    expect((await pendingHash(inv.id)).used_at).toBeNull()
  })

  it('answers 404 for an unknown code', async () => {
    const code = toB64(randomBytes(32))
    const res = await get(t, `/api/v1/invitations/${code}`)
    expect(res.statusCode).toBe(404)
    expect(errorCode(res)).toBe('VS_INVITATION_INVALID')
    const accept = await post(t, `/api/v1/invitations/${code}/accept`, { password })
    expect(accept.statusCode).toBe(404)
  })
})

// ------------------------------------------------------------------ sign-in

describe('sign-in', () => {
  let t: ClockedApp
  let anna: Person, bert: Person, carla: Person, dirk: Person
  beforeAll(async () => {
    t = await clockedApp()
    anna = await makePerson(t.ctx, t.url, { name: 'Anna' })
    bert = await makePerson(t.ctx, t.url, { name: 'Bert' })
    carla = await makePerson(t.ctx, t.url, { name: 'Carla' })
    dirk = await makePerson(t.ctx, t.url, { name: 'Dirk' })
  })
  afterAll(() => t.close())

  async function signInRows() {
    return t.ctx.db.db
      .selectFrom('audit_log')
      .select(['outcome', 'actor_user_id', 'details'])
      .where('event', '=', 'sign-in')
      .orderBy('seq')
      .execute()
  }

  it('needs the password and a TOTP code, and records the sign-in in the audit log', async () => {
    const before = (await signInRows()).length
    const session = await signIn(t, anna)
    expect(session.user.userId).toBe(anna.userId)
    expect((await get(t, '/api/v1/me', session.accessToken)).statusCode).toBe(200)
    const noTotp = await post(t, '/api/v1/auth/sign-in', {
      email: anna.email,
      password: anna.password,
    })
    expect(noTotp.statusCode).toBe(400)
    const rows = (await signInRows()).slice(before)
    expect(rows).toEqual([expect.objectContaining({ outcome: 'ok', actor_user_id: anna.userId })])
  })

  it('answers a wrong password, a wrong code and an unknown e-mail identically, and audits each', async () => {
    const before = (await signInRows()).length
    const at = nextStep(t)
    const code = totpNow(bert.totpSecret, at)
    const answers = [
      await post(t, '/api/v1/auth/sign-in', signInBody(bert, code, 'niet het wachtwoord')),
      await post(t, '/api/v1/auth/sign-in', signInBody(bert, wrongCode(code))),
      await post(t, '/api/v1/auth/sign-in', {
        email: `niemand-${randomId().slice(0, 6)}@example.nl`,
        password: bert.password,
        totp: code,
      }),
    ]
    for (const res of answers) {
      expect(res.statusCode).toBe(401)
      expect(errorCode(res)).toBe('VS_SIGNIN_FAILED')
    }
    expect(answers[1]!.json()).toEqual(answers[0]!.json())
    expect(answers[2]!.json()).toEqual(answers[0]!.json())
    const rows = (await signInRows()).slice(before)
    expect(rows.map((r) => [r.outcome, r.actor_user_id])).toEqual([
      ['failed', bert.userId],
      ['failed', bert.userId],
      ['failed', null],
    ])
    expect(rows.map((r) => JSON.parse(r.details ?? '{}').reason)).toEqual([
      'password',
      'totp',
      'unknown-account',
    ])
  })

  it('refuses a TOTP code replayed in its own window and accepts the next window\u2019s code', async () => {
    const at = nextStep(t)
    const code = totpNow(carla.totpSecret, at)
    const first = await post(t, '/api/v1/auth/sign-in', signInBody(carla, code))
    expect(first.statusCode).toBe(200)
    t.clock.ms = at + 5000
    const replay = await post(t, '/api/v1/auth/sign-in', signInBody(carla, code))
    expect(replay.statusCode).toBe(401)
    expect(errorCode(replay)).toBe('VS_SIGNIN_FAILED')
    // Still refused once its window has passed (it is within the ±1 step tolerance).
    t.clock.ms = at + STEP_MS
    const late = await post(t, '/api/v1/auth/sign-in', signInBody(carla, code))
    expect(late.statusCode).toBe(401)
    const next = await post(
      t,
      '/api/v1/auth/sign-in',
      signInBody(carla, totpNow(carla.totpSecret, t.clock.ms)),
    )
    expect(next.statusCode).toBe(200)
  })

  it('locks an account after 5 failures, even with correct credentials, for 15 minutes', async () => {
    const before = (await signInRows()).length
    nextStep(t)
    // Each attempt from another address, so it is the account that locks, not the address.
    const failures = []
    for (let i = 0; i < 5; i++) {
      failures.push(
        await post(
          t,
          '/api/v1/auth/sign-in',
          signInBody(dirk, totpNow(dirk.totpSecret, t.clock.ms), `fout wachtwoord ${i}`),
        ),
      )
    }
    expect(failures.map((r) => r.statusCode)).toEqual([401, 401, 401, 401, 401])
    const failed = failures[0]!
    const locked = await post(
      t,
      '/api/v1/auth/sign-in',
      signInBody(dirk, totpNow(dirk.totpSecret, t.clock.ms)),
    )
    expect(locked.statusCode).toBe(429)
    expect(errorCode(locked)).toBe('VS_SIGNIN_LOCKED')
    const rows = (await signInRows()).slice(before)
    expect(rows.map((r) => r.outcome)).toEqual([
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
      'denied',
    ])

    // The same for an account that does not exist: the answers tell nobody who has one.
    const ghost = `spook-${randomId().slice(0, 6)}@example.nl`
    for (let i = 0; i < 5; i++) {
      const res = await post(t, '/api/v1/auth/sign-in', {
        email: ghost,
        password: `gok ${i} gok gok gok`,
        totp: '123456',
      })
      expect(res.statusCode).toBe(401)
      expect(res.json()).toEqual(failed.json())
    }
    const ghostLocked = await post(t, '/api/v1/auth/sign-in', {
      email: ghost,
      password: 'nog een gok gok',
      totp: '123456',
    })
    expect(ghostLocked.statusCode).toBe(429)
    expect(ghostLocked.json()).toEqual(locked.json())

    t.clock.ms += 15 * MINUTE + 1000
    const again = await signIn(t, dirk)
    expect(again.user.userId).toBe(dirk.userId)
    const ghostAgain = await post(t, '/api/v1/auth/sign-in', {
      email: ghost,
      password: 'nog een gok gok',
      totp: '123456',
    })
    expect(ghostAgain.statusCode).toBe(401)
  })

  it('locks an address after 5 failures, whichever accounts it tried', async () => {
    const ip = freshIp()
    for (let i = 0; i < 5; i++) {
      const res = await post(
        t,
        '/api/v1/auth/sign-in',
        { email: `gok-${i}-${randomId().slice(0, 6)}@example.nl`, password: 'x', totp: '000000' },
        { ip },
      )
      expect(res.statusCode).toBe(401)
    }
    const at = nextStep(t)
    const fromThere = await post(
      t,
      '/api/v1/auth/sign-in',
      signInBody(anna, totpNow(anna.totpSecret, at)),
      { ip },
    )
    expect(fromThere.statusCode).toBe(429)
    expect(errorCode(fromThere)).toBe('VS_SIGNIN_LOCKED')
    const elsewhere = await post(
      t,
      '/api/v1/auth/sign-in',
      signInBody(anna, totpNow(anna.totpSecret, at)),
    )
    expect(elsewhere.statusCode).toBe(200)
  })
})

// ------------------------------------------------------------------ access tokens

describe('access tokens', () => {
  let t: ClockedApp
  let erik: Person
  let routes: Route[]
  beforeAll(async () => {
    t = await clockedApp()
    erik = await makePerson(t.ctx, t.url, { name: 'Erik' })
    routes = await authenticatedRoutes(t.app)
  })
  afterAll(() => t.close())

  const serverKey = async () => {
    const k = t.ctx.keys.tokenKeys[0]!
    return {
      kid: k.kid,
      key: await importJWK(
        { kty: 'OKP', crv: 'Ed25519', x: toB64(k.publicKey), d: toB64(k.seed) },
        'EdDSA',
      ),
    }
  }

  /** A token like the server's, with one thing changed. */
  async function forge(
    session: Session,
    change: {
      typ?: string
      aud?: string
      iss?: string
      alg?: 'EdDSA' | 'HS256'
      otherKey?: boolean
      omitSid?: boolean
    } = {},
  ): Promise<string> {
    const { kid, key } = await serverKey()
    const iat = Math.floor(t.clock.ms / 1000)
    const jwt = new SignJWT(change.omitSid ? {} : { sid: session.sessionId })
      .setProtectedHeader({ alg: change.alg ?? 'EdDSA', typ: change.typ ?? TYP, kid })
      .setSubject(session.user.userId)
      .setIssuer(change.iss ?? t.ctx.cfg.publicUrl)
      .setAudience(change.aud ?? t.ctx.cfg.publicUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 15 * 60)
    if (change.alg === 'HS256') return jwt.sign(randomBytes(32))
    if (change.otherKey) {
      const other = signingKeyPairFromSeed(randomBytes(32))
      const otherKey = await importJWK(
        {
          kty: 'OKP',
          crv: 'Ed25519',
          x: toB64(other.publicKey),
          d: toB64(other.privateKey.slice(0, 32)),
        },
        'EdDSA',
      )
      return jwt.sign(otherKey)
    }
    return jwt.sign(key)
  }

  function algNone(session: Session): string {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const iat = Math.floor(t.clock.ms / 1000)
    const header = { alg: 'none', typ: TYP, kid: t.ctx.keys.tokenKeys[0]!.kid }
    const claims = {
      sub: session.user.userId,
      sid: session.sessionId,
      iss: t.ctx.cfg.publicUrl,
      aud: t.ctx.cfg.publicUrl,
      iat,
      exp: iat + 900,
    }
    return `${enc(header)}.${enc(claims)}.`
  }

  it('finds the authenticated routes to test', () => {
    expect(routes.length).toBeGreaterThan(20)
    expect(routes).toContainEqual({ method: 'GET', path: '/api/v1/me' })
  })

  it('accepts a correctly forged control token (so the refusals below are meaningful)', async () => {
    const s = await signIn(t, erik)
    const token = await forge(s)
    expect(decodeProtectedHeader(token)).toEqual(decodeProtectedHeader(s.accessToken))
    expect((await get(t, '/api/v1/me', token)).statusCode).toBe(200)
  })

  it('refuses every authenticated route without a token', async () => {
    await expectEveryRoute401(t.app, routes, undefined)
  })

  it('refuses a token with alg none', async () => {
    await expectEveryRoute401(t.app, routes, algNone(await signIn(t, erik)))
  })

  it('refuses a token with alg HS256 under a random secret', async () => {
    await expectEveryRoute401(t.app, routes, await forge(await signIn(t, erik), { alg: 'HS256' }))
  })

  it('refuses a token of another type', async () => {
    await expectEveryRoute401(t.app, routes, await forge(await signIn(t, erik), { typ: 'JWT' }))
  })

  it('refuses a token for another audience', async () => {
    const s = await signIn(t, erik)
    await expectEveryRoute401(t.app, routes, await forge(s, { aud: 'https://elders.example' }))
  })

  it('refuses a token from another issuer', async () => {
    const s = await signIn(t, erik)
    await expectEveryRoute401(t.app, routes, await forge(s, { iss: 'https://elders.example' }))
  })

  it('refuses a token without a session id', async () => {
    await expectEveryRoute401(t.app, routes, await forge(await signIn(t, erik), { omitSid: true }))
  })

  it('refuses a token signed by another Ed25519 key under the same kid', async () => {
    const s = await signIn(t, erik)
    const token = await forge(s, { otherKey: true })
    expect(decodeProtectedHeader(token).kid).toBe(t.ctx.keys.tokenKeys[0]!.kid)
    await expectEveryRoute401(t.app, routes, token)
  })

  it('refuses a valid token whose session was signed out', async () => {
    const s = await signIn(t, erik)
    const out = await post(t, '/api/v1/auth/sign-out', {}, { token: s.accessToken })
    expect(out.statusCode).toBe(200)
    await expectEveryRoute401(t.app, routes, s.accessToken)
  })

  it('refuses an expired token with VS_TOKEN_EXPIRED', async () => {
    const s = await signIn(t, erik)
    expect((await get(t, '/api/v1/me', s.accessToken)).statusCode).toBe(200)
    t.clock.ms += 16 * MINUTE
    await expectEveryRoute401(t.app, routes, s.accessToken, 'VS_TOKEN_EXPIRED')
  })
})

// ------------------------------------------------------------------ refresh and sessions

describe('refresh tokens and sessions', () => {
  let t: ClockedApp
  let fleur: Person, gijs: Person
  beforeAll(async () => {
    t = await clockedApp()
    fleur = await makePerson(t.ctx, t.url, { name: 'Fleur' })
    gijs = await makePerson(t.ctx, t.url, { name: 'Gijs' })
  })
  afterAll(() => t.close())

  const refresh = (refreshToken: string) => post(t, '/api/v1/auth/refresh', { refreshToken })
  const meStatus = async (token: string) => (await get(t, '/api/v1/me', token)).statusCode

  it('rotates: the new refresh token works and the old access token lives until expiry', async () => {
    const s = await signIn(t, fleur)
    const issuedAt = t.clock.ms
    t.clock.ms += MINUTE
    const r1 = await refresh(s.refreshToken)
    expect(r1.statusCode).toBe(200)
    const t1 = r1.json() as Tokens
    expect(t1.sessionId).toBe(s.sessionId)
    expect(t1.refreshToken).not.toBe(s.refreshToken)
    expect(await meStatus(t1.accessToken)).toBe(200)
    expect(await meStatus(s.accessToken)).toBe(200)
    const r2 = await refresh(t1.refreshToken)
    expect(r2.statusCode).toBe(200)
    expect(await meStatus((r2.json() as Tokens).accessToken)).toBe(200)
    // Past the first access token's 15 minutes, within the rotated one's.
    t.clock.ms = issuedAt + 15 * MINUTE + 30_000
    expect(await meStatus(s.accessToken)).toBe(401)
    expect(await meStatus((r2.json() as Tokens).accessToken)).toBe(200)
  })

  it('revokes the whole session when a rotated refresh token is used again', async () => {
    const s = await signIn(t, fleur)
    const t1 = (await refresh(s.refreshToken)).json() as Tokens
    const t2 = (await refresh(t1.refreshToken)).json() as Tokens
    const socket = await openSocket(t, t2.accessToken)
    const reuse = await refresh(s.refreshToken)
    expect(reuse.statusCode).toBe(401)
    expect(errorCode(reuse)).toBe('VS_REFRESH_REUSED')
    expect(await closedWithin(socket)).toBe(CloseCode.Unauthorized)
    const newest = await refresh(t2.refreshToken)
    expect(newest.statusCode).toBe(401)
    expect(await meStatus(t2.accessToken)).toBe(401)
    expect(await meStatus(t1.accessToken)).toBe(401)
    expect(await meStatus(s.accessToken)).toBe(401)
    const row = await t.ctx.db.db
      .selectFrom('sessions')
      .select('revoked_reason')
      .where('id', '=', s.sessionId)
      .executeTakeFirstOrThrow()
    expect(row.revoked_reason).toBe('refresh-token-reuse')
  })

  it('refuses an unknown refresh token', async () => {
    const res = await refresh(toB64(randomBytes(32)))
    expect(res.statusCode).toBe(401)
    expect(errorCode(res)).toBe('VS_REFRESH_INVALID')
  })

  it('lists sessions with the current one flagged', async () => {
    const a = await signIn(t, gijs)
    const b = await signIn(t, gijs)
    const res = await get(t, '/api/v1/auth/sessions', b.accessToken)
    expect(res.statusCode).toBe(200)
    const list = res.json() as SessionInfo[]
    expect(list.map((s) => s.id)).toEqual(expect.arrayContaining([a.sessionId, b.sessionId]))
    expect(list.filter((s) => s.current).map((s) => s.id)).toEqual([b.sessionId])
  })

  it('deletes another session of mine, and not one of someone else', async () => {
    const a = await signIn(t, gijs)
    const b = await signIn(t, gijs)
    const other = await signIn(t, fleur)
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${a.sessionId}`,
      headers: { authorization: `Bearer ${b.accessToken}` },
    })
    expect(del.statusCode).toBe(200)
    expect(await meStatus(a.accessToken)).toBe(401)
    expect((await refresh(a.refreshToken)).statusCode).toBe(401)
    expect(await meStatus(b.accessToken)).toBe(200)
    const list = (await get(t, '/api/v1/auth/sessions', b.accessToken)).json() as SessionInfo[]
    expect(list.map((s) => s.id)).not.toContain(a.sessionId)

    const foreign = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${other.sessionId}`,
      headers: { authorization: `Bearer ${b.accessToken}` },
    })
    expect(foreign.statusCode).toBe(404)
    expect(await meStatus(other.accessToken)).toBe(200)
  })

  it('closes the live WebSocket of a session that signs out', async () => {
    const a = await signIn(t, fleur)
    const socket = await openSocket(t, a.accessToken)
    expect((await post(t, '/api/v1/auth/sign-out', {}, { token: a.accessToken })).statusCode).toBe(
      200,
    )
    expect(await closedWithin(socket)).toBe(CloseCode.Unauthorized)
  })

  it('closes a live WebSocket when its access token expires, unless it re-authenticated in time', async () => {
    const a = await signIn(t, fleur)
    const stale = await openSocket(t, a.accessToken)
    const renewed = await openSocket(t, a.accessToken)
    const idle = await openSocket(t, a.accessToken)
    t.clock.ms += 10 * MINUTE
    const fresh = (await refresh(a.refreshToken)).json() as Tokens
    let stalePongs = 0
    stale.ws.on('message', (d: Buffer) => {
      if ((JSON.parse(d.toString()) as { t: string }).t === 'pong') stalePongs++
    })
    const expiries = () => t.app.realtime.expiriesOf(fleur.userId)
    const latest = Math.max(...expiries())
    renewed.ws.send(JSON.stringify({ t: 'auth', token: fresh.accessToken }))
    // Frames are handled concurrently, so wait for the server to have taken the new token.
    await vi.waitFor(() => expect(expiries().filter((e) => e > latest)).toHaveLength(1))
    // Past the first token's 15 minutes: a frame on it is refused at once, and a socket
    // that says nothing is closed by the sweep.
    t.clock.ms += 6 * MINUTE
    stale.ws.send(JSON.stringify({ t: 'ping' }))
    expect(await closedWithin(stale)).toBe(CloseCode.AuthExpired)
    expect(stalePongs).toBe(0)
    expect(await closedWithin(idle, 3000)).toBe(CloseCode.AuthExpired)
    expect(await closedWithin(renewed, 1500)).toBe('open')
    renewed.ws.close()
  })

  it('closes the live WebSocket of a session deleted from another device', async () => {
    const lost = await signIn(t, fleur)
    const current = await signIn(t, fleur)
    const socket = await openSocket(t, lost.accessToken)
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${lost.sessionId}`,
      headers: { authorization: `Bearer ${current.accessToken}` },
    })
    expect(del.statusCode).toBe(200)
    // Otherwise the lost device keeps receiving room events until its token expires.
    expect(await closedWithin(socket)).toBe(CloseCode.Unauthorized)
    socket.ws.terminate()
  })

  it('signs out everywhere: every session and refresh token of the account stops working', async () => {
    const a = await signIn(t, gijs)
    const b = await signIn(t, gijs)
    const other = await signIn(t, fleur)
    const socket = await openSocket(t, b.accessToken)
    const res = await post(t, '/api/v1/auth/sign-out-everywhere', {}, { token: a.accessToken })
    expect(res.statusCode).toBe(200)
    expect(await closedWithin(socket)).toBe(CloseCode.Unauthorized)
    for (const s of [a, b]) {
      expect(await meStatus(s.accessToken)).toBe(401)
      expect((await refresh(s.refreshToken)).statusCode).toBe(401)
    }
    expect(await meStatus(other.accessToken)).toBe(200)
    const live = await t.ctx.db.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', gijs.userId)
      .where('revoked_at', 'is', null)
      .execute()
    expect(live).toEqual([])
  })
})

// ------------------------------------------------------------------ devices and the key log

describe('devices and the key log', () => {
  let t: ClockedApp
  let hanna: Person, ivo: Person
  let token: string
  beforeAll(async () => {
    t = await clockedApp()
    hanna = await makePerson(t.ctx, t.url, { name: 'Hanna' })
    ivo = await makePerson(t.ctx, t.url, { name: 'Ivo' })
    token = hanna.session.accessToken
  })
  afterAll(() => t.close())

  function cert(
    signer: Uint8Array,
    fields: { userId: string; deviceId?: string; signPk?: Uint8Array; boxPk?: Uint8Array },
  ): DeviceCert {
    return certifyDevice(signer, {
      userId: fields.userId,
      deviceId: fields.deviceId ?? randomId(),
      signPk: fields.signPk ?? generateSigningKeyPair().publicKey,
      boxPk: fields.boxPk ?? generateBoxKeyPair().publicKey,
      notAfter: t.clock.ms + 365 * 24 * 3600_000,
    })
  }
  const register = (c: DeviceCert, as = token) =>
    post(t, '/api/v1/devices', { cert: deviceCertToJSON(c), name: 'laptop' }, { token: as })
  const devices = async () => (await get(t, '/api/v1/devices', token)).json() as DeviceInfo[]
  const keylog = async (from = 0) =>
    (await get(t, `/api/v1/keylog?from=${from}`, token)).json() as KeyLogPage

  it('publishes a master key only once', async () => {
    const again = await post(
      t,
      '/api/v1/keys/master',
      {
        masterPk: toB64(generateSigningKeyPair().publicKey),
        wrappedMasterSecret: toB64(randomBytes(72)),
      },
      { token },
    )
    expect(again.statusCode).toBe(409)
    expect(errorCode(again)).toBe('VS_MASTER_KEY_EXISTS')
    const keys = (await get(t, `/api/v1/users/${hanna.userId}/keys`, token)).json() as UserKeys
    expect(keys.masterPk).toBe(toB64(hanna.master.publicKey))
  })

  it('registers a device certified by the master key', async () => {
    const c = cert(hanna.master.privateKey, { userId: hanna.userId })
    const res = await register(c)
    expect(res.statusCode).toBe(200)
    const listed = (await devices()).find((d) => d.deviceId === c.deviceId)
    expect(listed).toMatchObject({ cert: deviceCertToJSON(c), revokedAt: null })
    const again = await register(c)
    expect(again.statusCode).toBe(409)
  })

  it('refuses a device certificate signed by another key', async () => {
    const c = cert(generateSigningKeyPair().privateKey, { userId: hanna.userId })
    const res = await register(c)
    expect(res.statusCode).toBe(400)
    expect(errorCode(res)).toBe('VS_BAD_KEY')
    expect((await devices()).map((d) => d.deviceId)).not.toContain(c.deviceId)
  })

  it('refuses a device certificate for another account', async () => {
    const forIvo = cert(hanna.master.privateKey, { userId: ivo.userId })
    const res = await register(forIvo)
    expect(res.statusCode).toBe(400)
    expect(errorCode(res)).toBe('VS_BAD_KEY')
    // Nor can Hanna slip Ivo a certificate made with Ivo's user id but her key.
    const res2 = await register(forIvo, ivo.session.accessToken)
    expect(res2.statusCode).toBe(400)
    const ivoKeys = (await get(t, `/api/v1/users/${ivo.userId}/keys`, token)).json() as UserKeys
    expect(ivoKeys.devices.map((d) => d.deviceId)).toEqual([ivo.device.deviceId])
  })

  it('serves a key log whose chain and signed head verify, incrementally too', async () => {
    const page = await keylog()
    const logPk = fromB64(page.logPublicKey)
    expect(logPk).toEqual(t.ctx.keys.log.publicKey)
    const sth = signedHeadFromJSON(page.sth)
    verifySignedHead(logPk, sth)
    const entries = page.entries.map(keyLogEntryFromJSON)
    expect(entries.map((e) => e.index)).toEqual(entries.map((_, i) => i))
    const verifier = new KeyLogVerifier(logPk)
    expect(verifier.update(sth, entries).size).toBe(entries.length)
    const mine = entries.filter((e) => e.subject === hanna.userId).map((e) => e.kind)
    expect(mine).toEqual(expect.arrayContaining(['master-key-created', 'device-certified']))

    // A tampered entry does not verify against the signed head.
    const tampered = entries.map((e, i) =>
      i === 0 ? { ...e, payload: e.payload.map((b, j) => (j === 0 ? b ^ 1 : b)) } : e,
    )
    expect(() => new KeyLogVerifier(logPk).update(sth, tampered)).toThrow()

    // Later entries extend what the verifier already holds.
    expect(
      (await register(cert(hanna.master.privateKey, { userId: hanna.userId }))).statusCode,
    ).toBe(200)
    const next = await keylog(verifier.state.size)
    expect(next.entries.length).toBeGreaterThan(0)
    verifier.update(signedHeadFromJSON(next.sth), next.entries.map(keyLogEntryFromJSON))
    expect(verifier.state.size).toBe(next.sth.size)
  })

  it('revokes a device with a master-key signed revocation and logs it', async () => {
    const c = cert(hanna.master.privateKey, { userId: hanna.userId })
    expect((await register(c)).statusCode).toBe(200)
    const before = await keylog()
    const rev = revokeDevice(hanna.master.privateKey, {
      userId: hanna.userId,
      deviceId: c.deviceId,
      revokedAt: t.clock.ms,
    })
    const res = await post(
      t,
      `/api/v1/devices/${c.deviceId}/revoke`,
      { revokedAt: rev.revokedAt, signature: toB64(rev.signature) },
      { token },
    )
    expect(res.statusCode).toBe(200)
    const listed = (await devices()).find((d) => d.deviceId === c.deviceId)
    expect(listed?.revokedAt).not.toBeNull()
    const keys = (await get(t, `/api/v1/users/${hanna.userId}/keys`, token)).json() as UserKeys
    expect(keys.devices.map((d) => d.deviceId)).not.toContain(c.deviceId)

    const after = await keylog(before.sth.size)
    const verifier = new KeyLogVerifier(fromB64(before.logPublicKey))
    verifier.update(signedHeadFromJSON(before.sth), before.entries.map(keyLogEntryFromJSON))
    verifier.update(signedHeadFromJSON(after.sth), after.entries.map(keyLogEntryFromJSON))
    const revoked = after.entries
      .map(keyLogEntryFromJSON)
      .filter((e) => e.kind === 'device-revoked')
    expect(revoked).toHaveLength(1)
    expect(revoked[0]!.subject).toBe(hanna.userId)
    expect(decodeDeviceRevocation(revoked[0]!.payload)).toEqual(rev)

    const twice = await post(
      t,
      `/api/v1/devices/${c.deviceId}/revoke`,
      { revokedAt: rev.revokedAt, signature: toB64(rev.signature) },
      { token },
    )
    expect(twice.statusCode).toBe(409)
  })

  it('refuses a revocation signed by another key', async () => {
    const c = cert(hanna.master.privateKey, { userId: hanna.userId })
    expect((await register(c)).statusCode).toBe(200)
    const size = (await keylog()).sth.size
    const rev = revokeDevice(generateSigningKeyPair().privateKey, {
      userId: hanna.userId,
      deviceId: c.deviceId,
      revokedAt: t.clock.ms,
    })
    const res = await post(
      t,
      `/api/v1/devices/${c.deviceId}/revoke`,
      { revokedAt: rev.revokedAt, signature: toB64(rev.signature) },
      { token },
    )
    expect(res.statusCode).toBe(400)
    expect(errorCode(res)).toBe('VS_BAD_KEY')
    expect((await devices()).find((d) => d.deviceId === c.deviceId)?.revokedAt).toBeNull()
    expect((await keylog()).sth.size).toBe(size)
  })

  it('refuses a revocation time beyond the calendar with 400 and changes nothing', async () => {
    const c = cert(hanna.master.privateKey, { userId: hanna.userId })
    expect((await register(c)).statusCode).toBe(200)
    const revokedAt = 8.64e15 + 1
    const rev = revokeDevice(hanna.master.privateKey, {
      userId: hanna.userId,
      deviceId: c.deviceId,
      revokedAt,
    })
    const res = await post(
      t,
      `/api/v1/devices/${c.deviceId}/revoke`,
      { revokedAt, signature: toB64(rev.signature) },
      { token },
    )
    expect(res.statusCode).toBe(400)
    expect((await devices()).find((d) => d.deviceId === c.deviceId)?.revokedAt).toBeNull()
  })

  it('refuses a key log position out of range with 400', async () => {
    for (const from of ['2147483648', '99999999999', '-1', 'x']) {
      const res = await get(t, `/api/v1/keylog?from=${from}`, token)
      expect(res.statusCode, from).toBe(400)
    }
  })

  it('refuses to revoke another account\u2019s device', async () => {
    const rev = revokeDevice(hanna.master.privateKey, {
      userId: hanna.userId,
      deviceId: ivo.device.deviceId,
      revokedAt: t.clock.ms,
    })
    const res = await post(
      t,
      `/api/v1/devices/${ivo.device.deviceId}/revoke`,
      { revokedAt: rev.revokedAt, signature: toB64(rev.signature) },
      { token },
    )
    expect(res.statusCode).toBe(404)
  })

  it('links a device only with a certificate for exactly the requested keys', async () => {
    const fresh = newDevice()
    const created = await post(
      t,
      '/api/v1/device-links',
      {
        deviceId: fresh.deviceId,
        signPk: toB64(fresh.signPk),
        boxPk: toB64(fresh.boxPk),
        mac: toB64(randomBytes(32)),
      },
      { token },
    )
    expect(created.statusCode).toBe(200)
    const { linkId } = created.json() as { linkId: string }
    const pending = (await get(t, '/api/v1/device-links', token)).json() as { linkId: string }[]
    expect(pending.map((p) => p.linkId)).toContain(linkId)
    expect(
      (await get(t, `/api/v1/device-links/${linkId}`, ivo.session.accessToken)).statusCode,
    ).toBe(404)

    const approve = (c: DeviceCert) =>
      post(
        t,
        `/api/v1/device-links/${linkId}/approve`,
        {
          cert: deviceCertToJSON(c),
          sealedMaster: toB64(randomBytes(120)),
          approverDeviceId: hanna.device.deviceId,
        },
        { token },
      )
    // The server swapped in its own keys: the approving device certifies what it saw.
    const mismatch = cert(hanna.master.privateKey, {
      userId: hanna.userId,
      deviceId: fresh.deviceId,
      signPk: generateSigningKeyPair().publicKey,
      boxPk: fresh.boxPk,
    })
    const bad = await approve(mismatch)
    expect(bad.statusCode).toBe(400)
    expect(errorCode(bad)).toBe('VS_BAD_KEY')
    const state1 = (await get(t, `/api/v1/device-links/${linkId}`, token)).json() as DeviceLinkState
    expect(state1.status).toBe('pending')

    const good = cert(hanna.master.privateKey, {
      userId: hanna.userId,
      deviceId: fresh.deviceId,
      signPk: fresh.signPk,
      boxPk: fresh.boxPk,
    })
    const ok = await approve(good)
    expect(ok.statusCode).toBe(200)
    const state2 = (await get(t, `/api/v1/device-links/${linkId}`, token)).json() as DeviceLinkState
    expect(state2).toMatchObject({ status: 'approved', cert: deviceCertToJSON(good) })
    expect(typeof state2.sealedMaster).toBe('string')
    expect((await devices()).map((d) => d.deviceId)).toContain(fresh.deviceId)
    expect((await approve(good)).statusCode).toBe(409)
  })

  it('lets a device link expire after 15 minutes', async () => {
    const fresh = newDevice()
    const created = await post(
      t,
      '/api/v1/device-links',
      {
        deviceId: fresh.deviceId,
        signPk: toB64(fresh.signPk),
        boxPk: toB64(fresh.boxPk),
        mac: toB64(randomBytes(32)),
      },
      { token },
    )
    const { linkId } = created.json() as { linkId: string }
    t.clock.ms += 15 * MINUTE + 1000
    const good = cert(hanna.master.privateKey, {
      userId: hanna.userId,
      deviceId: fresh.deviceId,
      signPk: fresh.signPk,
      boxPk: fresh.boxPk,
    })
    // A fresh session: the clock moved past the first access token's lifetime.
    const s = await signIn(t, hanna)
    const res = await post(
      t,
      `/api/v1/device-links/${linkId}/approve`,
      { cert: deviceCertToJSON(good), sealedMaster: toB64(randomBytes(120)) },
      { token: s.accessToken },
    )
    expect(res.statusCode).toBe(410)
    const state = (await get(t, `/api/v1/device-links/${linkId}`, s.accessToken)).json()
    expect(state).toEqual({ linkId, status: 'expired' })
    const pending = (await get(t, '/api/v1/device-links', s.accessToken)).json() as unknown[]
    expect(pending).toEqual([])
  })
})
