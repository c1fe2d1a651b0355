/**
 * Message envelopes.
 *
 * Sealing: the plaintext is padded to a size bucket (hides exact lengths), encrypted
 * with XChaCha20-Poly1305 IETF under the sender's key for the epoch with a random
 * 24-byte nonce and the canonical header as associated data, and the sender device signs
 * "msg/v1" ‖ header ‖ nonce ‖ ciphertext. The server sees the header (it routes and
 * orders by it) but can change nothing in it, nor in the ciphertext, undetected.
 *
 * Opening checks, in order: the room, the epoch is in the validated chain with the same
 * commit hash (no split view), the sender is a device of a member *in that epoch* (a
 * removed member's new messages are refused; a device the server added to its own
 * member list is unknown here), the signature, that this device holds the epoch secret,
 * that the (epoch, sender, counter) was not seen before (replays), then decryption.
 * Counters are per sender and epoch and start at 0, so a gap shows that the server
 * withheld messages; it is reported, not hidden.
 */
import { bytesEqual, decodeFields, encode, toB64 } from '../encoding.js'
import {
  epochRecord,
  isMemberDevice,
  type DeviceDirectory,
  type DeviceRef,
  type RoomState,
} from './commit.js'
import { EPOCH_SECRET_BYTES, senderKey, type OpenedWelcome } from './epoch.js'
import { EnvelopeError, WelcomeError, type EnvelopeErrorCode } from './errors.js'
import {
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  HASH_BYTES,
  SIGNATURE_BYTES,
  SIGN_PRIVATE_KEY_BYTES,
  aeadDecrypt,
  aeadEncrypt,
  hash,
  pad,
  randomBytes,
  sign,
  unpad,
  verify,
} from './primitives.js'
import {
  expectArray,
  expectB64,
  expectBytes,
  expectId,
  expectObject,
  expectUint,
  field,
  fieldsOf,
  readUint,
  type Fail,
} from './wire.js'

/** The clear-text, signed and authenticated part of an envelope. */
export interface EnvelopeHeader {
  v: 1
  roomId: string
  epoch: number
  /** Hash of the commit that started `epoch`. */
  commitHash: Uint8Array
  senderUserId: string
  senderDeviceId: string
  /** Per sender device and epoch, starting at 0, +1 per envelope. */
  counter: number
  /** Milliseconds since the Unix epoch, by the sender's clock. */
  sentAt: number
  /** e.g. 'text', 'file', 'afspraak', 'notice', 'read'. */
  type: string
  /** The sender's latest key-log head, so a split view of the key log shows in the room. */
  logHead: Uint8Array
}

/** A sealed message. */
export interface Envelope {
  header: EnvelopeHeader
  nonce: Uint8Array
  ciphertext: Uint8Array
  signature: Uint8Array
}

/** Parameters of {@link sealEnvelope}: the header fields, the plaintext and the keys. */
export interface SealEnvelopeParams extends Omit<EnvelopeHeader, 'v'> {
  plaintext: Uint8Array
  epochSecret: Uint8Array
  /** The sender device's Ed25519 private key. */
  signPrivateKey: Uint8Array
}

/** A range of counters, both ends included. */
export interface CounterRange {
  from: number
  to: number
}

/** An opened envelope. */
export interface OpenedEnvelope {
  header: EnvelopeHeader
  plaintext: Uint8Array
  /**
   * Counters of this sender and epoch skipped by this envelope (not received yet):
   * either in transit out of order, or withheld by the server. Empty when in sequence.
   */
  gaps: CounterRange[]
  /** True when this envelope fills an earlier reported gap (it arrived out of order). */
  late: boolean
}

/** Options of {@link openEnvelope}. */
export interface OpenOptions {
  /**
   * Refuse envelopes of epochs below this one. By default any epoch of the validated
   * chain is accepted (history must stay readable, and a message sealed just before a
   * commit may arrive just after it); a client that knows an envelope's place in the
   * room's order can pass the epoch current at that place minus the grace it allows.
   */
  minEpoch?: number
}

