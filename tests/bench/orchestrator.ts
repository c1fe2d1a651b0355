/**
 * The benchmark run: seed a world on the real API, then with one load process drive
 * (1) the bare-ws baseline, (2) one API process, (3) the durable baseline (bare ws that
 * commits every send to PostgreSQL first; PostgreSQL runs only), (4) two API processes
 * sharing the database, each through a knee search (the first two after an
 * idle-connection run); then the client crypto bench. Everything is measured in the same
 * run, so the ratios compare like with like on a noisy shared machine.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { createEmptyPostgresDb } from '@vs/api/testing'
import { runCryptoBench, type CryptoResult } from './crypto-bench.js'
import type { Profile } from './profiles.js'
import {
  CpuMeter,
  anonRssKb,
  benchDir,
  collectGarbage,
  round1,
  round2,
  runTs,
  startApi,
  startBaseline,
  type ApiServer,
  type Child,
  type CpuWindow,
} from './procs.js'
import { PgWaits, commitLatency } from './pgdiag.js'
import { coordinatorInvitation, seedWorld } from './seed.js'
import type { FromLoad, Ledger, RoomHeads, StepResult, ToLoad } from './types.js'

/** The load client's nice value: `BENCH_LOAD_NICE` (−20 … 19), else −10. */
function loadNice(): number {
  const v = process.env.BENCH_LOAD_NICE
  if (v === undefined || v === '') return -10
  const n = Number(v)
  if (!Number.isInteger(n) || n < -20 || n > 19)
    throw new Error(`BENCH_LOAD_NICE must be an integer from -20 to 19, not ${v}`)
  return n
}

export interface BenchOptions {
  profile: Profile
  /** PostgreSQL server URL; a fresh database is made and dropped. Unset: PGlite, one node. */
  databaseUrl: string | undefined
  /** Run the Chromium history bench (needs /usr/bin/chromium). */
  browser: boolean
  /** Progress lines. */
  log: (line: string) => void
  /**
   * Instead of the knee search: the bare server and one API process at these rates, each
   * `repeat` times in alternation; no two-process run, no browser (for quick comparisons).
   */
  probe?: { rates: number[]; repeat: number }
}

export interface MeasuredStep extends StepResult {
  ok: boolean
  /** The load client fell behind its own schedule (busy machine): the figures are suspect. */
  noisy: boolean
  cpu: CpuWindow
  /** Rows added to room_events during the step, per second of the step (PostgreSQL). */
  persistedPerS: number | null
  /** What the API's database sessions were doing: average sessions per wait state. */
  pgWaits: Record<string, number> | null
  /** The API processes' event-loop delay during the step (from /metrics), worst process. */
  loopLagMs: { p50: number; p99: number; max: number } | null
  /**
   * The API's message writer during the step (from /metrics, all processes): statements,
   * mean events per statement, mean statement time, mean and p99 (bucket bound) wait in
   * the writer's queue.
   */
  writer: WriterStats | null
}

export interface WriterStats {
  statements: number
  meanBatch: number
  meanStatementMs: number
  meanWaitMs: number
  p99WaitMs: number
}

/** Cumulative writer histograms, to subtract between two scrapes. */
interface WriterCounters {
  stmtCount: number
  stmtSum: number
  batchCount: number
  batchSum: number
  waitCount: number
  waitSum: number
  /** `le` bound (seconds) → cumulative count. */
  waitBuckets: Map<number, number>
}

function writerCounters(text: string): WriterCounters {
  const num = (re: RegExp) => {
    const m = re.exec(text)
    return m ? Number(m[1]) : 0
  }
  const waitBuckets = new Map<number, number>()
  for (const m of text.matchAll(/^vs_room_send_wait_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm))
    waitBuckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]))
  return {
    stmtCount: num(/^vs_room_append_seconds_count\{path="fast"\} (\S+)$/m),
    stmtSum: num(/^vs_room_append_seconds_sum\{path="fast"\} (\S+)$/m),
    batchCount: num(/^vs_room_append_batch_events_count (\S+)$/m),
    batchSum: num(/^vs_room_append_batch_events_sum (\S+)$/m),
    waitCount: num(/^vs_room_send_wait_seconds_count (\S+)$/m),
    waitSum: num(/^vs_room_send_wait_seconds_sum (\S+)$/m),
    waitBuckets,
  }
}

