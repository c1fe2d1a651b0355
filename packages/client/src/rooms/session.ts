/**
 * One room on one device: validates the commit chain, holds the epoch keys, decrypts the
 * timeline in sequence order, and seals outgoing messages. Events are processed strictly
 * one after another; anything the chain does not justify is refused, not shown.
 */
import {
  EnvelopeError,
  ReceiverState,
  SenderState,
  finishOpen,
  fromB64,
  openWelcome,
  parseCommit,
  parseEnvelope,
  prepareOpen,
  sealEnvelopeFor,
  sharedOpenPool,
  toB64,
  validateChain,
  validateExtension,
  verifyPending,
  type Commit,
  type DeviceDirectory,
  type DeviceKeys,
  type OpenRunner,
  type PendingOpen,
  type RoomState,
  type Envelope,
  type Verified,
  decodeNoticeContent,
  fromUtf8,
} from '@vs/crypto'
import type { RoomEventWire } from '@vs/protocol'
import { decodeContent, encodeContent, type MessageContent } from './content.js'
import type { RoomsHost } from './host.js'

export type TimelineItem =
  | {
      kind: 'message'
      seq: number
      at: number
      sentAt: number
      from: string
      device: string
      content: MessageContent
      /** Counters of this sender that never arrived (suppression shows here). */
      gaps: number
      /** Arrived after a later message of the same sender: reordered or held back. */
      late?: boolean
    }
  | {
      kind: 'notice'
      seq: number
      at: number
      sentAt: number
      from: string
      device: string
      notice: {
        noticeId: string
        kind: string
        dates: Readonly<Record<string, string>>
        details: Record<string, unknown>
      }
      /** The envelope, kept to check the server's visible kind and dates against it. */
      envelope: Envelope
    }
  | {
      kind: 'membership'
      seq: number
      at: number
      from: string
      action: string
      epoch: number
      subjects: readonly string[]
    }
  | {
      kind: 'undecryptable'
      seq: number
      at: number
      from: string
      code: string
      reason: { nl: string; en: string }
    }

const REASONS: Record<string, { nl: string; en: string }> = {
  'missing-key': {
    nl: 'Sleutel van dit apparaat ontbreekt — herstel met je herstelsleutel.',
    en: 'This device is missing the key — restore with your recovery key.',
  },
  'unknown-sender': {
    nl: 'Afzender is geen lid van deze kamer; bericht geweigerd.',
    en: 'Sender is not a member of this room; refused.',
  },
  replay: {
    nl: 'Dit bericht is al eerder ontvangen (herhaling); genegeerd.',
    en: 'This message was received before (replay); ignored.',
  },
  'bad-signature': {
    nl: 'Handtekening klopt niet; bericht is mogelijk vervalst.',
    en: 'Signature invalid; the message may be forged.',
  },
  'split-view': {
    nl: 'De afzender ziet een andere sleutellijst dan jij: de server toont mensen verschillende sleutels. Vertrouw dit gesprek niet en meld het bij je coördinator.',
    en: 'The sender sees another key log than you: the server shows people different keys. Do not trust this conversation and tell your coordinator.',
  },
  default: { nl: 'Dit bericht kon niet worden geopend.', en: 'This message could not be opened.' },
}

export class ChainRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ChainRefusedError'
  }
}

/** A message event parsed and checked up to its signature, in the room's order. */
type PreparedMessage =
  | { e: RoomEventWire; malformed: true }
  | { e: RoomEventWire; env: Envelope; pending: PendingOpen }
  | { e: RoomEventWire; env: Envelope; error: unknown }

/** Runs of fewer messages (live events, short pages) are opened one by one on this thread. */
const PARALLEL_MIN = 64
/** Envelopes per batch handed to the open runner. */
const PARALLEL_BATCH = 250

export interface SessionSnapshot {
  cursor: number
  receiver: unknown
  sender: unknown
}

export class RoomSession {
  state: RoomState | undefined
  readonly commits: Commit[] = []
  readonly timeline: TimelineItem[] = []
  cursor = 0
  receiver: ReceiverState
  sender = new SenderState()
  removed = false
  /**
   * Set when the server served a commit the chain does not justify (forged, rolled back,
   * forked): the room is refused from there on and nothing after it is processed.
   */
  refused: ChainRefusedError | undefined
  /** Highest counter seen per epoch from the identity this session sends as. */
  private ownSeen = new Map<number, number>()
  private nextCounter = new Map<number, number>()
  private queue: Promise<void> = Promise.resolve()
  private directoryCache = new Map<string, Map<string, DeviceKeys>>()
  /** {@link directoryFor} the chain, for the chain head it was made at. */
  private messageDir: { head: Commit | undefined; dir: DeviceDirectory } | undefined
  /**
   * Verifies and decrypts runs of messages in parallel; by default the pool of Web Workers
   * started with `startOpenPool`, if any. Only the signature, decryption and padding go
   * there: every check that depends on the room or on earlier messages stays here, in order.
   */
  openRunner: OpenRunner | undefined
  private listeners = new Set<(item: TimelineItem) => void>()