export const ENVELOPE_VERSION = 1
export const MAX_PLAINTEXT_BYTES = 1 << 20
const MIN_BUCKET = 256
const LARGE_BUCKET = 1 << 16
const MAX_PADDED_BYTES = MAX_PLAINTEXT_BYTES + LARGE_BUCKET
const MAX_CIPHERTEXT_BYTES = MAX_PADDED_BYTES + AEAD_TAG_BYTES
const MIN_CIPHERTEXT_BYTES = MIN_BUCKET + AEAD_TAG_BYTES
const TYPE = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** Ids are at most 128 characters and types 64: longer string fields are refused unread. */
const MAX_ASCII_FIELD = 128
/** Distinct outstanding gaps remembered per sender and epoch (older ones are dropped). */
export const MAX_GAP_RANGES = 1000

const malformed: Fail = (message) => new EnvelopeError('malformed', message)

function fail(code: EnvelopeErrorCode, message: string): EnvelopeError {
  return new EnvelopeError(code, message)
}

/**
 * The padded size for a plaintext of `length` bytes: powers of two from 256 bytes to
 * 64 KiB, then multiples of 64 KiB. sodium_pad always adds at least one byte.
 */
export function paddedLength(length: number): number {
  const n = length + 1
  if (n <= MIN_BUCKET) return MIN_BUCKET
  if (n <= LARGE_BUCKET) return 2 ** Math.ceil(Math.log2(n))
  return Math.ceil(n / LARGE_BUCKET) * LARGE_BUCKET
}

function normalizeHeader(h: EnvelopeHeader): EnvelopeHeader {
  if (typeof h !== 'object' || h === null) throw malformed('header must be an object')
  if (h.v !== ENVELOPE_VERSION) throw malformed('unsupported envelope version')
  if (typeof h.type !== 'string' || !TYPE.test(h.type)) throw malformed('invalid message type')
  return {
    v: 1,
    roomId: expectId(h.roomId, 'roomId', malformed),
    epoch: expectUint(h.epoch, 'epoch', malformed),
    commitHash: expectBytes(h.commitHash, HASH_BYTES, 'commitHash', malformed),
    senderUserId: expectId(h.senderUserId, 'senderUserId', malformed),
    senderDeviceId: expectId(h.senderDeviceId, 'senderDeviceId', malformed),
    counter: expectUint(h.counter, 'counter', malformed),
    sentAt: expectUint(h.sentAt, 'sentAt', malformed),
    type: h.type,
    logHead: expectBytes(h.logHead, 32, 'logHead', malformed),
  }
}

function normalizeEnvelope(e: Envelope): Envelope {
  if (typeof e !== 'object' || e === null) throw malformed('envelope must be an object')
  const ct = e.ciphertext
  if (
    !(ct instanceof Uint8Array) ||
    ct.length < MIN_CIPHERTEXT_BYTES ||
    ct.length > MAX_CIPHERTEXT_BYTES
  ) {
    throw malformed('ciphertext size out of range')
  }
  return {
    header: normalizeHeader(e.header),
    nonce: expectBytes(e.nonce, AEAD_NONCE_BYTES, 'nonce', malformed),
    ciphertext: ct,
    signature: expectBytes(e.signature, SIGNATURE_BYTES, 'signature', malformed),
  }
}

/** Canonical encoding of a header ("msg-header/v1"): the AEAD associated data. */
export function encodeHeader(h: EnvelopeHeader): Uint8Array {
  return encode(
    'msg-header/v1',
    h.v,
    h.roomId,
    h.epoch,
    h.commitHash,
    h.senderUserId,
    h.senderDeviceId,
    h.counter,
    h.sentAt,
    h.type,
    h.logHead,
  )
}

function signingBytes(headerBytes: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array) {
  return encode('msg/v1', headerBytes, nonce, ciphertext)
}

function checkedHeader(p: Omit<EnvelopeHeader, 'v'>): EnvelopeHeader {
  return normalizeHeader({
    v: 1,
    roomId: p.roomId,
    epoch: p.epoch,
    commitHash: p.commitHash,
    senderUserId: p.senderUserId,
    senderDeviceId: p.senderDeviceId,
    counter: p.counter,
    sentAt: p.sentAt,
    type: p.type,
    logHead: p.logHead,
  })
}

