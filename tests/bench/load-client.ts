/**
 * The load process (a separate node process, driven over IPC by the orchestrator).
 *
 * - `init`: reads the seeded world and pre-seals a pool of real envelopes per member
 *   device with the SDK (RoomSession.seal: padding, XChaCha20-Poly1305, Ed25519), before
 *   any timed phase.
 * - `connect`: one WebSocket per member device (authenticated with the `vs.auth.`
 *   subprotocol for the API), subscribed to its one room.
 * - `step`: sends open-loop on a fixed schedule (message i at t0 + i/rate, whatever the
 *   server does), and records for every member device the time from the *scheduled* send
 *   to receipt, so a stalled server or a late send loop both show as latency (no
 *   coordinated omission). Deliveries are matched by (room, seq) through the sender's ack;
 *   each connection checks seq order, duplicates and that the body is the one sent.
 *
 * Sender and receivers live in this one process, so send and receive times are read
 * from one clock (`performance.now()`).
 *
 * With BENCH_TRACE=<dir>, every step also writes `<label>-<rate>-<step>.csv` there: per
 * message its scheduled send time (ms from the step's start), how late the send loop sent
 * it, its ack latency and its slowest delivery (both from the scheduled time), to see
 * whether a tail is spread out or clustered in stalls.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import WebSocket from 'ws'
import { randomBytes } from 'node:crypto'
import { cryptoReady } from '@vs/crypto'
import { LOG_HEAD, loadSession, textOf } from './sdk-session.js'
import type {
  ConnSpec,
  FromLoad,
  Ledger,
  LoadSetup,
  Percentiles,
  StepResult,
  ToLoad,
} from './types.js'

interface Conn {
  spec: ConnSpec
  ws: WebSocket | undefined
  /** Last sequence number seen in this connection's room. */
  lastSeq: number
  /** Envelopes this device sends (shared by all sets), used in turn. */
  pool: string[]
  onSubscribed: (() => void) | undefined
}

interface Early {
  t: number
  body: string
}

interface Room {
  roomId: string
  index: number
  conns: Conn[]
  /** Per step: seq → message index, known once the sender's ack arrived. */
  seqToMsg: Map<number, number>
  /** Deliveries that arrived before the ack told us which message they are. */
  early: Map<number, Early[]>
}

class Step {
  readonly sendAt: Float64Array
  readonly ackAt: Float64Array
  readonly bodies: string[]
  readonly delivered: Uint8Array
  readonly lat: Float64Array
  /** Per message, its slowest delivery (BENCH_TRACE). */
  readonly worst: Float64Array
  readonly lag: Float64Array
  latN = 0
  sent = 0
  acked = 0
  failed = 0
  deliveredTotal = 0
  duplicates = 0
  outOfOrder = 0
  mismatched = 0
  errors: Record<string, number> = {}
  closes: Record<string, number> = {}

  constructor(
    readonly no: number,
    readonly set: ConnSet,
    readonly n: number,
    readonly members: number,
  ) {
    this.sendAt = new Float64Array(n)
    this.ackAt = new Float64Array(n)
    this.bodies = new Array<string>(n)
    this.delivered = new Uint8Array(n)
    this.lat = new Float64Array(n * members)
    this.worst = new Float64Array(n)
    this.lag = new Float64Array(n)
  }

  error(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1
  }

  deliver(i: number, t: number, body: string): void {
    const d = ++this.delivered[i]!
    if (d > this.members) {
      this.duplicates++
      return
    }
    if (body !== this.bodies[i]) this.mismatched++
    this.deliveredTotal++
    const l = t - this.sendAt[i]!
    this.lat[this.latN++] = l
    if (l > this.worst[i]!) this.worst[i] = l
  }
}

let setup: LoadSetup
/** Sealed envelopes per connection spec (index into setup.conns). */
let pools: string[][] = []
/** Highest seq seen per room and ledger, so a reconnect subscribes from there (no replay). */
const known: Record<Ledger, Map<number, number>> = {
  api: new Map(),
  baseline: new Map(),
  durable: new Map(),
}
/** Messages each device has sent, across sets: picks the next envelope of its pool. */
let sentBy: Uint32Array
const sets = new Map<string, ConnSet>()
let cur: Step | undefined
let stepNo = 0
const nonce = randomBytes(6).toString('base64url')

function send(msg: FromLoad): void {
  process.send!(msg)
}

