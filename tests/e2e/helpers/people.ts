/**
 * People for real processes, made the way real people are: the CLI's coordinator
 * invitation is accepted over HTTP, the coordinator invites professionals over HTTP, and
 * each professional enrols (password, TOTP), publishes a master key and certifies a device
 * against whichever process they talk to.
 */
import {
  deriveBackupKey,
  deviceCertFromJSON,
  fromB64,
  generateRecoveryKey,
  generateSigningKeyPair,
  randomId,
  toB64,
  verifyDeviceCert,
  wrapSecret,
  type DeviceKeys,
  type SigningKeyPair,
} from '@vs/crypto'
import type { DeviceSecrets, RoomsClient, RoomsHost } from '@vs/client/rooms'
import type { Session } from '@vs/protocol'
import { http, newDevice, registerDevice, totpNow } from '@vs/api/testing'

/**
 * A RoomsHost whose server can change (a person whose client moves between API
 * processes). Device certificates are verified against master keys pinned on first use,
 * like the SDK does; the server's word alone is never enough.
 */
export class MovableHost implements RoomsHost {
  private pinned = new Map<string, string>()

  constructor(
    public url: string,
    private readonly uid: string,
    private readonly dev: DeviceSecrets,
    public token: string,
  ) {}

  get baseUrl(): string {
    return this.url
  }
  userId(): string {
    return this.uid
  }
  device(): DeviceSecrets {
    return this.dev
  }
  async accessToken(): Promise<string> {
    return this.token
  }
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return http<T>(this.url, method, path, body, this.token)
  }
  logHead(): Uint8Array {
    return new Uint8Array(32)
  }
  async memberDevices(memberId: string, kind: 'user' | 'desk'): Promise<Map<string, DeviceKeys>> {
    if (kind === 'desk') throw new Error('desks are not used in these suites')
    const keys = await this.request<{ masterPk: string | null; devices: unknown[] }>(
      'GET',
      `/api/v1/users/${memberId}/keys`,
    )
    const out = new Map<string, DeviceKeys>()
    if (!keys.masterPk) return out
    const pin = this.pinned.get(memberId)
    if (pin && pin !== keys.masterPk) throw new Error(`master key of ${memberId} changed`)
    this.pinned.set(memberId, keys.masterPk)
    const master = fromB64(keys.masterPk)
    for (const raw of keys.devices) {
      const cert = deviceCertFromJSON(raw)
      try {
        verifyDeviceCert(master, cert, Date.now(), { expect: { userId: memberId } })
        out.set(cert.deviceId, { signPk: cert.signPk, boxPk: cert.boxPk })
      } catch {
        // an unverifiable device is ignored
      }
    }
    return out
  }
}

export interface Member {
  name: string
  userId: string
  master: SigningKeyPair
  device: DeviceSecrets
  host: MovableHost
}

async function enrol(
  baseUrl: string,
  code: string,
  password: string,
): Promise<{ session: Session; userId: string }> {
  const accepted = await http<{ totpSecret: string }>(
    baseUrl,
    'POST',
    `/api/v1/invitations/${code}/accept`,
    { password },
  )
  const session = await http<Session>(baseUrl, 'POST', `/api/v1/invitations/${code}/confirm`, {
    password,
    totp: totpNow(accepted.totpSecret),
  })
  return { session, userId: session.user.userId }
}

/** Enrols the coordinator invited by the CLI; returns their access token. */
export async function enrolCoordinator(baseUrl: string, code: string): Promise<string> {
  const { session } = await enrol(baseUrl, code, 'coordinator correct horse battery')
  return session.accessToken
}

/**
 * Invites professionals (through the coordinator) and enrols each one against the base
 * URL given for them, with a master key and one certified device.
 */
export async function makeMembers(
  coordinatorUrl: string,
  coordinatorToken: string,
  people: readonly { name: string; baseUrl: string }[],
): Promise<Member[]> {
  const orgs = await http<{ id: string; name: string }[]>(
    coordinatorUrl,
    'GET',
    '/api/v1/organisations',
    undefined,
    coordinatorToken,
  )
  const org = orgs[0]
  if (!org) throw new Error('the CLI made no organisation')
  const out: Member[] = []
  for (const p of people) {
    const inv = await http<{ code: string }>(
      coordinatorUrl,
      'POST',
      '/api/v1/invitations',
      {
        email: `${p.name.toLowerCase().replace(/[^a-z]/g, '')}-${randomId().slice(0, 6)}@example.nl`,
        name: p.name,
        discipline: 'jeugdverpleegkundige',
        organisationId: org.id,
        role: 'professional',
      },
      coordinatorToken,
    )
    const { session, userId } = await enrol(p.baseUrl, inv.code, `${p.name} correct horse 42`)
    const master = generateSigningKeyPair()
    const backup = wrapSecret(
      deriveBackupKey(generateRecoveryKey()),
      `master/v1/${userId}`,
      master.privateKey,
    )
    await http(
      p.baseUrl,
      'POST',
      '/api/v1/keys/master',
      { masterPk: toB64(master.publicKey), wrappedMasterSecret: toB64(backup) },
      session.accessToken,
    )
    const device = newDevice()
    await registerDevice(p.baseUrl, session.accessToken, userId, master, device)
    out.push({
      name: p.name,
      userId,
      master,
      device,
      host: new MovableHost(p.baseUrl, userId, device, session.accessToken),
    })
  }
  return out
}

/**
 * Points a client at another API process: its HTTP requests go there from now on, and its
 * realtime connection drops and reconnects there (resending what is not acknowledged).
 */
export function moveClient(client: RoomsClient, host: MovableHost, url: string): void {
  host.url = url
  // The connection copied the base URL when it was made; the SDK has no setter for it.
  client.connection['opts'].baseUrl = url
  client.connection.drop()
}

export interface TextItem {
  seq: number
  from: string
  text: string
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Waits until `cond()` holds, or fails with `what()` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`)
    await sleep(25)
  }
}

/** The room's head (highest seq) as the server reports it. */
export async function roomHead(host: RoomsHost, roomId: string): Promise<number> {
  const page = await host.request<{ head: number }>(
    'GET',
    `/api/v1/rooms/${encodeURIComponent(roomId)}/events?after=0&limit=1`,
  )
  return page.head
}

/** Resolves as `p` does, or fails with `what()` after `ms` (the timer is always cleared). */
export async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Counts a client's acknowledgements, and how many of them answered a resend of a message
 * the server had already stored (`duplicate: true`: the ack was lost, the retry was not).
 */
export function countAcks(client: RoomsClient): { acks: number; duplicates: number } {
  const stats = { acks: 0, duplicates: 0 }
  const conn = client.connection
  const send = conn.send.bind(conn)
  conn.send = (...args) =>
    send(...args).then((r) => {
      stats.acks++
      if (r.duplicate) stats.duplicates++
      return r
    })
  return stats
}