function writerStats(before: WriterCounters[], after: WriterCounters[]): WriterStats | null {
  if (after.length === 0 || after.length !== before.length) return null
  const d = (f: (c: WriterCounters) => number) =>
    after.reduce((n, a, i) => n + f(a) - f(before[i]!), 0)
  const stmts = d((c) => c.stmtCount)
  const batches = d((c) => c.batchCount)
  const waits = d((c) => c.waitCount)
  const bounds = [...(after[0]?.waitBuckets.keys() ?? [])].sort((a, b) => a - b)
  let p99 = Infinity
  for (const le of bounds) {
    if (d((c) => c.waitBuckets.get(le) ?? 0) >= 0.99 * waits) {
      p99 = le
      break
    }
  }
  return {
    statements: stmts,
    meanBatch: batches ? round2(d((c) => c.batchSum) / batches) : 0,
    meanStatementMs: stmts ? round2((d((c) => c.stmtSum) / stmts) * 1000) : 0,
    meanWaitMs: waits ? round2((d((c) => c.waitSum) / waits) * 1000) : 0,
    p99WaitMs: waits && Number.isFinite(p99) ? round2(p99 * 1000) : waits ? -1 : 0,
  }
}

/**
 * Event-loop delay (a scrape also resets its window) and the writer's counters from the
 * API's Prometheus metrics.
 */
async function scrape(
  url: string,
): Promise<{ lag: { p50: number; p99: number; max: number }; writer: WriterCounters } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text()
    const get = (name: string) => {
      const m = new RegExp(`^vs_nodejs_eventloop_lag_${name}_seconds ([0-9.e+-]+)$`, 'm').exec(text)
      return m ? round2(Number(m[1]) * 1000) : 0
    }
    return {
      lag: { p50: get('p50'), p99: get('p99'), max: get('max') },
      writer: writerCounters(text),
    }
  } catch {
    return null
  }
}

export interface IdleResult {
  /** Sockets measured: those connected after the first tenth (which stay connected). */
  conns: number
  connectMs: number
  rssBeforeKb: number
  rssAfterKb: number
  /** null when RSS did not grow (GC noise larger than the sockets' memory). */
  kbPerConn: number | null
  /** JS heap in use + external memory per connection, each after a full collection. */
  heapKbPerConn: number | null
}

export interface TargetResult {
  name: string
  processes: number
  /** Highest rate with p99 ≤ the limit and nothing lost (before the first confirmed miss). */
  knee: number
  /** Highest rate it keeps up with: nothing lost, p50 ≤ the limit, backlog gone in 0.5 s. */
  capacity: number
  steps: MeasuredStep[]
  idle: IdleResult | undefined
  /** After the last step: deliveries that never arrived (every member must reach the head). */
  missing: number
  /** Room heads in the database minus the highest seq any member saw (API only). */
  headGap: number
  noisySteps: number
  /** Messages acknowledged in the (uncounted) warm-up step. */
  warmupAcked: number
  /** Whether a knee search ran (not when the time budget was short). */
  searched: boolean
  /** The search stopped for time while this target still kept up: knee/capacity are lower bounds. */
  truncated: boolean
}

export interface BenchReport {
  profile: Profile['name']
  startedAt: string
  durationS: number
  machine: {
    cores: number
    cpu: string
    /** 1/5/15-minute load averages when the run started and ended (other work on the box). */
    loadAvgStart: number[]
    loadAvg: number[]
    node: string
    database: string
    /** One-row transaction commit on one connection, measured before the API runs. */
    commitMs: { p50: number; p99: number } | null
  }
  shape: {
    rooms: number
    members: number
    connections: number
    people: number
    envelopeBytes: number
  }
  seedS: number
  sealMs: number
  baseline: TargetResult
  api: TargetResult
  /** The durable baseline (PostgreSQL runs only): what durability alone costs here. */
  durable: TargetResult | undefined
  twoNode: TargetResult | undefined
  /** What the 50% and 80% steps are fractions of (the knee, or the capacity if no knee). */
  fractionBase: 'knee' | 'capacity'
  /** Messages acknowledged in API runs vs message rows in the database afterwards. */
  durability: { acked: number; persisted: number | null }
  /** The same for the durable baseline (its own table). */
  durableStore: { acked: number; persisted: number | null } | undefined
  crypto: CryptoResult
}

class LoadProcess {
  private waiter:
    | { expect: FromLoad['t']; resolve: (m: FromLoad) => void; reject: (e: Error) => void }
    | undefined

