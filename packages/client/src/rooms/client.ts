/**
 * Rooms for the SDK: create, invite, remove, send, attach, history, subscribe. Every
 * membership change is a signed commit made here; every message is sealed here. The
 * server orders and stores opaque bytes.
 */
import {
  commitHash,
  createCommit,
  createGenesis,
  createWelcomes,
  fromB64,
  needsRotation,
  newEpochSecret,
  randomBytes,
  randomId,
  serializeCommit,
  sodium,
  toB64,
  type CommitChange,
  type MemberInput,
  type RoomKind,
} from '@vs/crypto'
import type { RoomEventWire, RoomSummary, ServerEvent, WelcomeWire } from '@vs/protocol'
import { checkChainMemory, type ChainHead, type ChainHeadStore } from './chain-memory.js'
import { RealtimeConnection } from './connection.js'
import type { AfspraakContent, FileContent, MessageContent } from './content.js'
import type { ActingIdentity, RoomsHost } from './host.js'
import { RoomSession, type TimelineItem } from './session.js'

export type { ChainHead, ChainHeadStore } from './chain-memory.js'

export interface NewMember {
  userId: string
  role?: 'admin' | 'member'
  kind?: 'user' | 'desk'
}

/** An epoch secret as this device keeps it. */
export interface StoredEpochSecret {
  epoch: number
  commitHash: Uint8Array
  secret: Uint8Array
}

/**
 * Where a device keeps the epoch secrets of its own commits. A committer gets no welcome
 * for its own commit, so without this a reloaded client could not read (or send in) an
 * epoch it started. Only secrets of commits the server accepted are saved.
 */
export interface EpochSecretStore {
  load(roomId: string, as: { memberId: string; deviceId: string }): Promise<StoredEpochSecret[]>
  save(
    roomId: string,
    as: { memberId: string; deviceId: string },
    secret: StoredEpochSecret,
  ): Promise<void>
}

export const CHUNK_BYTES = 1024 * 1024
export const MAX_FILE_BYTES = 25 * 1024 * 1024

function idem(): string {
  return toB64(randomBytes(12))
}

export class RoomsClient {
  readonly connection: RealtimeConnection
  private readonly acting: ActingIdentity | undefined
  private readonly epochSecrets: EpochSecretStore | undefined
  private readonly chainHeads: ChainHeadStore | undefined
  private sessions = new Map<string, Promise<RoomSession>>()
  private loaded = new Map<string, RoomSession>()

  constructor(
    private readonly host: RoomsHost,
    opts: {
      realtime?: boolean
      onRemoved?: (roomId: string) => void
      onStatus?: (s: 'connecting' | 'open' | 'closed') => void
      /** Act as a desk (an advisor answering for Veilig Thuis) instead of as the user. */
      as?: ActingIdentity
      /** Keeps the secrets of this device's own commits across restarts. */
      epochSecrets?: EpochSecretStore
      /**
       * Remembers how far each room's chain went across restarts, so a chain the server
       * cut back is refused on open. Without it (and without `epochSecrets`) a reloaded
       * client believes a truncated chain.
       */
      chainHeads?: ChainHeadStore
    } = {},
  ) {
    this.acting = opts.as
    this.epochSecrets = opts.epochSecrets
    this.chainHeads = opts.chainHeads
    this.connection = new RealtimeConnection({
      baseUrl: host.baseUrl,
      accessToken: () => host.accessToken(),
      ...(host.wsAuthProtocol ? { authProtocol: () => host.wsAuthProtocol!() } : {}),
      onEvent: (ev) => this.onEvent(ev),
      ...(opts.onRemoved ? { onRemoved: opts.onRemoved } : {}),
      ...(opts.onStatus ? { onStatus: opts.onStatus } : {}),
    })
    if (opts.realtime !== false) this.connection.start()
  }

  close(): void {
    this.connection.stop()
  }

  list(): Promise<RoomSummary[]> {
    return this.host.request('GET', '/api/v1/rooms')
  }