async function init(setupFile: string): Promise<void> {
  await cryptoReady()
  setup = JSON.parse(await readFile(setupFile, 'utf8')) as LoadSetup
  const t0 = performance.now()
  sentBy = new Uint32Array(setup.conns.length)
  pools = setup.conns.map(() => [])
  const byRoom: number[][] = setup.rooms.map(() => [])
  setup.conns.forEach((c, i) => (byRoom[c.room]![c.member] = i))
  let sealed = 0
  for (let r = 0; r < setup.rooms.length; r++) {
    const spec = setup.rooms[r]!
    const members = byRoom[r]!.map((i) => setup.conns[i]!)
    for (const i of byRoom[r]!) {
      const session = await loadSession({
        roomId: spec.roomId,
        genesis: spec.genesis,
        epochSecret: spec.epochSecret,
        me: setup.conns[i]!,
        members,
      })
      for (let k = 0; k < setup.pool; k++) {
        pools[i]!.push(session.seal(textOf(setup.plaintextBytes), LOG_HEAD).body)
        sealed++
      }
    }
  }
  const sample = pools[0]?.[0] ?? ''
  send({
    t: 'ready',
    sealed,
    sealMs: Math.round(performance.now() - t0),
    envelopeBytes: Math.floor((sample.length * 3) / 4),
  })
}

/** One WebSocket per member device, all connected to one target. */
class ConnSet {
  readonly rooms: Room[]
  readonly conns: Conn[]
  /** Index of each conn in setup.conns (for its pool and counters). */
  readonly specIndex = new Map<Conn, number>()

  constructor(
    readonly name: string,
    readonly ledger: Ledger,
  ) {
    this.rooms = setup.rooms.map((r, index) => ({
      roomId: r.roomId,
      index,
      conns: [],
      seqToMsg: new Map(),
      early: new Map(),
    }))
    this.conns = setup.conns.map((spec, i) => {
      const c: Conn = { spec, ws: undefined, lastSeq: 0, pool: pools[i]!, onSubscribed: undefined }
      this.specIndex.set(c, i)
      this.rooms[spec.room]!.conns[spec.member] = c
      return c
    })
  }

  onFrame(c: Conn, data: string): void {
    const f = JSON.parse(data) as {
      t: string
      room?: string
      seq?: number
      id?: string
      body?: string
      code?: string
      head?: number
    }
    const room = this.rooms[c.spec.room]!
    const step = cur?.set === this ? cur : undefined
    switch (f.t) {
      case 'ev': {
        const seq = f.seq!
        if (f.room !== room.roomId) {
          step?.error('wrong-room')
          return
        }
        if (seq <= c.lastSeq) {
          if (step) step.duplicates++
          return
        }
        if (seq !== c.lastSeq + 1 && step) step.outOfOrder++
        c.lastSeq = seq
        const k = known[this.ledger]
        if ((k.get(room.index) ?? 0) < seq) k.set(room.index, seq)
        if (!step) return
        const t = performance.now()
        const i = room.seqToMsg.get(seq)
        if (i === undefined) {
          let list = room.early.get(seq)
          if (!list) room.early.set(seq, (list = []))
          list.push({ t, body: f.body! })
        } else {
          step.deliver(i, t, f.body!)
        }
        return
      }
      case 'ack': {
        if (!step || !f.id) return
        const dot = f.id.indexOf('.')
        if (Number(f.id.slice(0, dot)) !== step.no) return
        const i = Number(f.id.slice(dot + 1))
        if (step.ackAt[i] !== 0) return
        step.ackAt[i] = performance.now()
        step.acked++
        room.seqToMsg.set(f.seq!, i)
        const early = room.early.get(f.seq!)
        if (early) {
          room.early.delete(f.seq!)
          for (const e of early) step.deliver(i, e.t, e.body)
        }
        return
      }
      case 'err': {
        if (!step) return
        step.error(f.code ?? 'err')
        if (f.id) {
          const dot = f.id.indexOf('.')
          if (Number(f.id.slice(0, dot)) === step.no) step.failed++
        }
        return
      }
      case 'subscribed': {
        c.lastSeq = Math.min(c.lastSeq, f.head ?? 0)
        c.onSubscribed?.()
        c.onSubscribed = undefined
        return
      }
    }
  }

