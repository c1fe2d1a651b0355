/**
 * Seeds the benchmark's world through the real interfaces: one coordinator from the
 * operator CLI, then professionals invited by that coordinator over HTTP, enrolled with
 * password and TOTP, each with a master key and certified devices, and rooms created
 * with signed genesis commits and sealed welcomes.
 *
 * Shape: `rooms` rooms of `members` member devices. The server allows at most 20
 * WebSockets per user (not configurable), so a person has at most `devicesPerPerson`
 * devices, one per room: people come in groups of `members`, and room r uses device
 * (r mod devicesPerPerson) of every person of group ⌊r / devicesPerPerson⌋. With 100
 * rooms × 12 members and 20 devices a person that is 60 people and 1,200 devices.
 */
import {
  certifyDevice,
  createGenesis,
  createWelcomes,
  deriveBackupKey,
  deviceCertToJSON,
  generateBoxKeyPair,
  generateRecoveryKey,
  generateSigningKeyPair,
  newEpochSecret,
  randomId,
  serializeCommit,
  toB64,
  wrapSecret,
  type DeviceKeys,
  type SigningKeyPair,
} from '@vs/crypto'
import type { Session } from '@vs/protocol'
import { totpNow } from '@vs/api/testing'
import { cliEntry, runTs } from './procs.js'
import type { ConnSpec, LoadSetup, RoomSpec } from './types.js'

export interface SeedShape {
  rooms: number
  members: number
  devicesPerPerson: number
  pool: number
  plaintextBytes: number
}

interface Device {
  deviceId: string
  sign: SigningKeyPair
  box: { publicKey: Uint8Array; privateKey: Uint8Array }
}

interface Person {
  userId: string
  token: string
  devices: Device[]
}

const REGION = 'Bench'
const ORG = 'Bench GGD'

/** Creates the coordinator's invitation with the operator CLI (before the API runs). */
export async function coordinatorInvitation(env: Record<string, string | undefined>) {
  const c = runTs(
    cliEntry,
    [
      'admin',
      'create',
      '--region',
      REGION,
      '--organisation',
      ORG,
      '--kind',
      'jgz',
      '--name',
      'Bench Coördinator',
      '--email',
      'coordinator@bench.example.nl',
    ],
    env,
  )
  const code = await c.exited
  const m = /Code \(shown once\): (\S+)/.exec(c.output())
  if (code !== 0 || !m) throw new Error(`cli admin create failed (${code}): ${c.output()}`)
  return m[1]!
}

class Api {
  constructor(readonly url: string) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    address?: string,
  ): Promise<T> {
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    // Credential routes allow 20 requests a minute per address; with TRUST_PROXY each
    // enrolling person comes from their own (forwarded) address, as in reality.
    if (address) headers['x-forwarded-for'] = address
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(this.url + path, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return JSON.parse(text) as T
  }
}

async function pool<T>(items: readonly T[], width: number, fn: (x: T, i: number) => Promise<void>) {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        await fn(items[i]!, i)
      }
    }),
  )
}

async function enrol(api: Api, code: string, address: string, password: string) {
  const acc = await api.call<{ totpSecret: string }>(
    'POST',
    `/api/v1/invitations/${code}/accept`,
    { password },
    undefined,
    address,
  )
  return api.call<Session>(
    'POST',
    `/api/v1/invitations/${code}/confirm`,
    { password, totp: totpNow(acc.totpSecret) },
    undefined,
    address,
  )
}

function newDevice(): Device {
  return { deviceId: randomId(), sign: generateSigningKeyPair(), box: generateBoxKeyPair() }
}

