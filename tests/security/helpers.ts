/**
 * Shared pieces of the security suites: waiting, reading timelines, a Veilig Thuis desk
 * with a certified key, people who use the real SDK (`VsClient`), and a fingerprint of
 * the database to prove that a refused request wrote nothing.
 */
import { sql } from 'kysely'
import { Secret, TOTP } from 'otpauth'
import {
  certifyDeskKey,
  deskKeyCertToJSON,
  generateBoxKeyPair,
  generateSigningKeyPair,
  randomId,
  type BoxKeyPair,
  type SigningKeyPair,
} from '@vs/crypto'
import { MemoryKeyStore, VsClient } from '@vs/client'
import type { TimelineItem } from '@vs/client/rooms'
import type { OrgKind, Role } from '@vs/protocol'
import { http, type Person, type TestApp } from '@vs/api/testing'
// The operator's bootstrap (what `pnpm cli admin create` runs), as the SDK tests use it.
import { bootstrapInvitation } from '../../services/api/src/identity/bootstrap.js'

export { until } from '@vs/api/testing'

export function texts(items: readonly TimelineItem[]): string[] {
  return items.flatMap((i) =>
    i.kind === 'message' && i.content.type === 'text'
      ? [(i.content.body as { text: string }).text]
      : [],
  )
}

export function refusals(items: readonly TimelineItem[]): string[] {
  return items.flatMap((i) => (i.kind === 'undecryptable' ? [i.code] : []))
}

export interface Desk {
  deskId: string
  sign: SigningKeyPair
  box: BoxKeyPair
}

/** A desk in the coordinator's organisation, with advisors and a key version 1. */
export async function makeDesk(
  url: string,
  coord: Person,
  advisors: readonly Person[],
  name = 'Veilig Thuis Twente — advies',
): Promise<Desk> {
  const orgId = coord.session.user.organisation.id
  const desk = await http<{ id: string }>(
    url,
    'POST',
    `/api/v1/organisations/${orgId}/desks`,
    { name, purpose: 'advies' },
    coord.host.token,
  )
  for (const a of advisors)
    await http(
      url,
      'PUT',
      `/api/v1/desks/${desk.id}/advisors/${a.userId}`,
      undefined,
      coord.host.token,
    )
  const sign = generateSigningKeyPair()
  const box = generateBoxKeyPair()
  const cert = certifyDeskKey(coord.master.privateKey, {
    deskId: desk.id,
    version: 1,
    signPk: sign.publicKey,
    boxPk: box.publicKey,
    createdAt: Date.now(),
  })
  await http(
    url,
    'POST',
    `/api/v1/desks/${desk.id}/keys`,
    { cert: deskKeyCertToJSON(cert), grants: [] },
    coord.host.token,
  )
  return { deskId: desk.id, sign, box }
}

function totpAt(secret: string, stepOffset = 0): string {
  const t = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 })
  return t.generate({ timestamp: Date.now() + stepOffset * 30_000 })
}

export interface SdkPerson {
  client: VsClient
  store: MemoryKeyStore
  userId: string
  deviceId: string
  email: string
  password: string
  totpSecret: string
  recoveryKey: string
  /**
   * The network path a hostile server controls: set `rewrite` to change any response this
   * person's client receives (it gets the request URL and the server's real response).
   */
  net: { rewrite?: (url: URL, res: Response, init?: RequestInit) => Promise<Response> }
}

/**
 * Someone who redeems an invitation and sets up a device through the SDK (`VsClient`):
 * their client pins the log key, syncs and checks the key log, and checks everyone's
 * device certificates against the master keys the log records.
 */
export async function sdkPerson(
  t: Pick<TestApp, 'ctx'> & { url: string },
  opts: { name: string; organisation?: string; kind?: OrgKind; role?: Role },
): Promise<SdkPerson> {
  const email = `sdk-${randomId().slice(0, 8)}@example.nl`
  const inv = await bootstrapInvitation(t.ctx, {
    region: 'Twente',
    organisation: opts.organisation ?? 'GGD Twente',
    kind: opts.kind ?? 'jgz',
    name: opts.name,
    email,
    discipline: 'jeugdverpleegkundige',
    role: opts.role ?? 'professional',
  })
  const net: SdkPerson['net'] = {}
  const store = new MemoryKeyStore()
  const client = await VsClient.open({ baseUrl: t.url, store, fetch: proxyFetch(net) })
  const password = 'een lang genoeg wachtwoord'
  const { totpSecret } = await client.acceptInvitation(inv.code, password)
  const me = await client.confirmInvitation(inv.code, password, totpAt(totpSecret))
  const { deviceId, recoveryKey } = await client.setUpFirstDevice('Laptop')
  return {
    client,
    store,
    userId: me.userId,
    deviceId,
    email,
    password,
    totpSecret,
    recoveryKey,
    net,
  }
}

