/**
 * Shared pieces of the browser suites: the web client built to a temporary folder, the
 * real API process (PGlite, or PostgreSQL when DATABASE_URL is set), Debian's Chromium
 * through playwright-core, TOTP codes, waiting, and the watch for page errors and CSP
 * violations. People for the work views are made through the SDK in Node and their
 * browser profile gets the same localStorage a real sign-in would have left.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Secret, TOTP } from 'otpauth'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { expect } from 'vitest'
import { LocalStorageKeyStore, VsClient, type StorageLike } from '@vs/client'
import type { Role } from '@vs/client'
import {
  createEmptyPostgresDb,
  repoRoot,
  runScript,
  startApiProcess,
  type ApiProcess,
} from '@vs/api/testing'

export const serverUrl = process.env.DATABASE_URL || undefined
/** Set to a folder to keep a screenshot of every step (for looking at the UI). */
const shotsDir = process.env.VS_BROWSER_SCREENSHOTS || undefined
let shotNo = 0

export async function shot(page: Page, name: string): Promise<void> {
  if (!shotsDir) return
  shotNo++
  await page.screenshot({
    path: path.join(shotsDir, `${String(shotNo).padStart(2, '0')}-${name}.png`),
    fullPage: true,
  })
}

const PERIOD_MS = 30_000

/**
 * TOTP codes: the server accepts the previous, current and next step, each once per
 * account. Handing out the lowest unused acceptable step lets a test sign the same
 * person in three times without waiting for a new 30 s period.
 */
export class TotpClock {
  #last = -Infinity
  constructor(private readonly secret: string) {}

  async next(): Promise<string> {
    for (;;) {
      const now = Date.now()
      const left = PERIOD_MS - (now % PERIOD_MS)
      if (left < 2000) {
        await new Promise((r) => setTimeout(r, left + 100))
        continue
      }
      const cur = Math.floor(now / PERIOD_MS)
      const step = Math.max(this.#last + 1, cur - 1)
      if (step > cur + 1) {
        await new Promise((r) => setTimeout(r, left + 100))
        continue
      }
      this.#last = step
      const totp = new TOTP({ secret: Secret.fromBase32(this.secret), period: 30, digits: 6 })
      return totp.generate({ timestamp: step * PERIOD_MS })
    }
  }
}

/** Waits for the page: views load their data after navigation, and CI machines are busy. */
export function poll<T>(fn: () => Promise<T>, timeout = 15_000) {
  return expect.poll(fn, { timeout, interval: 100 })
}

/** Collects what must not happen in the page: uncaught errors and CSP violations. */
export function watch(page: Page, problems: string[]): void {
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
      problems.push(`csp: ${m.text()}`)
    }
  })
}

/** Builds the web client into a fresh temporary folder; resolves with the folder. */
export async function buildWeb(cleanup: (() => Promise<void>)[]): Promise<string> {
  const webDir = await mkdtemp(path.join(tmpdir(), 'vs-web-'))
  cleanup.push(() => rm(webDir, { recursive: true, force: true }))
  await promisify(execFile)(
    path.join(repoRoot, 'node_modules', '.bin', 'tsx'),
    [path.join(repoRoot, 'packages', 'web', 'scripts', 'build.ts'), '--outdir', webDir],
    { cwd: repoRoot },
  )
  return webDir
}

/** A database for one suite: a PGlite folder, or a fresh PostgreSQL database. */
export async function databaseEnv(
  cleanup: (() => Promise<void>)[],
): Promise<Record<string, string>> {
  if (serverUrl) {
    const db = await createEmptyPostgresDb(serverUrl)
    cleanup.push(db.drop)
    return { DATABASE_URL: db.url }
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vs-browser-'))
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
  return { DATA_DIR: dataDir }
}

/**
 * Runs the operator CLI's `admin create` (before the server starts: PGlite's folder opens
 * in one process at a time) and returns the coordinator's invitation code.
 */
export async function createCoordinator(
  env: Record<string, string>,
  o: { organisation: string; kind: string; name: string; email: string },
): Promise<string> {
  const cli = runScript(
    'cli.ts',
    [
      'admin',
      'create',
      '--region',
      'Twente',
      '--organisation',
      o.organisation,
      '--kind',
      o.kind,
      '--name',
      o.name,
      '--email',
      o.email,
    ],
    env,
  )
  expect(await cli.exited, cli.output()).toBe(0)
  const code = /Code \(shown once\): (\S+)/.exec(cli.output())?.[1] ?? ''
  expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/)
  return code
}

export async function startApi(env: Record<string, string>, webDir: string): Promise<ApiProcess> {
  return startApiProcess({ ...env, WEB_DIR: webDir, LOG_LEVEL: 'warn' })
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
    timeout: 30_000,
  })
}

/** localStorage in Node, to copy into a browser profile afterwards. */
export class MapStorage implements StorageLike {
  readonly map = new Map<string, string>()
  getItem(key: string): string | null {
    return this.map.get(key) ?? null
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value)
  }
  removeItem(key: string): void {
    this.map.delete(key)
  }
}

/** A person made through the SDK: signed in, TOTP enrolled, one device, recovery key kept. */
export interface SdkPerson {
  userId: string
  name: string
  email: string
  client: VsClient
  storage: MapStorage
}

/** Redeems an invitation in Node exactly as the web client would, ending with a device. */
export async function redeem(
  url: string,
  code: string,
  o: { name: string; email: string; password?: string },
): Promise<SdkPerson> {
  const storage = new MapStorage()
  const client = await VsClient.open({ baseUrl: url, store: new LocalStorageKeyStore({ storage }) })
  const password = o.password ?? `een lange zin voor ${o.name}`
  const { totpSecret } = await client.acceptInvitation(code, password)
  const me = await client.confirmInvitation(code, password, await new TotpClock(totpSecret).next())
  await client.setUpFirstDevice('Chromium op Linux')
  await client.acknowledgeRecoveryKey()
  return { userId: me.userId, name: o.name, email: o.email, client, storage }
}

/** Invites and redeems one person (the coordinator's client makes the invitation). */
export async function invite(
  url: string,
  coordinator: VsClient,
  o: { name: string; email: string; discipline: string; organisationId: string; role?: Role },
): Promise<SdkPerson> {
  const inv = await coordinator.createInvitation({
    name: o.name,
    email: o.email,
    discipline: o.discipline,
    organisationId: o.organisationId,
    role: o.role ?? 'professional',
  })
  return redeem(url, inv.code, o)
}

/**
 * A browser profile for a person made in Node: the same localStorage a sign-in in the
 * browser leaves (session, device keys), then the app. The Node client is not used for
 * this person afterwards (the browser now holds the refresh token).
 */
export async function openAs(
  browser: Browser,
  url: string,
  p: SdkPerson,
  problems: string[],
  hash = '#/kamers',
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true })
  const page = await context.newPage()
  watch(page, problems)
  page.setDefaultTimeout(20_000)
  await page.goto(`${url}/healthz`)
  await page.evaluate(
    (entries) => {
      for (const [k, v] of entries) localStorage.setItem(k, v)
    },
    [...p.storage.map],
  )
  await page.goto(`${url}/${hash}`)
  return { context, page }
}
