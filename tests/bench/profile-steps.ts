/**
 * Reads the CPU profiles a `BENCH_CPU_PROF=<dir> pnpm bench …` run wrote, cut to the
 * steps of each target (from `<dir>/steps.jsonl`, on the profiles' clock): for each
 * server's main thread, its busy time in those steps and where it went (self time per
 * function, largest first), so two targets measured at the same rates compare directly.
 *
 *   pnpm tsx tests/bench/profile-steps.ts <dir> [--target api] [--rate 2000] [--top 30]
 */
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: 'string' },
    rate: { type: 'string' },
    top: { type: 'string', default: '30' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help || positionals.length !== 1) {
  console.log(`Usage: pnpm tsx tests/bench/profile-steps.ts <dir> [--target NAME] [--rate N] [--top N]

<dir> is the BENCH_CPU_PROF folder of a benchmark run. For every target (or only NAME),
prints each of its processes' busy CPU time within that target's steps (or only the steps
at rate N) and the functions with the most self time then.`)
  process.exit(positionals.length === 1 || args.help ? 0 : 2)
}

interface Step {
  target: string
  pids: number[]
  label: string
  rate: number
  startUs: number
  endUs: number
}

interface Profile {
  nodes: {
    id: number
    callFrame: { functionName: string; url: string; lineNumber: number }
    children?: number[]
  }[]
  startTime: number
  samples: number[]
  timeDeltas: number[]
}

const dir = path.resolve(positionals[0]!)
const steps = readFileSync(path.join(dir, 'steps.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Step)
  .filter((s) => !args.target || s.target === args.target)
  .filter((s) => !args.rate || s.rate === Number(args.rate))
const top = Number(args.top)

// CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread.
const files = readdirSync(dir)
  .map((f) => ({ f, m: /^CPU\.\d+\.\d+\.(\d+)\.0\.\d+\.cpuprofile$/.exec(f) }))
  .filter((x) => x.m)
  .map((x) => ({ file: path.join(dir, x.f), pid: Number(x.m![1]) }))

const frameName = (cf: Profile['nodes'][number]['callFrame']) =>
  `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`

for (const target of [...new Set(steps.map((s) => s.target))]) {
  const mine = steps.filter((s) => s.target === target)
  const secs = mine.reduce((n, s) => n + (s.endUs - s.startUs) / 1e6, 0)
  const rates = [...new Set(mine.map((s) => s.rate))].join(', ')
  for (const { file, pid } of files.filter((x) => mine.some((s) => s.pids.includes(x.pid)))) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
    const byId = new Map(p.nodes.map((n) => [n.id, n]))
    const windows = mine.filter((s) => s.pids.includes(pid))
    const self = new Map<string, number>()
    let busy = 0
    let t = p.startTime
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i]!
      if (!windows.some((w) => t >= w.startUs && t < w.endUs)) continue
      const dt = p.timeDeltas[i + 1] ?? 0
      const cf = byId.get(p.samples[i]!)!.callFrame
      if (cf.functionName === '(idle)') continue
      busy += dt
      const k = frameName(cf)
      self.set(k, (self.get(k) ?? 0) + dt)
    }
    console.log(
      `\n${target} (pid ${pid}): ${windows.length} steps (${rates} msg/s), ${secs.toFixed(1)} s; ` +
        `main thread busy ${(busy / 1e6).toFixed(2)} s (${((busy / 1e4 / secs) * 1).toFixed(1)}% of the time)`,
    )
    for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(
        `${((100 * v) / busy).toFixed(1).padStart(6)}%  ${(v / 1e3 / secs).toFixed(1).padStart(7)} ms/s  ${k}`,
      )
  }
}
