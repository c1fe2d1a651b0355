/**
 * Child processes of the benchmark (API servers, the bare-ws baseline, the load client)
 * and their CPU and memory, read from /proc. Each child is started as
 * `node --import tsx <script>` so its pid is the process doing the work (not a tsx
 * wrapper), which is what CPU and RSS must be read from.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setPriority } from 'node:os'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

export const benchDir = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(benchDir, '..', '..')
export const apiEntry = path.join(repoRoot, 'services', 'api', 'src', 'index.ts')
export const cliEntry = path.join(repoRoot, 'services', 'api', 'src', 'cli.ts')
const tsxImport = import.meta.resolve('tsx')

export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const addr = srv.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  srv.close()
  await once(srv, 'close')
  return port
}

export interface Child {
  child: ChildProcess
  pid: number
  output(): string
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Runs a TypeScript file in a plain node process (tsx as a loader, not as a wrapper). */
export function runTs(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
  opts: { ipc?: boolean; keepOutput?: number; nodeArgs?: string[]; nice?: number } = {},
): Child {
  const stdio: StdioOptions = opts.ipc
    ? ['ignore', 'pipe', 'pipe', 'ipc']
    : ['ignore', 'pipe', 'pipe']
  const nodeArgs = opts.nodeArgs ?? []
  const child = spawn(process.execPath, [...nodeArgs, '--import', tsxImport, script, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio,
    cwd: repoRoot,
  })
  if (opts.nice && child.pid) {
    try {
      setPriority(child.pid, opts.nice)
    } catch {
      // Not permitted (no CAP_SYS_NICE): run at normal priority.
    }
  }
  const keep = opts.keepOutput ?? 64 * 1024
  let out = ''
  const add = (d: Buffer) => {
    out += d.toString()
    if (out.length > keep) out = out.slice(-keep)
  }
  child.stdout!.on('data', add)
  child.stderr!.on('data', add)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(t)
      return code
    },
  }
}

/** Polls `url` until it answers 2xx, or throws with the child's output. */
export async function waitHttp(url: string, c: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exitCode: number | null | undefined
  void c.exited.then((code) => (exitCode = code))
  for (;;) {
    if (exitCode !== undefined) throw new Error(`process exited with ${exitCode}: ${c.output()}`)
    try {
      const res = await fetch(url)
      if (res.ok) return
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await c.stop('SIGKILL')
      throw new Error(`${url} did not answer in time: ${c.output()}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

export interface ApiServer extends Child {
  url: string
  port: number
  /** Where the process's inspector listens once `collectGarbage` has opened it. */
  inspectPort: number
}

/**
 * A full garbage collection in another Node process, through its inspector: SIGUSR1 opens
 * the inspector (on the port given by --inspect-port at start), and the DevTools protocol's
 * `HeapProfiler.collectGarbage` runs the collection. For memory figures that garbage
 * waiting to be collected would otherwise blur. Returns the process's JS heap in use plus
 * its memory outside the heap (Buffers, ArrayBuffers) after the collection, in KiB, or
 * null if it could not be done. With `snapshotTo`, also writes a heap snapshot there (open
 * it in Chrome DevTools, or compare two with `heap-diff.ts`).
 */
export async function collectGarbage(
  s: ApiServer,
  snapshotTo?: string,
  timeoutMs = 5000,
): Promise<number | null> {
  const deadline = Date.now() + timeoutMs + (snapshotTo ? 60_000 : 0)
  try {
    process.kill(s.pid, 'SIGUSR1')
    let url: string | undefined
    while (!url && Date.now() < deadline) {
      try {
        const list = (await (
          await fetch(`http://127.0.0.1:${s.inspectPort}/json/list`)
        ).json()) as Array<{ webSocketDebuggerUrl?: string }>
        url = list[0]?.webSocketDebuggerUrl
      } catch {
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    if (!url) return null
    const ws = new WebSocket(url)
    try {
      await once(ws, 'open')
      const replies = new Map<number, (v: unknown) => void>()
      const chunks: string[] = []
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as {
          id?: number
          result?: unknown
          method?: string
          params?: { chunk?: string }
        }
        if (m.id !== undefined) replies.get(m.id)?.(m.result)
        else if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params!.chunk!)
      })
      const call = (id: number, method: string, params?: object) =>
        Promise.race([
          new Promise<unknown>((resolve) => {
            replies.set(id, resolve)
            ws.send(JSON.stringify({ id, method, params }))
          }),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('inspector timeout')), deadline - Date.now()),
          ),
        ])
      await call(1, 'HeapProfiler.collectGarbage')
      // Then the collection V8 runs before giving up on an allocation (`--expose-gc`, which
      // the bench gives both servers): it also shrinks the young generation and returns
      // free pages to the system, which otherwise happens some seconds later, on V8's own
      // schedule, and would land in one RSS sample and not the other.
      await call(4, 'Runtime.evaluate', {
        expression:
          "typeof gc === 'function' && gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })",
      })
      if (snapshotTo) {
        // Diagnostics (BENCH_HEAP_SNAPSHOT): a heap snapshot of what survived the collection.
        await call(3, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false })
        mkdirSync(path.dirname(snapshotTo), { recursive: true })
        writeFileSync(snapshotTo, chunks.join(''))
      }
      const r = (await call(2, 'Runtime.evaluate', {
        expression: 'JSON.stringify(process.memoryUsage())',
        returnByValue: true,
      })) as { result?: { value?: string } }
      const m = JSON.parse(r.result?.value ?? 'null') as { heapUsed: number; external: number }
      return m ? Math.round((m.heapUsed + m.external) / 1024) : null
    } finally {
      ws.close()
    }
  } catch {
    return null
  }
}