  private constructor(readonly child: Child) {
    child.child.on('message', (m: FromLoad) => {
      const w = this.waiter
      if (!w) return
      this.waiter = undefined
      if (m.t === 'error') w.reject(new Error(`load client: ${m.message}`))
      else if (m.t !== w.expect) w.reject(new Error(`load client answered ${m.t}, not ${w.expect}`))
      else w.resolve(m)
    })
    void child.exited.then((code) =>
      this.waiter?.reject(new Error(`load client exited (${code}): ${child.output()}`)),
    )
  }

  /**
   * The load client runs at a higher priority (nice −10, `BENCH_LOAD_NICE`) when allowed: on a shared,
   * busy machine it must keep its send schedule and read receipts promptly, or its own
   * delays would be counted as the server's. The servers run at normal priority. With
   * BENCH_CPU_PROF=<dir> it writes a V8 CPU profile there too; with BENCH_TRACE=<dir>, a
   * CSV of every message's latencies per step (see load-client.ts).
   */
  static start(): LoadProcess {
    const prof = process.env.BENCH_CPU_PROF
    return new LoadProcess(
      runTs(
        path.join(benchDir, 'load-client.ts'),
        [],
        process.env.BENCH_TRACE ? { BENCH_TRACE: path.resolve(process.env.BENCH_TRACE) } : {},
        {
          ipc: true,
          keepOutput: 16_384,
          nice: loadNice(),
          nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : [],
        },
      ),
    )
  }

  get pid(): number {
    return this.child.pid
  }

