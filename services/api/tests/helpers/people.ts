/**
 * Real people for tests: invited, enrolled with TOTP, with a master key and a certified
 * device, talking to a real server over HTTP. `TestHost` is a lean RoomsHost for the SDK's
 * rooms layer; it verifies every device certificate against the person's master key.
 */
import { TOTP, Secret } from 'otpauth'
import {
  certifyDevice,
  deriveBackupKey,
  deviceCertFromJSON,
  deviceCertToJSON,
  fromB64,
  generateBoxKeyPair,
  generateRecoveryKey,
  generateSigningKeyPair,
  randomId,
  toB64,
  verifyDeviceCert,
  wrapSecret,
  type DeviceKeys,
  type SigningKeyPair,
} from '@vs/crypto'
import type { DeviceSecrets, RoomsHost } from '@vs/client/rooms'
import type { OrgKind, Role, Session } from '@vs/protocol'
import type { AppContext } from '../../src/context.js'
import { bootstrapInvitation } from '../../src/identity/bootstrap.js'

export function totpNow(secret: string, at = Date.now()): string {
  return new TOTP({
    secret: Secret.fromBase32(secret),
    digits: 6,
    period: 30,
    algorithm: 'SHA1',
  }).generate({ timestamp: at })
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`)
  }
}

export async function http<T>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<T> {
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  let payload: BodyInit | undefined
  if (body instanceof Uint8Array) {
    headers['content-type'] = 'application/octet-stream'
    payload = body as unknown as BodyInit
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  const res = await fetch(baseUrl + path, {
    method,
    headers,
    ...(payload !== undefined ? { body: payload } : {}),
  })
  const type = res.headers.get('content-type') ?? ''
  if (!res.ok) {
    const e = (await res.json().catch(() => ({}))) as {
      error?: { code?: string; message?: string }
    }
    throw new HttpError(res.status, e.error?.code ?? 'unknown', e.error?.message ?? '')
  }
  if (type.startsWith('application/octet-stream'))
    return new Uint8Array(await res.arrayBuffer()) as T
  return (await res.json()) as T
}

export interface Person {
  userId: string
  email: string
  password: string
  totpSecret: string
  session: Session
  master: SigningKeyPair
  device: DeviceSecrets
  host: TestHost
}

export class TestHost implements RoomsHost {
  token: string
  private pinned = new Map<string, Uint8Array>()

  constructor(
    readonly baseUrl: string,
    private readonly uid: string,
    private dev: DeviceSecrets,
    token: string,
  ) {
    this.token = token
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
    return http<T>(this.baseUrl, method, path, body, this.token)
  }
  logHead(): Uint8Array {
    return new Uint8Array(32)
  }
  async memberDevices(memberId: string, kind: 'user' | 'desk'): Promise<Map<string, DeviceKeys>> {
    if (kind === 'desk') {
      const versions = await this.request<{ version: number; signPk: string; boxPk: string }[]>(
        'GET',
        `/api/v1/desks/${memberId}/keys`,
      )
      return new Map(
        versions.map((v) => [
          `v${v.version}`,
          { signPk: fromB64(v.signPk), boxPk: fromB64(v.boxPk) },
        ]),
      )
    }
    if (memberId.startsWith('anon_')) {
      const a = await this.request<{ deviceId: string; signPk: string; boxPk: string }>(
        'GET',
        `/api/v1/anon-members/${memberId}`,
      )
      return new Map([[a.deviceId, { signPk: fromB64(a.signPk), boxPk: fromB64(a.boxPk) }]])
    }
    const keys = await this.request<{ masterPk: string | null; devices: unknown[] }>(
      'GET',
      `/api/v1/users/${memberId}/keys`,
    )
    const out = new Map<string, DeviceKeys>()
    if (!keys.masterPk) return out
    // Trust on first use, then pinned: a changed master key is refused here.
    const master = fromB64(keys.masterPk)
    const pin = this.pinned.get(memberId)
    if (pin && toB64(pin) !== keys.masterPk) throw new Error(`master key of ${memberId} changed`)
    this.pinned.set(memberId, master)
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

export function newDevice(): DeviceSecrets {
  const s = generateSigningKeyPair()
  const b = generateBoxKeyPair()
  return {
    deviceId: randomId(),
    signPk: s.publicKey,
    signSk: s.privateKey,
    boxPk: b.publicKey,
    boxSk: b.privateKey,
  }
}

export async function registerDevice(
  baseUrl: string,
  token: string,
  userId: string,
  master: SigningKeyPair,
  device: DeviceSecrets,
  name = 'test',
): Promise<void> {
  const cert = certifyDevice(master.privateKey, {
    userId,
    deviceId: device.deviceId,
    signPk: device.signPk,
    boxPk: device.boxPk,
    notAfter: Date.now() + 365 * 24 * 3600 * 1000,
  })
  await http(baseUrl, 'POST', '/api/v1/devices', { cert: deviceCertToJSON(cert), name }, token)
}

let counter = 0

/** Invites, enrols and equips one person with a master key and one device. */
export async function makePerson(
  ctx: AppContext,
  baseUrl: string,
  opts: {
    name?: string
    region?: string
    organisation?: string
    kind?: OrgKind
    role?: Role
    discipline?: string
  } = {},
): Promise<Person> {
  const n = ++counter
  const email = `p${n}-${randomId().slice(0, 6)}@example.nl`
  const password = `correct horse battery ${n}`
  const inv = await bootstrapInvitation(ctx, {
    region: opts.region ?? 'Twente',
    organisation: opts.organisation ?? 'GGD Twente',
    kind: opts.kind ?? 'jgz',
    name: opts.name ?? `Persoon ${n}`,
    email,
    discipline: opts.discipline ?? 'jeugdverpleegkundige',
    role: opts.role ?? 'professional',
  })
  const accepted = await http<{ totpSecret: string }>(
    baseUrl,
    'POST',
    `/api/v1/invitations/${inv.code}/accept`,
    { password },
  )
  const session = await http<Session>(baseUrl, 'POST', `/api/v1/invitations/${inv.code}/confirm`, {
    password,
    totp: totpNow(accepted.totpSecret),
  })
  const userId = session.user.userId
  const master = generateSigningKeyPair()
  const backup = wrapSecret(
    deriveBackupKey(generateRecoveryKey()),
    `master/v1/${userId}`,
    master.privateKey,
  )
  await http(
    baseUrl,
    'POST',
    '/api/v1/keys/master',
    { masterPk: toB64(master.publicKey), wrappedMasterSecret: toB64(backup) },
    session.accessToken,
  )
  const device = newDevice()
  await registerDevice(baseUrl, session.accessToken, userId, master, device)
  return {
    userId,
    email,
    password,
    totpSecret: accepted.totpSecret,
    session,
    master,
    device,
    host: new TestHost(baseUrl, userId, device, session.accessToken),
  }
}
