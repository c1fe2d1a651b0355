/** Benchmark sizes: the full run, `--quick`, and the tiny correctness mode used by tests. */

export interface Profile {
  name: 'full' | 'quick' | 'test'
  rooms: number
  /** Member devices per room (one connection each). */
  members: number
  /** At most the server's per-user WebSocket limit (20). */
  devicesPerPerson: number
  /** Distinct pre-sealed envelopes per sending device (used in turn). */
  pool: number
  plaintextBytes: number
  /** Offered rates tried in order, msg/s; the search stops at the first confirmed failure. */
  rates: number[]
  /** Bisection steps between the last passing and the first failing rate. */
  refine: number
  /** Re-run a failing step once before calling it the knee (noise on a shared machine). */
  confirmFailures: boolean
  stepMs: number
  /** Untimed step at the lowest rate before each search (JIT, pools, caches). */
  warmupMs: number
  /** Longest wait after the last send for stragglers; later deliveries count as lost. */
  drainMs: number
  /** The knee: highest rate with p99 ≤ this and nothing lost. */
  p99LimitMs: number
  /** A step whose send loop lagged more than this (p99) is marked noisy and re-run. */
  maxSendLagMs: number
  twoNode: boolean
  /**
   * With PostgreSQL: the durable baseline (bare ws + group commit to PostgreSQL) is
   * measured beside the bare server and the API, in the same search (not in `--quick`,
   * whose time budget a third target would stop at the first rates).
   */
  durableBaseline: boolean
  /** Idle run: authenticated idle sockets, RSS per connection. */
  idle: boolean
  /** How long RSS is watched after the idle sockets connected (its minimum counts). */
  idleSettleMs: number
  /**
   * Extra copies of every device's socket in the idle run (closed again before the knee
   * search): a larger idle world, so that the sockets' memory stands well above RSS noise
   * (the server's per-user socket limit is raised to match, for this benchmark only).
   */
  idleCopies: number
  /** Messages in the Chromium history (0: skip the browser). */
  historyMessages: number
  /** Messages per timed round of the Node crypto bench. */
  cryptoMessages: number
  /** Soft deadline for the whole run; refinements are skipped when it gets close. */
  budgetMs: number
  /** Time the two-process knee search needs; with less left only its 50% step runs. */
  twoNodeSearchMs: number
  /** The single-process search stops when less than this is left (for what follows it). */
  pairReserveMs: number
  /** The two-process search stops when less than this is left (the crypto bench). */
  tailReserveMs: number
}

export const profiles: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    rooms: 100,
    members: 12,
    devicesPerPerson: 20,
    pool: 8,
    plaintextBytes: 100,
    rates: [250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000],
    refine: 2,
    confirmFailures: true,
    stepMs: 4000,
    warmupMs: 3000,
    drainMs: 5000,
    p99LimitMs: 50,
    maxSendLagMs: 10,
    twoNode: true,
    durableBaseline: true,
    idle: true,
    idleSettleMs: 8000,
    idleCopies: 4,
    historyMessages: 10_000,
    cryptoMessages: 2000,
    budgetMs: 9 * 60_000,
    twoNodeSearchMs: 75_000,
    pairReserveMs: 150_000,
    tailReserveMs: 45_000,
  },
  quick: {
    name: 'quick',
    rooms: 20,
    members: 12,
    devicesPerPerson: 20,
    pool: 4,
    plaintextBytes: 100,
    rates: [250, 500, 1000, 2000, 4000, 6000, 8000],
    refine: 0,
    confirmFailures: true,
    stepMs: 2000,
    warmupMs: 1500,
    drainMs: 2000,
    p99LimitMs: 50,
    maxSendLagMs: 10,
    twoNode: true,
    durableBaseline: false,
    idle: true,
    idleSettleMs: 3000,
    idleCopies: 2,
    historyMessages: 2000,
    cryptoMessages: 500,
    budgetMs: 95_000,
    twoNodeSearchMs: 22_000,
    pairReserveMs: 40_000,
    tailReserveMs: 10_000,
  },
  test: {
    name: 'test',
    rooms: 2,
    members: 3,
    devicesPerPerson: 2,
    pool: 2,
    plaintextBytes: 100,
    rates: [20, 50],
    refine: 0,
    confirmFailures: false,
    stepMs: 1000,
    warmupMs: 0,
    drainMs: 5000,
    // Correctness only: no latency threshold (tests have no wall-clock assertions).
    p99LimitMs: Number.POSITIVE_INFINITY,
    maxSendLagMs: Number.POSITIVE_INFINITY,
    twoNode: true,
    durableBaseline: true,
    idle: true,
    idleSettleMs: 1000,
    idleCopies: 1,
    historyMessages: 0,
    cryptoMessages: 50,
    budgetMs: 120_000,
    twoNodeSearchMs: 0,
    pairReserveMs: 0,
    tailReserveMs: 0,
  },
}