  private me(): ActingIdentity {
    if (this.acting) return this.acting
    const d = this.host.device()
    return {
      memberId: this.host.userId(),
      deviceId: d.deviceId,
      signSk: d.signSk,
      boxKeyPair: { publicKey: d.boxPk, privateKey: d.boxSk },
    }
  }

  private async memberInputs(members: readonly NewMember[]): Promise<MemberInput[]> {
    const out: MemberInput[] = []
    for (const m of members) {
      const kind = m.kind ?? 'user'
      const known = [...(await this.host.memberDevices(m.userId, kind)).keys()]
      // A desk joins with its newest key only. Older versions stay in the directory, to
      // verify what the desk wrote with them, but the desk renewed its key because someone
      // who held an older one left: a room they could read would undo that.
      const devices = kind === 'desk' ? newestDeskKey(known) : known.sort()
      if (devices.length === 0) {
        throw new Error(
          `${m.userId} heeft nog geen geverifieerd apparaat / has no verified device yet`,
        )
      }
      out.push({ userId: m.userId, kind, role: m.role ?? 'member', devices })
    }
    return out
  }

  /** Opens a new room; the creator is admin. Returns the room id (random, meaningless). */
  async create(opts: {
    kind: RoomKind
    label?: string
    members: readonly NewMember[]
    /** Create through another endpoint (consultations), with extra body fields. */
    via?: { path: string; extra: Record<string, unknown> }
  }): Promise<string> {
    const me = this.me()
    const roomId = randomId()
    const members = await this.memberInputs([
      { userId: me.memberId, role: 'admin' },
      ...opts.members.filter((m) => m.userId !== me.memberId),
    ])
    const genesis = createGenesis({
      roomId,
      kind: opts.kind,
      committer: { userId: me.memberId, deviceId: me.deviceId },
      signPrivateKey: me.signSk,
      members,
      logHead: this.host.logHead(),
      createdAt: Date.now(),
    })
    const secret = newEpochSecret()
    const session = new RoomSession(roomId, this.host, me)
    const welcomes = createWelcomes(
      genesis,
      secret,
      me.signSk,
      await session.directoryFor([genesis]),
    )
    session.receiver.addEpochSecret(0, commitHash(genesis), secret)
    this.loaded.set(roomId, session)
    this.sessions.set(roomId, Promise.resolve(session))
    await this.host.request('POST', opts.via?.path ?? '/api/v1/rooms', {
      ...(opts.via?.extra ?? {}),
      genesis: toB64(serializeCommit(genesis)),
      welcomes: welcomesWire(welcomes),
    })
    await this.keepSecret(roomId, { epoch: 0, commitHash: commitHash(genesis), secret })
    await this.catchUp(session)
    await this.trackHead(session, undefined)
    this.connection.subscribe(roomId, session.cursor)
    if (opts.label) await this.send(roomId, { type: 'label', body: { label: opts.label } })
    return roomId
  }

  /**
   * Loads a room: validates the whole chain, decrypts history, subscribes for live events.
   * Rejects with `ChainRefusedError` when the chain is invalid, or ends before or
   * differs from a commit this device accepted earlier (`'rollback'`, `'fork'`).
   */
  open(roomId: string): Promise<RoomSession> {
    let s = this.sessions.get(roomId)
    if (!s) {
      s = (async () => {
        const me = this.me()
        const as = { memberId: me.memberId, deviceId: me.deviceId }
        const session = new RoomSession(roomId, this.host, me)
        this.loaded.set(roomId, session)
        const secrets = (await this.epochSecrets?.load(roomId, as)) ?? []
        for (const k of secrets) {
          try {
            session.receiver.addEpochSecret(k.epoch, k.commitHash, k.secret)
          } catch {
            // A secret that does not fit is ignored; the chain decides what is readable.
          }
        }
        const head = await this.chainHeads?.load(roomId, as)
        await this.catchUp(session)
        // A server that deletes the latest commits serves a shorter chain that validates
        // on its own: only what this device accepted before shows the cut.
        const refused = checkChainMemory(roomId, session.state, [
          ...secrets,
          ...(head ? [head] : []),
        ])
        if (refused) {
          session.refused = refused
          throw refused
        }
        await this.trackHead(session, head)
        this.connection.subscribe(roomId, session.cursor)
        return session
      })()
      s.catch(() => {
        this.sessions.delete(roomId)
        this.loaded.delete(roomId)
      })
      this.sessions.set(roomId, s)
    }
    return s
  }

