/**
 * Client crypto: the SDK's encrypt+sign (RoomSession.seal) and verify+decrypt
 * (RoomSession.ingest) per message, against a bare libsodium loop doing the same
 * primitives in the same process (XChaCha20-Poly1305 over the padded plaintext with the
 * header as associated data, Ed25519 over header ‖ nonce ‖ ciphertext). Ratio = bare
 * time / SDK time (1.0 = the SDK costs nothing on top). Then a room history of
 * `historyMessages` envelopes verified and decrypted by the SDK inside Chromium.
 */
import { access } from 'node:fs/promises'
import path from 'node:path'
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
import { benchDir, round2 } from './procs.js'
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
        historyMs: number
        perMessageUs: number
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
  const bundle = await esbuild.build({
    entryPoints: [path.join(benchDir, 'history-page.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    conditions: ['browser'],
    minify: true,
    logLevel: 'error',
  })
  const code = bundle.outputFiles[0]!.text
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
    const run = (i: HistoryInput) =>
      page.evaluate(
        (x) =>
          (
            globalThis as unknown as { vsHistoryBench: (i: HistoryInput) => Promise<HistoryOutput> }
          ).vsHistoryBench(x),
        i,
      )
    // A short warm-up history (a fresh room), so the timed run is not the page's first JIT.
    await run(await makeHistory(200, plaintextBytes))
    const out = await run(input)
    if (out.opened !== messages || out.undecryptable !== 0)
      throw new Error(`Chromium opened ${out.opened}/${messages} (${out.undecryptable} refused)`)
    return {
      chromium: browser.version(),
      messages,
      historyMs: round2(out.historyMs),
      perMessageUs: round2((out.historyMs * 1000) / messages),
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
        `decrypted in ${browser.historyMs} ms (bare loop ${browser.bareMs} ms)`,
    )
  return { node, browser, ratio: Math.min(node.sealRatio, node.openRatio) }
}