function checkPlaintext(plaintext: Uint8Array): void {
  if (!(plaintext instanceof Uint8Array) || plaintext.length > MAX_PLAINTEXT_BYTES) {
    throw malformed(`plaintext must be at most ${MAX_PLAINTEXT_BYTES} bytes`)
  }
}

/** Encrypts and signs under an already derived sender key; the header is encoded once. */
function sealWithKey(
  header: EnvelopeHeader,
  plaintext: Uint8Array,
  key: Uint8Array,
  signPrivateKey: Uint8Array,
): { envelope: Envelope; headerBytes: Uint8Array } {
  expectBytes(signPrivateKey, SIGN_PRIVATE_KEY_BYTES, 'signPrivateKey', malformed)
  const headerBytes = encodeHeader(header)
  const nonce = randomBytes(AEAD_NONCE_BYTES)
  const padded = pad(plaintext, paddedLength(plaintext.length))
  const ciphertext = aeadEncrypt(key, nonce, padded, headerBytes)
  const signature = sign(signPrivateKey, signingBytes(headerBytes, nonce, ciphertext))
  return { envelope: { header, nonce, ciphertext, signature }, headerBytes }
}

/** Pads, encrypts and signs a message. */
export function sealEnvelope(p: SealEnvelopeParams): Envelope {
  const header = checkedHeader(p)
  checkPlaintext(p.plaintext)
  expectBytes(p.epochSecret, EPOCH_SECRET_BYTES, 'epochSecret', malformed)
  const key = senderKey(p.epochSecret, header.senderUserId, header.senderDeviceId)
  return sealWithKey(header, p.plaintext, key, p.signPrivateKey).envelope
}

/** Parameters of {@link sealEnvelopeFor}: {@link SealEnvelopeParams} without the secret. */
export type SealForParams = Omit<SealEnvelopeParams, 'epochSecret'>

/** A sealed envelope in its canonical binary form. */
export interface SealedEnvelope {
  envelope: Envelope
  /** {@link serializeEnvelope} of `envelope`. */
  bytes: Uint8Array
  /** {@link envelopeHash} of `envelope`, computed on first use (only notices need it). */
  readonly hash: Uint8Array
}

class Sealed implements SealedEnvelope {
  private cachedHash: Uint8Array | undefined

  constructor(
    readonly envelope: Envelope,
    readonly bytes: Uint8Array,
  ) {}

  get hash(): Uint8Array {
    return (this.cachedHash ??= hashSerialized(this.bytes))
  }
}

/**
 * Seals like {@link sealEnvelope} with the epoch secret `receiver` holds for `p.epoch`
 * (and the sender key it derived before), and serializes the envelope in the same pass.
 * Throws {@link EnvelopeError} 'missing-key' when this device has no secret for the
 * epoch, and 'wrong-epoch' when the secret it holds belongs to another commit (receivers
 * would refuse the message).
 */
export function sealEnvelopeFor(receiver: ReceiverState, p: SealForParams): SealedEnvelope {
  const header = checkedHeader(p)
  checkPlaintext(p.plaintext)
  const epochKey = receiver.keyFor(header.epoch)
  if (!epochKey) throw fail('missing-key', `no secret for epoch ${header.epoch} on this device`)
  if (!bytesEqual(epochKey.commitHash, header.commitHash)) {
    throw fail('wrong-epoch', 'the secret held for this epoch belongs to another commit')
  }
  const key = cachedSenderKey(epochKey, header.senderUserId, header.senderDeviceId)
  const { envelope, headerBytes } = sealWithKey(header, p.plaintext, key, p.signPrivateKey)
  const bytes = encode(
    'envelope/v1',
    headerBytes,
    envelope.nonce,
    envelope.ciphertext,
    envelope.signature,
  )
  return new Sealed(envelope, bytes)
}

/** The one canonical binary form of an envelope (opaque to the server). */
export function serializeEnvelope(e: Envelope): Uint8Array {
  return encode('envelope/v1', encodeHeader(e.header), e.nonce, e.ciphertext, e.signature)
}

