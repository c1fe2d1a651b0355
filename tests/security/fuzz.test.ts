/**
 * Property-based fuzzing of every HTTP route (from the OpenAPI description fastify builds
 * out of the routes' own schemas) and of every WebSocket frame type, against a real app
 * and database with a populated world (people, desks, rooms, files, notices).
 *
 * For every input: no 5xx, a refusal carries a clear error code, the server keeps
 * answering, nothing is written by a refused request (checked through PostgreSQL's
 * transaction counter, and a digest of every table whenever anything was written), and
 * memory stays bounded over the run.
 *
 * `pnpm test` runs a small sample. The nightly size is `VS_FUZZ_RUNS=100000 pnpm vitest
 * run tests/security/fuzz.test.ts` (the number is the total of generated inputs, about
 * 80% HTTP requests and 20% WebSocket frames); `VS_FUZZ_SEED` replays a run.
 */
import { sql } from 'kysely'
import fc from 'fast-check'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoomsClient, askConsult, postNotice } from '@vs/client/rooms'
import { randomId } from '@vs/crypto'
import { ClientFrame, WS_AUTH_PREFIX, WS_MAX_FRAME_BYTES, WS_SUBPROTOCOL } from '@vs/protocol'
import { gcNow, listenTestApp, makePerson, type Person } from '@vs/api/testing'
import { bootstrapInvitation } from '../../services/api/src/identity/bootstrap.js'
import { dbFingerprint, fingerprintDiff, makeDesk } from './helpers.js'
import { hostileArb, nastyString, valueArb, type JsonSchema, type Known } from './schema-arb.js'

type T = Awaited<ReturnType<typeof listenTestApp>>

const TOTAL = Math.max(100, Number(process.env.VS_FUZZ_RUNS ?? 1200))
const HTTP_RUNS = Math.ceil(TOTAL * 0.8)
const WS_RUNS = TOTAL - HTTP_RUNS
const SEED = process.env.VS_FUZZ_SEED ? Number(process.env.VS_FUZZ_SEED) : undefined
const LONG = TOTAL > 5000
/** Wall-clock allowance: generous per input, so the nightly run is never cut short. */
const TIMEOUT = 60_000 + TOTAL * 20

interface Param {
  name: string
  in: 'path' | 'query' | 'header'
  required?: boolean
  schema: JsonSchema
}
interface Op {
  method: string
  path: string
  params: Param[]
  body: JsonSchema | undefined
  binary: boolean
}

/** Every operation of the OpenAPI description, plus the binary chunk upload it cannot show. */
function operations(spec: {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Param[]
        requestBody?: { content: Record<string, { schema: JsonSchema }> }
      }
    >
  >
}): Op[] {
  const ops: Op[] = []
  for (const [path, byMethod] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(byMethod)) {
      const json = op.requestBody?.content['application/json']?.schema
      ops.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body: json,
        binary: method === 'put' && path.endsWith('/chunks/{idx}'),
      })
    }
  }
  return ops
}

type Auth = 'prof' | 'coord' | 'advisor' | 'none' | 'garbage'

interface Req {
  auth: Auth
  path: Record<string, unknown>
  query: Record<string, unknown>
  headers: Record<string, string>
  body: unknown
  rawBody: string | Buffer | undefined
  contentType: string | undefined
}

