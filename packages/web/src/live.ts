/**
 * What lives as long as the signed-in page: one rooms client (one WebSocket) for the
 * person, one per desk key for advisors, and small caches (directory, desks, room
 * labels). Views borrow these; they never open their own connections, so moving between
 * views keeps rooms decrypted and subscribed.
 *
 * Epoch secrets of this device's own commits, how far each room's chain went, room labels
 * and anonymous questions are kept in this origin's localStorage, next to the device keys
 * (same protection).
 */
import type { DeskKeyPair, PersonEntry, VsClient } from '@vs/client'
import type { Desk } from '@vs/client'
import {
  AnonHost,
  RoomsClient,
  type AnonymousConsult,
  type ChainHeadStore,
  type EpochSecretStore,
  type RoomSession,
  type RoomsHost,
  type StoredEpochSecret,
  type StoredToken,
} from '@vs/client/rooms'

export type ConnectionStatus = 'connecting' | 'open' | 'closed'

export interface Live {
  userId: string
  host: RoomsHost
  rooms: RoomsClient
}

/** Events: 'status' (connection), 'removed' (detail: roomId), 'inbox' (something to recount). */
export const bus = new EventTarget()
let status: ConnectionStatus = 'connecting'
const removedRooms = new Set<string>()

export function connectionStatus(): ConnectionStatus {
  return status
}

export function wasRemoved(roomId: string): boolean {
  return removedRooms.has(roomId)
}

export function inboxChanged(): void {
  bus.dispatchEvent(new Event('inbox'))
}

// ---------------------------------------------------------------- storage helpers

function b64(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

function unb64(text: string): Uint8Array {
  const s = atob(text)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

export function readJson<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(key)
    return raw ? (JSON.parse(raw) as T) : fallback
  } catch {
    return fallback
  }
}

export function writeJson(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value))
  } catch {
    // storage full or blocked: the value lasts for this page only
  }
}

export interface EpochJson {
  epoch: number
  commitHash: string
  secret: string
}

export function epochToJson(k: StoredEpochSecret): EpochJson {
  return { epoch: k.epoch, commitHash: b64(k.commitHash), secret: b64(k.secret) }
}

export function epochFromJson(k: EpochJson): StoredEpochSecret {
  return { epoch: k.epoch, commitHash: unb64(k.commitHash), secret: unb64(k.secret) }
}

/** Epoch secrets of this device's own commits, in localStorage. */
export const localEpochSecrets: EpochSecretStore = {
  async load(roomId, as) {
    return readJson<EpochJson[]>(`vs-epochs:${as.memberId}:${as.deviceId}:${roomId}`, []).map(
      epochFromJson,
    )
  },
  async save(roomId, as, k) {
    const key = `vs-epochs:${as.memberId}:${as.deviceId}:${roomId}`
    const list = readJson<EpochJson[]>(key, []).filter((e) => e.epoch !== k.epoch)
    list.push(epochToJson(k))
    writeJson(key, list)
  },
}

interface ChainHeadJson {
  epoch: number
  commitHash: string
}

/**
 * How far each room's chain went, in localStorage, so a chain the server cut back is
 * refused after a reload. Keeps the higher epoch when two tabs save.
 */
export const localChainHeads: ChainHeadStore = {
  async load(roomId, as) {
    const h = readJson<ChainHeadJson | null>(
      `vs-chain:${as.memberId}:${as.deviceId}:${roomId}`,
      null,
    )
    return h ? { epoch: h.epoch, commitHash: unb64(h.commitHash) } : undefined
  },
  async save(roomId, as, head) {
    const key = `vs-chain:${as.memberId}:${as.deviceId}:${roomId}`
    const prev = readJson<ChainHeadJson | null>(key, null)
    if (prev && prev.epoch >= head.epoch) return
    writeJson(key, { epoch: head.epoch, commitHash: b64(head.commitHash) })
  },
}

// ---------------------------------------------------------------- the person's rooms client

let current: Promise<Live> | undefined
let currentUser: string | undefined

export function live(client: VsClient): Promise<Live> {
  const userId = client.user?.userId
  if (current && currentUser === userId) return current
  endLive()
  currentUser = userId
  current = (async () => {
    const host = await client.roomsHost()
    const rooms = new RoomsClient(host, {
      epochSecrets: localEpochSecrets,
      chainHeads: localChainHeads,
      onStatus: (s) => {
        status = s
        bus.dispatchEvent(new Event('status'))
      },
      onRemoved: (roomId) => {
        removedRooms.add(roomId)
        bus.dispatchEvent(new CustomEvent('removed', { detail: roomId }))
      },
    })
    return { userId: host.userId(), host, rooms }
  })()
  current.catch(() => {
    current = undefined
  })
  return current
}