function hashSerialized(bytes: Uint8Array): Uint8Array {
  return hash(encode('envelope-hash/v1', bytes))
}

/** A hash naming one exact envelope (notices refer to their envelope by it). */
export function envelopeHash(e: Envelope): Uint8Array {
  return hashSerialized(serializeEnvelope(e))
}

/**
 * An identifier or type field. These must be ASCII (the header checks then refuse
 * anything but their printable subsets), and ASCII bytes are their own canonical UTF-8:
 * one byte per character, no multi-byte sequence or byte-order mark.
 */
function readAscii(b: Uint8Array, what: string): string {
  if (b.length > MAX_ASCII_FIELD) throw malformed(`${what} is too long`)
  for (let i = 0; i < b.length; i++) {
    if (b[i]! > 0x7f) throw malformed(`${what} must be ASCII`)
  }
  return String.fromCharCode.apply(null, b as unknown as number[])
}

/**
 * Parses the binary form made by {@link serializeEnvelope}, refusing anything that is
 * not exactly canonical or out of the size limits. Checks no signature: see
 * {@link openEnvelope}.
 *
 * Canonical without re-serializing: the framing is exact (every byte belongs to one
 * length-prefixed field, no trailing bytes, exact field counts and contexts), integers
 * are 8 bytes below 2^53, byte fields have their exact lengths, and string fields are
 * ASCII with one byte per character, so {@link serializeEnvelope} gives back these bytes.
 */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_CIPHERTEXT_BYTES + 4096) throw malformed('envelope too large')
  const [hb, nonce, ciphertext, signature] = fieldsOf(bytes, 'envelope/v1', 4, malformed)
  const f = fieldsOf(hb!, 'msg-header/v1', 10, malformed)
  return normalizeEnvelope({
    header: {
      v: readUint(field(f, 0, malformed), 'v', malformed) as 1,
      roomId: readAscii(field(f, 1, malformed), 'roomId'),
      epoch: readUint(field(f, 2, malformed), 'epoch', malformed),
      commitHash: field(f, 3, malformed).slice(),
      senderUserId: readAscii(field(f, 4, malformed), 'senderUserId'),
      senderDeviceId: readAscii(field(f, 5, malformed), 'senderDeviceId'),
      counter: readUint(field(f, 6, malformed), 'counter', malformed),
      sentAt: readUint(field(f, 7, malformed), 'sentAt', malformed),
      type: readAscii(field(f, 8, malformed), 'type'),
      logHead: field(f, 9, malformed).slice(),
    },
    nonce: nonce!.slice(),
    ciphertext: ciphertext!.slice(),
    signature: signature!.slice(),
  })
}

// ---------------------------------------------------------------------------------------
// Sender and receiver state

/** JSON form of a {@link SenderState}. */
export interface SenderStateJson {
  v: 1
  next: { epoch: number; counter: number }[]
}

/**
 * My next counter per epoch. Persist it after {@link SenderState.take} and before
 * sending: a counter used twice makes receivers refuse the second message as a replay.
 */
export class SenderState {
  private readonly nextByEpoch = new Map<number, number>()

  /** The counter to use for the next envelope in `epoch`, and advance it. */
  take(epoch: number): number {
    const n = this.peek(epoch)
    this.nextByEpoch.set(epoch, n + 1)
    return n
  }

  /** The counter the next envelope in `epoch` will get. */
  peek(epoch: number): number {
    return this.nextByEpoch.get(epoch) ?? 0
  }

  toJSON(): SenderStateJson {
    return {
      v: 1,
      next: [...this.nextByEpoch].map(([epoch, counter]) => ({ epoch, counter })),
    }
  }

  static fromJSON(json: unknown): SenderState {
    const rec = expectObject(json, ['v', 'next'], 'sender state', malformed)
    if (rec.v !== 1) throw malformed('unsupported sender state version')
    const s = new SenderState()
    for (const item of expectArray(rec.next, 1_000_000, 'next', malformed)) {
      const r = expectObject(item, ['epoch', 'counter'], 'next[]', malformed)
      s.nextByEpoch.set(
        expectUint(r.epoch, 'epoch', malformed),
        expectUint(r.counter, 'counter', malformed),
      )
    }
    return s
  }
}

