/**
 * A RoomSession of the real SDK for one member device, loaded with a room's genesis
 * commit, without a server: the directory is the room's member devices (what a client
 * holds after checking each certificate against the member's master key) and the epoch
 * secret is what the device's welcome carries. Used by the load client (to seal), the
 * crypto bench (Node) and the history page (Chromium); no Node-only imports here.
 */
import { commitHash, fromB64, parseCommit, type DeviceKeys } from '@vs/crypto'
import { RoomSession, type RoomsHost } from '@vs/client/rooms'

export interface MemberDeviceWire {
  userId: string
  deviceId: string
  signPk: string
  boxPk: string
}

export interface MeWire extends MemberDeviceWire {
  signSk: string
  boxSk: string
}

export const LOG_HEAD = new Uint8Array(32)

export async function loadSession(p: {
  roomId: string
  /** Serialized genesis commit, base64url. */
  genesis: string
  epochSecret: string
  me: MeWire
  members: readonly MemberDeviceWire[]
}): Promise<RoomSession> {
  const genesis = parseCommit(fromB64(p.genesis))
  const dir = new Map<string, Map<string, DeviceKeys>>()
  for (const m of p.members) {
    let d = dir.get(m.userId)
    if (!d) dir.set(m.userId, (d = new Map()))
    d.set(m.deviceId, { signPk: fromB64(m.signPk), boxPk: fromB64(m.boxPk) })
  }
  const device = {
    deviceId: p.me.deviceId,
    signPk: fromB64(p.me.signPk),
    signSk: fromB64(p.me.signSk),
    boxPk: fromB64(p.me.boxPk),
    boxSk: fromB64(p.me.boxSk),
  }
  const host: RoomsHost = {
    baseUrl: 'http://127.0.0.1',
    userId: () => p.me.userId,
    device: () => device,
    request: () => Promise.reject(new Error('offline session: no HTTP')),
    accessToken: async () => '',
    memberDevices: async (userId) => dir.get(userId) ?? new Map(),
    logHead: () => LOG_HEAD,
  }
  const session = new RoomSession(p.roomId, host, {
    memberId: p.me.userId,
    deviceId: p.me.deviceId,
    signSk: device.signSk,
    boxKeyPair: { publicKey: device.boxPk, privateKey: device.boxSk },
  })
  session.receiver.addEpochSecret(0, commitHash(genesis), fromB64(p.epochSecret))
  await session.ingest([
    {
      seq: 1,
      kind: 'commit',
      from: genesis.committer.userId,
      dev: genesis.committer.deviceId,
      at: genesis.createdAt,
      body: p.genesis,
    },
  ])
  if (!session.state) throw new Error('genesis refused')
  return session
}

/** `{"text":"…"}` of exactly `bytes` bytes (ASCII). */
export function textOf(bytes: number): { type: 'text'; body: { text: string } } {
  const base =
    'Overleg morgen 9:00 bij het consultatiebureau; graag de afspraken van vorige week mee. '
  const chars = Math.max(1, bytes - 11)
  return { type: 'text', body: { text: base.slice(0, chars).padEnd(chars, '.') } }
}
