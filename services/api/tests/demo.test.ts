/**
 * `pnpm demo --json`: what was sent is what was received, none of it is in the database,
 * and a second run on the same database works.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { createEmptyPostgresDb, runScript } from './helpers/index.js'

interface Line {
  kind: string
  room: string
  from: string
  to: string
  plaintext: string
  seq: number
  direction?: string
  sent?: number
  received?: number
  leaked?: number
}

async function demo(env: Record<string, string>): Promise<Line[]> {
  const proc = runScript('demo/demo.ts', ['--json'], env)
  const code = await proc.exited
  expect(code, proc.output()).toBe(0)
  return proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)
}

describe('pnpm demo', () => {
  it('walks a family through the product twice on the same database, leaking nothing', async () => {
    const serverUrl = process.env.DATABASE_URL || undefined
    let env: Record<string, string>
    let cleanup: () => Promise<void>
    if (serverUrl) {
      const db = await createEmptyPostgresDb(serverUrl)
      env = { DATABASE_URL: db.url }
      cleanup = db.drop
    } else {
      const dir = await mkdtemp(path.join(tmpdir(), 'vs-demo-'))
      env = { DATA_DIR: dir }
      cleanup = () => rm(dir, { recursive: true, force: true })
    }
    try {
      for (let run = 0; run < 2; run++) {
        const lines = await demo(env)
        const summary = lines.find((l) => l.kind === 'summary')
        expect(summary).toMatchObject({ leaked: 0 })
        const sent = lines.filter((l) => l.direction === 'sent')
        const received = lines.filter((l) => l.direction === 'received')
        expect(sent.length).toBeGreaterThanOrEqual(8)
        // Every text message in the case room reached every other member, unchanged.
        const caseRoom = sent.find((l) => l.to === 'Gezin Zonnebloem')!.room
        for (const s of sent.filter((l) => l.room === caseRoom && l.kind === 'text')) {
          const got = received.filter((r) => r.room === caseRoom && r.seq === s.seq)
          expect(got.map((g) => g.plaintext)).toEqual(Array(4).fill(s.plaintext))
          expect(new Set(got.map((g) => g.to)).size).toBe(4)
        }
        // The notices reached the followers as well.
        expect(received.filter((r) => r.kind === 'notice').length).toBeGreaterThanOrEqual(16)
      }
    } finally {
      await cleanup()
    }
  }, 180_000)
})
