/**
 * Authorisation: no route without a session, regions isolated from each other, and the
 * role × region matrix in `authz-matrix.json` run against a real app with real people.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createCommit,
  createGenesis,
  randomId,
  serializeCommit,
  toB64,
  type Commit,
} from '@vs/crypto'
import type { Desk, DirectoryEntry, Organisation, Role } from '@vs/protocol'
import type { App } from '../src/app.js'
import { listenTestApp, makePerson, type Person, type TestApp } from './helpers/index.js'

type T = TestApp & { url: string }

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

interface OpenApi {
  paths: Record<string, Record<string, { tags?: string[] }>>
}

async function openApi(app: App): Promise<OpenApi> {
  const res = await app.inject({ url: '/docs/json' })
  expect(res.statusCode).toBe(200)
  return res.json() as OpenApi
}

function auth(token: string) {
  return { authorization: `Bearer ${token}` }
}

function errorCode(res: { json(): unknown }): string | undefined {
  return (res.json() as { error?: { code?: string } }).error?.code
}

// ------------------------------------------------------------------ people in two regions

interface Region {
  coordinator: Person
  advisor: Person
  professional: Person
  /** Veilig Thuis of the region: the advisor's organisation, where the desk lives. */
  vtOrgId: string
  /** The professional's organisation. */
  ggdOrgId: string
  deskId: string
  regionId: string
}