interface CounterTrack {
  /** Highest counter received, -1 before the first. */
  max: number
  /** Counters below `max` not received yet, as sorted disjoint ranges. */
  missing: CounterRange[]
}

/** @internal One epoch's secret, and the sender keys derived from it so far. */
export interface EpochKey {
  commitHash: Uint8Array
  secret: Uint8Array
  /**
   * By `userId deviceId` (ids have no spaces). Filled only for senders that passed the
   * membership checks (or for my own sending), so its size is bounded by the epoch's devices.
   */
  senderKeys: Map<string, Uint8Array>
}

/** The sender key of one device in the epoch of `k`, derived once (an encode and a BLAKE2b). */
function cachedSenderKey(k: EpochKey, userId: string, deviceId: string): Uint8Array {
  const id = `${userId} ${deviceId}`
  let key = k.senderKeys.get(id)
  if (key === undefined) {
    key = senderKey(k.secret, userId, deviceId)
    k.senderKeys.set(id, key)
  }
  return key
}

/** JSON form of a {@link ReceiverState}. Contains epoch secrets: store it encrypted only. */
export interface ReceiverStateJson {
  v: 1
  roomId: string
  epochs: { epoch: number; commitHash: string; secret: string }[]
  counters: {
    epoch: number
    userId: string
    deviceId: string
    max: number
    missing: [number, number][]
  }[]
}

/** One sender's outstanding gaps in one epoch. */
export interface MissingCounters {
  epoch: number
  userId: string
  deviceId: string
  ranges: CounterRange[]
}

function trackKey(epoch: number, userId: string, deviceId: string): string {
  return JSON.stringify([epoch, userId, deviceId])
}

/**
 * What one device knows of one room for receiving: the epoch secrets it was welcomed
 * to, and per (epoch, sender device) the counters seen. Changed only by a successful
 * {@link openEnvelope}; serialisable with {@link ReceiverState.toJSON}.
 */
export class ReceiverState {
  private readonly keys = new Map<number, EpochKey>()
  private readonly tracks = new Map<string, CounterTrack>()

  constructor(readonly roomId: string) {
    expectId(roomId, 'roomId', malformed)
  }

  /**
   * Adds the secret of an epoch, from an opened welcome (or my own commit or my own
   * symmetric backup; never from another member). A different secret for an epoch
   * already known is refused ({@link WelcomeError} 'conflict'): that would be a committer
   * giving members different keys.
   */
  addEpochSecret(epoch: number, commitHash: Uint8Array, secret: Uint8Array): void {
    expectUint(epoch, 'epoch', malformed)
    expectBytes(commitHash, HASH_BYTES, 'commitHash', malformed)
    expectBytes(secret, EPOCH_SECRET_BYTES, 'secret', malformed)
    const known = this.keys.get(epoch)
    if (known) {
      if (bytesEqual(known.commitHash, commitHash) && bytesEqual(known.secret, secret)) return
      throw new WelcomeError('conflict', `a different secret for epoch ${epoch} is already known`)
    }
    this.keys.set(epoch, {
      commitHash: commitHash.slice(),
      secret: secret.slice(),
      senderKeys: new Map(),
    })
  }

  /** Adds the epoch secret of an opened welcome for this room. */
  acceptWelcome(w: OpenedWelcome): void {
    if (w.roomId !== this.roomId) {
      throw new WelcomeError('wrong-room', 'the welcome is for another room')
    }
    this.addEpochSecret(w.epoch, w.commitHash, w.epochSecret)
  }

  /** Whether this device holds the secret of `epoch`. */
  hasEpoch(epoch: number): boolean {
    return this.keys.has(epoch)
  }

  /** The secret of `epoch`, for my own sending. */
  epochSecret(epoch: number): Uint8Array | undefined {
    return this.keys.get(epoch)?.secret
  }

  /** Counters of one sender and epoch that are still missing. */
  missing(epoch: number, sender: DeviceRef): CounterRange[] {
    const t = this.tracks.get(trackKey(epoch, sender.userId, sender.deviceId))
    return t ? t.missing.map((r) => ({ ...r })) : []
  }

