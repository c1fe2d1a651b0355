/**
 * `pnpm bench [--quick]`: the realtime and crypto benchmark. See docs/benchmarks.md.
 * Progress goes to stderr; stdout gets the human table and, as its last line, the JSON
 * summary. Files: bench-results/bench-<profile>.{json,txt,svg}.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runBench } from './orchestrator.js'
import { profiles, type Profile } from './profiles.js'
import { repoRoot } from './procs.js'
import { plot, summarize, table } from './report.js'

const HELP = `Usage: pnpm bench [options]

Benchmarks the realtime path and the client crypto, and compares each with a bare
baseline measured in the same run (docs/benchmarks.md explains every figure).

  1. Seeds a fresh PostgreSQL database through the real API (people, devices, rooms).
  2. Bare ws broadcast server: idle sockets (RSS/connection), then a knee search.
  3. One API process: the same, plus latency at 50% and 80% of its knee.
  4. Durable baseline: bare ws that group-commits every send to PostgreSQL before
     delivering it, searched beside 2 and 3 (what durability alone costs here).
  5. Two API processes (members split across them): 50% step and a knee search.
  6. Client crypto: SDK seal/open vs a bare libsodium loop (Node); a room history
     verified and decrypted in Chromium.

Options:
  --quick              smaller world and shorter steps (under 2 minutes)
  --out <dir>          where to write results (default: bench-results/)
  --no-browser         skip the Chromium history bench
  --probe <rates>      no knee search: the bare server, one API process and the durable
                       baseline at each of these comma-separated rates (msg/s),
                       alternating; no two-process
                       run and no browser; for comparing changes quickly
  --repeat <n>         with --probe: steps per rate and target (default 2)
  --help               this text

Environment:
  DATABASE_URL   PostgreSQL server to make the benchmark database on
                 (default postgres://postgres@127.0.0.1:5432/postgres)
  CHROMIUM_PATH  Chromium binary (default /usr/bin/chromium)

Output: a table on stdout, then the JSON summary as the last line; progress on stderr.
The full run takes about 6–9 minutes; it stops refining the knee when its 9-minute
budget runs short.
`

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP)
    return
  }
  const known = new Set(['--quick', '--out', '--no-browser', '--probe', '--repeat'])
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--out' || a === '--probe' || a === '--repeat') i++
    else if (!known.has(a)) {
      process.stderr.write(`pnpm bench: unknown option ${a}\n\n${HELP}`)
      process.exitCode = 2
      return
    }
  }
  const outIdx = args.indexOf('--out')
  const outDir = path.resolve(
    outIdx >= 0 ? (args[outIdx + 1] ?? '') : path.join(repoRoot, 'bench-results'),
  )
  const profile: Profile = args.includes('--quick') ? profiles.quick : profiles.full
  const probeIdx = args.indexOf('--probe')
  const repeatIdx = args.indexOf('--repeat')
  const probeRates = probeIdx >= 0 ? (args[probeIdx + 1] ?? '').split(',').map(Number) : []
  const repeat = repeatIdx >= 0 ? Number(args[repeatIdx + 1]) : 2
  if (
    probeIdx >= 0 &&
    (probeRates.length === 0 ||
      !probeRates.every((r) => Number.isInteger(r) && r > 0) ||
      !Number.isInteger(repeat) ||
      repeat < 1)
  ) {
    process.stderr.write('pnpm bench: --probe takes rates like 1000,2000; --repeat a count ≥ 1\n')
    process.exitCode = 2
    return
  }
  const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

  const report = await runBench({
    profile,
    databaseUrl,
    browser: !args.includes('--no-browser') && probeIdx < 0,
    ...(probeIdx >= 0 ? { probe: { rates: probeRates, repeat } } : {}),
    log: (line) => process.stderr.write(line + '\n'),
  })
  const summary = summarize(report)
  const text = table(report, summary)
  await mkdir(outDir, { recursive: true })
  const base = path.join(outDir, `bench-${profile.name}${probeIdx >= 0 ? '-probe' : ''}`)
  await writeFile(`${base}.json`, JSON.stringify({ summary, report }, null, 2) + '\n')
  await writeFile(`${base}.txt`, text + '\n')
  await writeFile(`${base}.svg`, plot(report, profile.p99LimitMs))
  process.stdout.write(text + '\n\n')
  process.stdout.write(`Results: ${base}.json, ${base}.txt, ${base}.svg\n`)
  process.stdout.write(JSON.stringify(summary) + '\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`pnpm bench: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