async function makeRegion(t: T, region: string): Promise<Region> {
  const vt = `Veilig Thuis ${region}`
  const ggd = `GGD ${region}`
  const coordinator = await makePerson(t.ctx, t.url, {
    name: `Coördinator ${region}`,
    region,
    organisation: vt,
    kind: 'veilig-thuis',
    role: 'coordinator',
    discipline: 'coördinator',
  })
  const advisor = await makePerson(t.ctx, t.url, {
    name: `Adviseur ${region}`,
    region,
    organisation: vt,
    kind: 'veilig-thuis',
    role: 'advisor',
    discipline: 'vertrouwensarts',
  })
  const professional = await makePerson(t.ctx, t.url, {
    name: `Jeugdverpleegkundige ${region}`,
    region,
    organisation: ggd,
    kind: 'jgz',
    role: 'professional',
  })
  const vtOrgId = advisor.session.user.organisation.id
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/v1/organisations/${vtOrgId}/desks`,
    headers: auth(coordinator.session.accessToken),
    payload: { name: `Adviesdesk ${region}`, purpose: 'advies' },
  })
  expect(res.statusCode, res.body).toBe(200)
  return {
    coordinator,
    advisor,
    professional,
    vtOrgId,
    ggdOrgId: professional.session.user.organisation.id,
    deskId: (res.json() as Desk).id,
    regionId: coordinator.session.user.regionId,
  }
}

let t: T
let A: Region, B: Region

beforeAll(async () => {
  t = await listenTestApp()
  A = await makeRegion(t, 'Noord')
  B = await makeRegion(t, 'Zuid')
})
afterAll(() => t.close())

// ------------------------------------------------------------------ no session, no route

describe('authentication on every route', () => {
  async function protectedRoutes(): Promise<Route[]> {
    const doc = await openApi(t.app)
    const routes: Route[] = [{ method: 'GET', path: '/ws' }]
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (isPublic(path)) continue
      for (const m of Object.keys(methods)) routes.push({ method: m.toUpperCase(), path })
    }
    expect(routes.length).toBeGreaterThan(20)
    return routes
  }

  /** Calls every protected route with `headers`; lists those that do not answer 401. */
  async function notRefused(headers: Record<string, string>): Promise<string[]> {
    const wrong: string[] = []
    for (const r of await protectedRoutes()) {
      const res = await t.app.inject({
        method: r.method as 'GET',
        url: r.path.replace(/\{[^}]+\}/g, () => randomId()),
        headers,
        ...(r.method === 'GET' ? {} : { payload: {} }),
      })
      if (res.statusCode !== 401) wrong.push(`${r.method} ${r.path} → ${res.statusCode}`)
    }
    return wrong
  }

  it('refuses every non-public route without a token (401, never 2xx or 5xx)', async () => {
    expect(await notRefused({})).toEqual([])
  })

  it('refuses every non-public route with a malformed or unknown credential (401)', async () => {
    expect(await notRefused({ authorization: 'Bearer' })).toEqual([])
    expect(await notRefused({ authorization: `Bearer ${randomId()}` })).toEqual([])
    expect(await notRefused({ authorization: `Capability ${randomId()}` })).toEqual([])
  })

  it('lets the public routes through without a token', async () => {
    for (const url of ['/healthz', '/metrics', '/docs/json']) {
      expect((await t.app.inject({ url })).statusCode, url).toBe(200)
    }
    // Not refused for lack of a session (an unknown code is simply not found).
    const code = 'A'.repeat(43)
    expect((await t.app.inject({ url: `/api/v1/invitations/${code}` })).statusCode).toBe(404)
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/sign-in',
      payload: { email: 'niemand@example.nl', password: 'onbekend', totp: '000000' },
      remoteAddress: '10.9.9.9',
    })
    expect(signIn.json()).toMatchObject({ error: { code: 'VS_SIGNIN_FAILED' } })
  })
})

// ------------------------------------------------------------------ region isolation

describe('region isolation', () => {
  const coordA = () => A.coordinator.session.accessToken
  const profA = () => A.professional.session.accessToken

  it('hides region B organisations from a coordinator of A when inviting (404)', async () => {
    const email = `buiten-${randomId().slice(0, 6)}@example.nl`
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/invitations',
      headers: auth(coordA()),
      payload: {
        email,
        name: 'Buiten de regio',
        discipline: 'wijkverpleegkundige',
        organisationId: B.ggdOrgId,
        role: 'professional',
      },
    })
    expect(res.statusCode).toBe(404)
    const rows = await t.ctx.db.db
      .selectFrom('invitations')
      .select('id')
      .where('email', '=', email)
      .execute()
    expect(rows).toEqual([])
  })

  it('hides region B organisations from a coordinator of A when creating a desk (404)', async () => {
    const name = `Desk ${randomId()}`
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/organisations/${B.vtOrgId}/desks`,
      headers: auth(coordA()),
      payload: { name, purpose: 'meldingen' },
    })
    expect(res.statusCode).toBe(404)
    const rows = await t.ctx.db.db
      .selectFrom('desks')
      .select('id')
      .where('name', '=', name)
      .execute()
    expect(rows).toEqual([])
  })

  it('hides region B desks from a coordinator of A (404)', async () => {
    for (const method of ['PUT', 'DELETE'] as const) {
      const res = await t.app.inject({
        method,
        url: `/api/v1/desks/${B.deskId}/advisors/${B.advisor.userId}`,
        headers: auth(coordA()),
      })
      expect(res.statusCode, method).toBe(404)
    }
    const advisors = await t.app.inject({
      url: `/api/v1/desks/${B.deskId}/advisors`,
      headers: auth(coordA()),
    })
    expect(advisors.statusCode).toBe(404)
  })

  it('does not let a coordinator staff a desk with someone from another region', async () => {
    const res = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/desks/${A.deskId}/advisors/${B.advisor.userId}`,
      headers: auth(coordA()),
    })
    expect(res.statusCode).toBe(400)
    const members = await t.ctx.db.db
      .selectFrom('desk_members')
      .select('user_id')
      .where('desk_id', '=', A.deskId)
      .where('user_id', '=', B.advisor.userId)
      .execute()
    expect(members).toEqual([])
  })

  it('shows only the own region in the directory, organisations and desks', async () => {
    const usersOfA = new Set(
      (
        await t.ctx.db.db
          .selectFrom('users')
          .select('id')
          .where('region_id', '=', A.regionId)
          .execute()
      ).map((u) => u.id),
    )
    for (const token of [profA(), A.advisor.session.accessToken, coordA()]) {
      const dir = (
        await t.app.inject({ url: '/api/v1/directory', headers: auth(token) })
      ).json() as DirectoryEntry[]
      expect(dir.map((d) => d.userId)).toContain(A.professional.userId)
      expect(dir.every((d) => usersOfA.has(d.userId))).toBe(true)
      const orgs = (
        await t.app.inject({ url: '/api/v1/organisations', headers: auth(token) })
      ).json() as Organisation[]
      expect(orgs.map((o) => o.id)).toEqual(expect.arrayContaining([A.vtOrgId, A.ggdOrgId]))
      expect(orgs.every((o) => o.regionId === A.regionId)).toBe(true)
      const desks = (
        await t.app.inject({ url: '/api/v1/desks', headers: auth(token) })
      ).json() as Desk[]
      expect(desks.map((d) => d.id)).toContain(A.deskId)
      expect(desks.map((d) => d.id)).not.toContain(B.deskId)
    }
  })

  it('hides the keys of people in another region (404)', async () => {
    const res = await t.app.inject({
      url: `/api/v1/users/${B.professional.userId}/keys`,
      headers: auth(profA()),
    })
    expect(res.statusCode).toBe(404)
    const own = await t.app.inject({
      url: `/api/v1/users/${A.advisor.userId}/keys`,
      headers: auth(profA()),
    })
    expect(own.statusCode).toBe(200)
  })

  it('refuses a professional who creates an organisation, invitation or desk (403)', async () => {
    const attempts = [
      { url: '/api/v1/organisations', payload: { name: `Org ${randomId()}`, kind: 'anders' } },
      {
        url: '/api/v1/invitations',
        payload: {
          email: `x-${randomId().slice(0, 6)}@example.nl`,
          name: 'X',
          discipline: 'x',
          organisationId: A.ggdOrgId,
          role: 'coordinator',
        },
      },
      {
        url: `/api/v1/organisations/${A.ggdOrgId}/desks`,
        payload: { name: 'Eigen desk', purpose: 'advies' },
      },
    ]
    for (const a of attempts) {
      const res = await t.app.inject({ method: 'POST', headers: auth(profA()), ...a })
      expect(res.statusCode, a.url).toBe(403)
      expect(errorCode(res)).toBe('VS_FORBIDDEN')
    }
  })

  describe('rooms', () => {
    function genesis(creator: Person, others: Person[]): Commit {
      return createGenesis({
        roomId: randomId(),
        kind: 'case',
        committer: { userId: creator.userId, deviceId: creator.device.deviceId },
        signPrivateKey: creator.device.signSk,
        members: [
          { userId: creator.userId, role: 'admin', devices: [creator.device.deviceId] },
          ...others.map((p) => ({
            userId: p.userId,
            role: 'member' as const,
            devices: [p.device.deviceId],
          })),
        ],
        logHead: new Uint8Array(32),
        createdAt: Date.now(),
      })
    }
    const createRoom = (creator: Person, g: Commit) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/rooms',
        headers: auth(creator.session.accessToken),
        payload: { genesis: toB64(serializeCommit(g)), welcomes: [] },
      })
    const roomExists = async (roomId: string) =>
      (await t.ctx.db.db.selectFrom('rooms').select('id').where('id', '=', roomId).execute())
        .length > 0

    it('refuses a room of region A with a member from region B (400), and creates nothing', async () => {
      const g = genesis(A.professional, [A.advisor, B.professional])
      const res = await createRoom(A.professional, g)
      expect(res.statusCode).toBe(400)
      expect(await roomExists(g.roomId)).toBe(false)
    })

    it('accepts the same room with members of region A only (control)', async () => {
      const g = genesis(A.professional, [A.advisor])
      const res = await createRoom(A.professional, g)
      expect(res.statusCode, res.body).toBe(200)
      expect(await roomExists(g.roomId)).toBe(true)
    })

    it('refuses adding a member from region B to an existing room of region A (400)', async () => {
      const g = genesis(A.professional, [A.advisor])
      expect((await createRoom(A.professional, g)).statusCode).toBe(200)
      const add = createCommit(g, {
        committer: { userId: A.professional.userId, deviceId: A.professional.device.deviceId },
        signPrivateKey: A.professional.device.signSk,
        change: {
          action: 'add',
          members: [
            {
              userId: B.professional.userId,
              role: 'member',
              devices: [B.professional.device.deviceId],
            },
          ],
        },
        logHead: new Uint8Array(32),
        createdAt: Date.now(),
      })
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/v1/rooms/${g.roomId}/commits`,
        headers: auth(A.professional.session.accessToken),
        payload: { commit: toB64(serializeCommit(add)), welcomes: [], idem: randomId() },
      })
      expect(res.statusCode).toBe(400)
      const members = await t.ctx.db.db
        .selectFrom('room_members')
        .select('member_id')
        .where('room_id', '=', g.roomId)
        .execute()
      expect(members.map((m) => m.member_id).sort()).toEqual(
        [A.professional.userId, A.advisor.userId].sort(),
      )
    })
  })
})

