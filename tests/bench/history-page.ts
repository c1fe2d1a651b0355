/**
 * Bundled (esbuild, browser conditions) into the page the crypto bench opens in
 * Chromium: verifies and decrypts a room history with the SDK's RoomSession (one by one
 * on the page's thread, or with the pool of Web Workers the web app starts), then runs
 * the bare libsodium verify+decrypt loop over the same envelopes for comparison.
 */
import {
  cryptoReady,
  encodeHeader,
  encode,
  fromB64,
  parseEnvelope,
  senderKey,
  sharedOpenPool,
  sodium,
  startOpenPool,
} from '@vs/crypto'
import { loadSession, type MeWire, type MemberDeviceWire } from './sdk-session.js'

export interface HistoryInput {
  roomId: string
  genesis: string
  epochSecret: string
  me: MeWire
  members: MemberDeviceWire[]
  events: { seq: number; from: string; dev: string; at: number; body: string }[]
}

export interface HistoryOutput {
  messages: number
  opened: number
  undecryptable: number
  historyMs: number
  /** Open workers the SDK used (0: one by one on the page's thread). */
  workers: number
  bareMs: number
}

async function run(input: HistoryInput, withBare = true): Promise<HistoryOutput> {
  await cryptoReady()
  const session = await loadSession(input)
  const events = input.events.map((e) => ({ ...e, kind: 'message' as const }))
  const t0 = performance.now()
  await session.ingest(events)
  const historyMs = performance.now() - t0
  let opened = 0
  let undecryptable = 0
  for (const item of session.timeline) {
    if (item.kind === 'message') opened++
    else if (item.kind === 'undecryptable') undecryptable++
  }
  const workers = sharedOpenPool()?.size ?? 0
  if (!withBare)
    return { messages: events.length, opened, undecryptable, historyMs, workers, bareMs: 0 }

  // Bare libsodium: the same verify + decrypt, with parsing and key derivation done ahead.
  const s = sodium()
  const pks = new Map(input.members.map((m) => [`${m.userId}/${m.deviceId}`, fromB64(m.signPk)]))
  const secret = fromB64(input.epochSecret)
  const keys = new Map<string, Uint8Array>()
  const work = input.events.map((e) => {
    const env = parseEnvelope(fromB64(e.body))
    const id = `${env.header.senderUserId}/${env.header.senderDeviceId}`
    let key = keys.get(id)
    if (!key) {
      key = senderKey(secret, env.header.senderUserId, env.header.senderDeviceId)
      keys.set(id, key)
    }
    const ad = encodeHeader(env.header)
    return {
      pk: pks.get(id)!,
      key,
      ad,
      nonce: env.nonce,
      ct: env.ciphertext,
      sig: env.signature,
      signed: encode('msg/v1', ad, env.nonce, env.ciphertext),
    }
  })
  const t1 = performance.now()
  let good = 0
  for (const w of work) {
    if (!s.crypto_sign_verify_detached(w.sig, w.signed, w.pk)) continue
    s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, w.ct, w.ad, w.nonce, w.key)
    good++
  }
  const bareMs = performance.now() - t1
  if (good !== work.length) throw new Error(`bare loop verified ${good}/${work.length}`)
  return { messages: events.length, opened, undecryptable, historyMs, workers, bareMs }
}

/**
 * Starts the SDK's pool of open workers as the web app does at startup, from the bundled
 * open-worker script; resolves with the time until every worker had loaded libsodium.
 */
async function startPool(workerScript: string): Promise<{ workers: number; startMs: number }> {
  const url = URL.createObjectURL(new Blob([workerScript], { type: 'text/javascript' }))
  const t0 = performance.now()
  const pool = startOpenPool({ createWorker: () => new Worker(url) })
  await pool.ready()
  return { workers: pool.size, startMs: performance.now() - t0 }
}

const g = globalThis as unknown as {
  vsHistoryBench: typeof run
  vsStartOpenPool: typeof startPool
}
g.vsHistoryBench = run
g.vsStartOpenPool = startPool
