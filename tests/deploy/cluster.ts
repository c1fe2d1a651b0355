/**
 * A small cluster on 127.0.0.1 without containers, for tests/deploy/multinode.test.ts: API
 * processes that share one PostgreSQL database, KEYS_DIR and PUBLIC_URL (as replicas do), and
 * Caddy from Debian's package running deploy/Caddyfile itself in front of them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  deriveBackupKey,
  generateRecoveryKey,
  generateSigningKeyPair,
  toB64,
  wrapSecret,
} from '@vs/crypto'
import type { Session } from '@vs/protocol'
import {
  TestHost,
  freePort,
  http,
  newDevice,
  registerDevice,
  runScript,
  totpNow,
} from '@vs/api/testing'
import { repoRoot } from './checks.js'

export const caddyBin = (() => {
  const r = spawnSync('sh', ['-c', 'command -v caddy'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : undefined
})()

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`)
    await sleep(50)
  }
}

/** Runs deploy/keygen.mjs as an operator would. */
export function keygen(command: 'init' | 'add' | 'promote' | 'prune', dir: string): void {
  const script = path.join(repoRoot, 'deploy', 'keygen.mjs')
  const r = spawnSync(process.execPath, [script, command, dir], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`keygen ${command} failed: ${r.stderr}`)
}

/** Creates the shared key folder the documented way. */
export function makeKeys(dir: string): void {
  keygen('init', dir)
}

/** One API replica on a fixed port, so it can be restarted where the proxy expects it. */
export class ApiNode {
  proc: ReturnType<typeof runScript> | undefined
  restarts = 0

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    const proc = runScript('index.ts', [], {
      ...this.env,
      HOST: '127.0.0.1',
      PORT: String(this.port),
    })
    this.proc = proc
    let exited: number | null | undefined
    void proc.exited.then((c) => (exited = c))
    await until(
      `${this.name} up`,
      async () => {
        if (exited !== undefined) {
          throw new Error(`${this.name} exited with ${exited}: ${proc.output()}`)
        }
        return (await fetch(`${this.url}/readyz`).catch(() => undefined))?.ok === true
      },
      60_000,
    )
  }

  /** SIGTERM, as Kubernetes and compose send it; resolves with the exit code. */
  async stop(): Promise<number | null> {
    const proc = this.proc
    if (!proc) return 0
    this.proc = undefined
    if (proc.child.exitCode === null) proc.child.kill('SIGTERM')
    return proc.exited
  }

  async restart(): Promise<number | null> {
    const code = await this.stop()
    await this.start()
    this.restarts++
    return code
  }

  output(): string {
    return this.proc?.output() ?? ''
  }

  async metric(name: string, labels = ''): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text()
    const re = new RegExp(`^${name}${labels ? `\\{[^}]*${labels}[^}]*\\}` : ''} (\\S+)$`, 'm')
    return Number(re.exec(text)?.[1] ?? 0)
  }

  wsConnections(): Promise<number> {
    return this.metric('vs_ws_connections')
  }

  /** Requests this node served on `route` (the proxy's own health checks use /readyz). */
  served(route: string): Promise<number> {
    return this.metric('vs_http_requests_total', `route="${route}"`)
  }
}

/** Caddy running deploy/Caddyfile unchanged, configured through its environment. */
export class Proxy {
  private child: ChildProcess | undefined
  private log = ''

  private constructor(
    readonly url: string,
    private readonly home: string,
  ) {}

  static async start(port: number, upstreams: number[]): Promise<Proxy> {
    if (!caddyBin) throw new Error('caddy is not installed (apt-get install -y caddy)')
    const home = await mkdtemp(path.join(tmpdir(), 'vs-caddy-'))
    const proxy = new Proxy(`http://127.0.0.1:${port}`, home)
    const child = spawn(
      caddyBin,
      ['run', '--config', path.join(repoRoot, 'deploy', 'Caddyfile'), '--adapter', 'caddyfile'],
      {
        env: {
          PATH: process.env.PATH,
          HOME: home,
          XDG_DATA_HOME: home,
          XDG_CONFIG_HOME: home,
          SITE_ADDRESS: proxy.url,
          VS_UPSTREAMS: upstreams.map((p) => `127.0.0.1:${p}`).join(' '),
          CADDY_ADMIN: 'off',
          CADDY_BIND: '127.0.0.1',
          CADDY_HTTP_PORT: String(port),
          CADDY_HTTPS_PORT: String(await freePort()),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    proxy.child = child
    child.stdout!.on('data', (d: Buffer) => (proxy.log += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (proxy.log += d.toString()))
    await until(
      'caddy up',
      async () => {
        if (child.exitCode !== null) throw new Error(`caddy exited: ${proxy.log}`)
        return (await fetch(`${proxy.url}/healthz`).catch(() => undefined))?.ok === true
      },
      20_000,
    )
    return proxy
  }

  output(): string {
    return this.log
  }

  async stop(): Promise<void> {
    const child = this.child
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await gone
    }
    await rm(this.home, { recursive: true, force: true })
  }
}

export interface Member {
  userId: string
  host: TestHost
  session: Session
}

/**
 * Enrols people; the first alone, since `cli admin create` creates the region and organisation
 * when missing and two first-time runs at once race on their unique names.
 */
export async function enrolAll(
  env: Record<string, string>,
  baseUrl: string,
  names: string[],
): Promise<Member[]> {
  const [first, ...rest] = names
  if (!first) return []
  const head = await enrol(env, baseUrl, first)
  return [head, ...(await Promise.all(rest.map((n) => enrol(env, baseUrl, n))))]
}

/**
 * Invites someone with the operator CLI (as an operator would), then enrols them through the
 * proxy like the web client: password, TOTP, master key, one certified device.
 */
export async function enrol(
  env: Record<string, string>,
  baseUrl: string,
  name: string,
): Promise<Member> {
  const email = `${name.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}@example.nl`
  const cli = runScript(
    'cli.ts',
    [
      'admin',
      'create',
      '--region',
      'Twente',
      '--organisation',
      'GGD Twente',
      '--kind',
      'jgz',
      '--name',
      name,
      '--email',
      email,
      '--role',
      'professional',
    ],
    env,
  )
  const code = await cli.exited
  const inv = /Code \(shown once\): (\S+)/.exec(cli.output())?.[1]
  if (code !== 0 || !inv) throw new Error(`cli admin create failed: ${cli.output()}`)
  const password = `correct horse battery ${name}`
  const { totpSecret } = await http<{ totpSecret: string }>(
    baseUrl,
    'POST',
    `/api/v1/invitations/${inv}/accept`,
    { password },
  )
  const session = await http<Session>(baseUrl, 'POST', `/api/v1/invitations/${inv}/confirm`, {
    password,
    totp: totpNow(totpSecret),
  })
  const userId = session.user.userId
  const master = generateSigningKeyPair()
  const backup = wrapSecret(
    deriveBackupKey(generateRecoveryKey()),
    `master/v1/${userId}`,
    master.privateKey,
  )
  await http(
    baseUrl,
    'POST',
    '/api/v1/keys/master',
    { masterPk: toB64(master.publicKey), wrappedMasterSecret: toB64(backup) },
    session.accessToken,
  )
  const device = newDevice()
  await registerDevice(baseUrl, session.accessToken, userId, master, device)
  return { userId, session, host: new TestHost(baseUrl, userId, device, session.accessToken) }
}
