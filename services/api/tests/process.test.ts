/**
 * The real API process on a free port: start-up on the configured database, every
 * foundation endpoint, clear exits on bad configuration, graceful SIGTERM.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmptyPostgresDb, runScript, startApiProcess } from './helpers/index.js'

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