  /** Every sender with outstanding gaps: show these ("berichten ontbreken"). */
  allMissing(): MissingCounters[] {
    const out: MissingCounters[] = []
    for (const [k, t] of this.tracks) {
      if (t.missing.length === 0) continue
      const [epoch, userId, deviceId] = JSON.parse(k) as [number, string, string]
      out.push({ epoch, userId, deviceId, ranges: t.missing.map((r) => ({ ...r })) })
    }
    return out
  }

  /** @internal Used by {@link openEnvelope}. */
  keyFor(epoch: number): EpochKey | undefined {
    return this.keys.get(epoch)
  }

  /**
   * @internal Checks a counter without recording it; throws 'replay' for one already
   * seen. Returns the function that records it.
   */
  planCounter(h: EnvelopeHeader): () => { gaps: CounterRange[]; late: boolean } {
    const key = trackKey(h.epoch, h.senderUserId, h.senderDeviceId)
    const t = this.tracks.get(key) ?? { max: -1, missing: [] }
    const c = h.counter
    if (c > t.max) {
      return () => {
        const gaps = c > t.max + 1 ? [{ from: t.max + 1, to: c - 1 }] : []
        const missing = [...t.missing, ...gaps]
        this.tracks.set(key, { max: c, missing: missing.slice(-MAX_GAP_RANGES) })
        return { gaps: gaps.map((g) => ({ ...g })), late: false }
      }
    }
    const i = t.missing.findIndex((r) => r.from <= c && c <= r.to)
    if (i < 0) throw fail('replay', `counter ${c} of this sender was already received`)
    return () => {
      const r = t.missing[i]!
      const split: CounterRange[] = []
      if (r.from < c) split.push({ from: r.from, to: c - 1 })
      if (c < r.to) split.push({ from: c + 1, to: r.to })
      const missing = [...t.missing.slice(0, i), ...split, ...t.missing.slice(i + 1)]
      this.tracks.set(key, { max: t.max, missing })
      return { gaps: [], late: true }
    }
  }

  toJSON(): ReceiverStateJson {
    return {
      v: 1,
      roomId: this.roomId,
      epochs: [...this.keys].map(([epoch, k]) => ({
        epoch,
        commitHash: toB64(k.commitHash),
        secret: toB64(k.secret),
      })),
      counters: [...this.tracks].map(([key, t]) => {
        const [epoch, userId, deviceId] = JSON.parse(key) as [number, string, string]
        return {
          epoch,
          userId,
          deviceId,
          max: t.max,
          missing: t.missing.map((r): [number, number] => [r.from, r.to]),
        }
      }),
    }
  }

  static fromJSON(json: unknown): ReceiverState {
    const rec = expectObject(
      json,
      ['v', 'roomId', 'epochs', 'counters'],
      'receiver state',
      malformed,
    )
    if (rec.v !== 1) throw malformed('unsupported receiver state version')
    const s = new ReceiverState(expectId(rec.roomId, 'roomId', malformed))
    for (const item of expectArray(rec.epochs, 1_000_000, 'epochs', malformed)) {
      const e = expectObject(item, ['epoch', 'commitHash', 'secret'], 'epochs[]', malformed)
      s.addEpochSecret(
        expectUint(e.epoch, 'epoch', malformed),
        expectB64(e.commitHash, HASH_BYTES, 'commitHash', malformed),
        expectB64(e.secret, EPOCH_SECRET_BYTES, 'secret', malformed),
      )
    }
    for (const item of expectArray(rec.counters, 10_000_000, 'counters', malformed)) {
      const c = expectObject(
        item,
        ['epoch', 'userId', 'deviceId', 'max', 'missing'],
        'counters[]',
        malformed,
      )
      const max = expectUint(c.max, 'max', malformed)
      let floor = 0
      const missing = expectArray(c.missing, MAX_GAP_RANGES, 'missing', malformed).map((r) => {
        if (!Array.isArray(r) || r.length !== 2) throw malformed('a missing range is [from, to]')
        const from = expectUint(r[0], 'from', malformed)
        const to = expectUint(r[1], 'to', malformed)
        if (from < floor || to < from || to >= max) throw malformed('missing ranges out of order')
        floor = to + 1
        return { from, to }
      })
      s.tracks.set(
        trackKey(
          expectUint(c.epoch, 'epoch', malformed),
          expectId(c.userId, 'userId', malformed),
          expectId(c.deviceId, 'deviceId', malformed),
        ),
        { max, missing },
      )
    }
    return s
  }
}

