/**
 * The real API process on a free port: start-up on the configured database, every
 * foundation endpoint, clear exits on bad configuration, graceful SIGTERM.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import {
  createEmptyPostgresDb,
  http,
  runScript,
  startApiProcess,
  totpNow,
} from './helpers/index.js'

const serverUrl = process.env.DATABASE_URL || undefined

async function databaseEnv(): Promise<{
  env: Record<string, string>
  cleanup: () => Promise<void>
}> {
  if (serverUrl) {
    const { url, drop } = await createEmptyPostgresDb(serverUrl)
    return { env: { DATABASE_URL: url }, cleanup: drop }
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'vs-proc-'))
  return { env: { DATA_DIR: dir }, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

describe('the API process', () => {
  let dbEnv: Awaited<ReturnType<typeof databaseEnv>>
  beforeAll(async () => {
    dbEnv = await databaseEnv()
  })
  afterAll(() => dbEnv.cleanup())

  it('starts, migrates, serves every endpoint, and exits 0 on SIGTERM', async () => {
    const api = await startApiProcess(dbEnv.env)
    try {
      const ready = await fetch(`${api.url}/readyz`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({
        status: 'ready',
        database: serverUrl ? 'postgres' : 'pglite',
      })
      expect((await fetch(`${api.url}/healthz`)).status).toBe(200)
      const metrics = await (await fetch(`${api.url}/metrics`)).text()
      expect(metrics).toContain('vs_http_requests_total')
      expect((await fetch(`${api.url}/docs/json`)).status).toBe(200)
      const home = await fetch(`${api.url}/`)
      expect(home.status).toBe(200)
      expect(await home.text()).toContain('Veilig Samenwerken')
      // One start-up line names the database and the address.
      const line = api
        .output()
        .split('\n')
        .find((l) => l.includes('listening on'))
      expect(line).toBeDefined()
      expect(line).toContain(serverUrl ? 'PostgreSQL at' : 'PGlite (embedded)')
      expect(line).toContain(`:${api.port}`)
    } finally {
      const started = Date.now()
      const code = await api.stop('SIGTERM')
      expect(code).toBe(0)
      expect(Date.now() - started).toBeLessThan(10_000)
    }
  })

  it('closes WebSockets with going-away (1001) on SIGTERM and exits 0', async () => {
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
        'Ws Test',
        '--email',
        `ws-${Date.now()}@example.nl`,
      ],
      dbEnv.env,
    )
    expect(await cli.exited).toBe(0)
    const code = /Code \(shown once\): (\S+)/.exec(cli.output())![1]!
    const api = await startApiProcess(dbEnv.env)
    const password = 'een lang wachtwoord'
    const { totpSecret } = await http<{ totpSecret: string }>(
      api.url,
      'POST',
      `/api/v1/invitations/${code}/accept`,
      { password },
    )
    const session = await http<{ accessToken: string }>(
      api.url,
      'POST',
      `/api/v1/invitations/${code}/confirm`,
      { password, totp: totpNow(totpSecret) },
    )
    const ws = new WebSocket(api.url.replace('http', 'ws') + '/ws', [
      'vs.v1',
      `vs.auth.${session.accessToken}`,
    ])
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    expect(ws.protocol).toBe('vs.v1')
    const closed = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)))
    const exit = api.stop('SIGTERM')
    expect(await closed).toBe(1001)
    expect(await exit).toBe(0)
  })

  it('refuses a WebSocket without a valid token before the upgrade', async () => {
    const api = await startApiProcess(dbEnv.env)
    try {
      const ws = new WebSocket(api.url.replace('http', 'ws') + '/ws', ['vs.v1', 'vs.auth.nonsense'])
      const status = await new Promise<number>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.once('open', () => resolve(101))
      })
      expect(status).toBe(401)
    } finally {
      expect(await api.stop('SIGTERM')).toBe(0)
    }
  })

  it('also exits 0 on SIGINT, and a second start on the same database works', async () => {
    const api = await startApiProcess(dbEnv.env)
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200)
    expect(await api.stop('SIGINT')).toBe(0)
  })
})

describe('bad configuration', () => {
  it.each([
    [{ PORT: 'abc' }, /^vs-api: configuration error: PORT: must be a whole number/m],
    [
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' },
      /^vs-api: configuration error: DATABASE_URL: cannot connect to the database/m,
    ],
    [{ LOG_LEVEL: 'shouting' }, /^vs-api: configuration error: LOG_LEVEL/m],
    [{ TOKEN_KEYS: 'not json', LOG_KEY: '{}' }, /^vs-api: configuration error: TOKEN_KEYS/m],
  ])('%o stops start-up with one clear line and exit code 1', async (env, expected) => {
    const proc = runScript('index.ts', [], { DATA_DIR: path.join(tmpdir(), 'vs-never'), ...env })
    const code = await proc.exited
    expect(code).toBe(1)
    const out = proc.output()
    expect(out).toMatch(expected)
    expect(out).not.toMatch(/\n\s+at /) // no stack trace
    expect(out.trim().split('\n')).toHaveLength(1)
  })

  it('prints --help', async () => {
    const proc = runScript('index.ts', ['--help'], {})
    expect(await proc.exited).toBe(0)
    expect(proc.output()).toContain('DATABASE_URL')
  })
})
