/**
 * Verifying and decrypting many envelopes at once (a page of room history) across Web
 * Workers. Only the pure half of opening runs there: the Ed25519 signature over signing
 * bytes the caller built, XChaCha20-Poly1305 and the padding, with keys the caller chose
 * after its own checks. Every check that depends on the room or on earlier messages (room,
 * epoch and commit, membership in that epoch, a verified device, this device's key,
 * counters and replays) stays with the caller, in the room's order: see
 * `prepareOpen`/`finishOpen` in envelope.ts, which `openEnvelope` is made of too.
 *
 * Workers run `open-worker.ts`, bundled as a script of its own and served from the app's
 * origin (the CSP allows no other), e.g.
 * `startOpenPool({ createWorker: () => new Worker('/open-worker.js') })` at startup, so
 * libsodium is loaded in the workers before the first room opens. The derived sender keys
 * of the page travel to the workers by `postMessage`; they stay in this browser tab.
 */
import { cryptoReady } from '../sodium.js'
import { verifyAndDecryptSigned, type PendingOpen, type Verified } from './envelope.js'
import { SIGNATURE_BYTES, SIGN_PUBLIC_KEY_BYTES, AEAD_KEY_BYTES } from './primitives.js'

/**
 * Anything that verifies and decrypts pending envelopes: one {@link Verified} per job, in
 * the jobs' order. Fails by rejecting (then the caller does the work itself).
 */
export interface OpenRunner {
  run(jobs: readonly PendingOpen[]): Promise<Verified[]>
}

/** A batch sent to a worker: per job `signature ‖ public key ‖ [key] ‖ signed` in `data`. */
export interface OpenBatchRequest {
  id: number
  data: ArrayBuffer
  /** Per job: offset in `data`, length of `signed`, and {@link HAS_KEY} | {@link NO_PUBLIC_KEY}. */
  index: Uint32Array
}

/** A worker's answer: a status per job and the plaintexts, one after another in `data`. */
export interface OpenBatchResponse {
  id: number
  status: Uint8Array
  data: ArrayBuffer
  /** Per job: offset and length of its plaintext in `data`. */
  index: Uint32Array
  error?: string
}

/** Flags of a job: a sender key follows the public key; the public key is unusable. */
const HAS_KEY = 1
const NO_PUBLIC_KEY = 2

const BAD_SIGNATURE = 0
const VERIFIED = 1
const DECRYPT_FAILED = 2
const BAD_PADDING = 3
const OPENED = 4

/** Packs jobs into one transferable buffer. */
export function packOpenBatch(id: number, jobs: readonly PendingOpen[]): OpenBatchRequest {
  let size = 0
  for (const j of jobs) {
    size += SIGNATURE_BYTES + SIGN_PUBLIC_KEY_BYTES + (j.key ? AEAD_KEY_BYTES : 0) + j.signed.length
  }
  const usablePk = (j: PendingOpen) => j.signPk.length === SIGN_PUBLIC_KEY_BYTES
  const data = new Uint8Array(size)
  const index = new Uint32Array(jobs.length * 3)
  let off = 0
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i]!
    index[i * 3] = off
    index[i * 3 + 1] = j.signed.length
    index[i * 3 + 2] = (j.key ? HAS_KEY : 0) | (usablePk(j) ? 0 : NO_PUBLIC_KEY)
    // The signature has its exact length (the envelope was normalized) and sender keys
    // are BLAKE2b-256 outputs; a public key of another length verifies nothing.
    data.set(j.envelope.signature, off)
    off += SIGNATURE_BYTES
    if (usablePk(j)) data.set(j.signPk, off)
    off += SIGN_PUBLIC_KEY_BYTES
    if (j.key) {
      data.set(j.key, off)
      off += AEAD_KEY_BYTES
    }
    data.set(j.signed, off)
    off += j.signed.length
  }
  return { id, data: data.buffer, index }
}

/** Runs a packed batch on this thread (what a worker does with each message). */
export function runOpenBatch(req: OpenBatchRequest): OpenBatchResponse {
  const data = new Uint8Array(req.data)
  const count = req.index.length / 3
  const status = new Uint8Array(count)
  const index = new Uint32Array(count * 2)
  const plaintexts: Uint8Array[] = []
  let outSize = 0
  for (let i = 0; i < count; i++) {
    let off = req.index[i * 3]!
    const signedLength = req.index[i * 3 + 1]!
    const signature = data.subarray(off, (off += SIGNATURE_BYTES))
    const signPk = data.subarray(off, (off += SIGN_PUBLIC_KEY_BYTES))
    const flags = req.index[i * 3 + 2]!
    const key = flags & HAS_KEY ? data.subarray(off, (off += AEAD_KEY_BYTES)) : undefined
    const signed = data.subarray(off, off + signedLength)
    let v: Verified = { signature: false }
    if (!(flags & NO_PUBLIC_KEY)) {
      try {
        v = verifyAndDecryptSigned(signed, signature, signPk, key)
      } catch {
        // Not signing bytes at all: nothing verifies.
      }
    }
    if (!v.signature) status[i] = BAD_SIGNATURE
    else if (v.plaintext) {
      status[i] = OPENED
      index[i * 2] = outSize
      index[i * 2 + 1] = v.plaintext.length
      plaintexts.push(v.plaintext)
      outSize += v.plaintext.length
    } else if (v.failure === 'decrypt') status[i] = DECRYPT_FAILED
    else if (v.failure === 'padding') status[i] = BAD_PADDING
    else status[i] = VERIFIED
  }
  const out = new Uint8Array(outSize)
  let off = 0
  for (const p of plaintexts) {
    out.set(p, off)
    off += p.length
  }
  return { id: req.id, status, data: out.buffer, index }
}