function requestArb(op: Op, known: Known): fc.Arbitrary<Req> {
  const paramArb = (p: Param, hostile: boolean) =>
    hostile
      ? fc.oneof(valueArb(p.schema, known), nastyString, fc.string({ maxLength: 80 }), fc.integer())
      : valueArb(p.schema, known)
  const group = (where: Param['in'], hostile: boolean) => {
    const ps = op.params.filter((p) => p.in === where)
    const shape: Record<string, fc.Arbitrary<unknown>> = {}
    for (const p of ps) shape[p.name] = paramArb(p, hostile)
    return fc.record(shape, {
      requiredKeys: ps.filter((p) => p.required || where === 'path').map((p) => p.name),
    })
  }
  const contentTypes = fc.constantFrom(
    'application/json',
    'application/json',
    'application/json',
    'text/plain',
    'application/octet-stream',
    'application/x-www-form-urlencoded',
    'application/json; charset=utf-16',
    undefined,
  )
  const auths = fc.constantFrom<Auth>('prof', 'prof', 'coord', 'advisor', 'none', 'garbage')
  const make = (hostile: boolean) =>
    fc.record({
      auth: auths,
      path: group('path', hostile),
      query: group('query', hostile),
      headers: group('header', hostile).map((h) =>
        Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)])),
      ),
      body: op.body
        ? hostile
          ? hostileArb(op.body, known)
          : valueArb(op.body, known)
        : fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
      rawBody: op.binary
        ? fc.oneof(
            fc.uint8Array({ minLength: 0, maxLength: 4096 }).map((a) => Buffer.from(a)),
            fc.constant(Buffer.alloc(0)),
          )
        : hostile
          ? fc.option(
              fc.oneof(
                fc.string({ maxLength: 300 }),
                fc.constantFrom(
                  '{',
                  '{"a":',
                  '[1,2',
                  'null',
                  '"',
                  '\u0000',
                  '{"__proto__":{"x":1}}',
                ),
              ),
              { nil: undefined, freq: 3 },
            )
          : fc.constant(undefined),
      contentType: op.binary
        ? fc.constantFrom('application/octet-stream', 'application/octet-stream', 'text/plain')
        : hostile
          ? contentTypes
          : fc.constant('application/json'),
    })
  return fc.oneof({ arbitrary: make(false), weight: 3 }, { arbitrary: make(true), weight: 2 })
}

/** Percent-encodes; a lone surrogate goes out as the invalid UTF-8 a hostile client would send. */
function enc(v: unknown): string {
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v ?? '')
  try {
    return encodeURIComponent(s)
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x')) + '%ED%A0%80'
  }
}

function urlOf(op: Op, r: Req): string {
  const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => enc(r.path[name]))
  const qs = Object.entries(r.query)
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .join('&')
  return qs ? `${path}?${qs}` : path
}