// ---------------------------------------------------------------------------------------
// Opening

/**
 * @internal An envelope that passed every check that comes before its signature, with
 * what the rest of {@link openEnvelope} needs. Made by {@link prepareOpen}; finished, in
 * order, by {@link finishOpen}.
 */
export interface PendingOpen {
  envelope: Envelope
  headerBytes: Uint8Array
  /** "msg/v1" ‖ header ‖ nonce ‖ ciphertext: what the sender signed. */
  signed: Uint8Array
  signPk: Uint8Array
  /** The epoch key held when prepared (if any), and the sender key derived from it. */
  epochKey: EpochKey | undefined
  key: Uint8Array | undefined
}

/**
 * What the pure half of opening found: whether the signature verifies and, if a key was
 * given, the plaintext or why there is none. Depends on nothing but bytes and keys, so it
 * may be computed anywhere (a worker; see open-pool.ts).
 */
export interface Verified {
  signature: boolean
  /** Set when the signature verified and a key was given. */
  plaintext?: Uint8Array
  failure?: 'decrypt' | 'padding'
}

/**
 * Checks the signature over `signed` and, when it holds and `key` is given, decrypts and
 * unpads. `signed` must be the signing bytes of `headerBytes`, `nonce` and `ciphertext`.
 */
export function verifyAndDecrypt(job: {
  signed: Uint8Array
  signature: Uint8Array
  signPk: Uint8Array
  key: Uint8Array | undefined
  headerBytes: Uint8Array
  nonce: Uint8Array
  ciphertext: Uint8Array
}): Verified {
  if (!verify(job.signature, job.signed, job.signPk)) return { signature: false }
  if (!job.key) return { signature: true }
  return { signature: true, ...decryptPadded(job.key, job.nonce, job.ciphertext, job.headerBytes) }
}

function decryptPadded(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
): { plaintext?: Uint8Array; failure?: 'decrypt' | 'padding' } {
  const padded = aeadDecrypt(key, nonce, ciphertext, ad)
  if (!padded) return { failure: 'decrypt' }
  const plaintext = unpad(padded, padded.length)
  if (!plaintext || paddedLength(plaintext.length) !== padded.length) return { failure: 'padding' }
  return { plaintext }
}

/**
 * {@link verifyAndDecrypt} of signing bytes alone: the header, nonce and ciphertext are
 * read back from their fields.
 */
export function verifyAndDecryptSigned(
  signed: Uint8Array,
  signature: Uint8Array,
  signPk: Uint8Array,
  key: Uint8Array | undefined,
): Verified {
  const f = decodeFields(signed)
  if (f.length !== 4) return { signature: false }
  return verifyAndDecrypt({
    signed,
    signature,
    signPk,
    key,
    headerBytes: f[1]!,
    nonce: f[2]!,
    ciphertext: f[3]!,
  })
}

/**
 * @internal The checks of {@link openEnvelope} that come before the signature (room,
 * epoch, membership in that epoch, a verified device); throws as it does. Changes nothing.
 */
