/**
 * Consultations (adviesvraag) in the SDK: ask the regional Veilig Thuis desk, with the
 * family anonymous (default) or also yourself anonymous (a blind-signed token redeemed
 * under a fresh key pair; the capability stays on this device).
 *
 * What still links an anonymous question to its asker, and is said in the UI: the time
 * tokens were fetched and the time the question was asked, the network address (the
 * server does not store or log it, but a network observer sees it), and a small group of
 * possible askers when few professionals of a discipline use the service.
 */
import {
  createGenesis,
  createWelcomes,
  finalizeTokens,
  fromB64,
  generateBoxKeyPair,
  generateSigningKeyPair,
  newEpochSecret,
  commitHash,
  prepareTokens,
  randomId,
  redeemToken,
  serializeCommit,
  toB64,
  type DeviceKeys,
  type Token,
} from '@vs/crypto'
import { findIdentifiers, type Finding } from '../guard/index.js'
import { RoomsClient, type NewMember } from './client.js'
import type { DeviceSecrets, RoomsHost } from './host.js'

export const CONSULT_OUTCOMES = [
  'advies gegeven',
  'geadviseerd te melden',
  'geadviseerd MDA/casusoverleg',
  'doorverwezen',
  'anders',
] as const
export const AGE_BANDS = ['ongeboren', '0-1', '1-2', '2-4'] as const
export const MELDCODE_STAPPEN = [
  'Stap 1 — signalen in kaart brengen',
  'Stap 2 — collega en/of Veilig Thuis raadplegen',
  'Stap 3 — gesprek met de betrokkenen',
  'Stap 4 — wegen van de aard en de ernst',
  'Stap 5 — beslissen: hulp organiseren en/of melden',
] as const

/** The guided question; the family is never named. */
export interface ConsultQuestion {
  ageBand: (typeof AGE_BANDS)[number]
  weeksPregnant?: number
  signals: string
  riskFactors: string[]
  meldcodeStap: string
  question: string
}

export class IdentifierFoundError extends Error {
  constructor(readonly findings: Finding[]) {
    super(
      `De vraag bevat ${findings.length} mogelijk herleidbaar gegeven(s) / The question contains identifying data`,
    )
    this.name = 'IdentifierFoundError'
  }
}

/** Runs the identifier guard over every free-text field; throws with what it found. */
export function guardQuestion(q: ConsultQuestion, blockedNames: readonly string[] = []): void {
  const findings = [q.signals, q.question, q.meldcodeStap, ...q.riskFactors].flatMap((t) =>
    findIdentifiers(t, { blockedNames }),
  )
  if (findings.length) throw new IdentifierFoundError(findings)
}

export interface PublicDesk {
  id: string
  name: string
  organisation: string
  region: string
  keyVersion: number
  signPk: string
  boxPk: string
}

export interface StoredToken {
  period: string
  input: string
  output: string
}

/**
 * Fetches blind-signed tokens while signed in. The proof is checked against the
 * issuer key that is also in the key log, so the server cannot tag this user with a
 * key of its own.
 */
export async function fetchTokens(host: RoomsHost, n: number): Promise<StoredToken[]> {
  const issuer = await host.request<{ period: string; publicKey: string }>(
    'GET',
    '/api/v1/tokens/issuer',
  )
  const log = await host.request<{ entries: { kind: string; subject: string; payload: string }[] }>(
    'GET',
    '/api/v1/keylog?from=0',
  )
  const entry = log.entries.find(
    (e) => e.kind === 'token-issuer-key' && e.subject === `issuer_${issuer.period}`,
  )
  if (
    !entry ||
    !toB64(fromB64(entry.payload)).includes('') ||
    !endsWith(fromB64(entry.payload), fromB64(issuer.publicKey))
  ) {
    throw new Error(
      'Uitgiftesleutel staat niet in het sleutellogboek / Issuer key not in the key log',
    )
  }
  const prepared = await prepareTokens(n)
  const res = await host.request<{ period: string; evaluated: string[]; proof: string }>(
    'POST',
    '/api/v1/tokens/issue',
    {
      blindedElements: prepared.map((p) => toB64(p.blindedElement)),
    },
  )
  const tokens: Token[] = await finalizeTokens(
    prepared,
    { evaluated: res.evaluated.map(fromB64), proof: fromB64(res.proof) },
    fromB64(issuer.publicKey),
  )
  return tokens.map((t) => ({ period: res.period, ...redeemToken(t) }))
}