  private open(c: Conn, base: string, auth: boolean): Promise<void> {
    const wsBase = base.replace(/^http/, 'ws')
    const url = auth ? `${wsBase}/ws` : `${wsBase}/ws?u=${encodeURIComponent(c.spec.userId)}`
    const protocols = auth ? ['vs.v1', `vs.auth.${c.spec.token}`] : ['vs.v1']
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, {
        perMessageDeflate: false,
        skipUTF8Validation: true,
      })
      c.ws = ws
      const cursor = known[this.ledger].get(c.spec.room) ?? (this.ledger === 'api' ? 1 : 0)
      c.lastSeq = cursor
      const timer = setTimeout(() => reject(new Error(`subscribe timed out (${url})`)), 60_000)
      c.onSubscribed = () => {
        clearTimeout(timer)
        resolve()
      }
      ws.on('open', () => {
        ws.send(JSON.stringify({ t: 'sub', rooms: { [this.rooms[c.spec.room]!.roomId]: cursor } }))
      })
      ws.on('message', (data: Buffer) => this.onFrame(c, data.toString()))
      ws.on('close', (code: number) => {
        if (c.ws === ws) c.ws = undefined
        if (cur?.set === this) cur.closes[String(code)] = (cur.closes[String(code)] ?? 0) + 1
        clearTimeout(timer)
        reject(new Error(`closed ${code} before subscribing (${url})`))
      })
      ws.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  /** Connects the set's first `upTo` sockets (all by default) that are not connected yet. */
  async connect(urls: string[], auth: boolean, upTo = this.conns.length): Promise<void> {
    const half = Math.floor(setup.members / 2)
    let idx = 0
    const worker = async () => {
      while (idx < upTo) {
        const c = this.conns[idx++]!
        if (c.ws) continue
        const url = urls.length > 1 && c.spec.member >= half ? urls[1]! : urls[0]!
        await this.open(c, url, auth)
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker))
  }

  async disconnect(): Promise<void> {
    const waits: Promise<unknown>[] = []
    for (const c of this.conns) {
      const ws = c.ws
      if (!ws) continue
      waits.push(
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve()
          ws.once('close', () => resolve())
          const t = setTimeout(() => {
            ws.terminate()
            resolve()
          }, 5000)
          t.unref()
          ws.close(1000, 'bench done')
        }),
      )
      c.ws = undefined
    }
    await Promise.all(waits)
  }

  async settle(timeoutMs: number): Promise<void> {
    const t0 = performance.now()
    const heads = () =>
      this.rooms.map((r) => {
        const seqs = r.conns.filter((c) => c.ws).map((c) => c.lastSeq)
        const max = seqs.length ? Math.max(...seqs) : 0
        const min = seqs.length ? Math.min(...seqs) : 0
        return { roomId: r.roomId, min, max, behind: seqs.reduce((n, s) => n + (max - s), 0) }
      })
    let h = heads()
    while (h.some((r) => r.behind > 0) && performance.now() - t0 < timeoutMs) {
      await new Promise((r) => setTimeout(r, 20))
      h = heads()
    }
    send({ t: 'settled', rooms: h, ms: Math.round(performance.now() - t0) })
  }
}

function setOf(name: string): ConnSet {
  const s = sets.get(name)
  if (!s) throw new Error(`no connection set ${name}`)
  return s
}

function percentiles(values: Float64Array): Percentiles {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  const s = values.slice().sort()
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!
  let sum = 0
  for (const v of s) sum += v
  const r = (n: number) => Math.round(n * 100) / 100
  return {
    p50: r(at(0.5)),
    p90: r(at(0.9)),
    p99: r(at(0.99)),
    p999: r(at(0.999)),
    max: r(s[s.length - 1]!),
    mean: r(sum / s.length),
  }
}