  constructor(
    readonly roomId: string,
    private readonly host: RoomsHost,
    /** Who this device acts as here: the user, or a desk (with the desk's key as "device"). */
    readonly as: {
      memberId: string
      deviceId: string
      signSk: Uint8Array
      boxKeyPair: { publicKey: Uint8Array; privateKey: Uint8Array }
    },
  ) {
    this.receiver = new ReceiverState(roomId)
  }

  onItem(fn: (item: TimelineItem) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Queues events for in-order processing; resolves when they are processed. */
  ingest(events: readonly RoomEventWire[]): Promise<void> {
    const run = async () => {
      if (this.refused) throw this.refused
      for (let i = 0; i < events.length;) {
        const e = events[i]!
        if (e.seq <= this.cursor) {
          i++
          continue
        }
        if (e.seq !== this.cursor + 1)
          throw new Error(`room ${this.roomId}: expected seq ${this.cursor + 1}, got ${e.seq}`)
        const runner = this.openRunner ?? sharedOpenPool()
        const n = runner ? this.messageRun(events, i) : 0
        if (runner && n >= PARALLEL_MIN) {
          await this.processMessages(events.slice(i, i + n), runner)
          i += n
          continue
        }
        await this.process(e)
        this.cursor = e.seq
        i++
      }
    }
    this.queue = this.queue.then(run, run)
    return this.queue
  }

  /** Makes sure the directory knows every device of these members (verified by the host). */
  async directoryFor(commits: readonly Commit[]): Promise<DeviceDirectory> {
    for (const c of commits) {
      for (const m of [...c.members, { userId: c.committer.userId, kind: 'user' as const }]) {
        const kind = 'kind' in m ? m.kind : 'user'
        const have = this.directoryCache.get(m.userId)
        const needed = 'devices' in m ? (m.devices as readonly string[]) : [c.committer.deviceId]
        if (!have || needed.some((d) => !have.has(d))) {
          this.directoryCache.set(m.userId, await this.host.memberDevices(m.userId, kind))
        }
      }
    }
    return (userId, deviceId) => this.directoryCache.get(userId)?.get(deviceId)
  }

  async directory(): Promise<DeviceDirectory> {
    return this.directoryFor(this.commits)
  }

  private emit(item: TimelineItem): void {
    this.timeline.push(item)
    for (const l of this.listeners) l(item)
  }

  private async process(e: RoomEventWire): Promise<void> {
    if (e.kind === 'commit') return this.processCommit(e)
    return this.processMessage(e)
  }

  private async processCommit(e: RoomEventWire): Promise<void> {
    const commit = parseCommit(fromB64(e.body))
    const dir = await this.directoryFor([...this.commits, commit])
    try {
      this.state = this.state
        ? validateExtension(this.state, [commit], dir)
        : validateChain([commit], dir)
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'invalid'
      // A commit the chain does not justify is refused: nothing after it can be trusted.
      this.refused = new ChainRefusedError(
        code,
        `kamer ${this.roomId}: commit ${commit.epoch} geweigerd (${code})`,
      )
      throw this.refused
    }
    this.commits.push(commit)
    const meIn = this.state.devices.some(
      (d) => d.userId === this.as.memberId && d.deviceId === this.as.deviceId,
    )
    this.removed = !meIn
    if (meIn && !this.receiver.hasEpoch(commit.epoch)) {
      const isMine =
        commit.committer.userId === this.as.memberId &&
        commit.committer.deviceId === this.as.deviceId
      if (!isMine) await this.openMyWelcome(commit, dir)
    }
    this.emit({
      kind: 'membership',
      seq: e.seq,
      at: e.at,
      from: e.from,
      action: commit.action,
      epoch: commit.epoch,
      subjects: commit.subjects,
    })
  }

  private welcomes: Map<number, Uint8Array> | undefined

  private async openMyWelcome(commit: Commit, dir: DeviceDirectory): Promise<void> {
    if (!this.welcomes?.has(commit.epoch)) {
      const list = await this.host.request<{ epoch: number; sealed: string }[]>(
        'GET',
        `/api/v1/rooms/${encodeURIComponent(this.roomId)}/welcomes?device=${encodeURIComponent(this.as.deviceId)}${this.as.memberId !== this.host.userId() ? `&as=${encodeURIComponent(this.as.memberId)}` : ''}`,
      )
      this.welcomes = new Map(list.map((w) => [w.epoch, fromB64(w.sealed)]))
    }
    const sealed = this.welcomes.get(commit.epoch)
    const committerKeys = dir(commit.committer.userId, commit.committer.deviceId)
    if (!sealed || !committerKeys) return
    try {
      const opened = openWelcome(
        sealed,
        this.as.boxKeyPair,
        { userId: this.as.memberId, deviceId: this.as.deviceId },
        commit,
        committerKeys.signPk,
      )
      this.receiver.acceptWelcome(opened)
    } catch {
      // Left without the key: messages of this epoch will say why they cannot be read.
    }
  }

  /**
   * The directory messages are opened with: {@link directoryFor} the whole chain, walked
   * once per chain head rather than per message (an accepted commit makes a new head).
   */
  private async messageDirectory(): Promise<DeviceDirectory> {
    const head = this.commits[this.commits.length - 1]
    if (this.messageDir && this.messageDir.head === head) return this.messageDir.dir
    const dir = await this.directoryFor(this.commits)
    this.messageDir = { head, dir }
    return dir
  }

  /** How many events from `start` on are messages in sequence, with no commit between. */
  private messageRun(events: readonly RoomEventWire[], start: number): number {
    if (!this.state) return 0
    let n = 0
    for (let i = start; i < events.length; i++, n++) {
      const e = events[i]!
      if (e.kind === 'commit' || e.seq !== this.cursor + 1 + n) break
    }
    return n
  }

  private async processMessage(e: RoomEventWire): Promise<void> {
    if (!this.state) throw new ChainRefusedError('no-chain', 'message before the genesis commit')
    const state = this.state
    const dir = await this.messageDirectory().catch((error: unknown) => ({ error }))
    await this.finishMessage(this.prepareMessage(e, state, dir), undefined)
  }

  /**
   * Opens a run of messages with no commit between them, so the chain, the directory and
   * the epoch keys stay as they are: parses and checks each up to its signature here,
   * meanwhile `runner` verifies and decrypts them in batches, then finishes each here in
   * order (counters and replays, sender and key-log checks), exactly as one by one.
   */
  private async processMessages(list: readonly RoomEventWire[], runner: OpenRunner): Promise<void> {
    const state = this.state!
    const dir = await this.messageDirectory().catch((error: unknown) => ({ error }))
    const batches: { items: PreparedMessage[]; verified: Promise<Verified[] | undefined> }[] = []
    for (let i = 0; i < list.length; i += PARALLEL_BATCH) {
      const items = list.slice(i, i + PARALLEL_BATCH).map((e) => this.prepareMessage(e, state, dir))
      const pending = items.flatMap((m) => ('pending' in m ? [m.pending] : []))
      // If the runner fails, the batch is verified and decrypted on this thread instead.
      const verified = runner.run(pending).then(
        (v) => (v.length === pending.length ? v : undefined),
        () => undefined,
      )
      batches.push({ items, verified })
    }
    for (const b of batches) {
      const verified = await b.verified
      let k = 0
      for (const item of b.items) {
        await this.finishMessage(item, 'pending' in item ? verified?.[k++] : undefined)
        this.cursor = item.e.seq
      }
    }
  }

  private prepareMessage(
    e: RoomEventWire,
    state: RoomState,
    dir: DeviceDirectory | { error: unknown },
  ): PreparedMessage {
    let env: Envelope
    try {
      env = parseEnvelope(fromB64(e.body))
    } catch {
      return { e, malformed: true }
    }
    try {
      if (typeof dir !== 'function') throw dir.error
      return { e, env, pending: prepareOpen(this.receiver, env, state, dir) }
    } catch (error) {
      return { e, env, error }
    }
  }

  /** Finishes one message; `verified` is its signature and decryption when already done. */
  private async finishMessage(
    item: PreparedMessage,
    verified: Verified | undefined,
  ): Promise<void> {
    const e = item.e
    if ('malformed' in item) {
      this.emit({
        kind: 'undecryptable',
        seq: e.seq,
        at: e.at,
        from: e.from,
        code: 'malformed',
        reason: REASONS.default!,
      })
      return
    }
    try {
      if ('error' in item) throw item.error
      const env = item.env
      const opened = finishOpen(
        this.receiver,
        item.pending,
        verified ?? verifyPending(item.pending),
      )
      if (
        opened.header.senderUserId === this.as.memberId &&
        opened.header.senderDeviceId === this.as.deviceId
      ) {
        this.ownSeen.set(
          opened.header.epoch,
          Math.max(this.ownSeen.get(opened.header.epoch) ?? -1, opened.header.counter),
        )
      }
      // The server's claimed sender must be the signed one.
      if (opened.header.senderUserId !== e.from || opened.header.senderDeviceId !== e.dev) {
        throw new EnvelopeError('unknown-sender', 'sender mismatch')
      }
      // Every sender puts their verified key-log head in the header: one this client
      // cannot reach in its own log means the server shows the two of them different logs.
      if (!(await this.logHeadKnown(opened.header.logHead))) {
        this.emit({
          kind: 'undecryptable',
          seq: e.seq,
          at: e.at,
          from: e.from,
          code: 'split-view',
          reason: REASONS['split-view']!,
        })
        return
      }
      if (opened.header.type === 'notice') {
        const c = decodeNoticeContent(opened.plaintext)
        this.emit({
          kind: 'notice',
          seq: e.seq,
          at: e.at,
          sentAt: opened.header.sentAt,
          from: opened.header.senderUserId,
          device: opened.header.senderDeviceId,
          notice: {
            noticeId: c.noticeId,
            kind: c.kind,
            dates: c.dates,
            details: JSON.parse(fromUtf8(c.details)) as Record<string, unknown>,
          },
          envelope: env,
        })
        return
      }
      this.emit({
        kind: 'message',
        seq: e.seq,
        at: e.at,
        sentAt: opened.header.sentAt,
        from: opened.header.senderUserId,
        device: opened.header.senderDeviceId,
        content: decodeContent(opened.header.type, opened.plaintext),
        gaps: opened.gaps.reduce((n, g) => n + (g.to - g.from + 1), 0),
        ...(opened.late ? { late: true } : {}),
      })
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'invalid'
      this.emit({
        kind: 'undecryptable',
        seq: e.seq,
        at: e.at,
        from: e.from,
        code,
        reason: REASONS[code] ?? REASONS.default!,
      })
    }
  }

  private async logHeadKnown(head: Uint8Array): Promise<boolean> {
    // All zeros: a sender that does not take part (an anonymous asker has no key log).
    if (!this.host.checkLogHead || head.every((b) => b === 0)) return true
    try {
      return await this.host.checkLogHead(head)
    } catch {
      // The log itself does not check out; the host reports that loudly on its own.
      return false
    }
  }

  /** Seals a message for the current epoch. */
  seal(content: MessageContent, logHead: Uint8Array): { body: string; hash: Uint8Array } {
    return this.sealRaw(content.type, encodeContent(content), logHead)
  }

  /** Seals raw plaintext bytes of a given type for the current epoch. */
  sealRaw(
    type: string,
    plaintext: Uint8Array,
    logHead: Uint8Array,
  ): { body: string; hash: Uint8Array } {
    const state = this.state
    if (!state) throw new Error('room not loaded')
    if (this.removed)
      throw new ChainRefusedError(
        'removed',
        'Je bent geen lid meer van deze kamer / You are no longer a member',
      )
    if (!this.receiver.hasEpoch(state.epoch))
      throw new EnvelopeError('missing-key', 'no key for the current epoch')
    const sealed = sealEnvelopeFor(this.receiver, {
      roomId: this.roomId,
      epoch: state.epoch,
      commitHash: state.headHash,
      senderUserId: this.as.memberId,
      senderDeviceId: this.as.deviceId,
      counter: this.takeCounter(state.epoch),
      sentAt: Date.now(),
      type,
      logHead,
      plaintext,
      signPrivateKey: this.as.signSk,
    })
    // Serialized once; the hash is computed only when asked for (notices).
    return {
      body: toB64(sealed.bytes),
      get hash() {
        return sealed.hash
      },
    }
  }

  /**
   * The next counter for this identity in `epoch`: past both what this device sent and
   * what the room has seen from this identity (advisors of one desk share the desk's
   * identity, one writer at a time by claiming the consultation).
   */
  private takeCounter(epoch: number): number {
    const c = Math.max(this.nextCounter.get(epoch) ?? 0, (this.ownSeen.get(epoch) ?? -1) + 1)
    this.nextCounter.set(epoch, c + 1)
    return c
  }

  snapshot(): SessionSnapshot {
    return { cursor: this.cursor, receiver: this.receiver.toJSON(), sender: this.sender.toJSON() }
  }

  /** Waits for queued processing. */
  idle(): Promise<void> {
    return this.queue
  }
}