describe('fuzzing', () => {
  let t: T
  let prof: Person, bert: Person, coord: Person, advisor: Person, leaver: Person
  const known: Known = { ids: [] }
  const tokens = new Map<Auth, string>()
  const closers: RoomsClient[] = []
  let minted = 0
  let xmaxQuery: () => Promise<string>

  /** Access tokens live 15 minutes; a nightly run outlives them, so mint fresh ones. */
  async function freshTokens(): Promise<void> {
    if (Date.now() - minted < 5 * 60_000) return
    for (const [k, p] of [
      ['prof', prof],
      ['coord', coord],
      ['advisor', advisor],
    ] as const)
      tokens.set(k, await t.ctx.tokens.issue({ userId: p.userId, sessionId: p.session.sessionId }))
    minted = Date.now()
  }

  beforeAll(async () => {
    t = await listenTestApp({ rateLimitMax: 10_000_000 })
    // Background jobs write on their own schedule; stop them so every write is ours.
    await t.app.scheduler.stop()
    const vt = { organisation: 'Veilig Thuis Twente', kind: 'veilig-thuis' as const }
    coord = await makePerson(t.ctx, t.url, { ...vt, role: 'coordinator', name: 'Coördinator' })
    advisor = await makePerson(t.ctx, t.url, { ...vt, role: 'advisor', name: 'Adviseur' })
    prof = await makePerson(t.ctx, t.url, { name: 'Vera' })
    bert = await makePerson(t.ctx, t.url, { name: 'Bert' })
    leaver = await makePerson(t.ctx, t.url, { name: 'Lotte' })
    const desk = await makeDesk(t.url, coord, [advisor])
    const rooms = new RoomsClient(prof.host)
    closers.push(rooms)

    const roomId = await rooms.create({ kind: 'case', members: [{ userId: bert.userId }] })
    await rooms.sendText(roomId, 'hallo')
    await rooms.attach(roomId, new Uint8Array(3000).fill(1), 'a.pdf', 'application/pdf')
    const notice = await postNotice(prof.host, rooms, roomId, {
      kind: 'hulp-gestart',
      dates: { start: '2026-11-01' },
      details: {},
    })
    const consult = await askConsult(rooms, desk.deskId, {
      ageBand: 'ongeboren',
      signals: 'zorgen',
      riskFactors: [],
      meldcodeStap: 'Stap 2 — collega en/of Veilig Thuis raadplegen',
      question: 'advies?',
    })
    const file = await t.ctx.db.db.selectFrom('room_files').select('id').executeTakeFirstOrThrow()
    const inv = await bootstrapInvitation(t.ctx, {
      region: 'Twente',
      organisation: 'GGD Twente',
      kind: 'jgz',
      name: 'Nog niet begonnen',
      email: `inv-${randomId().slice(0, 6)}@example.nl`,
      discipline: 'jgz-arts',
      role: 'professional',
    })
    const noticeRow = await t.ctx.db.db
      .selectFrom('notices')
      .select('id')
      .where('room_id', '=', roomId)
      .executeTakeFirstOrThrow()
    known.ids = [
      roomId,
      consult,
      desk.deskId,
      file.id,
      notice.noticeId,
      noticeRow.id,
      inv.code,
      prof.userId,
      bert.userId,
      coord.userId,
      advisor.userId,
      prof.device.deviceId,
      bert.device.deviceId,
      'v1',
      prof.session.user.organisation.id,
      coord.session.user.organisation.id,
      // Someone else's session: deleting it must be refused (the fuzz never uses Bert's token).
      bert.session.sessionId,
      prof.email,
    ]
    await freshTokens()
    xmaxQuery = async () =>
      (
        await sql<{
          x: string
        }>`select pg_snapshot_xmax(pg_current_snapshot())::text as x`.execute(t.ctx.db.db)
      ).rows[0]!.x
  })
  afterAll(async () => {
    for (const c of closers) c.close()
    await t.close()
  })

  it(
    `answers every HTTP route, for ${HTTP_RUNS} generated requests, with a clear refusal or success: no 5xx, nothing written when refused, memory bounded`,
    { timeout: TIMEOUT },
    async () => {
      const spec = t.app.swagger() as unknown as Parameters<typeof operations>[0]
      const ops = operations(spec)
      expect(ops.length).toBeGreaterThan(50)
      // Several rounds over every route: the heap after the first (every code path warm)
      // is the baseline the rest of the run must stay near.
      const rounds = LONG ? 10 : 2
      const perOp = Math.max(5, Math.ceil(HTTP_RUNS / ops.length / rounds))
      const gc = gcNow()
      const failures: string[] = []
      const stats = new Map<string, Record<string, number>>()
      let lastFp = await dbFingerprint(t)
      let fingerprints = 0
      let lastX: string | undefined
      let total = 0
      let heapBefore = 0
      for (let round = 0; round < rounds; round++) {
        if (round === 1) {
          gc()
          heapBefore = process.memoryUsage().heapUsed
        }
        for (const op of ops) {
          const key = `${op.method} ${op.path}`
          const s: Record<string, number> = {}
          stats.set(key, s)
          const check = async (r: Req): Promise<string | undefined> => {
            await freshTokens()
            total++
            // The sign-out routes get a person of their own: their success ends that session.
            const token =
              r.auth === 'none'
                ? undefined
                : r.auth === 'garbage'
                  ? 'eyJhbGciOiJub25lIn0.e30.'
                  : op.path.includes('sign-out')
                    ? leaver.session.accessToken
                    : tokens.get(r.auth)
            const headers: Record<string, string> = { ...r.headers }
            if (token) headers.authorization = `Bearer ${token}`
            let payload: string | Buffer | undefined
            if (r.rawBody !== undefined) payload = r.rawBody
            else if (r.body !== undefined && op.method !== 'GET')
              payload =
                typeof r.body === 'string' && r.contentType !== 'application/json'
                  ? r.body
                  : JSON.stringify(r.body)
            if (payload !== undefined && r.contentType) headers['content-type'] = r.contentType
            const before = lastX ?? (await xmaxQuery())
            const res = await t.app.inject({
              method: op.method as 'GET',
              url: urlOf(op, r),
              headers,
              ...(payload !== undefined ? { payload } : {}),
              remoteAddress: `10.9.${total % 250}.${(total >> 8) % 250}`,
            })
            const cls = `${Math.floor(res.statusCode / 100)}xx`
            s[cls] = (s[cls] ?? 0) + 1
            if (res.statusCode >= 500) {
              return `${res.statusCode} ${res.body.slice(0, 300)}`
            }
            if (res.statusCode >= 400) {
              let code: unknown
              try {
                code = (res.json() as { error?: { code?: unknown } }).error?.code
              } catch {
                code = undefined
              }
              if (typeof code !== 'string' || !/^VS_[A-Z_]+$/.test(code))
                return `refusal ${res.statusCode} without a clear error code: ${res.body.slice(0, 200)}`
            }
            lastX = await xmaxQuery()
            if (lastX !== before) {
              const fp = await dbFingerprint(t)
              fingerprints++
              const changed = fingerprintDiff(lastFp, fp)
              lastFp = fp
              if (res.statusCode >= 400 && changed.length)
                return `refused with ${res.statusCode} but wrote to ${changed.join(', ')}`
            }
            return undefined
          }
          const result = await fc.check(
            fc.asyncProperty(requestArb(op, known), async (r) => {
              const problem = await check(r)
              if (problem) throw new Error(problem)
            }),
            {
              numRuns: perOp,
              ...(SEED !== undefined ? { seed: SEED + round } : {}),
              endOnFailure: !LONG,
            },
          )
          if (result.failed)
            failures.push(
              `${key}: ${(result.errorInstance as Error | undefined)?.message ?? 'failed'}\n  input: ${JSON.stringify(result.counterexample)?.slice(0, 600)}\n  seed ${result.seed}, path ${result.counterexample ? result.counterexamplePath : ''}`,
            )
        }
      }

      gc()
      const grown = process.memoryUsage().heapUsed - heapBefore
      const health = await t.app.inject({ method: 'GET', url: '/readyz' })
      const summary = [...stats].map(([k, v]) => `${k} ${JSON.stringify(v)}`).join('\n')
      if (process.env.VS_FUZZ_VERBOSE) console.log(summary)
      console.log(
        `http fuzz: ${total} requests over ${ops.length} routes, ${fingerprints} database digests, heap ${(grown / 1e6).toFixed(1)} MB`,
      )
      expect(failures, failures.join('\n')).toEqual([])
      expect(health.statusCode).toBe(200)
      expect(total).toBeGreaterThanOrEqual(HTTP_RUNS)
      expect(grown).toBeLessThan(64 * 1024 * 1024)
    },
  )

  it('refuses the inputs the fuzzer once turned into 500s, with a clear code and nothing charged', async () => {
    const auth = { authorization: `Bearer ${tokens.get('prof')}` }
    const json = { ...auth, 'content-type': 'application/json' }
    const cases: { method: 'GET' | 'POST'; url: string; body?: unknown; status: number | '4xx' }[] =
      [
        { method: 'GET', url: '/api/v1/keylog?from=1e309', status: 400 },
        { method: 'GET', url: '/api/v1/keylog?from=Infinity', status: 400 },
        { method: 'GET', url: `/api/v1/rooms/${known.ids[0]}/events?after=1e309`, status: 400 },
        {
          method: 'GET',
          url: `/api/v1/rooms/${known.ids[0]}/files/${known.ids[3]}/chunks/Infinity`,
          status: 400,
        },
        {
          method: 'POST',
          url: '/api/v1/keys/master',
          body: { masterPk: 'A'.repeat(43), wrappedMasterSecret: 'AAAAA' },
          status: 400,
        },
        {
          method: 'POST',
          url: '/api/v1/rooms',
          body: { genesis: 'AAAAA', welcomes: [] },
          status: 400,
        },
        {
          method: 'POST',
          url: '/api/v1/consults',
          body: { deskId: known.ids[2], genesis: 'okup', welcomes: [] },
          status: 400,
        },
        {
          method: 'POST',
          url: '/api/v1/tokens/issue',
          body: { blindedElements: ['XX-h2_-----49g1-705-c9_0_l-_IbRS_-n_-_D-1In'] },
          status: 400,
        },
        { method: 'GET', url: '/api/v1/rooms/x%ED%A0%80/reads', status: 400 },
        { method: 'GET', url: `/api/v1/rooms/${'A'.repeat(5000)}/reads`, status: '4xx' },
      ]
    const issued = () =>
      t.ctx.db.db
        .selectFrom('token_issuance')
        .selectAll()
        .where('user_id', '=', prof.userId)
        .execute()
    const budget = await issued()
    for (const c of cases) {
      const res = await t.app.inject({
        method: c.method,
        url: c.url,
        headers: c.body ? json : auth,
        ...(c.body ? { payload: JSON.stringify(c.body) } : {}),
      })
      if (c.status === '4xx') expect(Math.floor(res.statusCode / 100), c.url).toBe(4)
      else expect(res.statusCode, c.url).toBe(c.status)
      expect((res.json() as { error: { code: string } }).error.code, c.url).toMatch(/^VS_[A-Z_]+$/)
    }
    expect(await issued()).toEqual(budget)
  })

  it(
    `answers every WebSocket frame type, for ${WS_RUNS} generated frames, with an error frame or a clear close code: nothing written when refused, others still served`,
    { timeout: TIMEOUT },
    async () => {
      const schema = ClientFrame as unknown as JsonSchema
      const variants = schema.anyOf ?? []
      expect(variants.map((v) => (v.properties?.t as JsonSchema).const).sort()).toEqual([
        'auth',
        'ping',
        'send',
        'sub',
        'unsub',
      ])
      // A world of its own: the HTTP fuzz may legitimately have ended sessions or changed
      // memberships of the people it used.
      const [wim, wendy, wouter] = (await Promise.all(
        ['Wim', 'Wendy', 'Wouter'].map((name) => makePerson(t.ctx, t.url, { name })),
      )) as [Person, Person, Person]
      const wimRooms = new RoomsClient(wim.host)
      closers.push(wimRooms)
      const wsRoom = await wimRooms.create({ kind: 'case', members: [{ userId: wendy.userId }] })
      known.ids.push(wsRoom, wim.device.deviceId)
      const wsPeople = { wim, wendy, wouter }
      type Frame = { text: string } | { binary: Buffer }
      const frameArb: fc.Arbitrary<Frame> = fc.oneof(
        {
          arbitrary: fc.oneof(...variants.map((v) => valueArb(v, known))).map((v) => ({
            text: JSON.stringify(v),
          })),
          weight: 5,
        },
        {
          arbitrary: fc.oneof(...variants.map((v) => hostileArb(v, known))).map((v) => ({
            text: JSON.stringify(v) ?? 'undefined',
          })),
          weight: 3,
        },
        {
          arbitrary: fc
            .oneof(
              nastyString,
              fc.string({ maxLength: 200 }),
              fc.constantFrom('{', '[]', 'null', '{"t":"sub","rooms":{"__proto__":1}}', '{"t":1}'),
            )
            .map((text) => ({ text })),
          weight: 2,
        },
        {
          // Sends that name a real room and device: stored for its member, refused for others.
          arbitrary: fc
            .record({
              idem: fc.stringMatching(/^[A-Za-z0-9_-]{8,20}$/),
              body: fc.base64String({ maxLength: 400 }).map((b) => b.replace(/[+/=]/g, 'A')),
            })
            .map((f) => ({
              text: JSON.stringify({
                t: 'send',
                id: 'x',
                room: wsRoom,
                dev: wim.device.deviceId,
                ...f,
              }),
            })),
          weight: 6,
        },
        {
          arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ binary: Buffer.from(b) })),
          weight: 1,
        },
        {
          arbitrary: fc.constant({
            text: JSON.stringify({ t: 'ping', pad: 'x'.repeat(WS_MAX_FRAME_BYTES) }),
          }),
          weight: 1,
        },
      )
      const frames = fc.sample(frameArb, {
        numRuns: WS_RUNS,
        ...(SEED !== undefined ? { seed: SEED } : {}),
      })
      const allowedCloses = new Set([4001, 4002, 4029, 4400, 1009])
      const closes = new Map<number, number>()
      const problems: string[] = []
      let acks = 0
      let sendSeq = 0
      const sentIdems = new Map<string, string>()
      const refusedIdems = new Set<string>()
      const errCodes = new Map<string, number>()
      let errs = 0
      let reconnects = 0
      const db = t.ctx.db.db
      const count = async () =>
        (
          await sql<{
            n: number
            s: number
          }>`select (select count(*)::int from room_events) as n, (select coalesce(sum(last_seq), 0)::int from rooms) as s`.execute(
            db,
          )
        ).rows[0]!
      const before = await count()
      const seqsBefore = new Map(
        (await db.selectFrom('rooms').select(['id', 'last_seq']).execute()).map((r) => [
          r.id,
          r.last_seq,
        ]),
      )
      const fpBefore = await dbFingerprint(t)
      const gc = gcNow()
      gc()
      const heapBefore = process.memoryUsage().heapUsed

      /** One connection per person, driven in parallel, each paced under the frame limit. */
      async function drive(who: keyof typeof wsPeople, share: Frame[]): Promise<void> {
        let ws: WebSocket | undefined
        let ending = false
        let pong: (() => void) | undefined
        const open = async () => {
          const p = wsPeople[who]
          const token = await t.ctx.tokens.issue({
            userId: p.userId,
            sessionId: p.session.sessionId,
          })
          const sock = new WebSocket(t.url.replace(/^http/, 'ws') + '/ws', [
            WS_SUBPROTOCOL,
            WS_AUTH_PREFIX + token,
          ])
          sock.on('message', (data) => {
            let f: { t?: string; code?: unknown; duplicate?: boolean }
            try {
              f = JSON.parse(String(data)) as typeof f
            } catch {
              problems.push(`server sent a frame that is not JSON: ${String(data).slice(0, 100)}`)
              return
            }
            if (f.t === 'pong') pong?.()
            if (f.t === 'ack' && f.duplicate === false) acks++
            if (f.t === 'err') {
              errCodes.set(String(f.code), (errCodes.get(String(f.code)) ?? 0) + 1)
              const idem = sentIdems.get(String((f as { id?: unknown }).id))
              if (idem) refusedIdems.add(idem)
              errs++
              if (typeof f.code !== 'string' || !/^VS_[A-Z_]+$/.test(f.code))
                problems.push(`error frame without a clear code: ${String(data).slice(0, 200)}`)
            }
          })
          sock.on('close', (code) => {
            if (ending) return
            closes.set(code, (closes.get(code) ?? 0) + 1)
            if (!allowedCloses.has(code)) problems.push(`closed with ${code}`)
            pong?.()
          })
          sock.on('error', () => {})
          await new Promise<void>((resolve, reject) => {
            sock.once('open', () => resolve())
            sock.once('error', reject)
          })
          ws = sock
        }
        const roundTrip = () =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              problems.push('no pong within 10 s')
              resolve()
            }, 10_000)
            pong = () => {
              clearTimeout(timer)
              resolve()
            }
            ws!.send(JSON.stringify({ t: 'ping' }))
          })
        /** Gives each send frame a unique id, to know which idempotency keys were refused. */
        const tagSend = (text: string): string => {
          let o: unknown
          try {
            o = JSON.parse(text)
          } catch {
            return text
          }
          if (typeof o !== 'object' || o === null || (o as { t?: unknown }).t !== 'send')
            return text
          const f = o as { id?: unknown; idem?: unknown }
          if (typeof f.idem !== 'string') return text
          const id = `fz${++sendSeq}`
          // A valid idempotency key is made unique per frame (generators like to repeat
          // '__proto__'), so a refusal names exactly one frame; retries are tested elsewhere.
          const idem = /^[A-Za-z0-9_-]{8,54}$/.test(f.idem) ? `${f.idem}-${sendSeq}` : f.idem
          sentIdems.set(id, idem)
          return JSON.stringify({ ...f, id, idem })
        }
        const BATCH = 20
        for (let i = 0; i < share.length; i += BATCH) {
          const started = Date.now()
          for (const f of share.slice(i, i + BATCH)) {
            if (!ws || ws.readyState !== WebSocket.OPEN) {
              if (ws) reconnects++
              await open()
            }
            if ('binary' in f) ws!.send(f.binary, { binary: true })
            else ws!.send(tagSend(f.text))
          }
          if (ws && ws.readyState === WebSocket.OPEN) await roundTrip()
          // Stay under the per-connection frame rate, so refusals come from the frames.
          const minMs = (BATCH / 300) * 1000
          const spent = Date.now() - started
          if (spent < minMs) await new Promise((r) => setTimeout(r, minMs - spent))
        }
        if (ws && ws.readyState === WebSocket.OPEN) {
          await roundTrip()
          ending = true
          ws.close(1000)
        }
      }
      const people = ['wim', 'wendy', 'wouter'] as const
      await Promise.all(
        people.map((p, i) =>
          drive(
            p,
            frames.filter((_f, j) => j % people.length === i),
          ),
        ),
      )
      // Let the last batched writes land.
      await new Promise((r) => setTimeout(r, 200))

      const after = await count()
      const fpAfter = await dbFingerprint(t)
      gc()
      const grown = process.memoryUsage().heapUsed - heapBefore
      console.log(
        `ws fuzz: ${frames.length} frames, ${acks} stored, ${errs} error frames ${JSON.stringify(Object.fromEntries(errCodes))}, ${reconnects} reconnects, closes ${JSON.stringify(Object.fromEntries(closes))}, heap ${(grown / 1e6).toFixed(1)} MB`,
      )
      expect(problems, problems.slice(0, 20).join('\n')).toEqual([])
      // Only sends wrote, one event each, and no refused send did; nothing else changed.
      // (An ack can be lost when a later frame in the same batch closed the socket.)
      expect(after.n - before.n).toBeGreaterThanOrEqual(acks)
      expect(after.s - before.s).toBe(after.n - before.n)
      const written: { idem_key: string }[] = []
      for (const r of await db.selectFrom('rooms').select(['id', 'last_seq']).execute()) {
        const from = seqsBefore.get(r.id) ?? 0
        if (r.last_seq > from)
          written.push(
            ...(await db
              .selectFrom('room_events')
              .select('idem_key')
              .where('room_id', '=', r.id)
              .where('seq', '>', from)
              .execute()),
          )
      }
      expect(written).toHaveLength(after.n - before.n)
      const sent = new Set(sentIdems.values())
      expect(written.filter((w) => !sent.has(w.idem_key))).toEqual([])
      expect(written.filter((w) => refusedIdems.has(w.idem_key))).toEqual([])
      expect(
        fingerprintDiff(fpBefore, fpAfter).filter((n) => n !== 'room_events' && n !== 'rooms'),
      ).toEqual([])
      expect(grown).toBeLessThan(64 * 1024 * 1024)

      // And the server still serves an ordinary member in real time.
      const b = new RoomsClient(wendy.host)
      closers.push(b)
      const live = await b.open(wsRoom)
      await wimRooms.sendText(wsRoom, 'na het fuzzen')
      const end = Date.now() + 10_000
      while (
        !live.timeline.some(
          (i) =>
            i.kind === 'message' && (i.content.body as { text?: string }).text === 'na het fuzzen',
        )
      ) {
        if (Date.now() > end) throw new Error('no live delivery after fuzzing')
        await new Promise((r) => setTimeout(r, 20))
      }
      expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200)
    },
  )
})
