/**
 * A real API on this test file's own database (PGlite, or PostgreSQL with DATABASE_URL),
 * listening on a free port, and people who redeem invitations through the SDK.
 */
import { Secret, TOTP } from 'otpauth'
import { createTestApp, type TestApp } from '@vs/api/testing'
// The operator's bootstrap (what `pnpm cli admin create` runs) for the first coordinator.
import { bootstrapInvitation } from '../../../services/api/src/identity/bootstrap.js'
import { MemoryKeyStore, VsClient, type Me, type Role } from '../src/index.js'

export interface TestServer extends TestApp {
  url: string
}

export async function startServer(): Promise<TestServer> {
  const t = await createTestApp({ passwordHashCost: 'min' })
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  const addr = t.app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return { ...t, url: `http://127.0.0.1:${port}` }
}

const PERIOD_MS = 30_000

/**
 * TOTP codes for tests. The server accepts the previous, current and next 30 s step,
 * each at most once per account; this hands out the lowest unused acceptable step, so
 * up to three sign-ins of one person need no waiting, and waits when it must.
 */
export class TotpClock {
  readonly #last = new Map<string, number>()

  async code(secret: string): Promise<string> {
    for (;;) {
      const now = Date.now()
      // Close to the end of a step the server may already be in the next one.
      if (PERIOD_MS - (now % PERIOD_MS) < 1500) {
        await sleep(PERIOD_MS - (now % PERIOD_MS) + 100)
        continue
      }
      const cur = Math.floor(now / PERIOD_MS)
      const step = Math.max((this.#last.get(secret) ?? -Infinity) + 1, cur - 1)
      if (step > cur + 1) {
        await sleep((cur + 1) * PERIOD_MS - now + 100)
        continue
      }
      this.#last.set(secret, step)
      return totp(secret).generate({ timestamp: step * PERIOD_MS })
    }
  }
}

function totp(secret: string): TOTP {
  return new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export interface Person {
  client: VsClient
  store: MemoryKeyStore
  me: Me
  email: string
  password: string
  totpSecret: string
}

let counter = 0

/** A fresh email address and password. */
export function credentials(): { email: string; password: string } {
  const n = ++counter
  return {
    email: `persoon${n}.${process.pid}.${Date.now() % 100000}@example.nl`,
    password: `lang genoeg wachtwoord ${n}`,
  }
}

/** Redeems an invitation code with a new client: password, TOTP enrolment, confirmation. */
export async function redeem(
  server: TestServer,
  clock: TotpClock,
  code: string,
  creds: { email: string; password: string },
): Promise<Person> {
  const store = new MemoryKeyStore()
  const client = await VsClient.open({ baseUrl: server.url, store, linkPollIntervalMs: 50 })
  const { totpSecret } = await client.acceptInvitation(code, creds.password)
  const me = await client.confirmInvitation(code, creds.password, await clock.code(totpSecret))
  return { client, store, me, totpSecret, ...creds }
}

/** The first coordinator of a region, as the operator CLI makes one. */
export async function coordinator(server: TestServer, clock: TotpClock): Promise<Person> {
  const creds = credentials()
  const inv = await bootstrapInvitation(server.ctx, {
    region: 'Twente',
    organisation: 'GGD Twente',
    kind: 'jgz',
    name: 'Carla Coördinator',
    email: creds.email,
    discipline: 'coördinator',
  })
  return redeem(server, clock, inv.code, creds)
}

/** Someone the coordinator invites into their organisation. */
export async function invitee(
  server: TestServer,
  clock: TotpClock,
  by: Person,
  opts: { name: string; role?: Role; discipline?: string; organisationId?: string },
): Promise<Person> {
  const creds = credentials()
  const inv = await by.client.createInvitation({
    email: creds.email,
    name: opts.name,
    discipline: opts.discipline ?? 'jeugdverpleegkundige',
    organisationId: opts.organisationId ?? by.me.organisation.id,
    role: opts.role ?? 'professional',
  })
  return redeem(server, clock, inv.code, creds)
}

/** Signs in as `p` with a new, empty client: another device of the same person. */
export async function otherDevice(
  server: TestServer,
  clock: TotpClock,
  p: Person,
): Promise<{ client: VsClient; store: MemoryKeyStore }> {
  const store = new MemoryKeyStore()
  const client = await VsClient.open({ baseUrl: server.url, store, linkPollIntervalMs: 50 })
  await client.signIn({
    email: p.email,
    password: p.password,
    totp: await clock.code(p.totpSecret),
  })
  return { client, store }
}