export function prepareOpen(
  receiver: ReceiverState,
  envelope: Envelope,
  room: RoomState,
  directory: DeviceDirectory,
  opts: OpenOptions = {},
): PendingOpen {
  const env = normalizeEnvelope(envelope)
  const h = env.header
  if (h.roomId !== room.roomId || receiver.roomId !== room.roomId) {
    throw fail('wrong-room', 'the envelope is for another room')
  }
  const rec = epochRecord(room, h.epoch)
  if (!rec) throw fail('wrong-epoch', `epoch ${h.epoch} is not in the validated chain`)
  // A header naming another commit for this epoch means someone sees a different chain.
  if (!bytesEqual(rec.commitHash, h.commitHash)) {
    throw fail('wrong-epoch', 'the envelope names another commit for its epoch')
  }
  if (opts.minEpoch !== undefined && h.epoch < opts.minEpoch) {
    throw fail('wrong-epoch', `epoch ${h.epoch} is older than allowed here`)
  }
  const sender = { userId: h.senderUserId, deviceId: h.senderDeviceId }
  // Membership is that of the envelope's own epoch: a device removed by a later commit
  // cannot send in the new epoch, and one that was never a member never can.
  if (!isMemberDevice(rec.members, sender)) {
    throw fail('unknown-sender', 'the sender is not a member device in this epoch')
  }
  const keys = directory(sender.userId, sender.deviceId)
  if (!keys) throw fail('unknown-sender', 'the sending device is not verified')
  const headerBytes = encodeHeader(h)
  const epochKey = receiver.keyFor(h.epoch)
  const key =
    epochKey && bytesEqual(epochKey.commitHash, h.commitHash)
      ? cachedSenderKey(epochKey, sender.userId, sender.deviceId)
      : undefined
  return {
    envelope: env,
    headerBytes,
    signed: signingBytes(headerBytes, env.nonce, env.ciphertext),
    signPk: keys.signPk,
    epochKey,
    key,
  }
}

/**
 * @internal The rest of {@link openEnvelope}, given what {@link verifyAndDecrypt} found for
 * `p`: the signature, this device's key for the epoch, the counter (replays), decryption.
 * Records the counter when it succeeds. Calls must follow the order of the room.
 */
export function finishOpen(
  receiver: ReceiverState,
  p: PendingOpen,
  verified: Verified,
): OpenedEnvelope {
  const env = p.envelope
  const h = env.header
  if (!verified.signature) throw fail('bad-signature', 'the envelope signature does not verify')
  const epochKey = receiver.keyFor(h.epoch)
  if (!epochKey) throw fail('missing-key', `no secret for epoch ${h.epoch} on this device`)
  if (!bytesEqual(epochKey.commitHash, h.commitHash)) {
    throw fail('wrong-epoch', 'the secret held for this epoch belongs to another commit')
  }
  const record = receiver.planCounter(h)
  // The secret may have arrived after `p` was prepared: then decrypt here.
  const result =
    p.key !== undefined && p.epochKey === epochKey
      ? verified
      : decryptPadded(
          cachedSenderKey(epochKey, h.senderUserId, h.senderDeviceId),
          env.nonce,
          env.ciphertext,
          p.headerBytes,
        )
  if (result.failure === 'padding') throw fail('decrypt-failed', 'invalid padding')
  if (!result.plaintext) throw fail('decrypt-failed', 'the envelope does not decrypt')
  const { gaps, late } = record()
  return { header: h, plaintext: result.plaintext, gaps, late }
}

/**
 * Verifies and decrypts an envelope for `receiver` in the validated `room`, recording its
 * counter. Throws {@link EnvelopeError} (and changes nothing) when the envelope is for
 * another room ('wrong-room'); for an epoch the chain does not have, under a different
 * commit, or below `opts.minEpoch` ('wrong-epoch'); from a device that is not a verified
 * member device in that epoch ('unknown-sender'); not signed by that device
 * ('bad-signature'); for an epoch this device has no secret of ('missing-key', with a
 * user message); already received ('replay'); or not decryptable ('decrypt-failed').
 */
export function openEnvelope(
  receiver: ReceiverState,
  envelope: Envelope,
  room: RoomState,
  directory: DeviceDirectory,
  opts: OpenOptions = {},
): OpenedEnvelope {
  const p = prepareOpen(receiver, envelope, room, directory, opts)
  return finishOpen(receiver, p, verifyPending(p))
}

/** {@link verifyAndDecrypt} of a {@link PendingOpen}, on this thread. */
export function verifyPending(p: PendingOpen): Verified {
  return verifyAndDecrypt({
    signed: p.signed,
    signature: p.envelope.signature,
    signPk: p.signPk,
    key: p.key,
    headerBytes: p.headerBytes,
    nonce: p.envelope.nonce,
    ciphertext: p.envelope.ciphertext,
  })
}
