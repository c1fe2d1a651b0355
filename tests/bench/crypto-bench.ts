/**
 * Client crypto: the SDK's encrypt+sign (RoomSession.seal) and verify+decrypt
 * (RoomSession.ingest) per message, against a bare libsodium loop doing the same
 * primitives in the same process (XChaCha20-Poly1305 over the padded plaintext with the
 * header as associated data, Ed25519 over header ‖ nonce ‖ ciphertext). Ratio = bare
 * time / SDK time (1.0 = the SDK costs nothing on top). Then a room history of
 * `historyMessages` envelopes verified and decrypted by the SDK inside Chromium: on the
 * page's thread alone, then as the web app runs it, with the SDK's pool of open workers
 * (one per core, started before the room is opened, as at app startup).
 */
import { access } from 'node:fs/promises'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  cryptoReady,
  createGenesis,
  encode,
  encodeHeader,
  fromB64,
  generateBoxKeyPair,
  generateSigningKeyPair,
  newEpochSecret,
  parseEnvelope,
  randomId,
  senderKey,
  serializeCommit,
  sodium,
  toB64,
} from '@vs/crypto'
import type { RoomSession } from '@vs/client/rooms'
import { benchDir, repoRoot, round2 } from './procs.js'
import { LOG_HEAD, loadSession, textOf, type MeWire } from './sdk-session.js'
import type { HistoryInput, HistoryOutput } from './history-page.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export interface CryptoResult {
  node: {
    messages: number
    envelopeBytes: number
    sealUs: number
    bareSealUs: number
    sealRatio: number
    openUs: number
    bareOpenUs: number
    openRatio: number
  }
  browser:
    | {
        chromium: string
        messages: number
        /** The SDK as the web app runs it: with its pool of open workers. */
        historyMs: number
        perMessageUs: number
        /** Open workers in that pool (navigator.hardwareConcurrency). */
        workers: number
        /** Time for the pool to start and load libsodium (at app startup, not per room). */
        poolStartMs: number
        /** The SDK without workers: one by one on the page's thread. */
        singleThreadMs: number
        bareMs: number
        ratio: number
      }
    | { skipped: string }
  /** The lower of the seal and open ratios. */
  ratio: number
}

function member(): MeWire {
  const s = generateSigningKeyPair()
  const b = generateBoxKeyPair()
  return {
    userId: randomId(),
    deviceId: randomId(),
    signPk: toB64(s.publicKey),
    signSk: toB64(s.privateKey),
    boxPk: toB64(b.publicKey),
    boxSk: toB64(b.privateKey),
  }
}

function makeRoom(n: number) {
  const members = Array.from({ length: n }, member)
  const roomId = randomId()
  const genesis = createGenesis({
    roomId,
    kind: 'case',
    committer: { userId: members[0]!.userId, deviceId: members[0]!.deviceId },
    signPrivateKey: fromB64(members[0]!.signSk),
    members: members.map((m, i) => ({
      userId: m.userId,
      kind: 'user' as const,
      role: i === 0 ? ('admin' as const) : ('member' as const),
      devices: [m.deviceId],
    })),
    logHead: LOG_HEAD,
    createdAt: Date.now(),
  })
  return {
    roomId,
    genesis: toB64(serializeCommit(genesis)),
    epochSecret: toB64(newEpochSecret()),
    members,
  }
}

type Room = ReturnType<typeof makeRoom>

const session = (room: Room, me: MeWire): Promise<RoomSession> =>
  loadSession({ ...room, me, members: room.members })

function best(xs: number[]): number {
  return Math.min(...xs)
}