/** Unpacks a worker's answer into one {@link Verified} per job. */
export function unpackOpenBatch(res: OpenBatchResponse): Verified[] {
  const data = new Uint8Array(res.data)
  const out: Verified[] = new Array<Verified>(res.status.length)
  for (let i = 0; i < res.status.length; i++) {
    switch (res.status[i]) {
      case OPENED: {
        const off = res.index[i * 2]!
        out[i] = { signature: true, plaintext: data.slice(off, off + res.index[i * 2 + 1]!) }
        break
      }
      case VERIFIED:
        out[i] = { signature: true }
        break
      case DECRYPT_FAILED:
        out[i] = { signature: true, failure: 'decrypt' }
        break
      case BAD_PADDING:
        out[i] = { signature: true, failure: 'padding' }
        break
      default:
        out[i] = { signature: false }
    }
  }
  return out
}

/** Runs on this thread, for tests and for runtimes without workers. */
export const inlineOpenRunner: OpenRunner = {
  async run(jobs) {
    await cryptoReady()
    return unpackOpenBatch(runOpenBatch(packOpenBatch(0, jobs)))
  },
}

/** Options of {@link OpenPool}. */
export interface OpenPoolOptions {
  /** Starts one worker running the bundled `open-worker.ts`. */
  createWorker: () => Worker
  /** Number of workers; default `navigator.hardwareConcurrency` (1 to 4). */
  size?: number
}

interface PoolWorker {
  worker: Worker
  /** Jobs sent and not answered yet. */
  load: number
  pending: Map<
    number,
    { resolve: (r: Verified[]) => void; reject: (e: Error) => void; size: number }
  >
  broken: boolean
}

/** A fixed set of Web Workers verifying and decrypting batches of pending envelopes. */
export class OpenPool implements OpenRunner {
  private readonly workers: PoolWorker[] = []
  private nextId = 1

  constructor(opts: OpenPoolOptions) {
    const cores = typeof navigator === 'undefined' ? 1 : navigator.hardwareConcurrency || 1
    const size = Math.max(1, Math.min(opts.size ?? Math.min(cores, 4), 16))
    for (let i = 0; i < size; i++) {
      const w: PoolWorker = {
        worker: opts.createWorker(),
        load: 0,
        pending: new Map(),
        broken: false,
      }
      w.worker.onmessage = (e: MessageEvent<OpenBatchResponse>) => {
        const p = w.pending.get(e.data.id)
        if (!p) return
        w.pending.delete(e.data.id)
        w.load -= p.size
        if (e.data.error !== undefined) p.reject(new Error(`open worker: ${e.data.error}`))
        else p.resolve(unpackOpenBatch(e.data))
      }
      w.worker.onerror = (e: ErrorEvent) => {
        e.preventDefault()
        this.fail(w, new Error(`open worker failed: ${e.message}`))
      }
      // An answer that cannot be received would leave its batch waiting forever.
      w.worker.onmessageerror = () => this.fail(w, new Error('open worker: unreadable answer'))
      this.workers.push(w)
    }
  }

  private fail(w: PoolWorker, err: Error): void {
    w.broken = true
    w.worker.terminate()
    for (const p of w.pending.values()) p.reject(err)
    w.pending.clear()
    w.load = 0
  }

  /** Workers started (some may have failed since). */
  get size(): number {
    return this.workers.length
  }

  /** Verifies and decrypts `jobs` on the least loaded worker; rejects if none works. */
  run(jobs: readonly PendingOpen[]): Promise<Verified[]> {
    let best: PoolWorker | undefined
    for (const w of this.workers) if (!w.broken && (!best || w.load < best.load)) best = w
    if (!best) return Promise.reject(new Error('no open worker is running'))
    return this.send(best, jobs)
  }

  /**
   * Resolves once every worker has loaded libsodium and answered (call it at startup so
   * the first room does not wait for that); rejects if none works.
   */
  async ready(): Promise<void> {
    const answers = await Promise.allSettled(
      this.workers.filter((w) => !w.broken).map((w) => this.send(w, [])),
    )
    if (!answers.some((a) => a.status === 'fulfilled')) throw new Error('no open worker is running')
  }

  private send(w: PoolWorker, jobs: readonly PendingOpen[]): Promise<Verified[]> {
    const id = this.nextId++
    // Inside the executor, so that any failure is a rejection, never a throw.
    return new Promise<Verified[]>((resolve, reject) => {
      const req = packOpenBatch(id, jobs)
      w.pending.set(id, { resolve, reject, size: jobs.length })
      w.load += jobs.length
      w.worker.postMessage(req, [req.data, req.index.buffer])
    })
  }

  /** Stops the workers; pending batches are rejected. */
  close(): void {
    for (const w of this.workers) if (!w.broken) this.fail(w, new Error('open pool closed'))
    if (shared === this) shared = undefined
  }
}

let shared: OpenPool | undefined

/**
 * Starts the pool room sessions use for history pages (replacing one started before).
 * Call it once at startup in a browser; without it, sessions open on their own thread.
 */
export function startOpenPool(opts: OpenPoolOptions): OpenPool {
  shared?.close()
  shared = new OpenPool(opts)
  return shared
}

/** The pool started by {@link startOpenPool}, if any. */
export function sharedOpenPool(): OpenPool | undefined {
  return shared
}