/** Seeds people, devices and rooms on a running API; returns the load client's setup. */
export async function seedWorld(
  url: string,
  invitationCode: string,
  shape: SeedShape,
  progress: (msg: string) => void,
): Promise<LoadSetup> {
  const api = new Api(url)
  const coord = await enrol(api, invitationCode, '10.255.0.1', 'bench coordinator password 1')
  const orgs = await api.call<{ id: string; name: string }[]>(
    'GET',
    '/api/v1/organisations',
    undefined,
    coord.accessToken,
  )
  const orgId = orgs.find((o) => o.name === ORG)!.id
  const D = Math.min(shape.devicesPerPerson, shape.rooms)
  const groups = Math.ceil(shape.rooms / D)
  const nPeople = groups * shape.members
  const people: Person[] = new Array<Person>(nPeople)
  let enrolled = 0
  await pool(
    Array.from({ length: nPeople }, (_, i) => i),
    4,
    async (p) => {
      const group = Math.floor(p / shape.members)
      const devices = Math.min(D, shape.rooms - group * D)
      const inv = await api.call<{ code: string }>(
        'POST',
        '/api/v1/invitations',
        {
          email: `bench${p}-${randomId()
            .slice(0, 6)
            .toLowerCase()
            .replace(/[^a-z0-9]/g, 'x')}@bench.example.nl`,
          name: `Professional ${p}`,
          discipline: 'jeugdverpleegkundige',
          organisationId: orgId,
          role: 'professional',
        },
        coord.accessToken,
      )
      const session = await enrol(
        api,
        inv.code,
        `10.${(p >> 8) & 255}.${p & 255}.1`,
        `bench password ${p} ${randomId()}`,
      )
      const userId = session.user.userId
      const master = generateSigningKeyPair()
      const wrapped = wrapSecret(
        deriveBackupKey(generateRecoveryKey()),
        `master/v1/${userId}`,
        master.privateKey,
      )
      await api.call(
        'POST',
        '/api/v1/keys/master',
        { masterPk: toB64(master.publicKey), wrappedMasterSecret: toB64(wrapped) },
        session.accessToken,
      )
      const person: Person = { userId, token: session.accessToken, devices: [] }
      for (let d = 0; d < devices; d++) {
        const dev = newDevice()
        const cert = certifyDevice(master.privateKey, {
          userId,
          deviceId: dev.deviceId,
          signPk: dev.sign.publicKey,
          boxPk: dev.box.publicKey,
          notAfter: Date.now() + 30 * 24 * 3600 * 1000,
        })
        await api.call(
          'POST',
          '/api/v1/devices',
          { cert: deviceCertToJSON(cert), name: `bench ${d}` },
          session.accessToken,
        )
        person.devices.push(dev)
      }
      people[p] = person
      enrolled++
      if (enrolled % 10 === 0 || enrolled === nPeople)
        progress(`enrolled ${enrolled}/${nPeople} people (${D} devices each)`)
    },
  )

  const rooms: RoomSpec[] = new Array<RoomSpec>(shape.rooms)
  const conns: ConnSpec[] = []
  let created = 0
  await pool(
    Array.from({ length: shape.rooms }, (_, r) => r),
    8,
    async (r) => {
      const group = Math.floor(r / D)
      const slot = r % D
      const members = Array.from({ length: shape.members }, (_, m) => {
        const person = people[group * shape.members + m]!
        return { person, device: person.devices[slot]! }
      })
      const creator = members[0]!
      const roomId = randomId()
      const genesis = createGenesis({
        roomId,
        kind: 'case',
        committer: { userId: creator.person.userId, deviceId: creator.device.deviceId },
        signPrivateKey: creator.device.sign.privateKey,
        members: members.map((m, i) => ({
          userId: m.person.userId,
          kind: 'user' as const,
          role: i === 0 ? ('admin' as const) : ('member' as const),
          devices: [m.device.deviceId],
        })),
        logHead: new Uint8Array(32),
        createdAt: Date.now(),
      })
      const keys = new Map<string, DeviceKeys>()
      for (const m of members)
        keys.set(`${m.person.userId}/${m.device.deviceId}`, {
          signPk: m.device.sign.publicKey,
          boxPk: m.device.box.publicKey,
        })
      const secret = newEpochSecret()
      const welcomes = createWelcomes(genesis, secret, creator.device.sign.privateKey, (u, d) =>
        keys.get(`${u}/${d}`),
      )
      await api.call(
        'POST',
        '/api/v1/rooms',
        {
          genesis: toB64(serializeCommit(genesis)),
          welcomes: welcomes.map((w) => ({
            memberId: w.recipient.userId,
            deviceId: w.recipient.deviceId,
            sealed: toB64(w.sealed),
          })),
        },
        creator.person.token,
      )
      rooms[r] = {
        roomId,
        genesis: toB64(serializeCommit(genesis)),
        epochSecret: toB64(secret),
      }
      members.forEach((m, i) =>
        conns.push({
          userId: m.person.userId,
          deviceId: m.device.deviceId,
          token: m.person.token,
          room: r,
          member: i,
          signPk: toB64(m.device.sign.publicKey),
          signSk: toB64(m.device.sign.privateKey),
          boxPk: toB64(m.device.box.publicKey),
          boxSk: toB64(m.device.box.privateKey),
        }),
      )
      created++
      if (created % 25 === 0 || created === shape.rooms)
        progress(`created ${created}/${shape.rooms} rooms`)
    },
  )
  conns.sort((a, b) => a.room - b.room || a.member - b.member)
  return {
    rooms,
    conns,
    members: shape.members,
    pool: shape.pool,
    plaintextBytes: shape.plaintextBytes,
  }
}