  ask<T extends FromLoad['t']>(msg: ToLoad, expect: T): Promise<Extract<FromLoad, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiter = { expect, resolve: resolve as (m: FromLoad) => void, reject }
      this.child.child.send(msg)
    })
  }

  async exit(): Promise<void> {
    if (this.child.child.connected) {
      // Let it exit on its own first (a CPU profile is written on a clean exit only).
      this.child.child.send({ t: 'exit' } satisfies ToLoad)
      await Promise.race([this.child.exited, sleep(5000)])
    }
    await this.child.stop()
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** CLOCK_MONOTONIC in µs: the clock of V8's CPU profiles (`startTime`, `timeDeltas`). */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

/**
 * With BENCH_CPU_PROF, each step's window goes to `steps.jsonl` there, on the profiles'
 * clock, with the pids of the target's processes: a profile can be cut to one target's
 * steps (`pnpm tsx tests/bench/profile-steps.ts`).
 */
async function noteStep(
  tg: { name: string; servers: { pid: number }[] },
  label: string,
  rate: number,
  startUs: number,
): Promise<void> {
  const dir = process.env.BENCH_CPU_PROF
  if (!dir) return
  const line = {
    target: tg.name,
    pids: tg.servers.map((s) => s.pid),
    label,
    rate,
    startUs,
    endUs: monotonicUs(),
  }
  await appendFile(path.join(path.resolve(dir), 'steps.jsonl'), JSON.stringify(line) + '\n')
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const p = o.profile
  const started = Date.now()
  const loadAvgStart = loadavg().map(round2)
  const deadline = started + p.budgetMs
  const t = () => `${Math.round((Date.now() - started) / 1000)}s`.padStart(4)
  const log = (s: string) => o.log(`[${t()}] ${s}`)
  const tmp = await mkdtemp(path.join(tmpdir(), 'vs-bench-'))
  if (process.env.BENCH_CPU_PROF)
    await mkdir(path.resolve(process.env.BENCH_CPU_PROF), { recursive: true })
  const servers: ApiServer[] = []
  let load: LoadProcess | undefined
  let pgc: pg.Client | undefined
  let db: { url: string; drop: () => Promise<void> } | undefined
  try {
    const env: Record<string, string> = {
      LOG_LEVEL: 'warn',
      RATE_LIMIT_MAX: '1000000',
      TRUST_PROXY: 'true',
      KEYS_DIR: path.join(tmp, 'keys'),
      // Both processes must issue and accept the same tokens.
      PUBLIC_URL: 'http://bench.localhost',
      // The idle run opens every device's socket 1 + idleCopies times.
      WS_MAX_CONNECTIONS_PER_USER: String(p.devicesPerPerson * (1 + p.idleCopies)),
    }
    if (o.databaseUrl) {
      db = await createEmptyPostgresDb(o.databaseUrl)
      env.DATABASE_URL = db.url
    } else {
      env.DATA_DIR = path.join(tmp, 'data')
    }
    const twoNode = p.twoNode && !!db

    // ---- seed
    log(
      `seeding ${p.rooms} rooms × ${p.members} member devices on ${db ? 'PostgreSQL' : 'PGlite'}…`,
    )
    const seedStart = Date.now()
    const code = await coordinatorInvitation(env)
    const seeder = await startApi(env)
    servers.push(seeder)
    const setup = await seedWorld(seeder.url, code, p, log)
    await seeder.stop()
    servers.splice(servers.indexOf(seeder), 1)
    const seedS = round1((Date.now() - seedStart) / 1000)
    const setupFile = path.join(tmp, 'setup.json')
    await writeFile(setupFile, JSON.stringify(setup))
    if (db) {
      pgc = new pg.Client({ connectionString: db.url })
      await pgc.connect()
    }
    // Backends of the benchmark database (pool connections come and go: refreshed
    // before each step and every second during it).
    const pgPids: number[] = []
    let refreshing = false
    const refreshPgPids = async () => {
      if (!pgc || !db || refreshing) return
      refreshing = true
      try {
        const r = await pgc.query<{ pid: number }>(
          'select pid from pg_stat_activity where datname = current_database()',
        )
        for (const x of r.rows) if (!pgPids.includes(x.pid)) pgPids.push(x.pid)
      } finally {
        refreshing = false
      }
    }
    /** Message rows stored by the API, or by the durable baseline (its own table). */
    const messageRows = async (ledger: Ledger = 'api'): Promise<number | null> => {
      if (!pgc) return null
      const r = await pgc.query<{ n: string }>(
        ledger === 'durable'
          ? 'select count(*) as n from bench_durable_events'
          : "select count(*) as n from room_events where kind = 'message'",
      )
      return Number(r.rows[0]!.n)
    }

    log(`seeded in ${seedS} s; load client sealing ${setup.conns.length * p.pool} envelopes…`)
    const lp = LoadProcess.start()
    load = lp
    const ready = await lp.ask({ t: 'init', setupFile }, 'ready')
    log(`sealed ${ready.sealed} envelopes with the SDK in ${ready.sealMs} ms`)

    // ---- targets: a connection set each, measured step by step
    interface Target extends TargetResult {
      set: string
      ledger: Ledger
      servers: ApiServer[]
    }
    const meterFor = (tg: Target) =>
      new CpuMeter(() => ({
        server: tg.servers.map((s) => s.pid),
        load: [lp.pid],
        postgres: tg.ledger === 'baseline' ? [] : pgPids,
      }))
    /** Anonymous RSS of a target's processes (see `anonRssKb`). */
    const serverRss = (tg: Target) => tg.servers.reduce((n, s) => n + (anonRssKb(s.pid) ?? 0), 0)

    /** Connects a target's sockets; on a fresh process, measures RSS per idle socket. */
    const connect = async (
      name: string,
      set: string,
      ledger: Ledger,
      tservers: ApiServer[],
      idle: boolean,
    ): Promise<Target> => {
      const tg: Target = {
        name,
        set,
        ledger,
        servers: tservers,
        processes: tservers.length,
        knee: 0,
        capacity: 0,
        steps: [],
        idle: undefined,
        missing: 0,
        headGap: 0,
        noisySteps: 0,
        warmupAcked: 0,
        searched: false,
        truncated: false,
      }
      // RSS moves with garbage collection: the API's start-up garbage is tens of MiB, and
      // connecting allocates a lot of short-lived garbage (token checks, queries). So each
      // figure is taken after a full collection (forced through the process's inspector),
      // as the lowest RSS over several idle seconds. A tenth of the sockets connect first
      // and stay: the connect path's one-time costs (the code compiled for it: ~1.5 MiB on
      // the API, which would read as ~1.5 KiB per connection) fall before the first figure,
      // and the figure is what each of the other nine tenths adds.
      const snapshots = process.env.BENCH_HEAP_SNAPSHOT
      const rss = async (n: number, label: string) => {
        // Collect first (through each process's inspector): what is left is what stays.
        const heaps = await Promise.all(
          tservers.map((sv) =>
            collectGarbage(
              sv,
              snapshots
                ? path.resolve(snapshots, `${name}-${sv.pid}-${label}.heapsnapshot`)
                : undefined,
            ),
          ),
        )
        const xs: number[] = []
        for (let i = 0; i < n; i++) {
          xs.push(serverRss(tg))
          await sleep(250)
        }
        const heap = heaps.every((h) => h !== null) ? heaps.reduce((a, h) => a + h!, 0) : null
        return { rss: Math.min(...xs), heap }
      }
      const connect = (upTo?: number) =>
        lp.ask(
          {
            t: 'connect',
            set,
            ledger,
            urls: tservers.map((s) => s.url),
            auth: ledger === 'api',
            ...(upTo === undefined ? {} : { upTo }),
          },
          'connected',
        )
      if (idle) {
        await connect(Math.ceil(setup.conns.length / 10))
        await sleep(1000)
      }
      const before = idle ? await rss(p.idleSettleMs / 250, 'before') : { rss: 0, heap: null }
      const c = await connect()
      let { conns, ms } = c
      if (idle) {
        // The larger idle world: every device's socket again, `idleCopies` times, as
        // sets of their own that are closed once measured.
        const copies = Array.from({ length: p.idleCopies }, (_, k) => `${set}~idle${k + 1}`)
        for (const copy of copies) {
          const e = await lp.ask(
            {
              t: 'connect',
              set: copy,
              ledger,
              urls: tservers.map((s) => s.url),
              auth: ledger === 'api',
            },
            'connected',
          )
          conns += e.conns
          ms += e.ms
        }
        await sleep(2000)
        const after = await rss(p.idleSettleMs / 250, 'after')
        for (const copy of copies) await lp.ask({ t: 'disconnect', set: copy }, 'disconnected')
        tg.idle = {
          conns,
          connectMs: ms,
          rssBeforeKb: before.rss,
          rssAfterKb: after.rss,
          // The process can give memory back to the system between the two samples (V8
          // shrinking its heap, the allocator trimming) by more than the sockets take:
          // then there is no figure, rather than a negative one.
          kbPerConn: after.rss > before.rss ? round2((after.rss - before.rss) / conns) : null,
          heapKbPerConn:
            before.heap !== null && after.heap !== null && after.heap > before.heap
              ? round2((after.heap - before.heap) / conns)
              : null,
        }
        log(
          `${name}: ${conns} more idle ${ledger === 'api' ? 'authenticated ' : ''}sockets: ` +
            `RSS ${Math.round(before.rss / 1024)} → ${Math.round(after.rss / 1024)} MiB, ` +
            `${tg.idle.kbPerConn ?? 'n/a (memory given back)'} KiB per connection; ` +
            `JS heap + buffers ${tg.idle.heapKbPerConn ?? 'n/a'} KiB per connection (connect ${ms} ms)`,
        )
      } else {
        log(`${name}: ${c.conns} sockets connected in ${c.ms} ms`)
      }
      return tg
    }

    const settle = async (tg: Target) => {
      const r = await lp.ask({ t: 'settle', set: tg.set, timeoutMs: 30_000 }, 'settled')
      return r.rooms
    }

    const runStep = async (tg: Target, rate: number, label: string): Promise<MeasuredStep> => {
      await refreshPgPids()
      const api = tg.ledger === 'api'
      const stores = tg.ledger !== 'baseline'
      const rows0 = stores ? await messageRows(tg.ledger) : null
      const waits = stores && pgc ? new PgWaits(pgc) : undefined
      waits?.start()
      const scraped0 = api ? await Promise.all(tg.servers.map((sv) => scrape(sv.url))) : []
      const meter = meterFor(tg)
      meter.begin()
      const pids = setInterval(() => void refreshPgPids().catch(() => {}), 1000)
      const startUs = monotonicUs()
      const { result } = await lp
        .ask(
          { t: 'step', set: tg.set, label, rate, durationMs: p.stepMs, drainMs: p.drainMs },
          'step',
        )
        .finally(() => clearInterval(pids))
      const cpu = meter.end()
      await noteStep(tg, label, rate, startUs)
      const pgWaits = waits ? await waits.stop() : null
      const scraped1 = api ? await Promise.all(tg.servers.map((sv) => scrape(sv.url))) : []
      const loopLagMs = scraped1.reduce<MeasuredStep['loopLagMs']>(
        (worst, l) => (l && (!worst || l.lag.p99 > worst.p99) ? l.lag : worst),
        null,
      )
      const writer =
        api && scraped0.every(Boolean) && scraped1.every(Boolean)
          ? writerStats(
              scraped0.map((x) => x!.writer),
              scraped1.map((x) => x!.writer),
            )
          : null
      const rows1 = stores ? await messageRows(tg.ledger) : null
      const ok =
        result.latency.p99 <= p.p99LimitMs &&
        result.lost === 0 &&
        result.duplicates === 0 &&
        result.outOfOrder === 0 &&
        result.mismatched === 0 &&
        Object.keys(result.errors).length === 0
      const noisy = result.sendLagP99Ms > p.maxSendLagMs
      if (noisy) tg.noisySteps++
      const s: MeasuredStep = {
        ...result,
        ok,
        noisy,
        cpu,
        persistedPerS:
          rows0 !== null && rows1 !== null ? Math.round((rows1 - rows0) / (p.stepMs / 1000)) : null,
        pgWaits,
        loopLagMs,
        writer,
      }
      tg.steps.push(s)
      const errs = Object.entries(result.errors)
        .map(([k, v]) => `${k}×${v}`)
        .join(' ')
      log(
        `${tg.name.padEnd(8)} ${label.padEnd(8)} ${String(rate).padStart(6)} msg/s: ` +
          `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ` +
          `lost ${result.lost}${result.duplicates ? `, dup ${result.duplicates}` : ''}` +
          `${errs ? `, errors ${errs}` : ''}; cpu server ${cpu.cpuPct.server}% ` +
          `pg ${cpu.cpuPct.postgres}% load ${cpu.cpuPct.load}% machine ${cpu.machinePct}% ` +
          `(steal ${cpu.stealPct}%)` +
          `; server writes ${round2((cpu.writes.server ?? 0) / Math.max(1, result.sent))}/msg` +
          `${noisy ? ` [noisy: send lag p99 ${result.sendLagP99Ms} ms]` : ''} ${ok ? '✓' : '✗'}` +
          (loopLagMs ? `; event loop p99 ${loopLagMs.p99} ms` : '') +
          (writer
            ? `; writer ${writer.statements} stmts × ${writer.meanBatch}, ` +
              `${writer.meanStatementMs} ms each, wait ${writer.meanWaitMs}/${writer.p99WaitMs} ms`
            : '') +
          (pgWaits && Object.keys(pgWaits).length
            ? `; pg sessions: ${Object.entries(pgWaits)
                .slice(0, 3)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}`
            : ''),
      )
      if (!ok) {
        // Let any backlog drain before the next step.
        await settle(tg)
        await sleep(500)
      }
      return s
    }

    const warmup = async (tg: Target) => {
      if (p.warmupMs <= 0) return
      const { result } = await lp.ask(
        {
          t: 'step',
          set: tg.set,
          label: 'warmup',
          rate: p.rates[0]!,
          durationMs: p.warmupMs,
          drainMs: p.drainMs,
        },
        'step',
      )
      tg.warmupAcked += result.acked
      log(
        `${tg.name.padEnd(8)} warmup   ${String(result.rate).padStart(6)} msg/s: ` +
          `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms (not counted)`,
      )
      await settle(tg)
    }

    /** Keeps up: no loss, median below the limit, the backlog gone within 0.5 s. */
    const keepsUp = (st: MeasuredStep) =>
      st.lost === 0 &&
      st.duplicates === 0 &&
      st.mismatched === 0 &&
      Object.keys(st.errors).length === 0 &&
      st.latency.p50 <= p.p99LimitMs &&
      st.tailMs <= 500

    /**
     * One rate for one target. While the knee is still open a p99 failure is re-run
     * (`confirm`), once more when an attempt was noisy (the load client fell behind its
     * schedule); above the knee a step runs once more only if it did not keep up.
     */
    const attempt = async (
      tg: Target,
      rate: number,
      label: string,
      kneeOpen: boolean,
      reserveMs: number,
    ): Promise<{ ok: boolean; keepsUp: boolean }> => {
      const tries: MeasuredStep[] = [await runStep(tg, rate, label)]
      const best = () => ({ ok: tries.some((x) => x.ok), keepsUp: tries.some(keepsUp) })
      const time = () => p.confirmFailures && Date.now() < deadline - reserveMs
      if (kneeOpen && !tries[0]!.ok && time()) {
        tries.push(await runStep(tg, rate, 'confirm'))
        if (!best().ok && tries.some((x) => x.noisy) && time())
          tries.push(await runStep(tg, rate, 'confirm'))
      } else if (!kneeOpen && !best().keepsUp && time()) {
        tries.push(await runStep(tg, rate, 'confirm'))
      }
      return best()
    }

    /**
     * Knee search for several targets in lockstep: at each rate every target still
     * running takes its turn (alternating who goes first), so drifts in the machine's
     * background load hit them alike. The knee (p99 ≤ limit, nothing lost) is the last
     * rate that passed before the first confirmed failure; the search goes on above it
     * to find the capacity (the highest rate the target keeps up with), which a busy
     * machine's scheduling stalls do not decide. Then bisection of both boundaries.
     */
    const search = async (targets: Target[], reserveMs: number, startAt = 0) => {
      for (const tg of targets) tg.searched = true
      const kneeFail = new Map<Target, number>()
      const capFail = new Map<Target, number>()
      let turn = 0
      for (const rate of p.rates.filter((r) => r >= startAt)) {
        if (Date.now() > deadline - reserveMs) {
          log('time budget: stopping the search here')
          for (const tg of targets) if (!capFail.has(tg)) tg.truncated = true
          break
        }
        const live = targets.filter((tg) => !capFail.has(tg))
        if (live.length === 0) break
        const order = turn++ % 2 === 0 ? live : [...live].reverse()
        for (const tg of order) {
          const open = !kneeFail.has(tg)
          const r = await attempt(tg, rate, 'search', open, reserveMs)
          if (open) {
            if (r.ok) tg.knee = rate
            else kneeFail.set(tg, rate)
          }
          if (r.keepsUp) tg.capacity = rate
          else capFail.set(tg, rate)
        }
      }
      for (let i = 0; i < p.refine; i++) {
        for (const tg of targets) {
          const hi = kneeFail.get(tg)
          if (hi === undefined || Date.now() > deadline - reserveMs) continue
          const mid = Math.round((tg.knee + hi) / 2 / 50) * 50
          if (mid <= tg.knee || mid >= hi) continue
          if ((await attempt(tg, mid, 'refine', true, reserveMs)).ok) tg.knee = mid
          else kneeFail.set(tg, mid)
        }
      }
      for (const tg of targets) {
        const hi = capFail.get(tg)
        if (hi === undefined || p.refine === 0 || Date.now() > deadline - reserveMs) continue
        const mid = Math.round((tg.capacity + hi) / 2 / 50) * 50
        if (mid <= tg.capacity || mid >= hi) continue
        if ((await attempt(tg, mid, 'refine', false, reserveMs)).keepsUp) tg.capacity = mid
      }
      for (const tg of targets)
        log(
          `${tg.name}: knee ${tg.knee} msg/s (p99 ≤ ${p.p99LimitMs} ms), capacity ${tg.capacity} msg/s`,
        )
    }

    const finish = async (tg: Target) => {
      const rooms = await settle(tg)
      tg.missing = rooms.reduce((n, r) => n + r.behind, 0)
      if (tg.ledger !== 'baseline' && pgc) {
        const r = await pgc.query<{ id: string; last_seq: number }>(
          tg.ledger === 'api'
            ? 'select id, last_seq from rooms'
            : 'select room as id, max(seq) as last_seq from bench_durable_events group by room',
        )
        const byId = new Map<string, RoomHeads>(rooms.map((x) => [x.roomId, x]))
        tg.headGap = 0
        for (const row of r.rows) {
          const h = byId.get(row.id)
          if (h) tg.headGap += row.last_seq - h.max
        }
      }
      await lp.ask({ t: 'disconnect', set: tg.set }, 'disconnected')
    }

    const result = (tg: Target): TargetResult => ({
      name: tg.name,
      processes: tg.processes,
      knee: tg.knee,
      capacity: tg.capacity,
      steps: tg.steps,
      idle: tg.idle,
      missing: tg.missing,
      headGap: tg.headGap,
      noisySteps: tg.noisySteps,
      warmupAcked: tg.warmupAcked,
      searched: tg.searched,
      truncated: tg.truncated,
    })

    // ---- the baseline and one API process, side by side
    log('baseline: bare ws broadcast server')
    const base = await startBaseline()
    servers.push(base)
    const baseline = await connect('baseline', 'baseline', 'baseline', [base], p.idle)
    let commitMs: { p50: number; p99: number } | null = null
    if (pgc) {
      commitMs = await commitLatency(pgc)
      log(
        `PostgreSQL commit (one row, one connection): p50 ${commitMs.p50} ms, p99 ${commitMs.p99} ms`,
      )
    }
    log('api: one API process on the database')
    const a = await startApi(env)
    servers.push(a)
    const api = await connect('api', 'api', 'api', [a], p.idle)
    let durable: Target | undefined
    let dur: ApiServer | undefined
    if (db && p.durableBaseline) {
      log('durable: bare ws that commits every send to PostgreSQL before delivering it')
      dur = await startBaseline(db.url)
      servers.push(dur)
      durable = await connect('durable', 'durable', 'durable', [dur], false)
    }
    const side = durable ? [baseline, api, durable] : [baseline, api]
    for (const tg of side) await warmup(tg)
    if (o.probe) {
      for (const rate of o.probe.rates)
        for (let i = 0; i < o.probe.repeat; i++)
          for (const tg of i % 2 === 0 ? side : [...side].reverse())
            await runStep(tg, rate, 'probe')
    } else await search(side, p.pairReserveMs)
    // Latency below the knee; the baseline at the same rates shows the cost of durability.
    // With no knee at all (every rate missed p99 on a busy machine) the fractions are of
    // the capacity instead, and the report says so.
    const fractionBase = api.knee > 0 ? 'knee' : 'capacity'
    const ref = api.knee > 0 ? api.knee : api.capacity
    for (const f of [0.5, 0.8]) {
      const rate = Math.max(1, Math.round(ref * f))
      if (ref <= 0 || o.probe) break
      await runStep(api, rate, `${Math.round(f * 100)}%`)
      await runStep(baseline, rate, `api${Math.round(f * 100)}%`)
      if (durable) await runStep(durable, rate, `api${Math.round(f * 100)}%`)
    }
    await finish(baseline)
    await base.stop()
    servers.splice(servers.indexOf(base), 1)
    let durableStore: BenchReport['durableStore']
    if (durable && dur) {
      await finish(durable)
      await dur.stop()
      servers.splice(servers.indexOf(dur), 1)
      durableStore = {
        acked: durable.steps.reduce((n, s) => n + s.acked, 0) + durable.warmupAcked,
        persisted: await messageRows('durable'),
      }
    }
    await finish(api)

    // ---- two API processes: every room's members split across them
    let two: Target | undefined
    if (twoNode && !o.probe) {
      log('api×2: two API processes, members of every room split across them')
      const b = await startApi(env)
      servers.push(b)
      two = await connect('api×2', 'api2', 'api', [a, b], false)
      const half = Math.max(1, Math.round(ref * 0.5))
      await warmup(two)
      if (ref > 0) await runStep(two, half, '50%')
      if (Date.now() < deadline - p.twoNodeSearchMs) await search([two], p.tailReserveMs, half)
      else log('api×2: not enough time left for a knee search; measured at 50% only')
      await finish(two)
      await b.stop()
      servers.splice(servers.indexOf(b), 1)
    }
    await a.stop()
    servers.splice(servers.indexOf(a), 1)

    const acked =
      [...api.steps, ...(two?.steps ?? [])].reduce((n, s) => n + s.acked, 0) +
      api.warmupAcked +
      (two?.warmupAcked ?? 0)
    const persisted = await messageRows()
    await lp.exit()
    load = undefined

    // ---- client crypto
    log('crypto: SDK seal/open vs bare libsodium (Node), history in Chromium')
    const crypto = await runCryptoBench({
      messages: p.cryptoMessages,
      historyMessages: o.browser ? p.historyMessages : 0,
      plaintextBytes: p.plaintextBytes,
      log,
    })

    return {
      profile: p.name,
      startedAt: new Date(started).toISOString(),
      durationS: round1((Date.now() - started) / 1000),
      machine: {
        cores: availableParallelism(),
        cpu: cpus()[0]?.model ?? 'unknown',
        loadAvgStart,
        loadAvg: loadavg().map(round2),
        node: process.version,
        database: db ? 'PostgreSQL' : 'PGlite',
        commitMs,
      },
      shape: {
        rooms: p.rooms,
        members: p.members,
        connections: setup.conns.length,
        people: new Set(setup.conns.map((c) => c.userId)).size,
        envelopeBytes: ready.envelopeBytes,
      },
      seedS,
      sealMs: ready.sealMs,
      baseline: result(baseline),
      api: result(api),
      durable: durable ? result(durable) : undefined,
      twoNode: two ? result(two) : undefined,
      durability: { acked, persisted },
      durableStore,
      fractionBase,
      crypto,
    }
  } finally {
    await load?.exit().catch(() => {})
    for (const s of servers) await s.stop().catch(() => {})
    await pgc?.end().catch(() => {})
    if (db && process.env.BENCH_KEEP_DB) o.log(`kept database ${db.url}`)
    else await db?.drop().catch(() => {})
    await rm(tmp, { recursive: true, force: true })
  }
}