/**
 * V8 flags for both servers. `--expose-gc`: `collectGarbage` runs V8's last-resort
 * collection. `--no-memory-reducer`: V8 otherwise shrinks an idle heap on a timer of its
 * own, and under tsx there is a second heap the inspector does not reach (the thread that
 * runs the module loader hooks): about 47 MiB of start-up garbage that went back to the
 * system 20–40 s after start, often between the two RSS samples of the idle run, which then
 * had no figure. With the reducer off that memory stays put (RssAnon flat within 1 MiB
 * over a minute, where it fell twice by ~47 MiB with the reducer on). It only acts while
 * a process is idle, so the load steps are not affected.
 */
const serverNodeArgs = ['--expose-gc', '--no-memory-reducer']

/**
 * Extra environment for the API processes, for A/B runs of a setting: BENCH_API_ENV holds
 * space-separated NAME=value pairs (the benchmark passes no other variable of its own
 * environment on to the servers).
 */
export function apiEnvFromBench(spec = process.env.BENCH_API_ENV ?? ''): Record<string, string> {
  const env: Record<string, string> = {}
  for (const pair of spec.split(' ').filter(Boolean)) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new Error(`BENCH_API_ENV: expected NAME=value, got ${pair}`)
    env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

/**
 * Starts the real API process and waits until it is ready. With BENCH_CPU_PROF=<dir> the
 * process writes a V8 CPU profile there when it exits (open it in Chrome DevTools).
 */
export async function startApi(env: Record<string, string | undefined>): Promise<ApiServer> {
  const port = await freePort()
  const inspectPort = await freePort()
  const prof = process.env.BENCH_CPU_PROF
  const extra = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const outDir = process.env.BENCH_API_OUTPUT
  const c = runTs(
    apiEntry,
    [],
    { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env, ...apiEnvFromBench() },
    {
      nodeArgs: [
        `--inspect-port=127.0.0.1:${inspectPort}`,
        ...serverNodeArgs,
        ...extra,
        ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : []),
      ],
      ...(outDir ? { keepOutput: 64 * 1024 * 1024 } : {}),
    },
  )
  if (outDir) {
    // Diagnostics (e.g. BENCH_API_NODE_ARGS=--trace-gc): the process's whole output.
    void c.exited.then(() => {
      mkdirSync(outDir, { recursive: true })
      writeFileSync(path.join(outDir, `api-${c.pid}.log`), c.output())
    })
  }
  const url = `http://127.0.0.1:${port}`
  await waitHttp(`${url}/readyz`, c)
  return { ...c, url, port, inspectPort }
}

/**
 * Starts the bare `ws` broadcast server (no auth, no persistence), or with `databaseUrl`
 * the durable baseline (see baseline-server.ts); BENCH_CPU_PROF as above,
 * BENCH_BASELINE_NODE_ARGS like BENCH_API_NODE_ARGS (for A/B runs of a V8 flag on both).
 */
export async function startBaseline(databaseUrl?: string): Promise<ApiServer> {
  const port = await freePort()
  const inspectPort = await freePort()
  const prof = process.env.BENCH_CPU_PROF
  const extra = (process.env.BENCH_BASELINE_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const c = runTs(
    path.join(benchDir, 'baseline-server.ts'),
    [],
    { PORT: String(port), DATABASE_URL: databaseUrl },
    {
      nodeArgs: [
        `--inspect-port=127.0.0.1:${inspectPort}`,
        ...serverNodeArgs,
        ...extra,
        ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : []),
      ],
    },
  )
  const url = `http://127.0.0.1:${port}`
  await waitHttp(`${url}/healthz`, c)
  return { ...c, url, port, inspectPort }
}