async function nodeBench(messages: number, plaintextBytes: number) {
  const room = makeRoom(2)
  const [a, b] = room.members as [MeWire, MeWire]
  const sender = await session(room, a)
  const receiver = await session(room, b)
  const content = textOf(plaintextBytes)
  const s = sodium()

  // Bare material shaped like the SDK's: header-sized associated data, padded plaintext.
  const sample = parseEnvelope(fromB64(sender.seal(content, LOG_HEAD).body))
  const ad = encodeHeader(sample.header)
  const padded = new Uint8Array(sample.ciphertext.length - 16)
  const key = s.crypto_aead_xchacha20poly1305_ietf_keygen()
  const signSk = fromB64(a.signSk)
  const signPk = fromB64(a.signPk)
  const secret = fromB64(room.epochSecret)

  const rounds = 3
  const seal: number[] = []
  const bareSeal: number[] = []
  const open: number[] = []
  const bareOpen: number[] = []
  let seq = 2 // seq 1 is the genesis; the sample above was never delivered
  // Warm up both paths (JIT) before timing.
  for (let i = 0; i < 200; i++) sender.seal(content, LOG_HEAD)
  for (let r = 0; r < rounds; r++) {
    let t = performance.now()
    for (let i = 0; i < messages; i++) {
      const nonce = s.randombytes_buf(24)
      const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, null, nonce, key)
      s.crypto_sign_detached(encode('msg/v1', ad, nonce, ct), signSk)
    }
    bareSeal.push(((performance.now() - t) * 1000) / messages)

    t = performance.now()
    const bodies: string[] = new Array<string>(messages)
    for (let i = 0; i < messages; i++) bodies[i] = sender.seal(content, LOG_HEAD).body
    seal.push(((performance.now() - t) * 1000) / messages)

    // Open: the same envelopes, bare (parsed ahead) and through the SDK's ingest.
    const work = bodies.map((body) => {
      const env = parseEnvelope(fromB64(body))
      const h = encodeHeader(env.header)
      return {
        h,
        env,
        signed: encode('msg/v1', h, env.nonce, env.ciphertext),
        key: senderKey(secret, env.header.senderUserId, env.header.senderDeviceId),
      }
    })
    t = performance.now()
    for (const w of work) {
      if (!s.crypto_sign_verify_detached(w.env.signature, w.signed, signPk)) throw new Error('bad')
      s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, w.env.ciphertext, w.h, w.env.nonce, w.key)
    }
    bareOpen.push(((performance.now() - t) * 1000) / messages)

    const events = bodies.map((body) => ({
      seq: seq++,
      kind: 'message' as const,
      from: a.userId,
      dev: a.deviceId,
      at: Date.now(),
      body,
    }))
    const before = receiver.timeline.length
    t = performance.now()
    await receiver.ingest(events)
    open.push(((performance.now() - t) * 1000) / messages)
    const added = receiver.timeline.slice(before)
    if (added.length !== messages || added.some((x) => x.kind !== 'message'))
      throw new Error('the SDK did not open every message')
  }
  const sealUs = round2(best(seal))
  const bareSealUs = round2(best(bareSeal))
  const openUs = round2(best(open))
  const bareOpenUs = round2(best(bareOpen))
  return {
    messages,
    envelopeBytes: fromB64(sender.seal(content, LOG_HEAD).body).length,
    sealUs,
    bareSealUs,
    sealRatio: round2(bareSealUs / sealUs),
    openUs,
    bareOpenUs,
    openRatio: round2(bareOpenUs / openUs),
  }
}

/** Seals a history from 11 members' devices for the 12th, in the SDK. */
async function makeHistory(messages: number, plaintextBytes: number): Promise<HistoryInput> {
  const room = makeRoom(12)
  const senders = await Promise.all(room.members.slice(1).map((m) => session(room, m)))
  const content = textOf(plaintextBytes)
  const events: HistoryInput['events'] = []
  for (let i = 0; i < messages; i++) {
    const k = i % senders.length
    const m = room.members[k + 1]!
    events.push({
      seq: i + 2,
      from: m.userId,
      dev: m.deviceId,
      at: Date.now(),
      body: senders[k]!.seal(content, LOG_HEAD).body,
    })
  }
  return { ...room, me: room.members[0]!, events }
}

