/**
 * PostgreSQL diagnostics for the benchmark: the commit latency of this machine (the
 * floor under any durable acknowledgement: one WAL flush), and what the server's
 * database sessions wait on while a step runs (sampled from pg_stat_activity).
 */
import type pg from 'pg'
import { round2 } from './procs.js'

/** p50/p99 of BEGIN; INSERT one row; COMMIT on one connection (synchronous_commit on). */
export async function commitLatency(c: pg.Client, n = 200): Promise<{ p50: number; p99: number }> {
  await c.query('create table if not exists bench_commit_probe (id bigserial primary key, v text)')
  const xs: number[] = []
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await c.query('begin')
      await c.query("insert into bench_commit_probe (v) values ('x')")
      await c.query('commit')
      xs.push(performance.now() - t)
    }
  } finally {
    await c.query('drop table if exists bench_commit_probe')
  }
  xs.sort((a, b) => a - b)
  return {
    p50: round2(xs[Math.floor(n * 0.5)]!),
    p99: round2(xs[Math.min(n - 1, Math.floor(n * 0.99))]!),
  }
}

/**
 * Samples the wait events of the database's active sessions (other than its own) every
 * 50 ms. The result is the average number of sessions in each state: 'CPU' (running),
 * 'IO:WALSync' (commit flush), 'Lock:transactionid' (row locks held by another
 * transaction), 'Client:ClientRead' is not counted (idle in transaction shows as
 * 'idle in transaction' instead, counted separately).
 */
export class PgWaits {
  private counts = new Map<string, number>()
  private samples = 0
  private running = false
  private loop: Promise<void> | undefined

  constructor(private readonly c: pg.Client) {}

  start(): void {
    this.counts.clear()
    this.samples = 0
    this.running = true
    this.loop = (async () => {
      while (this.running) {
        const r = await this.c.query<{ w: string; n: string }>(
          `select case when state = 'idle in transaction' then 'idle in transaction'
                       else coalesce(wait_event_type || ':' || wait_event, 'CPU') end as w,
                  count(*) as n
             from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid()
              and state in ('active', 'idle in transaction')
              and backend_type = 'client backend'
            group by 1`,
        )
        this.samples++
        for (const row of r.rows)
          this.counts.set(row.w, (this.counts.get(row.w) ?? 0) + Number(row.n))
        await new Promise((res) => setTimeout(res, 50))
      }
    })()
  }

  /** Average sessions per state over the window, largest first. */
  async stop(): Promise<Record<string, number>> {
    this.running = false
    await this.loop
    const out: Record<string, number> = {}
    const entries = [...this.counts.entries()].sort((a, b) => b[1] - a[1])
    for (const [k, v] of entries) out[k] = round2(v / Math.max(1, this.samples))
    return out
  }
}