/** A fetch that lets a test rewrite responses (the hostile server's network position). */
export function proxyFetch(net: SdkPerson['net']): typeof globalThis.fetch {
  return async (input, init) => {
    const res = await fetch(input, init)
    if (!net.rewrite) return res
    const url = new URL(typeof input === 'string' ? input : (input as Request).url)
    return net.rewrite(url, res, init)
  }
}

/** A TOTP code for the step `stepOffset` steps from now (the server allows -1…+1, once each). */
export function totpCode(secret: string, stepOffset = 0): string {
  return totpAt(secret, stepOffset)
}

/** Row counts of the tables that hold room content, for one room. */
export async function roomRowCounts(t: TestApp, roomId: string): Promise<Record<string, number>> {
  const db = t.ctx.db.db
  const one = async (q: string) => (await sql<{ n: number }>`${sql.raw(q)}`.execute(db)).rows[0]!.n
  const r = sql.lit(roomId).compile(db).sql
  return {
    room_events: await one(`select count(*)::int as n from room_events where room_id = ${r}`),
    room_commits: await one(`select count(*)::int as n from room_commits where room_id = ${r}`),
    room_welcomes: await one(`select count(*)::int as n from room_welcomes where room_id = ${r}`),
    room_members: await one(`select count(*)::int as n from room_members where room_id = ${r}`),
    room_reads: await one(`select count(*)::int as n from room_reads where room_id = ${r}`),
    room_files: await one(`select count(*)::int as n from room_files where room_id = ${r}`),
    room_file_chunks: await one(
      `select count(*)::int as n from room_file_chunks c join room_files f on f.id = c.file_id where f.room_id = ${r}`,
    ),
    notices: await one(`select count(*)::int as n from notices where room_id = ${r}`),
    notice_acks: await one(
      `select count(*)::int as n from notice_acks a join notices n on n.id = a.notice_id where n.room_id = ${r}`,
    ),
    monitoring_checks: await one(
      `select count(*)::int as n from monitoring_checks where room_id = ${r}`,
    ),
    alerts: await one(`select count(*)::int as n from alerts where room_id = ${r}`),
    consults: await one(`select count(*)::int as n from consults where room_id = ${r}`),
    anon_members: await one(`select count(*)::int as n from anon_members where room_id = ${r}`),
  }
}

/**
 * Tables a refused request may legitimately touch: the audit log records refusals and
 * reads (NEN 7513), sign-in failures count towards the lock-out, sessions note their
 * last use, and the scheduler's lease table belongs to background jobs.
 */
export const BOOKKEEPING_TABLES = new Set([
  'audit_log',
  'audit_checkpoints',
  'sign_in_attempts',
  'sessions',
  'jobs',
  'kysely_migration',
  'kysely_migration_lock',
])

/** A digest of every row of every application table, per table (one round trip). */
export async function dbFingerprint(t: TestApp): Promise<Map<string, string>> {
  const db = t.ctx.db.db
  const tables = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`.execute(db)
  const parts = tables.rows
    .filter(({ name }) => !BOOKKEEPING_TABLES.has(name))
    .map(({ name }) => {
      const id = sql.id(name).compile(db).sql
      return `select ${sql.lit(name).compile(db).sql}::text as name, count(*)::text || ':' || coalesce(sum(hashtext(t::text)::bigint), 0)::text || ':' || coalesce(bit_xor(hashtext(t::text)), 0)::text as h from ${id} t`
    })
  const r = await sql<{ name: string; h: string }>`${sql.raw(parts.join(' union all '))}`.execute(
    db,
  )
  return new Map(r.rows.map((x) => [x.name, x.h]))
}

export function fingerprintDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const names = new Set([...a.keys(), ...b.keys()])
  return [...names].filter((n) => a.get(n) !== b.get(n)).sort()
}