async function browserBench(
  messages: number,
  plaintextBytes: number,
  log: (s: string) => void,
): Promise<CryptoResult['browser']> {
  try {
    await access(CHROMIUM)
  } catch {
    return { skipped: `no Chromium at ${CHROMIUM}` }
  }
  const esbuild = await import('esbuild')
  const { chromium } = await import('playwright-core')
  const build = async (entry: string) =>
    (
      await esbuild.build({
        entryPoints: [entry],
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'browser',
        target: 'es2022',
        conditions: ['browser'],
        minify: true,
        logLevel: 'error',
      })
    ).outputFiles[0]!.text
  const code = await build(path.join(benchDir, 'history-page.ts'))
  // The web app serves this as its own script; here it becomes a blob: URL in the page.
  const workerScript = await build(
    path.join(repoRoot, 'packages', 'crypto', 'src', 'room', 'open-worker.ts'),
  )
  const t0 = performance.now()
  const input = await makeHistory(messages, plaintextBytes)
  log(`crypto: sealed a ${messages}-message history in ${Math.round(performance.now() - t0)} ms`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  })
  try {
    const page = await browser.newPage()
    await page.setContent('<!doctype html><title>history bench</title>')
    await page.addScriptTag({ content: code })
    type Page = {
      vsHistoryBench: (i: HistoryInput, withBare: boolean) => Promise<HistoryOutput>
      vsStartOpenPool: (script: string) => Promise<{ workers: number; startMs: number }>
    }
    const run = async (i: HistoryInput, withBare: boolean) => {
      const out = await page.evaluate(
        ([x, bare]) => (globalThis as unknown as Page).vsHistoryBench(x, bare),
        [i, withBare] as const,
      )
      if (out.opened !== i.events.length || out.undecryptable !== 0)
        throw new Error(
          `Chromium opened ${out.opened}/${i.events.length} (${out.undecryptable} refused)`,
        )
      return out
    }
    // A short warm-up history (a fresh room), so the timed run is not the page's first JIT.
    const warmUp = await makeHistory(200, plaintextBytes)
    await run(warmUp, false)
    const single = await run(input, false)
    // Then as the web app runs: its pool of open workers, started at app startup.
    const pool = await page.evaluate(
      (script) => (globalThis as unknown as Page).vsStartOpenPool(script),
      workerScript,
    )
    await run(warmUp, false)
    const out = await run(input, true)
    if (out.workers !== pool.workers) throw new Error('the SDK did not use its open workers')
    return {
      chromium: browser.version(),
      messages,
      historyMs: round2(out.historyMs),
      perMessageUs: round2((out.historyMs * 1000) / messages),
      workers: out.workers,
      poolStartMs: round2(pool.startMs),
      singleThreadMs: round2(single.historyMs),
      bareMs: round2(out.bareMs),
      ratio: round2(out.bareMs / out.historyMs),
    }
  } finally {
    await browser.close()
  }
}

export async function runCryptoBench(o: {
  messages: number
  historyMessages: number
  plaintextBytes: number
  log: (s: string) => void
}): Promise<CryptoResult> {
  await cryptoReady()
  const node = await nodeBench(o.messages, o.plaintextBytes)
  o.log(
    `crypto (Node): seal ${node.sealUs} µs vs bare ${node.bareSealUs} µs (×${node.sealRatio}); ` +
      `open ${node.openUs} µs vs bare ${node.bareOpenUs} µs (×${node.openRatio})`,
  )
  const browser =
    o.historyMessages > 0
      ? await browserBench(o.historyMessages, o.plaintextBytes, o.log)
      : { skipped: 'not requested' }
  if ('historyMs' in browser)
    o.log(
      `crypto (Chromium ${browser.chromium}): ${browser.messages} messages verified and ` +
        `decrypted in ${browser.historyMs} ms with ${browser.workers} open workers ` +
        `(${browser.singleThreadMs} ms on the page's thread alone; bare loop ` +
        `${browser.bareMs} ms; pool start ${browser.poolStartMs} ms)`,
    )
  return { node, browser, ratio: Math.min(node.sealRatio, node.openRatio) }
}

const HELP = `Usage: tsx tests/bench/crypto-bench.ts [options]

Runs only the client crypto part of \`pnpm bench\` (docs/benchmarks.md, items 7 and 8): the
SDK's seal and open against a bare libsodium loop in Node, then a room history verified
and decrypted by the SDK in headless Chromium. Needs no database or server.

Options:
  --messages <n>   envelopes per timed Node round (default 2000, as the full profile)
  --history <n>    messages in the Chromium history (default 10000; 0 skips Chromium)
  --bytes <n>      plaintext bytes per message (default 100)
  --json           print the result as JSON on stdout
  --help           this text

Environment: CHROMIUM_PATH (default /usr/bin/chromium).
`

async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP)
    return
  }
  const opts = { messages: 2000, history: 10_000, bytes: 100 }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    const key = a === '--messages' || a === '--history' || a === '--bytes' ? a.slice(2) : undefined
    if (a === '--json') continue
    const v = Number(args[i + 1])
    if (!key || !Number.isSafeInteger(v) || v < 0) {
      process.stderr.write(`crypto-bench: bad option ${a}\n\n${HELP}`)
      process.exitCode = 2
      return
    }
    opts[key as keyof typeof opts] = v
    i++
  }
  const result = await runCryptoBench({
    messages: opts.messages,
    historyMessages: opts.history,
    plaintextBytes: opts.bytes,
    log: (line) => process.stderr.write(line + '\n'),
  })
  if (args.includes('--json')) process.stdout.write(JSON.stringify(result) + '\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`crypto-bench: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