// ---------------------------------------------------------------------------------------
// /proc

/** USER_HZ: 100 on every mainstream Linux configuration (`getconf CLK_TCK`). */
const clkTck = 100

export interface ProcSample {
  /** CPU seconds (user + system) since the process started. */
  cpuS: number
  rssKb: number
  /** Write system calls (write, writev, sendmsg, …) since the process started. */
  writes: number
}

/**
 * Anonymous resident memory (`RssAnon` in /proc/<pid>/status): the heap, buffers and
 * native allocations that connections take, without the program's file-backed pages
 * (its code and data files, shared between processes and evictable: this machine runs a
 * DAMON `pageout` scheme that drops cold pages whenever it likes).
 */
export function anonRssKb(pid: number): number | undefined {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) start at ") ".
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(rest[11])
    const stime = Number(rest[12])
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    const w = /^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))
    return {
      cpuS: (utime + stime) / clkTck,
      rssKb: m ? Number(m[1]) : 0,
      writes: w ? Number(w[1]) : 0,
    }
  } catch {
    return undefined
  }
}

/**
 * Busy, stolen and total jiffies of the whole machine. Steal is time the hypervisor gave a
 * virtual CPU's turn to another guest (counted as busy too: it is not this machine's idle).
 */
function readMachine(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  const total = v.reduce((a, b) => a + b, 0)
  return { busy: total - idle, steal: v[7] ?? 0, total }
}

export interface CpuWindow {
  /** CPU use per named group in percent of one core over the window. */
  cpuPct: Record<string, number>
  /** Peak RSS per named group in KiB seen while sampling. */
  peakRssKb: Record<string, number>
  /**
   * Write system calls per named group over the window: on a fan-out server one per
   * socket write, so against the deliveries it shows how many frames share a write.
   */
  writes: Record<string, number>
  /** Whole-machine busy share, percent of all cores. */
  machinePct: number
  /**
   * Share of all cores' time the hypervisor ran other guests instead (percent): a step
   * with a few percent of it ran on a slower machine than its neighbours.
   */
  stealPct: number
}

/**
 * Measures CPU of groups of processes over a window; `pids` is re-evaluated at each
 * sample so short-lived processes (PostgreSQL backends) are caught.
 */
export class CpuMeter {
  private start = new Map<number, ProcSample>()
  private last = new Map<number, ProcSample>()
  private peak: Record<string, number> = {}
  private t0 = 0
  private m0 = { busy: 0, steal: 0, total: 0 }
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly groups: () => Record<string, number[]>) {}

  begin(): void {
    this.start.clear()
    this.last.clear()
    this.peak = {}
    this.t0 = performance.now()
    this.m0 = readMachine()
    this.sample()
    this.timer = setInterval(() => this.sample(), 250)
    this.timer.unref()
  }

  private sample(): void {
    for (const [name, pids] of Object.entries(this.groups())) {
      let rss = 0
      for (const pid of pids) {
        const s = readProc(pid)
        if (!s) continue
        if (!this.start.has(pid)) this.start.set(pid, s)
        this.last.set(pid, s)
        rss += s.rssKb
      }
      this.peak[name] = Math.max(this.peak[name] ?? 0, rss)
    }
  }

  end(): CpuWindow {
    clearInterval(this.timer)
    this.sample()
    const secs = (performance.now() - this.t0) / 1000
    const m1 = readMachine()
    const cpuPct: Record<string, number> = {}
    const writes: Record<string, number> = {}
    for (const [name, pids] of Object.entries(this.groups())) {
      let used = 0
      let w = 0
      for (const pid of pids) {
        const a = this.start.get(pid)
        const b = this.last.get(pid)
        if (!a || !b) continue
        used += b.cpuS - a.cpuS
        w += b.writes - a.writes
      }
      cpuPct[name] = round1((used / secs) * 100)
      writes[name] = w
    }
    const dt = m1.total - this.m0.total
    return {
      cpuPct,
      peakRssKb: { ...this.peak },
      writes,
      machinePct: dt > 0 ? round1(((m1.busy - this.m0.busy) / dt) * 100) : 0,
      stealPct: dt > 0 ? round1(((m1.steal - this.m0.steal) / dt) * 100) : 0,
    }
  }
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100
}
