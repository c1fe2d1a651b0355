/**
 * Turns a run into the summary (the last line `pnpm bench` prints), a human table, and
 * a latency plot (hand-written SVG: offered rate → p50/p99 delivery latency per target,
 * log scale, with the 50 ms limit and the knees marked).
 */
import type { BenchReport, MeasuredStep, TargetResult } from './orchestrator.js'
import { round1, round2 } from './procs.js'

export interface Summary {
  profile: string
  knee_msgs_per_s: number
  baseline_knee_msgs_per_s: number
  knee_ratio: number
  /** Highest rate kept up with (no loss, p50 ≤ limit, backlog gone in 0.5 s); not tail-bound. */
  capacity_msgs_per_s: number
  baseline_capacity_msgs_per_s: number
  capacity_ratio: number | null
  /** The 50%/80% steps are of the knee, or of the capacity when there was no knee. */
  fraction_base: 'knee' | 'capacity'
  p50_ms_at_half: number | null
  p99_ms_at_half: number | null
  p50_ms_at_80pct: number | null
  p99_ms_at_80pct: number | null
  /** The bare-ws baseline at the API's 50% rate, in the same run: what durability adds. */
  baseline_p50_ms_at_half: number | null
  baseline_p99_ms_at_half: number | null
  /**
   * The durable baseline (bare ws + group commit to PostgreSQL, nothing else; PostgreSQL
   * runs only): its knee and capacity, its knee over the bare one, the API's knee over
   * its knee, and its latency at the API's 50% rate.
   */
  durable_baseline_knee_msgs_per_s: number | null
  durable_baseline_capacity_msgs_per_s: number | null
  durable_baseline_knee_ratio: number | null
  knee_ratio_to_durable: number | null
  durable_baseline_p50_ms_at_half: number | null
  durable_baseline_p99_ms_at_half: number | null
  durable_baseline_cpu_pct_at_knee: number | null
  durable_baseline_postgres_cpu_pct_at_knee: number | null
  lost: number
  two_node_knee_msgs_per_s: number | null
  /** Two-process knee over the bare-ws knee (same scale as knee_ratio). */
  two_node_knee_ratio: number | null
  two_node_capacity_msgs_per_s: number | null
  two_node_p50_ms_at_half: number | null
  two_node_added_p50_ms: number | null
  idle_rss_kb_per_conn: number | null
  baseline_idle_rss_kb_per_conn: number | null
  idle_rss_ratio: number | null
  idle_heap_kb_per_conn: number | null
  baseline_idle_heap_kb_per_conn: number | null
  idle_heap_ratio: number | null
  crypto_ratio: number
  crypto_seal_ratio: number
  crypto_open_ratio: number
  history_ms: number | null
  history_messages: number | null
  persisted_msgs_per_s_at_knee: number | null
  server_cpu_pct_at_knee: number | null
  postgres_cpu_pct_at_knee: number | null
  load_cpu_pct_at_knee: number | null
  server_rss_mb_peak: number | null
  baseline_cpu_pct_at_knee: number | null
  commit_p50_ms: number | null
  commit_p99_ms: number | null
  /** Steps where the load client fell behind its schedule (a busy machine). */
  noisy_steps: number
  /** The search hit the time budget before a failure: the knees are lower bounds. */
  search_truncated: boolean
  /** Mean whole-machine CPU busy share during the steps. */
  machine_busy_pct: number
  /** Mean share of the machine's time the hypervisor gave to other guests during steps. */
  machine_steal_pct: number
  connections: number
  envelope_bytes: number
  duration_s: number
}

const stepAt = (t: TargetResult | undefined, label: string): MeasuredStep | undefined =>
  t?.steps.find((s) => s.label === label)

const kneeStep = (t: TargetResult): MeasuredStep | undefined =>
  t.steps.filter((s) => s.ok && s.rate === t.knee).sort((a, b) => b.latency.p99 - a.latency.p99)[0]

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined || !b ? null : round2(a / b)