  /**
   * Saves the session's chain head to the chain-head store now and after every commit it
   * accepts from here on (catch-up, live, this device's own), whenever it is past `known`.
   */
  private async trackHead(session: RoomSession, known: ChainHead | undefined): Promise<void> {
    const store = this.chainHeads
    if (!store) return
    const me = this.me()
    const as = { memberId: me.memberId, deviceId: me.deviceId }
    let saved = known?.epoch ?? -1
    let queue: Promise<void> = Promise.resolve()
    const remember = (): Promise<void> => {
      // The state is the validated chain: it only moves past a commit the session accepted.
      const state = session.state
      if (!state || state.epoch <= saved) return queue
      saved = state.epoch
      const head = { epoch: state.epoch, commitHash: state.headHash }
      const done = queue.then(() => store.save(session.roomId, as, head))
      queue = done.catch(() => {})
      return done
    }
    // A membership item is emitted for each commit the session accepted. A save that
    // fails leaves an older head remembered: a weaker check, never a wrong one.
    session.onItem((item) => {
      if (item.kind === 'membership') remember().catch(() => {})
    })
    await remember()
  }

  private async keepSecret(roomId: string, k: StoredEpochSecret): Promise<void> {
    if (!this.epochSecrets) return
    const me = this.me()
    await this.epochSecrets.save(roomId, { memberId: me.memberId, deviceId: me.deviceId }, k)
  }

  /** Fetches and processes everything after the session's cursor over HTTP. */
  private async catchUp(session: RoomSession): Promise<void> {
    for (;;) {
      const page = await this.host.request<{ head: number; events: RoomEventWire[] }>(
        'GET',
        `/api/v1/rooms/${encodeURIComponent(session.roomId)}/events?after=${session.cursor}&limit=500`,
      )
      if (page.events.length === 0) return
      await session.ingest(page.events)
      this.connection.advance(session.roomId, session.cursor)
      if (session.cursor >= page.head) return
    }
  }

  private onEvent(ev: ServerEvent): void {
    const session = this.loaded.get(ev.room)
    if (!session) return
    session
      .ingest([
        { seq: ev.seq, kind: ev.kind, from: ev.from, dev: ev.dev, at: ev.at, body: ev.body },
      ])
      .then(() => this.connection.advance(ev.room, session.cursor))
      .catch(() => {})
  }

  /** Sends a message; resolves with its sequence number once the server stored it. */
  async send(roomId: string, content: MessageContent): Promise<number> {
    let session = await this.open(roomId)
    await session.idle()
    // Epoch keys rotate at least weekly, so a key that leaked stops opening new messages.
    if (
      session.state &&
      !session.removed &&
      needsRotation(session.state.head.createdAt, Date.now())
    ) {
      await this.rotate(roomId)
      session = await this.open(roomId)
      await session.idle()
    }
    const { body } = session.seal(content, this.host.logHead())
    const me = this.me()
    const as = me.memberId !== this.host.userId() ? me.memberId : undefined
    const { seq } = await this.connection.send(roomId, idem(), me.deviceId, body, as)
    return seq
  }

  sendText(roomId: string, text: string): Promise<number> {
    return this.send(roomId, { type: 'text', body: { text } })
  }

  /** Pins an agreement (afspraak): what, who, by when. */
  addAfspraak(roomId: string, a: Omit<AfspraakContent, 'id'> & { id?: string }): Promise<number> {
    return this.send(roomId, {
      type: 'afspraak',
      body: { id: a.id ?? randomId(), what: a.what, who: a.who, due: a.due, done: a.done ?? false },
    })
  }