// ------------------------------------------------------------------ the matrix

interface MatrixRow {
  route: string
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  role: Role
  sameRegion: boolean
  expected: number
  visible?: boolean
}

const matrix = (
  JSON.parse(readFileSync(new URL('./authz-matrix.json', import.meta.url), 'utf8')) as {
    rows: MatrixRow[]
  }
).rows

const key = (r: { method: string; route: string }) => `${r.method} ${r.route}`

describe('authorisation matrix', () => {
  /** Counts of everything an admin route could change: a refused call changes none of it. */
  async function snapshot() {
    const db = t.ctx.db.db
    const count = async (table: 'organisations' | 'invitations' | 'desks' | 'desk_members') =>
      Number(
        (
          await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    const rotation = await db
      .selectFrom('desks')
      .select('id')
      .where('needs_rotation', '=', true)
      .execute()
    return {
      organisations: await count('organisations'),
      invitations: await count('invitations'),
      desks: await count('desks'),
      deskMembers: await count('desk_members'),
      needsRotation: rotation.map((r) => r.id).sort(),
    }
  }

  function bodyFor(row: MatrixRow, target: Region): Record<string, unknown> | undefined {
    switch (key(row)) {
      case 'POST /api/v1/organisations':
        return { name: `Organisatie ${randomId()}`, kind: 'wijkteam' }
      case 'POST /api/v1/invitations':
        return {
          email: `m-${randomId().slice(0, 8)}@example.nl`,
          name: 'Nieuwe collega',
          discipline: 'jeugdarts',
          organisationId: target.ggdOrgId,
          role: 'professional',
        }
      case 'POST /api/v1/organisations/{orgId}/desks':
        return { name: `Desk ${randomId()}`, purpose: 'meldingen' }
      default:
        return undefined
    }
  }

  /** The id a list route is checked for. */
  function listed(row: MatrixRow, target: Region, body: unknown): boolean {
    const items = body as { id?: string; userId?: string }[]
    const ids = items.map((i) => i.id ?? i.userId)
    switch (row.route) {
      case '/api/v1/directory':
        return ids.includes(target.professional.userId)
      case '/api/v1/organisations':
        return ids.includes(target.ggdOrgId)
      case '/api/v1/desks':
        return ids.includes(target.deskId)
      default:
        throw new Error(`no list check for ${row.route}`)
    }
  }

  it('lists only routes the API has, with every role for each', async () => {
    const doc = await openApi(t.app)
    for (const row of matrix) {
      const path = row.route
      expect(doc.paths[path]?.[row.method.toLowerCase()], key(row)).toBeDefined()
    }
    const byRoute = new Map<string, Set<string>>()
    for (const row of matrix) {
      const s = byRoute.get(key(row)) ?? new Set()
      s.add(`${row.role}/${row.sameRegion}`)
      byRoute.set(key(row), s)
    }
    for (const [k, s] of byRoute) {
      for (const role of ['professional', 'advisor', 'coordinator']) {
        expect(s.has(`${role}/true`), `${k} ${role}`).toBe(true)
      }
    }
  })

  it('gives every row its expected status, and a refused call changes nothing', async () => {
    const wrong: string[] = []
    for (const row of matrix) {
      const actor = A[row.role]
      const target = row.sameRegion ? A : B
      if (row.method === 'DELETE' && row.route.includes('/advisors/')) {
        // Something to remove: the target advisor staffs the target desk.
        await t.ctx.db.db
          .insertInto('desk_members')
          .values({ desk_id: target.deskId, user_id: target.advisor.userId })
          .onConflict((oc) => oc.doNothing())
          .execute()
      }
      const url = row.route
        .replace('{orgId}', target.vtOrgId)
        .replace('{deskId}', target.deskId)
        .replace('{userId}', target.advisor.userId)
      const payload = bodyFor(row, target)
      const before = await snapshot()
      const res = await t.app.inject({
        method: row.method,
        url,
        headers: auth(actor.session.accessToken),
        ...(payload ? { payload } : {}),
      })
      const label = `${row.role} ${row.sameRegion ? 'same' : 'other'} region ${key(row)}`
      if (res.statusCode !== row.expected) {
        wrong.push(`${label}: expected ${row.expected}, got ${res.statusCode} ${res.body}`)
        continue
      }
      if (res.statusCode >= 400) {
        expect(await snapshot(), label).toEqual(before)
      }
      if (row.visible !== undefined && listed(row, target, res.json()) !== row.visible) {
        wrong.push(`${label}: target ${row.visible ? 'missing from' : 'shown in'} the list`)
      }
      if (key(row) === 'POST /api/v1/organisations' && res.statusCode === 200) {
        expect((res.json() as Organisation).regionId, label).toBe(actor.session.user.regionId)
      }
    }
    expect(wrong).toEqual([])
  })

  it('refuses a professional on every admin route the matrix does not list', async () => {
    const doc = await openApi(t.app)
    const listedRoutes = new Set(matrix.map(key))
    const unlisted: Route[] = []
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(methods)) {
        const route = { method: m.toUpperCase(), route: path }
        if (op.tags?.includes('admin') && !listedRoutes.has(key(route))) {
          unlisted.push({ method: route.method, path })
        }
      }
    }
    const allowed: string[] = []
    for (const r of unlisted) {
      const res = await t.app.inject({
        method: r.method as 'GET',
        url: r.path
          .replace('{orgId}', A.ggdOrgId)
          .replace('{deskId}', A.deskId)
          .replace('{userId}', A.professional.userId)
          .replace(/\{[^}]+\}/g, () => randomId()),
        headers: auth(A.professional.session.accessToken),
        ...(r.method === 'GET' ? {} : { payload: {} }),
      })
      if (res.statusCode < 300 || res.statusCode >= 500) {
        allowed.push(`${r.method} ${r.path} → ${res.statusCode}`)
      }
    }
    expect(allowed).toEqual([])
  })
})