export function summarize(r: BenchReport): Summary {
  const targets = [r.baseline, r.api, r.durable, r.twoNode].filter((t): t is TargetResult => !!t)
  const allSteps = targets.flatMap((t) => t.steps)
  /** A step figure's mean over every step of the run. */
  const meanOverSteps = (f: (st: MeasuredStep) => number) =>
    round1(allSteps.reduce((n, st) => n + f(st), 0) / Math.max(1, allSteps.length))
  const half = stepAt(r.api, '50%')
  const p80 = stepAt(r.api, '80%')
  const twoHalf = stepAt(r.twoNode, '50%')
  const k = kneeStep(r.api)
  const bk = kneeStep(r.baseline)
  const dk = r.durable ? kneeStep(r.durable) : undefined
  const dHalf = stepAt(r.durable, 'api50%')
  // Lost = deliveries that never arrived: in any step at or below the knee, plus anything
  // still missing once every connection settled (a later delivery is late, not lost).
  const lostIn = (t: TargetResult | undefined) =>
    t
      ? t.steps.filter((s) => s.rate <= t.knee).reduce((n, s) => n + s.lost, 0) +
        t.missing +
        Math.max(0, t.headGap)
      : 0
  const allRss = [...r.api.steps, ...(r.twoNode?.steps ?? [])].map(
    (s) => s.cpu.peakRssKb.server ?? 0,
  )
  return {
    profile: r.profile,
    knee_msgs_per_s: r.api.knee,
    baseline_knee_msgs_per_s: r.baseline.knee,
    knee_ratio: ratio(r.api.knee, r.baseline.knee) ?? 0,
    capacity_msgs_per_s: r.api.capacity,
    baseline_capacity_msgs_per_s: r.baseline.capacity,
    capacity_ratio: ratio(r.api.capacity, r.baseline.capacity),
    fraction_base: r.fractionBase,
    p50_ms_at_half: half?.latency.p50 ?? null,
    p99_ms_at_half: half?.latency.p99 ?? null,
    p50_ms_at_80pct: p80?.latency.p50 ?? null,
    p99_ms_at_80pct: p80?.latency.p99 ?? null,
    baseline_p50_ms_at_half: stepAt(r.baseline, 'api50%')?.latency.p50 ?? null,
    baseline_p99_ms_at_half: stepAt(r.baseline, 'api50%')?.latency.p99 ?? null,
    durable_baseline_knee_msgs_per_s: r.durable ? r.durable.knee : null,
    durable_baseline_capacity_msgs_per_s: r.durable ? r.durable.capacity : null,
    durable_baseline_knee_ratio: r.durable ? ratio(r.durable.knee, r.baseline.knee) : null,
    knee_ratio_to_durable: r.durable ? ratio(r.api.knee, r.durable.knee) : null,
    durable_baseline_p50_ms_at_half: dHalf?.latency.p50 ?? null,
    durable_baseline_p99_ms_at_half: dHalf?.latency.p99 ?? null,
    durable_baseline_cpu_pct_at_knee: dk?.cpu.cpuPct.server ?? null,
    durable_baseline_postgres_cpu_pct_at_knee: dk?.cpu.cpuPct.postgres ?? null,
    lost: lostIn(r.api) + lostIn(r.twoNode),
    two_node_knee_msgs_per_s: r.twoNode?.searched ? r.twoNode.knee : null,
    two_node_knee_ratio: r.twoNode?.searched ? ratio(r.twoNode.knee, r.baseline.knee) : null,
    two_node_capacity_msgs_per_s: r.twoNode?.searched ? r.twoNode.capacity : null,
    two_node_p50_ms_at_half: twoHalf?.latency.p50 ?? null,
    two_node_added_p50_ms: twoHalf && half ? round2(twoHalf.latency.p50 - half.latency.p50) : null,
    idle_rss_kb_per_conn: r.api.idle?.kbPerConn ?? null,
    baseline_idle_rss_kb_per_conn: r.baseline.idle?.kbPerConn ?? null,
    idle_rss_ratio: ratio(r.api.idle?.kbPerConn, r.baseline.idle?.kbPerConn),
    idle_heap_kb_per_conn: r.api.idle?.heapKbPerConn ?? null,
    baseline_idle_heap_kb_per_conn: r.baseline.idle?.heapKbPerConn ?? null,
    idle_heap_ratio: ratio(r.api.idle?.heapKbPerConn, r.baseline.idle?.heapKbPerConn),
    crypto_ratio: r.crypto.ratio,
    crypto_seal_ratio: r.crypto.node.sealRatio,
    crypto_open_ratio: r.crypto.node.openRatio,
    history_ms: 'historyMs' in r.crypto.browser ? r.crypto.browser.historyMs : null,
    history_messages: 'historyMs' in r.crypto.browser ? r.crypto.browser.messages : null,
    persisted_msgs_per_s_at_knee: k?.persistedPerS ?? null,
    server_cpu_pct_at_knee: k?.cpu.cpuPct.server ?? null,
    postgres_cpu_pct_at_knee: k?.cpu.cpuPct.postgres ?? null,
    load_cpu_pct_at_knee: k?.cpu.cpuPct.load ?? null,
    server_rss_mb_peak: allRss.length ? round1(Math.max(...allRss) / 1024) : null,
    baseline_cpu_pct_at_knee: bk?.cpu.cpuPct.server ?? null,
    noisy_steps: targets.reduce((n, t) => n + t.noisySteps, 0),
    search_truncated: targets.some((t) => t.truncated),
    machine_busy_pct: meanOverSteps((st) => st.cpu.machinePct),
    machine_steal_pct: meanOverSteps((st) => st.cpu.stealPct),
    commit_p50_ms: r.machine.commitMs?.p50 ?? null,
    commit_p99_ms: r.machine.commitMs?.p99 ?? null,
    connections: r.shape.connections,
    envelope_bytes: r.shape.envelopeBytes,
    duration_s: r.durationS,
  }
}