  /** The room's afspraken: the latest version of each, in the order they were made. */
  static afspraken(timeline: readonly TimelineItem[]): AfspraakContent[] {
    const byId = new Map<string, AfspraakContent>()
    for (const t of timeline)
      if (t.kind === 'message' && t.content.type === 'afspraak')
        byId.set((t.content.body as AfspraakContent).id, t.content.body as AfspraakContent)
    return [...byId.values()]
  }

  static label(timeline: readonly TimelineItem[]): string | undefined {
    let label: string | undefined
    for (const t of timeline)
      if (t.kind === 'message' && t.content.type === 'label')
        label = (t.content.body as { label: string }).label
    return label
  }

  private async commit(roomId: string, change: CommitChange): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.open(roomId)
      await this.catchUp(session)
      await session.idle()
      const prev = session.commits[session.commits.length - 1]
      if (!prev) throw new Error('room has no chain')
      const me = this.me()
      const commit = createCommit(prev, {
        committer: { userId: me.memberId, deviceId: me.deviceId },
        signPrivateKey: me.signSk,
        change,
        logHead: this.host.logHead(),
        createdAt: Date.now(),
      })
      const secret = newEpochSecret()
      const welcomes = createWelcomes(
        commit,
        secret,
        me.signSk,
        await session.directoryFor([...session.commits, commit]),
      )
      session.receiver.addEpochSecret(commit.epoch, commitHash(commit), secret)
      try {
        const r = await this.host.request<{ seq: number }>(
          'POST',
          `/api/v1/rooms/${encodeURIComponent(roomId)}/commits`,
          {
            commit: toB64(serializeCommit(commit)),
            welcomes: welcomesWire(welcomes),
            idem: idem(),
          },
        )
        await this.keepSecret(roomId, {
          epoch: commit.epoch,
          commitHash: commitHash(commit),
          secret,
        })
        await this.catchUp(session)
        return r.seq
      } catch (err) {
        // Someone else committed first: reload and make the change again on top.
        if ((err as { code?: string }).code === 'VS_CHAIN_CONFLICT' && attempt < 3) continue
        throw err
      }
    }
  }

  /** Admins add people; their every verified device gets the new epoch's key. */
  async addMembers(roomId: string, members: readonly NewMember[]): Promise<number> {
    return this.commit(roomId, { action: 'add', members: await this.memberInputs(members) })
  }

  /** Admins remove people; a new epoch key is sent to the remaining devices only. */
  removeMembers(roomId: string, userIds: readonly string[]): Promise<number> {
    return this.commit(roomId, { action: 'remove', userIds })
  }

  /** Starts a new epoch without membership change (weekly, or on suspicion). */
  rotate(roomId: string): Promise<number> {
    return this.commit(roomId, { action: 'rotate' })
  }

  /**
   * Adds my devices that are verified but not yet in the room, so a new device of mine
   * gets access without anyone re-inviting me. Returns the commit seq, or undefined.
   */
  async addMyNewDevices(roomId: string): Promise<number | undefined> {
    const session = await this.open(roomId)
    await session.idle()
    const mine = session.state?.members.find((m) => m.userId === this.host.userId())
    if (!mine) return undefined
    const verified = [...(await this.host.memberDevices(this.host.userId(), 'user')).keys()]
    const missing = verified.filter((d) => !mine.devices.includes(d)).sort()
    if (missing.length === 0) return undefined
    return this.commit(roomId, { action: 'add-device', deviceIds: missing })
  }

  async markRead(roomId: string, seq: number): Promise<void> {
    await this.host.request('POST', `/api/v1/rooms/${encodeURIComponent(roomId)}/read`, { seq })
  }

  reads(roomId: string): Promise<{ memberId: string; seq: number }[]> {
    return this.host.request('GET', `/api/v1/rooms/${encodeURIComponent(roomId)}/reads`)
  }

  /**
   * Encrypts a file on this device (secretstream, 1 MiB chunks), uploads the ciphertext,
   * and sends a 'file' message carrying the key. Up to 25 MB.
   */
  async attach(roomId: string, data: Uint8Array, name: string, mime: string): Promise<number> {
    if (data.length === 0 || data.length > MAX_FILE_BYTES)
      throw new RangeError(
        'Bestand moet tussen 1 byte en 25 MB zijn / File must be 1 byte to 25 MB',
      )
    const s = sodium()
    const key = s.crypto_secretstream_xchacha20poly1305_keygen()
    const { state, header } = s.crypto_secretstream_xchacha20poly1305_init_push(key)
    const chunks: Uint8Array[] = []
    for (let off = 0; off < data.length; off += CHUNK_BYTES) {
      const last = off + CHUNK_BYTES >= data.length
      const tag = last
        ? s.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        : s.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
      chunks.push(
        s.crypto_secretstream_xchacha20poly1305_push(
          state,
          data.subarray(off, off + CHUNK_BYTES),
          null,
          tag,
        ),
      )
    }
    const size = chunks.reduce((n, c) => n + c.length, 0)
    const base = `/api/v1/rooms/${encodeURIComponent(roomId)}/files`
    const { fileId } = await this.host.request<{ fileId: string }>('POST', base, {
      size,
      chunkCount: chunks.length,
    })
    for (let i = 0; i < chunks.length; i++) {
      await this.host.request('PUT', `${base}/${fileId}/chunks/${i}`, chunks[i])
    }
    await this.host.request('POST', `${base}/${fileId}/complete`, {})
    const content: FileContent = {
      fileId,
      name,
      mime,
      size: data.length,
      chunkCount: chunks.length,
      key: toB64(key),
      header: toB64(header),
    }
    return this.send(roomId, { type: 'file', body: content })
  }

  /** Downloads and decrypts an attachment; throws if any chunk was altered or dropped. */
  async download(roomId: string, f: FileContent): Promise<Uint8Array> {
    const s = sodium()
    const state = s.crypto_secretstream_xchacha20poly1305_init_pull(
      fromB64(f.header),
      fromB64(f.key),
    )
    const out: Uint8Array[] = []
    for (let i = 0; i < f.chunkCount; i++) {
      const c = await this.host.request<Uint8Array>(
        'GET',
        `/api/v1/rooms/${encodeURIComponent(roomId)}/files/${f.fileId}/chunks/${i}`,
      )
      const r = s.crypto_secretstream_xchacha20poly1305_pull(state, c, null)
      if (!r) throw new Error('Bijlage is beschadigd of gewijzigd / Attachment damaged or altered')
      const last = r.tag === s.crypto_secretstream_xchacha20poly1305_TAG_FINAL
      if (last !== (i === f.chunkCount - 1))
        throw new Error('Bijlage is ingekort / Attachment truncated')
      out.push(r.message)
    }
    const total = out.reduce((n, c) => n + c.length, 0)
    const result = new Uint8Array(total)
    let off = 0
    for (const c of out) {
      result.set(c, off)
      off += c.length
    }
    return result
  }
}

function welcomesWire(
  ws: readonly { recipient: { userId: string; deviceId: string }; sealed: Uint8Array }[],
): WelcomeWire[] {
  return ws.map((w) => ({
    memberId: w.recipient.userId,
    deviceId: w.recipient.deviceId,
    sealed: toB64(w.sealed),
  }))
}

/** The newest of a desk's key versions (device ids `v<version>`), as a one-element list. */
function newestDeskKey(deviceIds: readonly string[]): string[] {
  let best: string | undefined
  let bestVersion = -1
  for (const id of deviceIds) {
    const version = /^v(\d+)$/.exec(id) ? Number(id.slice(1)) : -1
    if (version > bestVersion) [best, bestVersion] = [id, version]
  }
  return best === undefined ? [] : [best]
}
