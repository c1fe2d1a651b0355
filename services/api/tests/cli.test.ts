import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { createEmptyPostgresDb, runScript } from './helpers/index.js'

const serverUrl = process.env.DATABASE_URL || undefined

async function cli(args: string[], env: Record<string, string>) {
  const proc = runScript('cli.ts', args, env)
  const code = await proc.exited
  return { code, out: proc.output() }
}

describe('operator CLI', () => {
  it('has --help on the tool and every subcommand', async () => {
    for (const args of [
      ['--help'],
      ['migrate', '--help'],
      ['migrate', 'up', '--help'],
      ['audit', 'verify', '--help'],
    ]) {
      const { code, out } = await cli(args, {})
      expect(code, args.join(' ')).toBe(0)
      expect(out).toMatch(/Usage:/)
    }
  })

  it('migrates a new database and reports status', async () => {
    let env: Record<string, string>
    let cleanup: () => Promise<void>
    if (serverUrl) {
      const db = await createEmptyPostgresDb(serverUrl)
      env = { DATABASE_URL: db.url }
      cleanup = db.drop
    } else {
      const dir = await mkdtemp(path.join(tmpdir(), 'vs-cli-'))
      env = { DATA_DIR: dir }
      cleanup = () => rm(dir, { recursive: true, force: true })
    }
    try {
      const before = await cli(['migrate', 'status'], env)
      expect(before.code).toBe(0)
      expect(before.out).toMatch(/^pending\s+\d{8}T/m)
      const up = await cli(['migrate', 'up'], env)
      expect(up.code).toBe(0)
      expect(up.out).toMatch(/Applied: /)
      const again = await cli(['migrate', 'up'], env)
      expect(again.out).toMatch(/Already up to date/)
      const after = await cli(['migrate', 'status'], env)
      expect(after.out).not.toMatch(/^pending/m)
      const audit = await cli(['audit', 'verify'], env)
      expect(audit.code).toBe(0)
      expect(audit.out).toMatch(/Audit chain intact: 0 records/)
    } finally {
      await cleanup()
    }
  })

  it('refuses an unknown command with exit code 1', async () => {
    const { code, out } = await cli(['frobnicate'], {})
    expect(code).toBe(1)
    expect(out).toMatch(/unknown command/)
  })
})