/** Closes every connection (sign-out, session ended). */
export function endLive(): void {
  const c = current
  current = undefined
  currentUser = undefined
  void c?.then((l) => l.rooms.close()).catch(() => {})
  for (const d of deskClients.values()) void d.then((x) => x.close()).catch(() => {})
  deskClients.clear()
  directoryCache = undefined
  desksCache = undefined
  removedRooms.clear()
}

// ---------------------------------------------------------------- acting as a desk

export interface DeskActor {
  deskId: string
  keys: DeskKeyPair[]
  /**
   * Opens a consultation as the desk, with the key version that is a member of it. When
   * none of the keys this tab holds is (a colleague renewed the desk key since they were
   * loaded), the keys are loaded again once.
   */
  open(roomId: string, reloaded?: boolean): Promise<{ rooms: RoomsClient; session: RoomSession }>
  close(): void
}

const deskClients = new Map<string, Promise<DeskActor>>()

export function deskActor(client: VsClient, deskId: string): Promise<DeskActor> {
  let d = deskClients.get(deskId)
  if (d) return d
  d = (async () => {
    const host = await client.roomsHost()
    const keys = (await client.deskKeys(deskId)).sort((a, b) => b.version - a.version)
    if (keys.length === 0) throw new NoDeskKeyError()
    const byVersion = new Map<number, RoomsClient>()
    const clientFor = (k: DeskKeyPair) => {
      let c = byVersion.get(k.version)
      if (!c) {
        c = new RoomsClient(host, {
          epochSecrets: localEpochSecrets,
          chainHeads: localChainHeads,
          as: {
            memberId: deskId,
            deviceId: `v${k.version}`,
            signSk: k.sign.privateKey,
            boxKeyPair: k.box,
          },
        })
        byVersion.set(k.version, c)
      }
      return c
    }
    return {
      deskId,
      keys,
      async open(roomId, reloaded = false) {
        let first: { rooms: RoomsClient; session: RoomSession } | undefined
        for (const k of keys) {
          const rooms = clientFor(k)
          const session = await rooms.open(roomId)
          if (!session.removed) return { rooms, session }
          first ??= { rooms, session }
        }
        if (reloaded) return first!
        forgetDeskKeys(deskId)
        return (await deskActor(client, deskId)).open(roomId, true)
      },
      close() {
        for (const c of byVersion.values()) c.close()
      },
    }
  })()
  d.catch(() => deskClients.delete(deskId))
  deskClients.set(deskId, d)
  return d
}

/**
 * Forgets what this tab knows of a desk's keys (after a new key version was published):
 * the next `deskActor` loads them again, and the desk list its new key version.
 */
export function forgetDeskKeys(deskId: string): void {
  const d = deskClients.get(deskId)
  deskClients.delete(deskId)
  void d?.then((x) => x.close()).catch(() => {})
  desksCache = undefined
}

export class NoDeskKeyError extends Error {
  readonly code = 'VS_NO_DESK_KEY'
}

// ---------------------------------------------------------------- directory and desks

let directoryCache: { at: number; list: Promise<PersonEntry[]> } | undefined
let desksCache: { at: number; list: Promise<Desk[]> } | undefined

/** The region's people with my trust in each (cached for half a minute). */
export function people(client: VsClient, fresh = false): Promise<PersonEntry[]> {
  if (!fresh && directoryCache && Date.now() - directoryCache.at < 30_000)
    return directoryCache.list
  const list = client.directory()
  directoryCache = { at: Date.now(), list }
  list.catch(() => (directoryCache = undefined))
  return list
}

export function desks(client: VsClient): Promise<Desk[]> {
  if (desksCache && Date.now() - desksCache.at < 60_000) return desksCache.list
  const list = client.desks()
  desksCache = { at: Date.now(), list }
  list.catch(() => (desksCache = undefined))
  return list
}

/** Names for member ids: people, desks, anonymous askers. */
export interface Names {
  name(id: string): string
  person(id: string): PersonEntry | undefined
  me: string
}

export async function names(
  client: VsClient,
  anonLabel: string,
  youLabel?: string,
): Promise<Names> {
  const [list, deskList] = await Promise.all([
    people(client).catch(() => [] as PersonEntry[]),
    desks(client).catch(() => [] as Desk[]),
  ])
  const me = client.user?.userId ?? ''
  const byId = new Map(list.map((p) => [p.userId, p]))
  const deskById = new Map(deskList.map((d) => [d.id, d]))
  return {
    me,
    person: (id) => byId.get(id),
    name: (id) => {
      if (youLabel && id === me) return youLabel
      if (id.startsWith('anon_')) return anonLabel
      return byId.get(id)?.name ?? deskById.get(id)?.name ?? id
    },
  }
}