async function step(cmd: Extract<ToLoad, { t: 'step' }>): Promise<void> {
  const set = setOf(cmd.set)
  const rooms = set.rooms
  const R = rooms.length
  const M = setup.members
  const n = Math.max(1, Math.round((cmd.rate * cmd.durationMs) / 1000))
  const s = new Step(++stepNo, set, n, M)
  for (const r of rooms) {
    r.seqToMsg.clear()
    r.early.clear()
  }
  cur = s
  const interval = 1000 / cmd.rate
  const t0 = performance.now() + 5
  let next = 0
  const sendOne = (i: number, now: number) => {
    const room = rooms[i % R]!
    const c = room.conns[Math.floor(i / R) % M]!
    const k = set.specIndex.get(c)!
    const body = c.pool[sentBy[k]!++ % c.pool.length]!
    s.bodies[i] = body
    s.sendAt[i] = t0 + i * interval
    s.lag[i] = now - s.sendAt[i]!
    const ws = c.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      s.error('socket-closed')
      s.failed++
      return
    }
    ws.send(
      `{"t":"send","id":"${s.no}.${i}","room":"${room.roomId}","idem":"${nonce}${s.no}x${i}","dev":"${c.spec.deviceId}","body":"${body}"}`,
    )
    s.sent++
  }
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      const due = Math.min(n, Math.floor((now - t0) / interval) + 1)
      while (next < due) sendOne(next++, now)
      if (next < n) setTimeout(tick, 1)
      else resolve()
    }
    setTimeout(tick, 5)
  })
  const lastScheduled = t0 + (n - 1) * interval
  const expected = s.sent * M
  await new Promise<void>((resolve) => {
    const check = () => {
      const done = s.deliveredTotal >= expected && s.acked + s.failed >= s.sent
      if (done || performance.now() - lastScheduled > cmd.drainMs) resolve()
      else setTimeout(check, 5)
    }
    check()
  })
  const tailMs = Math.max(0, performance.now() - lastScheduled)
  cur = undefined
  const acks = new Float64Array(s.acked)
  let k = 0
  for (let i = 0; i < n; i++) if (s.ackAt[i]! > 0) acks[k++] = s.ackAt[i]! - s.sendAt[i]!
  const lag = percentiles(s.lag)
  if (process.env.BENCH_TRACE) await writeTrace(process.env.BENCH_TRACE, cmd, s, t0)
  const result: StepResult = {
    label: cmd.label,
    rate: cmd.rate,
    durationMs: cmd.durationMs,
    sent: s.sent,
    acked: s.acked,
    errors: s.errors,
    expected: n * M,
    delivered: s.deliveredTotal,
    duplicates: s.duplicates,
    lost: n * M - s.deliveredTotal,
    outOfOrder: s.outOfOrder,
    mismatched: s.mismatched,
    latency: percentiles(s.lat.subarray(0, s.latN)),
    ack: percentiles(acks),
    sendLagMaxMs: lag.max,
    sendLagP99Ms: lag.p99,
    deliveriesPerS: Math.round(s.deliveredTotal / ((lastScheduled - t0 + interval) / 1000)),
    closes: s.closes,
    tailMs: Math.round(tailMs),
  }
  send({ t: 'step', result })
}

async function writeTrace(
  dir: string,
  cmd: { label: string; rate: number },
  s: Step,
  t0: number,
): Promise<void> {
  const lines = ['sent_ms,send_lag_ms,ack_ms,worst_delivery_ms']
  for (let i = 0; i < s.n; i++) {
    const ack = s.ackAt[i]! > 0 ? (s.ackAt[i]! - s.sendAt[i]!).toFixed(2) : ''
    lines.push(
      `${(s.sendAt[i]! - t0).toFixed(2)},${s.lag[i]!.toFixed(2)},${ack},${s.worst[i]!.toFixed(2)}`,
    )
  }
  await mkdir(dir, { recursive: true })
  const name = `${cmd.label.replace(/\W+/g, '_')}-${cmd.rate}-${s.no}.csv`
  await writeFile(path.join(dir, name), lines.join('\n') + '\n')
}

process.on('message', (msg: ToLoad) => {
  const run = async () => {
    switch (msg.t) {
      case 'init':
        return init(msg.setupFile)
      case 'connect': {
        const t0 = performance.now()
        let set = sets.get(msg.set)
        if (set?.conns.every((c) => c.ws)) throw new Error(`set ${msg.set} is connected`)
        if (!set) {
          set = new ConnSet(msg.set, msg.ledger)
          sets.set(msg.set, set)
        }
        const before = set.conns.filter((c) => c.ws).length
        await set.connect(msg.urls, msg.auth, msg.upTo)
        return send({
          t: 'connected',
          conns: set.conns.filter((c) => c.ws).length - before,
          ms: Math.round(performance.now() - t0),
        })
      }
      case 'step':
        return step(msg)
      case 'settle':
        return setOf(msg.set).settle(msg.timeoutMs)
      case 'disconnect': {
        await setOf(msg.set).disconnect()
        sets.delete(msg.set)
        return send({ t: 'disconnected' })
      }
      case 'exit':
        process.exit(0)
    }
  }
  run().catch((err: unknown) => send({ t: 'error', message: (err as Error).stack ?? String(err) }))
})
process.on('disconnect', () => process.exit(0))
