/**
 * The benchmark harness in its tiny correctness mode: real API process(es), the bare-ws
 * baseline, the separate load process and the crypto bench, at a few messages a second.
 * Asserts only correctness — every message delivered exactly once, in order, to every
 * member device, every ack persisted — and that the statistics are well-formed. No
 * wall-clock thresholds: the figures themselves belong to `pnpm bench`.
 */
import { describe, expect, it } from 'vitest'
import { runBench, type BenchReport, type TargetResult } from './orchestrator.js'
import { profiles } from './profiles.js'
import { plot, summarize, table } from './report.js'

const databaseUrl = process.env.DATABASE_URL || undefined

function checkTarget(
  t: TargetResult,
  members: number,
  connections: number,
  idleCopies: number,
): void {
  expect(t.steps.length).toBeGreaterThan(0)
  for (const s of t.steps) {
    expect(s.sent).toBe(Math.round((s.rate * s.durationMs) / 1000))
    expect(s.acked).toBe(s.sent)
    expect(s.errors).toEqual({})
    expect(s.closes).toEqual({})
    expect(s.expected).toBe(s.sent * members)
    expect(s.delivered).toBe(s.expected)
    expect(s.lost).toBe(0)
    expect(s.duplicates).toBe(0)
    expect(s.outOfOrder).toBe(0)
    expect(s.mismatched).toBe(0)
    for (const p of [s.latency, s.ack]) {
      expect(p.p50).toBeGreaterThanOrEqual(0)
      expect(p.p50).toBeLessThanOrEqual(p.p90)
      expect(p.p90).toBeLessThanOrEqual(p.p99)
      expect(p.p99).toBeLessThanOrEqual(p.p999)
      expect(p.p999).toBeLessThanOrEqual(p.max)
      expect(Number.isFinite(p.mean)).toBe(true)
    }
    expect(s.cpu.cpuPct.server).toBeGreaterThanOrEqual(0)
    expect(s.cpu.peakRssKb.server).toBeGreaterThan(0)
  }
  expect(t.missing).toBe(0)
  expect(t.headGap).toBe(0)
  if (t.idle) {
    // Measured: the sockets after the first tenth (which connect first and stay), and
    // every device's socket again `idleCopies` times.
    expect(t.idle.conns).toBe(connections - Math.ceil(connections / 10) + idleCopies * connections)
    expect(t.idle.rssAfterKb).toBeGreaterThan(0)
  }
}

function checkWellFormed(r: BenchReport): void {
  const s = summarize(r)
  const json = JSON.parse(JSON.stringify(s)) as Record<string, unknown>
  for (const k of [
    'knee_msgs_per_s',
    'baseline_knee_msgs_per_s',
    'knee_ratio',
    'p50_ms_at_half',
    'p99_ms_at_half',
    'p99_ms_at_80pct',
    'lost',
    'two_node_knee_ratio',
    'idle_rss_kb_per_conn',
    'baseline_idle_rss_kb_per_conn',
    'idle_heap_kb_per_conn',
    'baseline_idle_heap_kb_per_conn',
    'crypto_ratio',
  ]) {
    expect(json).toHaveProperty(k)
  }
  expect(s.lost).toBe(0)
  expect(typeof s.knee_ratio).toBe('number')
  expect(s.crypto_ratio).toBeGreaterThan(0)
  expect(s.p50_ms_at_half).toBeTypeOf('number')
  // A handful of sockets can be within garbage-collection noise: a number or null.
  expect(s.idle_rss_kb_per_conn === null || s.idle_rss_kb_per_conn > 0).toBe(true)
  expect(s.idle_heap_kb_per_conn === null || s.idle_heap_kb_per_conn > 0).toBe(true)
  if (r.twoNode) expect(s.two_node_knee_ratio).toBeTypeOf('number')
  else expect(s.two_node_knee_ratio).toBeNull()
  if (r.durable) {
    expect(s.durable_baseline_knee_msgs_per_s).toBeTypeOf('number')
    expect(s.durable_baseline_p50_ms_at_half).toBeTypeOf('number')
  } else expect(s.durable_baseline_knee_msgs_per_s).toBeNull()
  expect(table(r, s)).toContain('durable fan-out knee')
  const svg = plot(r, 50)
  expect(svg.startsWith('<svg')).toBe(true)
  expect(svg.trim().endsWith('</svg>')).toBe(true)
  expect(svg).not.toContain('NaN')
}

describe('benchmark harness (correctness mode)', () => {
  it('delivers every message exactly once to every member, persists every ack, and reports well-formed stats', async () => {
    const profile = profiles.test
    const r = await runBench({ profile, databaseUrl, browser: false, log: () => {} })
    const connections = profile.rooms * profile.members
    expect(r.shape.connections).toBe(connections)
    checkTarget(r.baseline, profile.members, connections, profile.idleCopies)
    checkTarget(r.api, profile.members, connections, profile.idleCopies)
    if (databaseUrl) {
      expect(r.twoNode).toBeDefined()
      checkTarget(r.twoNode!, profile.members, connections, profile.idleCopies)
      expect(r.durability.persisted).toBe(r.durability.acked)
      // The durable baseline: the same exactly-once delivery, and every ack a stored row.
      expect(r.durable).toBeDefined()
      checkTarget(r.durable!, profile.members, connections, profile.idleCopies)
      expect(r.durableStore!.acked).toBeGreaterThan(0)
      expect(r.durableStore!.persisted).toBe(r.durableStore!.acked)
    } else {
      expect(r.twoNode).toBeUndefined()
      expect(r.durable).toBeUndefined()
    }
    expect(r.durability.acked).toBeGreaterThan(0)
    expect(r.crypto.node.sealUs).toBeGreaterThan(0)
    expect(r.crypto.node.openUs).toBeGreaterThan(0)
    checkWellFormed(r)
  }, 240_000)
})

describe('BENCH_API_ENV', () => {
  it('passes NAME=value pairs on to the API processes, and refuses anything else', async () => {
    const { apiEnvFromBench } = await import('./procs.js')
    expect(apiEnvFromBench('')).toEqual({})
    expect(apiEnvFromBench(' A=1  B=x=y ')).toEqual({ A: '1', B: 'x=y' })
    expect(() => apiEnvFromBench('A=1 oops')).toThrow(/NAME=value/)
    expect(() => apiEnvFromBench('=1')).toThrow(/NAME=value/)
  })
})
