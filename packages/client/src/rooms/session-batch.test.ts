import { beforeAll, describe, expect, it } from 'vitest'
import {
  commitHash,
  createGenesis,
  cryptoReady,
  fromB64,
  generateBoxKeyPair,
  generateSigningKeyPair,
  inlineOpenRunner,
  newEpochSecret,
  sealEnvelope,
  serializeEnvelope,
  toB64,
  utf8,
  serializeCommit,
  type Commit,
  type DeviceKeys,
  type OpenRunner,
} from '@vs/crypto'
import type { RoomEventWire } from '@vs/protocol'
import type { RoomsHost } from './host.js'
import { RoomSession } from './session.js'

const LOG_HEAD = new Uint8Array(32)
const T0 = Date.UTC(2026, 10, 22, 9, 0, 0)

interface Person {
  userId: string
  deviceId: string
  sign: { publicKey: Uint8Array; privateKey: Uint8Array }
  box: { publicKey: Uint8Array; privateKey: Uint8Array }
}

const person = (userId: string, deviceId: string): Person => ({
  userId,
  deviceId,
  sign: generateSigningKeyPair(),
  box: generateBoxKeyPair(),
})

describe('opening a run of messages in parallel', () => {
  let anna: Person
  let bert: Person
  let me: Person
  let eve: Person
  let genesis: Commit
  let secret: Uint8Array
  let events: RoomEventWire[]

  /** A session of `p` with the genesis processed, the directory holding every device. */
  async function session(p: Person, runner?: OpenRunner): Promise<RoomSession> {
    const devices = new Map<string, Map<string, DeviceKeys>>()
    for (const x of [anna, bert, me, eve]) {
      devices.set(
        x.userId,
        new Map([[x.deviceId, { signPk: x.sign.publicKey, boxPk: x.box.publicKey }]]),
      )
    }
    const host: RoomsHost = {
      baseUrl: 'http://127.0.0.1',
      userId: () => p.userId,
      device: () => ({
        deviceId: p.deviceId,
        signPk: p.sign.publicKey,
        signSk: p.sign.privateKey,
        boxPk: p.box.publicKey,
        boxSk: p.box.privateKey,
      }),
      request: () => Promise.reject(new Error('offline')),
      accessToken: async () => '',
      memberDevices: async (userId) => devices.get(userId) ?? new Map(),
      logHead: () => LOG_HEAD,
    }
    const s = new RoomSession('room-1', host, {
      memberId: p.userId,
      deviceId: p.deviceId,
      signSk: p.sign.privateKey,
      boxKeyPair: p.box,
    })
    s.openRunner = runner
    s.receiver.addEpochSecret(0, commitHash(genesis), secret)
    await s.ingest([
      {
        seq: 1,
        kind: 'commit',
        from: anna.userId,
        dev: anna.deviceId,
        at: T0,
        body: toB64(serializeCommit(genesis)),
      },
    ])
    return s
  }

  beforeAll(async () => {
    await cryptoReady()
    anna = person('anna', 'a1')
    bert = person('bert', 'b1')
    me = person('me', 'm1')
    eve = person('eve', 'e1')
    genesis = createGenesis({
      roomId: 'room-1',
      kind: 'case',
      committer: { userId: 'anna', deviceId: 'a1' },
      signPrivateKey: anna.sign.privateKey,
      members: [anna, bert, me].map((p, i) => ({
        userId: p.userId,
        role: i === 0 ? ('admin' as const) : ('member' as const),
        devices: [p.deviceId],
      })),
      logHead: LOG_HEAD,
      createdAt: T0,
    })
    secret = newEpochSecret()
    const annaS = await session(anna)
    const bertS = await session(bert)
    const bodies: { from: Person; body: string }[] = []
    for (let i = 0; i < 150; i++) {
      const from = i % 3 === 0 ? bert : anna
      const s = from === anna ? annaS : bertS
      bodies.push({
        from,
        body: s.seal({ type: 'text', body: { text: `bericht ${i}` } }, LOG_HEAD).body,
      })
    }
    const forged = fromB64(bodies[10]!.body)
    forged[forged.length - 5]! ^= 1
    const eves = sealEnvelope({
      roomId: 'room-1',
      epoch: 0,
      commitHash: commitHash(genesis),
      senderUserId: 'eve',
      senderDeviceId: 'e1',
      counter: 0,
      sentAt: T0,
      type: 'text',
      logHead: LOG_HEAD,
      plaintext: utf8('{"text":"ik hoor hier niet"}'),
      epochSecret: secret,
      signPrivateKey: eve.sign.privateKey,
    })
    const list: { from: Person; body: string }[] = [
      ...bodies.slice(0, 40),
      { from: anna, body: 'niet-base64!' },
      { from: anna, body: toB64(forged) },
      bodies[5]!, // a replay
      { from: bert, body: bodies[41]!.body }, // the server names another sender
      { from: eve, body: toB64(serializeEnvelope(eves)) },
      ...bodies.slice(43, 100), // 42 withheld: a gap
      bodies[42]!, // late
      ...bodies.slice(100),
    ]
    events = list.map((x, i) => ({
      seq: i + 2,
      kind: 'message' as const,
      from: x.from.userId,
      dev: x.from.deviceId,
      at: T0 + i,
      body: x.body,
    }))
  })

  const view = (s: RoomSession) =>
    s.timeline.map((t) => ({ ...t, ...('envelope' in t ? { envelope: undefined } : {}) }))

  it('shows exactly what opening one by one shows', async () => {
    const one = await session(me)
    await one.ingest(events)
    const kinds = one.timeline.map((t) => (t.kind === 'undecryptable' ? t.code : t.kind))
    expect(kinds.filter((k) => k === 'message')).toHaveLength(events.length - 5)
    for (const code of ['malformed', 'bad-signature', 'replay', 'unknown-sender'])
      expect(kinds).toContain(code)
    expect(one.timeline.some((t) => t.kind === 'message' && t.late)).toBe(true)
    expect(one.timeline.some((t) => t.kind === 'message' && t.gaps > 0)).toBe(true)

    let batches = 0
    const counting: OpenRunner = {
      run: (jobs) => {
        batches++
        return inlineOpenRunner.run(jobs)
      },
    }
    const parallel = await session(me, counting)
    await parallel.ingest(events)
    expect(batches).toBeGreaterThan(0)
    expect(view(parallel)).toEqual(view(one))
    expect(parallel.cursor).toBe(one.cursor)
    expect(parallel.snapshot()).toEqual(one.snapshot())
  })

  it('opens on its own thread when the runner fails', async () => {
    const one = await session(me)
    await one.ingest(events)
    const broken = await session(me, { run: () => Promise.reject(new Error('worker crashed')) })
    await broken.ingest(events)
    expect(view(broken)).toEqual(view(one))
  })
})