function endsWith(a: Uint8Array, b: Uint8Array): boolean {
  if (b.length > a.length) return false
  for (let i = 0; i < b.length; i++) if (a[a.length - b.length + i] !== b[i]) return false
  return true
}

/** Family-anonymous consultation: the desk sees who asks (name, discipline). */
export async function askConsult(
  rooms: RoomsClient,
  deskId: string,
  q: ConsultQuestion,
  opts: { blockedNames?: readonly string[]; discipline?: string } = {},
): Promise<string> {
  guardQuestion(q, opts.blockedNames)
  const roomId = await rooms.create({
    kind: 'consult',
    members: [{ userId: deskId, kind: 'desk' }],
    via: {
      path: '/api/v1/consults',
      extra: { deskId, ...(opts.discipline ? { discipline: opts.discipline } : {}) },
    },
  })
  await rooms.send(roomId, { type: 'adviesvraag', body: { ...q } })
  return roomId
}

/** A RoomsHost for an anonymous asker: a fresh key pair and a capability, nothing else. */
export class AnonHost implements RoomsHost {
  capability: string | undefined
  constructor(
    readonly baseUrl: string,
    readonly anonId: string,
    private readonly dev: DeviceSecrets,
    private readonly desk: PublicDesk,
    capability?: string,
  ) {
    this.capability = capability
  }
  userId(): string {
    return this.anonId
  }
  device(): DeviceSecrets {
    return this.dev
  }
  async accessToken(): Promise<string> {
    return this.capability ?? ''
  }
  async wsAuthProtocol(): Promise<string> {
    return `vs.cap.${this.capability ?? ''}`
  }
  logHead(): Uint8Array {
    return new Uint8Array(32)
  }
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {}
    if (this.capability) headers.authorization = `Capability ${this.capability}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    if (!res.ok) {
      const e = (await res.json().catch(() => ({}))) as {
        error?: { code?: string; message?: string }
      }
      throw Object.assign(new Error(e.error?.message ?? `HTTP ${res.status}`), {
        status: res.status,
        code: e.error?.code,
      })
    }
    return (await res.json()) as T
  }
  async memberDevices(memberId: string, kind: 'user' | 'desk'): Promise<Map<string, DeviceKeys>> {
    if (kind === 'desk' && memberId === this.desk.id) {
      return new Map([
        [
          `v${this.desk.keyVersion}`,
          { signPk: fromB64(this.desk.signPk), boxPk: fromB64(this.desk.boxPk) },
        ],
      ])
    }
    if (memberId === this.anonId)
      return new Map([[this.dev.deviceId, { signPk: this.dev.signPk, boxPk: this.dev.boxPk }]])
    return new Map()
  }
}

export interface AnonymousConsult {
  roomId: string
  host: AnonHost
  rooms: RoomsClient
  /** Keep on this device only: with it (and the keys) the asker reads the answers. */
  saved: {
    roomId: string
    anonId: string
    capability: string
    device: { deviceId: string; signPk: string; signSk: string; boxPk: string; boxSk: string }
    desk: PublicDesk
  }
}

/**
 * Asks anonymously: no session, no account id. Redeems one token and opens the room under
 * a fresh key pair; the server learns only the desk, the optional discipline and the time.
 */
export async function askAnonymousConsult(
  baseUrl: string,
  token: StoredToken,
  desk: PublicDesk,
  q: ConsultQuestion,
  opts: { blockedNames?: readonly string[]; discipline?: string } = {},
): Promise<AnonymousConsult> {
  guardQuestion(q, opts.blockedNames)
  const s = generateSigningKeyPair()
  const b = generateBoxKeyPair()
  const dev: DeviceSecrets = {
    deviceId: randomId(),
    signPk: s.publicKey,
    signSk: s.privateKey,
    boxPk: b.publicKey,
    boxSk: b.privateKey,
  }
  const anonId = `anon_${randomId()}`
  const host = new AnonHost(baseUrl, anonId, dev, desk)
  const roomId = randomId()
  const genesis = createGenesis({
    roomId,
    kind: 'consult',
    committer: { userId: anonId, deviceId: dev.deviceId },
    signPrivateKey: dev.signSk,
    members: [
      { userId: anonId, kind: 'user', role: 'admin', devices: [dev.deviceId] },
      { userId: desk.id, kind: 'desk', role: 'member', devices: [`v${desk.keyVersion}`] },
    ],
    logHead: new Uint8Array(32),
    createdAt: Date.now(),
  })
  const secret = newEpochSecret()
  const deskKeys = await host.memberDevices(desk.id, 'desk')
  const welcomes = createWelcomes(genesis, secret, dev.signSk, (u, d) =>
    u === desk.id
      ? deskKeys.get(d)
      : u === anonId && d === dev.deviceId
        ? { signPk: dev.signPk, boxPk: dev.boxPk }
        : undefined,
  )
  const res = await host.request<{ roomId: string; capability: string }>(
    'POST',
    '/api/v1/anon/consults',
    {
      token,
      deskId: desk.id,
      ...(opts.discipline ? { discipline: opts.discipline } : {}),
      member: {
        id: anonId,
        deviceId: dev.deviceId,
        signPk: toB64(dev.signPk),
        boxPk: toB64(dev.boxPk),
      },
      genesis: toB64(serializeCommit(genesis)),
      welcomes: welcomes.map((w) => ({
        memberId: w.recipient.userId,
        deviceId: w.recipient.deviceId,
        sealed: toB64(w.sealed),
      })),
    },
  )
  host.capability = res.capability
  const rooms = new RoomsClient(host)
  const session = await rooms.open(roomId)
  session.receiver.addEpochSecret(0, commitHash(genesis), secret)
  await rooms.send(roomId, { type: 'adviesvraag', body: { ...q } })
  return {
    roomId,
    host,
    rooms,
    saved: {
      roomId,
      anonId,
      capability: res.capability,
      device: {
        deviceId: dev.deviceId,
        signPk: toB64(dev.signPk),
        signSk: toB64(dev.signSk),
        boxPk: toB64(dev.boxPk),
        boxSk: toB64(dev.boxSk),
      },
      desk,
    },
  }
}

/**
 * Goes on from a consultation to a melding or a case room, at the asker's choice: a new
 * room with the chosen members, whose first message carries the question and the advice
 * so far (re-encrypted for the new room; nothing is forwarded by the server).
 */
export async function continueConsult(
  rooms: RoomsClient,
  consultRoomId: string,
  opts: { kind: 'melding' | 'case'; members: NewMember[]; label?: string },
): Promise<string> {
  const consult = await rooms.open(consultRoomId)
  await consult.idle()
  const thread = consult.timeline.flatMap((i) =>
    i.kind === 'message'
      ? [{ from: i.from, at: i.sentAt, type: i.content.type, body: i.content.body }]
      : [],
  )
  const roomId = await rooms.create({
    kind: opts.kind,
    members: opts.members,
    ...(opts.label ? { label: opts.label } : {}),
  })
  await rooms.send(roomId, { type: 'overgenomen', body: { uit: 'adviesvraag', thread } })
  return roomId
}