const pad = (s: string | number, n: number) => String(s).padStart(n)

export function table(r: BenchReport, s: Summary): string {
  const k = kneeStep(r.api)
  const lines: string[] = []
  lines.push(
    `Veilig Samenwerken benchmark (${r.profile}) — ${r.startedAt}, ${r.durationS} s, ` +
      `${r.machine.cores} × ${r.machine.cpu}, ${r.machine.database}`,
  )
  lines.push(
    `load average at start ${r.machine.loadAvgStart.join(' ')}, at end ${r.machine.loadAvg.join(' ')}; ` +
      `machine busy ${s.machine_busy_pct}% (steal ${s.machine_steal_pct}%) during steps; ${s.noisy_steps} noisy steps ` +
      `(load client behind schedule > lag99 limit)`,
  )
  lines.push(
    `${r.shape.rooms} rooms × ${r.shape.members} member devices = ${r.shape.connections} ` +
      `WebSockets (${r.shape.people} people), ${r.shape.envelopeBytes}-byte envelopes, ` +
      `seeded in ${r.seedS} s`,
  )
  lines.push('')
  lines.push(
    'target    step      rate/s  sent     p50ms   p99ms   maxms   ack99  lost  dup  deliv/s  ' +
      'srv%  pg%  load%  box%  lag99  srvRSS  ok',
  )
  for (const t of [r.baseline, r.api, r.durable, r.twoNode]) {
    if (!t) continue
    for (const st of t.steps) {
      lines.push(
        [
          t.name.padEnd(9),
          st.label.padEnd(8),
          pad(st.rate, 7),
          pad(st.sent, 7),
          pad(st.latency.p50.toFixed(2), 7),
          pad(st.latency.p99.toFixed(2), 7),
          pad(st.latency.max.toFixed(0), 7),
          pad(st.ack.p99.toFixed(1), 6),
          pad(st.lost, 5),
          pad(st.duplicates, 4),
          pad(st.deliveriesPerS, 8),
          pad(st.cpu.cpuPct.server ?? 0, 5),
          pad(st.cpu.cpuPct.postgres ?? 0, 4),
          pad(st.cpu.cpuPct.load ?? 0, 6),
          pad(Math.round(st.cpu.machinePct), 5),
          pad(st.sendLagP99Ms.toFixed(1), 6),
          pad(`${Math.round((st.cpu.peakRssKb.server ?? 0) / 1024)}M`, 7),
          (st.ok ? '  ✓' : '  ✗') + (st.noisy ? ' noisy' : ''),
        ].join(' '),
      )
    }
  }
  lines.push('')
  const yes = (b: boolean | null, noisy = false) =>
    (b === null ? 'n/a' : b ? 'met' : 'MISSED') + (b !== null && noisy ? ' (noisy step)' : '')
  const half = stepAt(r.api, '50%')
  const twoHalf = stepAt(r.twoNode, '50%')
  const rows: [string, string, string, string][] = [
    [
      'durable fan-out knee',
      `${s.knee_msgs_per_s}${r.api.truncated ? '+' : ''} msg/s vs bare ws ${s.baseline_knee_msgs_per_s}${r.baseline.truncated ? '+' : ''}` +
        (s.search_truncated ? ' (+: search stopped by the time budget)' : ''),
      `×${s.knee_ratio}`,
      `≥ ×0.8 (stretch ×0.9): ${yes(s.knee_ratio >= 0.8)}`,
    ],
    [
      'capacity (keeps up)',
      `${s.capacity_msgs_per_s} msg/s vs bare ws ${s.baseline_capacity_msgs_per_s}`,
      `×${s.capacity_ratio}`,
      '(not tail-bound; see docs)',
    ],
    ['lost deliveries', String(s.lost), '', `0: ${yes(s.lost === 0)}`],
    [
      `latency at 50% of ${s.fraction_base}`,
      `p50 ${s.p50_ms_at_half} ms, p99 ${s.p99_ms_at_half} ms`,
      '',
      `p50 ≤ 3, p99 ≤ 15: ${yes(s.p50_ms_at_half === null ? null : s.p50_ms_at_half <= 3 && (s.p99_ms_at_half ?? 99) <= 15, half?.noisy)}`,
    ],
    [
      `latency at 80% of ${s.fraction_base}`,
      `p50 ${s.p50_ms_at_80pct} ms, p99 ${s.p99_ms_at_80pct} ms`,
      '',
      '',
    ],
    [
      'bare ws at that 50%',
      `p50 ${s.baseline_p50_ms_at_half} ms, p99 ${s.baseline_p99_ms_at_half} ms`,
      '',
      '',
    ],
    [
      'durable baseline',
      r.durable
        ? `knee ${s.durable_baseline_knee_msgs_per_s}, capacity ${s.durable_baseline_capacity_msgs_per_s} msg/s ` +
          `(bare ws + group commit; ×${s.durable_baseline_knee_ratio} of bare); at the API's 50%: ` +
          `p50 ${s.durable_baseline_p50_ms_at_half} ms, p99 ${s.durable_baseline_p99_ms_at_half} ms`
        : 'not measured (PGlite, or --quick)',
      r.durable ? `api ×${s.knee_ratio_to_durable}` : '',
      '(what durability alone costs here)',
    ],
    [
      'two processes',
      `knee ${s.two_node_knee_msgs_per_s}, capacity ${s.two_node_capacity_msgs_per_s}, p50 at 50% ${s.two_node_p50_ms_at_half} ms`,
      `×${s.two_node_knee_ratio}`,
      `adds ${s.two_node_added_p50_ms} ms p50 (≤ 2): ${yes(s.two_node_added_p50_ms === null ? null : s.two_node_added_p50_ms <= 2, !!(half?.noisy || twoHalf?.noisy))}`,
    ],
    [
      'idle connection RSS',
      `${s.idle_rss_kb_per_conn} KiB vs bare ws ${s.baseline_idle_rss_kb_per_conn} KiB`,
      `×${s.idle_rss_ratio}`,
      `≤ ×1.5: ${yes(s.idle_rss_ratio === null ? null : s.idle_rss_ratio <= 1.5)}`,
    ],
    [
      'idle connection JS heap + buffers',
      `${s.idle_heap_kb_per_conn} KiB vs bare ws ${s.baseline_idle_heap_kb_per_conn} KiB`,
      `×${s.idle_heap_ratio}`,
      `(after a forced collection; RSS leaves out kernel buffers either way)`,
    ],
    [
      'client crypto (Node)',
      `seal ${r.crypto.node.sealUs} µs (bare ${r.crypto.node.bareSealUs}), open ${r.crypto.node.openUs} µs (bare ${r.crypto.node.bareOpenUs})`,
      `×${s.crypto_ratio}`,
      `≥ ×0.8: ${yes(s.crypto_ratio >= 0.8)}`,
    ],
    [
      'history in Chromium',
      s.history_ms === null ? 'skipped' : `${s.history_messages} messages in ${s.history_ms} ms`,
      '',
      `10,000 in ≤ 1 s: ${yes(s.history_ms === null || s.history_messages !== 10_000 ? null : s.history_ms <= 1000)}`,
    ],
    [
      'at the knee',
      `persisted ${s.persisted_msgs_per_s_at_knee} msg/s; CPU server ${s.server_cpu_pct_at_knee}%, ` +
        `PostgreSQL ${s.postgres_cpu_pct_at_knee}%, load ${s.load_cpu_pct_at_knee}%; ` +
        `server RSS peak ${s.server_rss_mb_peak} MiB`,
      '',
      '',
    ],
    [
      'PostgreSQL commit',
      r.machine.commitMs
        ? `p50 ${r.machine.commitMs.p50} ms, p99 ${r.machine.commitMs.p99} ms (one row, one connection: the durable floor)`
        : 'n/a',
      '',
      '',
    ],
    [
      'PostgreSQL sessions',
      k?.pgWaits
        ? `at the knee: ${Object.entries(k.pgWaits)
            .map(([w, n]) => `${w} ${n}`)
            .join(', ')}`
        : 'n/a',
      '',
      '',
    ],
    [
      'durability',
      `${r.durability.acked} acked, ${r.durability.persisted ?? 'n/a'} message rows`,
      '',
      `every ack persisted: ${yes(r.durability.persisted === null ? null : r.durability.persisted >= r.durability.acked)}`,
    ],
  ]
  if (r.durableStore)
    rows.push([
      'durable baseline stored',
      `${r.durableStore.acked} acked, ${r.durableStore.persisted ?? 'n/a'} rows`,
      '',
      `every ack persisted: ${yes(r.durableStore.persisted === null ? null : r.durableStore.persisted >= r.durableStore.acked)}`,
    ])
  for (const [a, b, c, d] of rows) lines.push(`${a.padEnd(24)} ${b}  ${c}  ${d}`.trimEnd())
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------------
// SVG

const COLORS: Record<string, string> = {
  baseline: '#777777',
  api: '#1f6feb',
  durable: '#2e8b57',
  'api×2': '#d2691e',
}

export function plot(r: BenchReport, limitMs: number): string {
  const W = 860
  const H = 520
  const m = { l: 70, r: 180, t: 40, b: 60 }
  const targets = [r.baseline, r.api, r.durable, r.twoNode].filter((t): t is TargetResult => !!t)
  const all = targets.flatMap((t) => t.steps)
  const maxRate = Math.max(1, ...all.map((s) => s.rate)) * 1.05
  const lats = all.flatMap((s) => [s.latency.p50, s.latency.p99]).filter((v) => v > 0)
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(0.5, ...lats))))
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(limitMs * 2, ...lats)))
  const x = (v: number) => m.l + (v / maxRate) * (W - m.l - m.r)
  const y = (v: number) =>
    H -
    m.b -
    ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) *
      (H - m.t - m.b)
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  )
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  out.push(
    `<text x="${m.l}" y="22" font-size="15" font-weight="bold">Delivery latency vs offered rate (${r.shape.rooms} rooms × ${r.shape.members} devices, ${r.profile})</text>`,
  )
  // Axes and grid.
  for (let d = yMin; d <= yMax * 1.001; d *= 10) {
    out.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${y(d)}" y2="${y(d)}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 8}" y="${y(d) + 4}" text-anchor="end">${d >= 1 ? d : d.toPrecision(1)} ms</text>`,
    )
  }
  const step = niceStep(maxRate)
  for (let v = 0; v <= maxRate; v += step) {
    out.push(
      `<line x1="${x(v)}" x2="${x(v)}" y1="${m.t}" y2="${H - m.b}" stroke="#f0f0f0"/>`,
      `<text x="${x(v)}" y="${H - m.b + 18}" text-anchor="middle">${v}</text>`,
    )
  }
  out.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 18}" text-anchor="middle">offered rate (messages/s in; deliveries = ×${r.shape.members})</text>`,
    `<text transform="translate(18 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">send → receipt by each member (log)</text>`,
  )
  // The limit.
  out.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${y(limitMs)}" y2="${y(limitMs)}" stroke="#c00" stroke-dasharray="6 4"/>`,
    `<text x="${W - m.r - 4}" y="${y(limitMs) - 5}" text-anchor="end" fill="#c00">p99 limit ${limitMs} ms</text>`,
  )
  let ly = m.t + 10
  for (const t of targets) {
    const c = COLORS[t.name] ?? '#000'
    // One point per rate: its best attempt (a rate passes when any attempt passed).
    const byRate = new Map<number, MeasuredStep>()
    const better = (a: MeasuredStep, b: MeasuredStep) =>
      a.ok !== b.ok ? a.ok : a.latency.p99 < b.latency.p99
    for (const s of t.steps) {
      const had = byRate.get(s.rate)
      if (!had || better(s, had)) byRate.set(s.rate, s)
    }
    const pts = [...byRate.values()].sort((a, b) => a.rate - b.rate)
    for (const [key, dash] of [
      ['p50', ''],
      ['p99', '5 3'],
    ] as const) {
      const d = pts.map(
        (s, i) => `${i ? 'L' : 'M'}${x(s.rate).toFixed(1)},${y(s.latency[key]).toFixed(1)}`,
      )
      out.push(
        `<path d="${d.join(' ')}" fill="none" stroke="${c}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      )
      for (const s of pts)
        out.push(
          `<circle cx="${x(s.rate).toFixed(1)}" cy="${y(s.latency[key]).toFixed(1)}" r="3" fill="${s.ok ? c : 'white'}" stroke="${c}"/>`,
        )
    }
    if (t.knee > 0)
      out.push(
        `<line x1="${x(t.knee)}" x2="${x(t.knee)}" y1="${m.t}" y2="${H - m.b}" stroke="${c}" stroke-width="1" stroke-dasharray="2 3"/>`,
      )
    out.push(
      `<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/>`,
      `<text x="${W - m.r + 42}" y="${ly + 4}">${t.name} p50</text>`,
      `<line x1="${W - m.r + 12}" x2="${W - m.r + 36}" y1="${ly + 18}" y2="${ly + 18}" stroke="${c}" stroke-width="2" stroke-dasharray="5 3"/>`,
      `<text x="${W - m.r + 42}" y="${ly + 22}">${t.name} p99</text>`,
      `<text x="${W - m.r + 12}" y="${ly + 40}" fill="${c}">knee ${t.knee}/s</text>`,
      `<text x="${W - m.r + 12}" y="${ly + 56}" fill="${c}">capacity ${t.capacity}/s</text>`,
    )
    ly += 80
  }
  out.push(
    `<text x="${W - m.r + 12}" y="${ly + 4}" fill="#555">open circle: step failed</text>`,
    `<text x="${W - m.r + 12}" y="${ly + 20}" fill="#555">(p99 &gt; limit or loss)</text>`,
  )
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function niceStep(max: number): number {
  const raw = max / 8
  const p = 10 ** Math.floor(Math.log10(raw))
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= raw) return k * p
  return 10 * p
}