// ---------------------------------------------------------------- room labels

function labelsKey(userId: string): string {
  return `vs-labels:${userId}`
}

export function cachedLabel(userId: string, roomId: string): string | undefined {
  return readJson<Record<string, string>>(labelsKey(userId), {})[roomId]
}

export function rememberLabel(userId: string, roomId: string, label: string | undefined): void {
  if (!label) return
  const all = readJson<Record<string, string>>(labelsKey(userId), {})
  if (all[roomId] === label) return
  all[roomId] = label
  writeJson(labelsKey(userId), all)
}

/** The room's label: cached, or by opening (decrypting) the room once. */
export async function labelOf(l: Live, roomId: string): Promise<string | undefined> {
  const cached = cachedLabel(l.userId, roomId)
  if (cached) return cached
  const session = await l.rooms.open(roomId)
  await session.idle()
  const label = RoomsClient.label(session.timeline)
  rememberLabel(l.userId, roomId, label)
  return label
}

// ---------------------------------------------------------------- anonymous questions

export function fromB64url(text: string): Uint8Array {
  const std = text.replace(/-/g, '+').replace(/_/g, '/')
  return unb64(std + '='.repeat((4 - (std.length % 4)) % 4))
}

/** An anonymous question as kept on this device (it is the only key to the answer). */
export interface SavedAnonConsult {
  saved: AnonymousConsult['saved']
  epochs: EpochJson[]
  askedAt: string
  preview: string
}

function anonKey(userId: string): string {
  return `vs-anon:${userId}`
}

export function anonConsults(userId: string): SavedAnonConsult[] {
  return readJson<SavedAnonConsult[]>(anonKey(userId), [])
}

export function saveAnonConsult(userId: string, c: SavedAnonConsult): void {
  writeJson(anonKey(userId), [
    ...anonConsults(userId).filter((x) => x.saved.roomId !== c.saved.roomId),
    c,
  ])
}

export function forgetAnonConsult(userId: string, roomId: string): void {
  writeJson(
    anonKey(userId),
    anonConsults(userId).filter((x) => x.saved.roomId !== roomId),
  )
}

/** A rooms client for an anonymous question: its own key pair and capability, no account. */
export function anonRooms(c: SavedAnonConsult): { host: AnonHost; rooms: RoomsClient } {
  const s = c.saved
  const host = new AnonHost(
    location.origin,
    s.anonId,
    {
      deviceId: s.device.deviceId,
      signPk: fromB64url(s.device.signPk),
      signSk: fromB64url(s.device.signSk),
      boxPk: fromB64url(s.device.boxPk),
      boxSk: fromB64url(s.device.boxSk),
    },
    s.desk,
    s.capability,
  )
  const rooms = new RoomsClient(host, {
    epochSecrets: {
      load: async () => c.epochs.map(epochFromJson),
      save: async () => {},
    },
  })
  return { host, rooms }
}

/** Anonymous tokens fetched earlier (valid in the month they were issued). */
export function storedTokens(userId: string): StoredToken[] {
  const month = new Date().toISOString().slice(0, 7)
  return readJson<StoredToken[]>(`vs-tokens:${userId}`, []).filter((tk) => tk.period === month)
}

export function saveTokens(userId: string, tokens: StoredToken[]): void {
  writeJson(`vs-tokens:${userId}`, tokens)
}

/** Short previews of my family-anonymous questions (the room holds the full text). */
export function consultPreview(userId: string, roomId: string): string | undefined {
  return readJson<Record<string, string>>(`vs-consults:${userId}`, {})[roomId]
}

export function rememberConsultPreview(userId: string, roomId: string, preview: string): void {
  const all = readJson<Record<string, string>>(`vs-consults:${userId}`, {})
  all[roomId] = preview
  writeJson(`vs-consults:${userId}`, all)
}

/**
 * Asks the server again for what follows `session.cursor`, a moment from now, unless
 * `seq` has arrived by then. A subscription made while an event is being committed can
 * miss that event until the next one arrives; asking again closes that window.
 */
export function resubscribeSoon(rooms: RoomsClient, session: RoomSession, seq?: number): void {
  setTimeout(() => {
    if (seq !== undefined && session.cursor >= seq) return
    if (session.removed || !rooms.connection.isOpen) return
    rooms.connection.subscribe(session.roomId, session.cursor)
  }, 1500)
}
