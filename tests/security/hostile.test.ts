/**
 * The hostile-server suite. Each test plays a compromised server: it writes directly to
 * the database (through the app's own connection), announces forged events on the live
 * channel, or rewrites the responses a client receives. Each asserts that the real SDK
 * (VsClient, RoomsClient, RoomSession, verifiedNotices) detects the move and refuses it.
 * These are the published attacks on Matrix (2022) and ours; docs/security.md lists each
 * with its test.
 */
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ChainRefusedError,
  RoomsClient,
  askConsult,
  postNotice,
  verifiedNotices,
  type ChainHead,
  type ChainHeadStore,
  type EpochSecretStore,
  type PublicDesk,
  type RoomSession,
  type RoomsHost,
  type StoredEpochSecret,
  type TimelineItem,
} from '@vs/client/rooms'
import {
  DeviceError,
  KeyChangedError,
  KeyLogIntegrityError,
  MemoryKeyStore,
  VsClient,
} from '@vs/client'
import {
  appendEntries,
  certifyDeskKey,
  certifyDevice,
  commitHash,
  deskKeyCertToJSON,
  createCommit,
  createWelcomes,
  deriveBackupKey,
  emptyHead,
  encodeDeviceCert,
  encodeMasterKeyRecord,
  generateBoxKeyPair,
  generateRecoveryKey,
  generateSigningKeyPair,
  keyLogEntryToJSON,
  newEpochSecret,
  parseCommit,
  randomBytes,
  randomId,
  sealEnvelope,
  serializeCommit,
  serializeEnvelope,
  signCommit,
  signHead,
  signedHeadToJSON,
  toB64,
  wrapSecret,
  type Commit,
  type DeviceKeys,
  type KeyLogEntry,
} from '@vs/crypto'
import type { KeyLogPage } from '@vs/protocol'
import { http, listenTestApp, makePerson, type Person } from '@vs/api/testing'
import { appendKeyEvent } from '../../services/api/src/identity/keys.js'
import type { StoredEvent } from '../../services/api/src/rooms/events.js'
import {
  makeDesk,
  refusals,
  sdkPerson,
  texts,
  totpCode,
  until,
  type Desk,
  type SdkPerson,
} from './helpers.js'

type T = Awaited<ReturnType<typeof listenTestApp>>
type Msg = Extract<TimelineItem, { kind: 'message' }>

const ZERO_HEAD = new Uint8Array(32)

describe('a hostile server', () => {
  let t: T
  // SDK users: the people whose clients must notice. Test users (`makePerson`): honest
  // members whose keys the test holds, so it can build what a compromised member or a
  // racing admin could sign.
  let anna: SdkPerson, eva: SdkPerson, fenna: SdkPerson, gijs: SdkPerson
  let bert: Person, carla: Person, mallory: Person, coord: Person, advisor: Person
  let desk: Desk
  const closers: { close(): void }[] = []

  const db = () => t.ctx.db.db

  /** What a device keeps across reloads (none by default: a device that remembers nothing). */
  interface Stores {
    epochSecrets?: EpochSecretStore
    chainHeads?: ChainHeadStore
  }

  /** One device's storage, in memory, outliving the rooms clients that use it. */
  function deviceMemory(): Required<Stores> & { heads: Map<string, ChainHead> } {
    const secrets = new Map<string, StoredEpochSecret[]>()
    const heads = new Map<string, ChainHead>()
    const epochSecrets: EpochSecretStore = {
      load: async (room) => secrets.get(room) ?? [],
      save: async (room, _as, k) => void secrets.set(room, [...(secrets.get(room) ?? []), k]),
    }
    const chainHeads: ChainHeadStore = {
      load: async (room) => heads.get(room),
      save: async (room, _as, h) => void heads.set(room, h),
    }
    return { epochSecrets, chainHeads, heads }
  }

  /** A rooms client on a person's host; `live: false` for a freshly loaded reader. */
  function rooms(host: RoomsHost, live = true, stores: Stores = {}): RoomsClient {
    const c = new RoomsClient(host, { realtime: live, ...stores })
    closers.push(c)
    return c
  }
  async function sdkRooms(p: SdkPerson, live = true, stores: Stores = {}): Promise<RoomsClient> {
    return rooms(await p.client.roomsHost(), live, stores)
  }
  /**
   * Anna's view after a reload: a new rooms client that validates everything from scratch,
   * with what her device kept (`stores`), if anything.
   */
  async function freshOpen(
    p: SdkPerson,
    roomId: string,
    stores: Stores = {},
  ): Promise<RoomSession> {
    return (await sdkRooms(p, false, stores)).open(roomId)
  }
  async function openRefusal(
    p: SdkPerson,
    roomId: string,
    stores: Stores = {},
  ): Promise<string | undefined> {
    const err = await freshOpen(p, roomId, stores).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ChainRefusedError)
    return (err as ChainRefusedError).code
  }

  /** The server appends an event of its own making and announces it on the live channel. */
  async function forgeEvent(
    roomId: string,
    e: { kind: 'commit' | 'message'; from: string; dev: string; body: Uint8Array },
  ): Promise<number> {
    const seq = await db()
      .transaction()
      .execute(async (trx) => {
        const r = await trx
          .updateTable('rooms')
          .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
          .where('id', '=', roomId)
          .returning('last_seq')
          .executeTakeFirstOrThrow()
        await trx
          .insertInto('room_events')
          .values({
            room_id: roomId,
            seq: r.last_seq,
            kind: e.kind,
            sender_id: e.from,
            sender_device: e.dev,
            idem_key: `forged-${randomId()}`,
            body: e.body,
          })
          .execute()
        return r.last_seq
      })
    const ev: StoredEvent = {
      roomId,
      seq,
      kind: e.kind,
      senderId: e.from,
      senderDevice: e.dev,
      createdAt: new Date(),
      body: e.body,
    }
    t.app.realtime.committed([ev])
    return seq
  }

  async function eventAt(roomId: string, seq: number) {
    return db()
      .selectFrom('room_events')
      .selectAll()
      .where('room_id', '=', roomId)
      .where('seq', '=', seq)
      .executeTakeFirstOrThrow()
  }

  /** The server removes one event and renumbers the rest, so the sequence stays gap-free. */
  async function dropEvent(roomId: string, seq: number): Promise<void> {
    await db()
      .transaction()
      .execute(async (trx) => {
        await trx
          .deleteFrom('room_events')
          .where('room_id', '=', roomId)
          .where('seq', '=', seq)
          .execute()
        await sql`update room_events set seq = -seq where room_id = ${roomId} and seq > ${seq}`.execute(
          trx,
        )
        await sql`update room_events set seq = -seq - 1 where room_id = ${roomId} and seq < 0`.execute(
          trx,
        )
        await sql`update room_commits set seq = seq - 1 where room_id = ${roomId} and seq > ${seq}`.execute(
          trx,
        )
        await sql`update rooms set last_seq = last_seq - 1 where id = ${roomId}`.execute(trx)
      })
  }

  /** The server cuts the chain back: it deletes the commit at `seq`, the chain's last (`epoch`). */
  async function cutChain(roomId: string, seq: number, epoch: number): Promise<void> {
    await dropEvent(roomId, seq)
    await db()
      .deleteFrom('room_commits')
      .where('room_id', '=', roomId)
      .where('epoch', '=', epoch)
      .execute()
  }

  /** A person whose every response passes through `rewrite` first (test-user side). */
  function intercepted(
    p: Person,
    rewrite: (method: string, path: string, result: unknown) => unknown,
  ): RoomsHost {
    const host = p.host
    return Object.assign(Object.create(host) as RoomsHost, {
      request: async <R>(method: string, path: string, body?: unknown): Promise<R> =>
        rewrite(method, path, await host.request<unknown>(method, path, body)) as R,
    })
  }

  async function seal(session: RoomSession, text: string): Promise<string> {
    return session.seal({ type: 'text', body: { text } }, ZERO_HEAD).body
  }

  async function postBody(p: Person, roomId: string, body: string, dev = p.device.deviceId) {
    return http<{ seq: number }>(
      t.url,
      'POST',
      `/api/v1/rooms/${roomId}/events`,
      { idem: toB64(randomBytes(12)), dev, body },
      p.host.token,
    )
  }

  /**
   * A room made by Bert (admin, keys held by the test) with Anna and Carla. `live: false`
   * when Bert only commits (over HTTP): his WebSockets count towards the per-user limit.
   */
  async function bertsRoom(
    extra: { userId: string }[] = [],
    live = true,
  ): Promise<{
    roomId: string
    b: RoomsClient
  }> {
    const b = rooms(bert.host, live)
    const roomId = await b.create({
      kind: 'case',
      members: [{ userId: anna.userId }, { userId: carla.userId }, ...extra],
    })
    return { roomId, b }
  }

  beforeAll(async () => {
    // Every client here is on 127.0.0.1: the per-address limit (600 a minute) is not what
    // this suite tests, and its ~30 scenarios come close to it within a minute.
    t = await listenTestApp({ rateLimitMax: 100_000 })
    anna = await sdkPerson(t, { name: 'Anna (verloskundige)' })
    eva = await sdkPerson(t, { name: 'Eva (kraamzorg)' })
    fenna = await sdkPerson(t, { name: 'Fenna (JGZ)' })
    gijs = await sdkPerson(t, { name: 'Gijs (jeugdarts)' })
    bert = await makePerson(t.ctx, t.url, { name: 'Bert (huisarts)' })
    carla = await makePerson(t.ctx, t.url, { name: 'Carla (wijkteam)' })
    mallory = await makePerson(t.ctx, t.url, { name: 'Mallory (niet uitgenodigd)' })
    const vt = { organisation: 'Veilig Thuis Twente', kind: 'veilig-thuis' as const }
    coord = await makePerson(t.ctx, t.url, { ...vt, role: 'coordinator', name: 'Coördinator VT' })
    advisor = await makePerson(t.ctx, t.url, { ...vt, role: 'advisor', name: 'Adviseur VT' })
    desk = await makeDesk(t.url, coord, [advisor])
  })
  afterAll(async () => {
    for (const c of closers) c.close()
    await t.close()
  })

  // ------------------------------------------------------------------ members

  describe('membership', () => {
    it('gives a member the server adds to its own tables no key, and refuses her messages', async () => {
      const { roomId, b } = await bertsRoom()
      const bs = await b.open(roomId)
      // The server authorises Mallory: she can now read ciphertext and post.
      await db()
        .insertInto('room_members')
        .values({
          room_id: roomId,
          member_id: mallory.userId,
          member_kind: 'user',
          role: 'member',
          devices: JSON.stringify([mallory.device.deviceId]),
        })
        .execute()
      const welcomes = await http<unknown[]>(
        t.url,
        'GET',
        `/api/v1/rooms/${roomId}/welcomes?device=${mallory.device.deviceId}`,
        undefined,
        mallory.host.token,
      )
      expect(welcomes).toEqual([])
      // Her message, sealed under a key of her own for the room's epoch, is stored...
      const env = sealEnvelope({
        roomId,
        epoch: bs.state!.epoch,
        commitHash: commitHash(bs.state!.head),
        senderUserId: mallory.userId,
        senderDeviceId: mallory.device.deviceId,
        counter: 0,
        sentAt: Date.now(),
        type: 'text',
        logHead: ZERO_HEAD,
        plaintext: new TextEncoder().encode('{"text":"ik hoor erbij"}'),
        epochSecret: newEpochSecret(),
        signPrivateKey: mallory.device.signSk,
      })
      await postBody(mallory, roomId, toB64(serializeEnvelope(env)))
      // ...but Anna's client lists the members the chain justifies and refuses the rest.
      const s = await freshOpen(anna, roomId)
      expect(s.state!.members.map((m) => m.userId)).not.toContain(mallory.userId)
      expect(refusals(s.timeline)).toEqual(['unknown-sender'])
    })

    it('refuses a membership commit the server forges to add someone', async () => {
      const { roomId } = await bertsRoom()
      const s0 = await freshOpen(anna, roomId)
      const head = s0.state!.head
      const add = (committer: { userId: string; deviceId: string }, key: Uint8Array): Commit =>
        signCommit(
          {
            v: 1,
            roomId,
            kind: 'case',
            epoch: head.epoch + 1,
            prev: commitHash(head),
            committer,
            action: 'add',
            subjects: [mallory.userId],
            members: [
              ...head.members,
              {
                userId: mallory.userId,
                kind: 'user',
                role: 'member',
                devices: [mallory.device.deviceId],
              },
            ],
            policy: head.policy,
            logHead: ZERO_HEAD,
            createdAt: Date.now(),
          },
          key,
        )
      // Claimed to be Bert's (the admin) but signed with a key the server made.
      const forged = add(
        { userId: bert.userId, deviceId: bert.device.deviceId },
        generateSigningKeyPair().privateKey,
      )
      await forgeEvent(roomId, {
        kind: 'commit',
        from: bert.userId,
        dev: bert.device.deviceId,
        body: serializeCommit(forged),
      })
      expect(await openRefusal(anna, roomId)).toBe('bad-signature')
    })

    it('refuses a commit signed by someone who is not a member device', async () => {
      const { roomId } = await bertsRoom()
      const s0 = await freshOpen(anna, roomId)
      const head = s0.state!.head
      const selfInvite = signCommit(
        {
          ...head,
          epoch: head.epoch + 1,
          prev: commitHash(head),
          committer: { userId: mallory.userId, deviceId: mallory.device.deviceId },
          action: 'add',
          subjects: [mallory.userId],
          members: [
            ...head.members,
            {
              userId: mallory.userId,
              kind: 'user',
              role: 'admin',
              devices: [mallory.device.deviceId],
            },
          ],
          logHead: ZERO_HEAD,
          createdAt: Date.now(),
        },
        mallory.device.signSk,
      )
      await forgeEvent(roomId, {
        kind: 'commit',
        from: mallory.userId,
        dev: mallory.device.deviceId,
        body: serializeCommit(selfInvite),
      })
      expect(await openRefusal(anna, roomId)).toBe('unauthorised-committer')
    })
  })

  // ------------------------------------------------------------------ devices and keys

  describe('devices and keys', () => {
    it('ignores a device the server plants on a member, and refuses the commit and messages that use it', async () => {
      const { roomId, b } = await bertsRoom()
      const bs = await b.open(roomId)
      const planted = { ...generateSigningKeyPair(), box: generateBoxKeyPair(), id: randomId() }
      // A certificate under a master key the server made (it cannot sign with Bert's).
      const cert = certifyDevice(generateSigningKeyPair().privateKey, {
        userId: bert.userId,
        deviceId: planted.id,
        signPk: planted.publicKey,
        boxPk: planted.box.publicKey,
        notAfter: Date.now() + 86_400_000,
      })
      await db()
        .insertInto('devices')
        .values({
          user_id: bert.userId,
          device_id: planted.id,
          name: 'Bert (extra)',
          sign_pk: planted.publicKey,
          box_pk: planted.box.publicKey,
          not_after: cert.notAfter,
          cert_sig: cert.signature,
        })
        .execute()
      const keys = await anna.client.userKeys(bert.userId)
      expect(keys.devices.map((d) => d.deviceId)).toEqual([bert.device.deviceId])

      // The server slips the device into the room with an add-device commit it signs itself.
      const head = bs.state!.head
      const bertMember = head.members.find((m) => m.userId === bert.userId)!
      const addDevice = signCommit(
        {
          ...head,
          epoch: head.epoch + 1,
          prev: commitHash(head),
          committer: { userId: bert.userId, deviceId: planted.id },
          action: 'add-device',
          subjects: [planted.id],
          members: head.members.map((m) =>
            m === bertMember ? { ...m, devices: [...m.devices, planted.id].sort() } : m,
          ),
          logHead: ZERO_HEAD,
          createdAt: Date.now(),
        },
        planted.privateKey,
      )
      const live = await (await sdkRooms(anna)).open(roomId)
      await forgeEvent(roomId, {
        kind: 'commit',
        from: bert.userId,
        dev: planted.id,
        body: serializeCommit(addDevice),
      })
      await until(() => live.refused !== undefined)
      expect(live.refused!.code).toBe('unauthorised-committer')
      expect(await openRefusal(anna, roomId)).toBe('unauthorised-committer')

      // Without a commit: a message from the planted device is refused as unknown.
      const { roomId: other, b: b2 } = await bertsRoom()
      const s2 = await b2.open(other)
      const env = sealEnvelope({
        roomId: other,
        epoch: 0,
        commitHash: commitHash(s2.state!.head),
        senderUserId: bert.userId,
        senderDeviceId: planted.id,
        counter: 0,
        sentAt: Date.now(),
        type: 'text',
        logHead: ZERO_HEAD,
        plaintext: new TextEncoder().encode('{"text":"van mijn nieuwe tablet"}'),
        epochSecret: newEpochSecret(),
        signPrivateKey: planted.privateKey,
      })
      await forgeEvent(other, {
        kind: 'message',
        from: bert.userId,
        dev: planted.id,
        body: serializeEnvelope(env),
      })
      expect(refusals((await freshOpen(anna, other)).timeline)).toEqual(['unknown-sender'])
    })

    it('alerts the owner to a device the server certifies in her name in the key log', async () => {
      await anna.client.syncKeyLog()
      const planted = { sign: generateSigningKeyPair(), box: generateBoxKeyPair(), id: randomId() }
      const cert = certifyDevice(generateSigningKeyPair().privateKey, {
        userId: anna.userId,
        deviceId: planted.id,
        signPk: planted.sign.publicKey,
        boxPk: planted.box.publicKey,
        notAfter: Date.now() + 86_400_000,
      })
      await db()
        .transaction()
        .execute(async (trx) => {
          await trx
            .insertInto('devices')
            .values({
              user_id: anna.userId,
              device_id: planted.id,
              name: 'Anna (2)',
              sign_pk: planted.sign.publicKey,
              box_pk: planted.box.publicKey,
              not_after: cert.notAfter,
              cert_sig: cert.signature,
            })
            .execute()
          await appendKeyEvent(trx, 'device-certified', anna.userId, encodeDeviceCert(cert))
        })
      const alerts = await anna.client.syncKeyLog()
      expect(alerts).toEqual([
        expect.objectContaining({ reason: 'unknown-device', deviceId: planted.id }),
      ])
      // And it never counts as one of hers: others' clients ignore it too.
      const own = await fenna.client.userKeys(anna.userId)
      expect(own.devices.map((d) => d.deviceId)).not.toContain(planted.id)
    })

    it('refuses a member device whose keys the server swapped, live and after a reload', async () => {
      const { roomId, b } = await bertsRoom()
      await b.sendText(roomId, 'Ik ken het gezin al jaren')
      const live = await (await sdkRooms(anna)).open(roomId)
      await until(() => texts(live.timeline).length === 1)
      const swapped = { sign: generateSigningKeyPair(), box: generateBoxKeyPair() }
      const cert = certifyDevice(generateSigningKeyPair().privateKey, {
        userId: bert.userId,
        deviceId: bert.device.deviceId,
        signPk: swapped.sign.publicKey,
        boxPk: swapped.box.publicKey,
        notAfter: Date.now() + 86_400_000,
      })
      const original = await db()
        .selectFrom('devices')
        .selectAll()
        .where('user_id', '=', bert.userId)
        .where('device_id', '=', bert.device.deviceId)
        .executeTakeFirstOrThrow()
      await db()
        .updateTable('devices')
        .set({
          sign_pk: swapped.sign.publicKey,
          box_pk: swapped.box.publicKey,
          cert_sig: cert.signature,
        })
        .where('user_id', '=', bert.userId)
        .where('device_id', '=', bert.device.deviceId)
        .execute()
      try {
        // A message "from Bert's device" under the swapped key.
        const env = sealEnvelope({
          roomId,
          epoch: 0,
          commitHash: commitHash(live.state!.head),
          senderUserId: bert.userId,
          senderDeviceId: bert.device.deviceId,
          counter: 7,
          sentAt: Date.now(),
          type: 'text',
          logHead: ZERO_HEAD,
          plaintext: new TextEncoder().encode('{"text":"Stuur me het dossier"}'),
          epochSecret: newEpochSecret(),
          signPrivateKey: swapped.sign.privateKey,
        })
        await forgeEvent(roomId, {
          kind: 'message',
          from: bert.userId,
          dev: bert.device.deviceId,
          body: serializeEnvelope(env),
        })
        await until(() => live.timeline.length >= 3)
        expect(refusals(live.timeline)).toEqual(['bad-signature'])
        expect(texts(live.timeline)).toEqual(['Ik ken het gezin al jaren'])
        // A reloaded client no longer verifies Bert's device at all: his genesis commit fails.
        expect(await openRefusal(anna, roomId)).toBe('unknown-device')
      } finally {
        await db()
          .updateTable('devices')
          .set({ sign_pk: original.sign_pk, box_pk: original.box_pk, cert_sig: original.cert_sig })
          .where('user_id', '=', bert.userId)
          .where('device_id', '=', bert.device.deviceId)
          .execute()
      }
    })

    it('blocks a verified colleague whose master key the server replaced, alerts its owner, and refuses history for the unverified', async () => {
      const gijsRooms = await sdkRooms(gijs)
      const roomId = await gijsRooms.create({
        kind: 'case',
        members: [{ userId: anna.userId }, { userId: fenna.userId }],
      })
      await gijsRooms.sendText(roomId, 'Overleg donderdag?')
      const sn = await anna.client.safetyNumber(gijs.userId)
      await anna.client.markVerified(gijs.userId, sn.groups.join(' '))
      expect(texts((await freshOpen(fenna, roomId)).timeline)).toEqual(['Overleg donderdag?'])
      await gijs.client.syncKeyLog()

      // The server replaces Gijs's master key with its own, logs the change (it runs the
      // log), and re-certifies her device id with keys it holds.
      const master = generateSigningKeyPair()
      const dev = { sign: generateSigningKeyPair(), box: generateBoxKeyPair() }
      const cert = certifyDevice(master.privateKey, {
        userId: gijs.userId,
        deviceId: gijs.deviceId,
        signPk: dev.sign.publicKey,
        boxPk: dev.box.publicKey,
        notAfter: Date.now() + 86_400_000,
      })
      await db()
        .transaction()
        .execute(async (trx) => {
          await trx
            .updateTable('users')
            .set({ master_pk: master.publicKey })
            .where('id', '=', gijs.userId)
            .execute()
          await trx
            .updateTable('devices')
            .set({
              sign_pk: dev.sign.publicKey,
              box_pk: dev.box.publicKey,
              cert_sig: cert.signature,
              not_after: cert.notAfter,
            })
            .where('user_id', '=', gijs.userId)
            .where('device_id', '=', gijs.deviceId)
            .execute()
          await appendKeyEvent(
            trx,
            'master-key-changed',
            gijs.userId,
            encodeMasterKeyRecord({
              userId: gijs.userId,
              masterPk: master.publicKey,
              createdAt: Date.now(),
            }),
          )
        })
      // Anna verified Gijs: blocked until she verifies again.
      await expect(anna.client.userKeys(gijs.userId)).rejects.toBeInstanceOf(KeyChangedError)
      await expect(freshOpen(anna, roomId)).rejects.toBeInstanceOf(KeyChangedError)
      // Gijs's own client sees a master key she did not make.
      const alerts = await gijs.client.syncKeyLog()
      expect(alerts.map((a) => a.reason)).toContain('unknown-master-key')
      // Fenna never verified Gijs: the history Gijs signed no longer verifies under the new
      // key, so the room is refused rather than shown with the server's key.
      expect(await openRefusal(fenna, roomId)).toBe('bad-signature')
    })

    it('refuses a desk key the server swapped, and the desk messages it would let the server forge', async () => {
      const a = await sdkRooms(anna)
      const roomId = await askConsult(a, desk.deskId, {
        ageBand: '0-1',
        signals: 'Baby huilt veel, moeder oogt uitgeput en angstig.',
        riskFactors: [],
        meldcodeStap: 'Stap 2 — collega en/of Veilig Thuis raadplegen',
        question: 'Hoe kan ik dit bespreekbaar maken?',
      })
      const deskRooms = new RoomsClient(advisor.host, {
        as: {
          memberId: desk.deskId,
          deviceId: 'v1',
          signSk: desk.sign.privateKey,
          boxKeyPair: desk.box,
        },
      })
      closers.push(deskRooms)
      await deskRooms.sendText(roomId, 'Goed dat je belt. Vraag naar haar slaap.')
      const live = await a.open(roomId)
      await until(() => texts(live.timeline).length === 1)

      const swapped = { sign: generateSigningKeyPair(), box: generateBoxKeyPair() }
      await db()
        .updateTable('desk_key_versions')
        .set({ sign_pk: swapped.sign.publicKey, box_pk: swapped.box.publicKey })
        .where('desk_id', '=', desk.deskId)
        .where('version', '=', 1)
        .execute()
      try {
        const env = sealEnvelope({
          roomId,
          epoch: 0,
          commitHash: commitHash(live.state!.head),
          senderUserId: desk.deskId,
          senderDeviceId: 'v1',
          counter: 5,
          sentAt: Date.now(),
          type: 'text',
          logHead: ZERO_HEAD,
          plaintext: new TextEncoder().encode('{"text":"Stuur ons naam en adres van het gezin"}'),
          epochSecret: newEpochSecret(),
          signPrivateKey: swapped.sign.privateKey,
        })
        await forgeEvent(roomId, {
          kind: 'message',
          from: desk.deskId,
          dev: 'v1',
          body: serializeEnvelope(env),
        })
        await until(() => refusals(live.timeline).length === 1)
        expect(refusals(live.timeline)).toEqual(['bad-signature'])
        // After a reload the desk's key must come from the key log; the swapped one does
        // not, so the consultation is refused instead of trusting the server's key.
        const host = await anna.client.roomsHost()
        expect([...(await host.memberDevices(desk.deskId, 'desk')).keys()]).toEqual([])
        expect(await openRefusal(anna, roomId)).toBe('unknown-device')
      } finally {
        await db()
          .updateTable('desk_key_versions')
          .set({ sign_pk: desk.sign.publicKey, box_pk: desk.box.publicKey })
          .where('desk_id', '=', desk.deskId)
          .where('version', '=', 1)
          .execute()
      }
      expect([
        ...(await (await anna.client.roomsHost()).memberDevices(desk.deskId, 'desk')).keys(),
      ]).toEqual(['v1'])
    })

    it('refuses to seal an adviesvraag to an older or made-up desk key, named or fully anonymous', async () => {
      // A second desk, renewed once (v2): say an advisor who held v1 was removed.
      const renewed = await makeDesk(t.url, coord, [advisor], 'Veilig Thuis Twente — melding')
      const v2 = { sign: generateSigningKeyPair(), box: generateBoxKeyPair() }
      const cert = certifyDeskKey(coord.master.privateKey, {
        deskId: renewed.deskId,
        version: 2,
        signPk: v2.sign.publicKey,
        boxPk: v2.box.publicKey,
        createdAt: Date.now(),
      })
      await http(
        t.url,
        'POST',
        `/api/v1/desks/${renewed.deskId}/keys`,
        { cert: deskKeyCertToJSON(cert), grants: [] },
        coord.host.token,
      )
      await anna.client.syncKeyLog()
      // The desk list for fully anonymous questions comes without an account: Anna's client
      // checks it against her key log before sealing anything to it.
      const listed = async () =>
        (await http<PublicDesk[]>(t.url, 'GET', '/api/v1/anon/desks')).find(
          (d) => d.id === renewed.deskId,
        )!
      const honest = await listed()
      expect(honest.keyVersion).toBe(2)
      await anna.client.checkPublicDesk(honest)
      const mismatch = { code: 'VS_KEYLOG_MISMATCH' }
      // A key of the server's own, under the newest version number.
      await expect(
        anna.client.checkPublicDesk({ ...honest, boxPk: toB64(generateBoxKeyPair().publicKey) }),
      ).rejects.toMatchObject(mismatch)
      // The desk rolled back to v1, as the server's table shows it.
      await db()
        .updateTable('desks')
        .set({ key_version: 1, sign_pk: renewed.sign.publicKey, box_pk: renewed.box.publicKey })
        .where('id', '=', renewed.deskId)
        .execute()
      try {
        await expect(anna.client.checkPublicDesk(await listed())).rejects.toMatchObject(mismatch)
      } finally {
        await db()
          .updateTable('desks')
          .set({ key_version: 2, sign_pk: v2.sign.publicKey, box_pk: v2.box.publicKey })
          .where('id', '=', renewed.deskId)
          .execute()
      }
      const question = {
        ageBand: '0-1' as const,
        signals: 'Vader reageert boos als de baby huilt.',
        riskFactors: [],
        meldcodeStap: 'Stap 2 — collega en/of Veilig Thuis raadplegen',
        question: 'Wat kan ik nu doen?',
      }
      // The server lists v1 only (it cannot forge v2's place in the log Anna verified).
      const hidden = await db()
        .deleteFrom('desk_key_versions')
        .where('desk_id', '=', renewed.deskId)
        .where('version', '=', 2)
        .returningAll()
        .executeTakeFirstOrThrow()
      const consults = async () =>
        Number(
          (
            await db()
              .selectFrom('consults')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .where('desk_id', '=', renewed.deskId)
              .executeTakeFirstOrThrow()
          ).n,
        )
      try {
        const host = await anna.client.roomsHost()
        await expect(host.memberDevices(renewed.deskId, 'desk')).rejects.toMatchObject({
          code: 'VS_KEYLOG_MISMATCH',
        })
        await expect(
          askConsult(await sdkRooms(anna), renewed.deskId, question),
        ).rejects.toBeInstanceOf(KeyLogIntegrityError)
        expect(await consults()).toBe(0)
      } finally {
        await db().insertInto('desk_key_versions').values(hidden).execute()
      }
      // Listed again: the adviesvraag goes to v2 only.
      const roomId = await askConsult(await sdkRooms(anna), renewed.deskId, question)
      const members = await db()
        .selectFrom('room_members')
        .select('devices')
        .where('room_id', '=', roomId)
        .where('member_id', '=', renewed.deskId)
        .executeTakeFirstOrThrow()
      expect(JSON.parse(members.devices)).toEqual(['v2'])
    })
  })

  // ------------------------------------------------------------------ messages

  describe('messages', () => {
    it('refuses a message the server replays, live and after a reload', async () => {
      const { roomId, b } = await bertsRoom()
      const live = await (await sdkRooms(anna)).open(roomId)
      const seq = await b.sendText(roomId, 'Huisbezoek gepland op maandag')
      await until(() => texts(live.timeline).length === 1)
      const original = await eventAt(roomId, seq)
      await forgeEvent(roomId, {
        kind: 'message',
        from: original.sender_id,
        dev: original.sender_device,
        body: new Uint8Array(original.body),
      })
      await until(() => refusals(live.timeline).length === 1)
      expect(refusals(live.timeline)).toEqual(['replay'])
      const fresh = await freshOpen(anna, roomId)
      expect(texts(fresh.timeline)).toEqual(['Huisbezoek gepland op maandag'])
      expect(refusals(fresh.timeline)).toEqual(['replay'])
    })

    it('shows a gap and then a late arrival when the server reorders one sender\u2019s messages', async () => {
      const { roomId, b } = await bertsRoom()
      const first = await b.sendText(roomId, 'eerst dit')
      const second = await b.sendText(roomId, 'dan dat')
      const [e1, e2] = [await eventAt(roomId, first), await eventAt(roomId, second)]
      await db()
        .updateTable('room_events')
        .set({ body: e2.body })
        .where('room_id', '=', roomId)
        .where('seq', '=', first)
        .execute()
      await db()
        .updateTable('room_events')
        .set({ body: e1.body })
        .where('room_id', '=', roomId)
        .where('seq', '=', second)
        .execute()
      const s = await freshOpen(anna, roomId)
      const msgs = s.timeline.filter((i): i is Msg => i.kind === 'message')
      expect(msgs.map((m) => (m.content.body as { text: string }).text)).toEqual([
        'dan dat',
        'eerst dit',
      ])
      expect(msgs[0]!.gaps).toBe(1)
      expect(msgs[1]!.late).toBe(true)
      // The signed send times show the true order as well.
      expect(msgs[0]!.sentAt).toBeGreaterThanOrEqual(msgs[1]!.sentAt)
    })

    it('shows the gap when the server drops a message and renumbers the rest', async () => {
      const { roomId, b } = await bertsRoom()
      await b.sendText(roomId, 'een')
      const dropped = await b.sendText(roomId, 'twee: de moeder wil geen hulp')
      await b.sendText(roomId, 'drie')
      await dropEvent(roomId, dropped)
      const s = await freshOpen(anna, roomId)
      const msgs = s.timeline.filter((i): i is Msg => i.kind === 'message')
      expect(texts(s.timeline)).toEqual(['een', 'drie'])
      expect(msgs.map((m) => m.gaps)).toEqual([0, 1])
      expect(s.receiver.allMissing()).toEqual([
        expect.objectContaining({ userId: bert.userId, ranges: [{ from: 1, to: 1 }] }),
      ])
    })

    it('refuses a message the server altered or moved to another room', async () => {
      const { roomId, b } = await bertsRoom()
      const { roomId: other } = await bertsRoom()
      const seq = await b.sendText(roomId, 'Alleen voor deze kamer')
      const e = await eventAt(roomId, seq)
      const altered = new Uint8Array(e.body)
      altered[altered.length - 100]! ^= 1
      await forgeEvent(roomId, {
        kind: 'message',
        from: e.sender_id,
        dev: e.sender_device,
        body: altered,
      })
      await forgeEvent(other, {
        kind: 'message',
        from: e.sender_id,
        dev: e.sender_device,
        body: new Uint8Array(e.body),
      })
      expect(refusals((await freshOpen(anna, roomId)).timeline)).toEqual(['bad-signature'])
      expect(refusals((await freshOpen(anna, other)).timeline)).toEqual(['wrong-room'])
    })

    it('refuses a message whose sender the server relabels', async () => {
      const { roomId, b } = await bertsRoom()
      const seq = await b.sendText(roomId, 'van Bert')
      await db()
        .updateTable('room_events')
        .set({ sender_id: carla.userId, sender_device: carla.device.deviceId })
        .where('room_id', '=', roomId)
        .where('seq', '=', seq)
        .execute()
      expect(refusals((await freshOpen(anna, roomId)).timeline)).toEqual(['unknown-sender'])
    })
  })

  // ------------------------------------------------------------------ the commit chain

  describe('the commit chain', () => {
    it('refuses a rolled-back chain: an earlier commit served again, live and after a reload', async () => {
      const { roomId, b } = await bertsRoom()
      const rotated = await b.rotate(roomId)
      await b.rotate(roomId)
      const live = await (await sdkRooms(anna)).open(roomId)
      expect(live.state!.epoch).toBe(2)
      const old = await eventAt(roomId, rotated)
      await forgeEvent(roomId, {
        kind: 'commit',
        from: old.sender_id,
        dev: old.sender_device,
        body: new Uint8Array(old.body),
      })
      await until(() => live.refused !== undefined)
      expect(live.refused!.code).toBe('rollback')
      expect(await openRefusal(anna, roomId)).toBe('rollback')
    })

    it('refuses messages of an epoch the server cut from the chain', async () => {
      const { roomId, b } = await bertsRoom()
      const commitSeq = await b.rotate(roomId)
      await b.sendText(roomId, 'na de rotatie')
      // The server truncates the chain back to epoch 0 for everyone who loads it now.
      await cutChain(roomId, commitSeq, 1)
      const s = await freshOpen(anna, roomId)
      expect(s.state!.epoch).toBe(0)
      expect(refusals(s.timeline)).toEqual(['wrong-epoch'])
    })

    it('refuses, after a reload, a chain cut back below an epoch this device started', async () => {
      // Only the epoch secrets of Bert's own commits: they too say how far the chain went.
      const { epochSecrets } = deviceMemory()
      const b = rooms(bert.host, false, { epochSecrets })
      const roomId = await b.create({ kind: 'case', members: [{ userId: anna.userId }] })
      const commitSeq = await b.rotate(roomId)
      await cutChain(roomId, commitSeq, 1)
      const err = await rooms(bert.host, false, { epochSecrets })
        .open(roomId)
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ChainRefusedError)
      expect((err as ChainRefusedError).code).toBe('rollback')
    })

    it('refuses, after a reload, a chain cut back below the epoch a member last accepted', async () => {
      const { roomId, b } = await bertsRoom([], false)
      await b.rotate(roomId)
      const second = await b.rotate(roomId)
      // Anna, a plain member, started no epoch: only her chain-head store remembers.
      const { chainHeads, heads } = deviceMemory()
      const s = await (await sdkRooms(anna, false, { chainHeads })).open(roomId)
      expect(s.state!.epoch).toBe(2)
      expect(heads.get(roomId)?.epoch).toBe(2)
      await cutChain(roomId, second, 2)
      // The cut chain validates on its own: a device that remembers nothing believes it.
      expect((await freshOpen(anna, roomId)).state!.epoch).toBe(1)
      expect(await openRefusal(anna, roomId, { chainHeads })).toBe('rollback')
    })

    it('refuses, after a reload, another commit served in place of the one it accepted', async () => {
      const { roomId, b } = await bertsRoom([], false)
      const commitSeq = await b.rotate(roomId)
      const { chainHeads } = deviceMemory()
      await (await sdkRooms(anna, false, { chainHeads })).open(roomId)
      // Bert's device also signed another epoch 1 (a racing admin): the server swaps it in.
      const genesis = parseCommit(new Uint8Array((await eventAt(roomId, 1)).body))
      const real = parseCommit(new Uint8Array((await eventAt(roomId, commitSeq)).body))
      const alt = createCommit(genesis, {
        committer: { userId: bert.userId, deviceId: bert.device.deviceId },
        signPrivateKey: bert.device.signSk,
        change: { action: 'rotate' },
        logHead: ZERO_HEAD,
        createdAt: real.createdAt + 1,
      })
      await db()
        .updateTable('room_events')
        .set({ body: serializeCommit(alt) })
        .where('room_id', '=', roomId)
        .where('seq', '=', commitSeq)
        .execute()
      await db()
        .updateTable('room_commits')
        .set({ commit: serializeCommit(alt), commit_hash: commitHash(alt) })
        .where('room_id', '=', roomId)
        .where('epoch', '=', 1)
        .execute()
      expect(toB64(commitHash((await freshOpen(anna, roomId)).state!.head))).toBe(
        toB64(commitHash(alt)),
      )
      expect(await openRefusal(anna, roomId, { chainHeads })).toBe('fork')
    })

    it('opens after a plain reload with the stores, and remembers each commit it accepts, live or its own', async () => {
      const bm = deviceMemory()
      const b = rooms(bert.host, false, bm)
      const roomId = await b.create({ kind: 'case', members: [{ userId: anna.userId }] })
      expect(bm.heads.get(roomId)?.epoch).toBe(0)
      const am = deviceMemory()
      const live = await (await sdkRooms(anna, true, am)).open(roomId)
      expect(am.heads.get(roomId)?.epoch).toBe(0)
      await b.rotate(roomId)
      await until(() => bm.heads.get(roomId)?.epoch === 1)
      await until(() => am.heads.get(roomId)?.epoch === 1)
      expect(toB64(am.heads.get(roomId)!.commitHash)).toBe(toB64(commitHash(live.state!.head)))
      // Reloaded with what their devices kept, both open the room as it is.
      const again = await (await sdkRooms(anna, true, am)).open(roomId)
      expect(again.state!.epoch).toBe(1)
      expect(again.refused).toBeUndefined()
      expect((await rooms(bert.host, false, bm).open(roomId)).state!.epoch).toBe(1)
      await b.rotate(roomId)
      await until(() => again.state?.epoch === 2 && am.heads.get(roomId)?.epoch === 2)
      expect(toB64(am.heads.get(roomId)!.commitHash)).toBe(toB64(commitHash(again.state!.head)))
      await until(() => bm.heads.get(roomId)?.epoch === 2)
    })

    it('exposes a fork: a different validly signed commit for an epoch already accepted', async () => {
      const { roomId, b } = await bertsRoom()
      const live = await (await sdkRooms(anna)).open(roomId)
      const genesis = live.commits[0]!
      await b.rotate(roomId)
      await until(() => live.state?.epoch === 1)
      // Bert's device also signed another epoch-1 commit (a racing admin, a replayed
      // request): the server shows it now, after Anna accepted the first.
      const other = createCommit(genesis, {
        committer: { userId: bert.userId, deviceId: bert.device.deviceId },
        signPrivateKey: bert.device.signSk,
        change: { action: 'rotate' },
        logHead: ZERO_HEAD,
        createdAt: Date.now() + 1,
      })
      await forgeEvent(roomId, {
        kind: 'commit',
        from: bert.userId,
        dev: bert.device.deviceId,
        body: serializeCommit(other),
      })
      await until(() => live.refused !== undefined)
      expect(live.refused!.code).toBe('fork')
      expect(await openRefusal(anna, roomId)).toBe('fork')
    })

    it('shows a split chain between two members through the commit hash every message names', async () => {
      const { roomId, b } = await bertsRoom()
      const commitSeq = await b.rotate(roomId)
      const real = parseCommit(new Uint8Array((await eventAt(roomId, commitSeq)).body))
      const genesis = parseCommit(new Uint8Array((await eventAt(roomId, 1)).body))
      // The alternative epoch 1 the server shows Carla, with a welcome Bert's device made.
      const alt = createCommit(genesis, {
        committer: { userId: bert.userId, deviceId: bert.device.deviceId },
        signPrivateKey: bert.device.signSk,
        change: { action: 'rotate' },
        logHead: ZERO_HEAD,
        createdAt: real.createdAt + 1,
      })
      const annaHost = await anna.client.roomsHost()
      const boxes = new Map<string, DeviceKeys>([
        [carla.device.deviceId, { signPk: carla.device.signPk, boxPk: carla.device.boxPk }],
        [
          annaHost.device().deviceId,
          { signPk: annaHost.device().signPk, boxPk: annaHost.device().boxPk },
        ],
      ])
      const altWelcome = createWelcomes(alt, newEpochSecret(), bert.device.signSk, (_u, d) =>
        boxes.get(d),
      ).find((w) => w.recipient.userId === carla.userId)!
      const carlaView = intercepted(carla, (_m, path, result) => {
        if (path.startsWith(`/api/v1/rooms/${roomId}/events`)) {
          const page = result as { events: { seq: number; body: string }[] }
          for (const e of page.events) if (e.seq === commitSeq) e.body = toB64(serializeCommit(alt))
        }
        if (path.startsWith(`/api/v1/rooms/${roomId}/welcomes`)) {
          return (result as { epoch: number; sealed: string }[]).map((w) =>
            w.epoch === 1 ? { epoch: 1, sealed: toB64(altWelcome.sealed) } : w,
          )
        }
        return result
      })
      const cs = await rooms(carlaView, false).open(roomId)
      expect(toB64(commitHash(cs.state!.head))).toBe(toB64(commitHash(alt)))
      // Carla writes in "her" epoch 1; Anna, on the real chain, refuses it.
      await postBody(carla, roomId, await seal(cs, 'Ik zie het anders'))
      const s = await freshOpen(anna, roomId)
      expect(toB64(commitHash(s.state!.head))).toBe(toB64(commitHash(real)))
      expect(refusals(s.timeline)).toEqual(['wrong-epoch'])
    })
  })

  // ------------------------------------------------------------------ notices

  describe('notices', () => {
    it('marks a notice the server forged as not verified', async () => {
      const { roomId, b } = await bertsRoom()
      const seq = await b.sendText(roomId, 'gewoon een bericht')
      await db()
        .insertInto('notices')
        .values({
          id: randomId(),
          room_id: roomId,
          seq,
          kind: 'hulp-beeindigd',
          dates: JSON.stringify({ end: '2026-11-20' }),
          signer_id: bert.userId,
          signer_device: bert.device.deviceId,
          signature: randomBytes(64),
          envelope_hash: randomBytes(32),
          owner_id: null,
        })
        .execute()
      const a = await sdkRooms(anna, false)
      const list = await verifiedNotices(await anna.client.roomsHost(), a, roomId)
      expect(list).toEqual([expect.objectContaining({ kind: 'hulp-beeindigd', verified: false })])
    })

    it('marks a notice whose kind or dates the server altered as not verified', async () => {
      const { roomId, b } = await bertsRoom()
      await postNotice(bert.host, b, roomId, {
        kind: 'hulp-gestart',
        dates: { start: '2026-11-02' },
        details: { programma: 'Stevig Ouderschap', organisatie: 'GGD Twente' },
      })
      const a = await sdkRooms(anna, false)
      const host = await anna.client.roomsHost()
      expect((await verifiedNotices(host, a, roomId))[0]).toMatchObject({ verified: true })
      await db()
        .updateTable('notices')
        .set({ dates: JSON.stringify({ start: '2026-12-02' }) })
        .where('room_id', '=', roomId)
        .execute()
      expect((await verifiedNotices(host, a, roomId))[0]).toMatchObject({ verified: false })
      await db()
        .updateTable('notices')
        .set({ kind: 'hulp-beeindigd', dates: JSON.stringify({ start: '2026-11-02' }) })
        .where('room_id', '=', roomId)
        .execute()
      expect((await verifiedNotices(host, a, roomId))[0]).toMatchObject({ verified: false })
    })
  })

  // ------------------------------------------------------------------ keys arrive one way

  describe('keys arrive only through one path', () => {
    it('refuses an epoch key the server plants as a welcome signed by anyone but the committer', async () => {
      const { roomId, b } = await bertsRoom()
      await b.rotate(roomId)
      await b.sendText(roomId, 'na de rotatie')
      const head = (await b.open(roomId)).state!.head
      const annaHost = await anna.client.roomsHost()
      const me = annaHost.device()
      const dir = (_u: string, d: string) =>
        d === me.deviceId
          ? { signPk: me.signPk, boxPk: me.boxPk }
          : { signPk: carla.device.signPk, boxPk: carla.device.boxPk }
      const planted = newEpochSecret()
      for (const signer of [carla.device.signSk, generateSigningKeyPair().privateKey]) {
        const w = createWelcomes(head, planted, signer, dir).find(
          (x) => x.recipient.userId === anna.userId,
        )!
        await db()
          .updateTable('room_welcomes')
          .set({ sealed: w.sealed })
          .where('room_id', '=', roomId)
          .where('member_id', '=', anna.userId)
          .where('epoch', '=', 1)
          .execute()
        const s = await freshOpen(anna, roomId)
        expect(s.receiver.hasEpoch(1)).toBe(false)
        expect(refusals(s.timeline)).toEqual(['missing-key'])
      }
    })

    it('refuses a master-key backup the server planted or swapped', async () => {
      const original = await db()
        .selectFrom('users')
        .select('master_backup')
        .where('id', '=', anna.userId)
        .executeTakeFirstOrThrow()
      const evas = await db()
        .selectFrom('users')
        .select('master_backup')
        .where('id', '=', eva.userId)
        .executeTakeFirstOrThrow()
      const made = wrapSecret(
        deriveBackupKey(generateRecoveryKey()),
        `master/v1/${anna.userId}`,
        generateSigningKeyPair().privateKey.slice(0, 32),
      )
      try {
        // Anna on a new device, signed in, about to restore with her recovery key.
        const c = await VsClient.open({ baseUrl: t.url, store: new MemoryKeyStore() })
        await c.signIn({
          email: anna.email,
          password: anna.password,
          totp: totpCode(anna.totpSecret, 1),
        })
        for (const blob of [made, new Uint8Array(evas.master_backup!)]) {
          await db()
            .updateTable('users')
            .set({ master_backup: blob })
            .where('id', '=', anna.userId)
            .execute()
          const err = await c.recoverDevice(anna.recoveryKey, 'Tablet').catch((e: unknown) => e)
          expect(err).toBeInstanceOf(DeviceError)
          expect((err as DeviceError).code).toBe('VS_RECOVERY_KEY_WRONG')
          expect(await c.localDevice()).toBeUndefined()
        }
      } finally {
        await db()
          .updateTable('users')
          .set({ master_backup: original.master_backup })
          .where('id', '=', anna.userId)
          .execute()
      }
    })
  })

  // ------------------------------------------------------------------ the key log

  describe('the key log', () => {
    it('refuses a key log the server rolls back or rewrites for the same client', async () => {
      await fenna.client.syncKeyLog()
      const realSize = (
        await db()
          .selectFrom('key_log')
          .select(sql<number>`count(*)::int`.as('n'))
          .executeTakeFirstOrThrow()
      ).n
      const rows = await db().selectFrom('key_log').selectAll().orderBy('idx').execute()
      const entries: KeyLogEntry[] = rows.map((r) => ({
        index: r.idx,
        kind: r.kind as KeyLogEntry['kind'],
        subject: r.subject,
        payload: new Uint8Array(r.payload),
      }))
      const logKey = t.ctx.keys.log.privateKey
      const serve = (size: number, list: KeyLogEntry[], from: number) => {
        const head = appendEntries(emptyHead(), 0, list.slice(0, size))
        const page: KeyLogPage = {
          logPublicKey: toB64(t.ctx.keys.log.publicKey),
          sth: signedHeadToJSON(signHead(logKey, size, head)),
          entries: list.slice(from, size).map(keyLogEntryToJSON),
        }
        return Response.json(page)
      }
      // Rolled back: a signed head smaller than what Fenna verified.
      fenna.net.rewrite = async (url, res) =>
        url.pathname === '/api/v1/keylog'
          ? serve(realSize - 1, entries, Number(url.searchParams.get('from')))
          : res
      try {
        const rb = await fenna.client.syncKeyLog().catch((e: unknown) => e)
        expect(rb).toBeInstanceOf(KeyLogIntegrityError)
        expect((rb as KeyLogIntegrityError).code).toBe('VS_KEYLOG_ROLLBACK')
        // Rewritten: the same size with one past entry changed (a device swapped in).
        const rewritten = entries.map((e, i) =>
          i === 1 ? { ...e, payload: randomBytes(e.payload.length) } : e,
        )
        fenna.net.rewrite = async (url, res) =>
          url.pathname === '/api/v1/keylog'
            ? serve(
                realSize + 1,
                [...rewritten, entries[0]!].map((e, i) => ({ ...e, index: i })),
                Number(url.searchParams.get('from')),
              )
            : res
        const fk = await fenna.client.syncKeyLog().catch((e: unknown) => e)
        expect(fk).toBeInstanceOf(KeyLogIntegrityError)
        expect((fk as KeyLogIntegrityError).code).toBe('VS_KEYLOG_FORK')
      } finally {
        fenna.net.rewrite = undefined
      }
    })

    it('detects a split view: the server shows two members different key logs', async () => {
      // From now on the server shows Eva a log with one extra entry only she sees (a
      // device in Fenna's name), consistent in itself and signed with the real log key.
      const fake: KeyLogEntry = {
        index: 0,
        kind: 'device-certified',
        subject: fenna.userId,
        payload: encodeDeviceCert(
          certifyDevice(generateSigningKeyPair().privateKey, {
            userId: fenna.userId,
            deviceId: randomId(),
            signPk: generateSigningKeyPair().publicKey,
            boxPk: generateBoxKeyPair().publicKey,
            notAfter: Date.now() + 86_400_000,
          }),
        ),
      }
      // Eva's client has verified the real log up to here; the fork starts after it.
      await eva.client.syncKeyLog().catch(() => [])
      const forkAt = (
        await db()
          .selectFrom('key_log')
          .select(sql<number>`count(*)::int`.as('n'))
          .executeTakeFirstOrThrow()
      ).n
      eva.net.rewrite = async (url, res) => {
        if (url.pathname !== '/api/v1/keylog') return res
        const rows = await db().selectFrom('key_log').selectAll().orderBy('idx').execute()
        const realEntries: KeyLogEntry[] = rows.map((r) => ({
          index: r.idx,
          kind: r.kind as KeyLogEntry['kind'],
          subject: r.subject,
          payload: new Uint8Array(r.payload),
        }))
        const view = [...realEntries.slice(0, forkAt), fake, ...realEntries.slice(forkAt)].map(
          (e, i) => ({ ...e, index: i }),
        )
        const head = appendEntries(emptyHead(), 0, view)
        const from = Number(url.searchParams.get('from') ?? 0)
        const page: KeyLogPage = {
          logPublicKey: toB64(t.ctx.keys.log.publicKey),
          sth: signedHeadToJSON(signHead(t.ctx.keys.log.privateKey, view.length, head)),
          entries: view.slice(from, from + 1000).map(keyLogEntryToJSON),
        }
        return Response.json(page)
      }
      try {
        await eva.client.syncKeyLog()
        // Eva's own client is content: her view is a valid extension of what she saw.
        // The real log moves on (a new colleague) and Anna follows it.
        await makePerson(t.ctx, t.url, { name: 'Hans (kinderarts)' })
        await anna.client.syncKeyLog()
        // A room Bert made with both of them; each writes once.
        const roomId = await rooms(bert.host).create({
          kind: 'case',
          members: [{ userId: anna.userId }, { userId: eva.userId }],
        })
        await (await sdkRooms(anna)).sendText(roomId, 'Hoi Eva')
        await (await sdkRooms(eva)).sendText(roomId, 'Hoi Anna')
        // Every message carries its sender's log head: Eva's is in no log Anna can verify,
        // and Anna's in none Eva can.
        const s = await freshOpen(anna, roomId)
        expect(texts(s.timeline)).toEqual(['Hoi Eva'])
        expect(refusals(s.timeline)).toEqual(['split-view'])
        const es = await freshOpen(eva, roomId)
        expect(texts(es.timeline)).toEqual(['Hoi Anna'])
        expect(refusals(es.timeline)).toEqual(['split-view'])
      } finally {
        eva.net.rewrite = undefined
      }
      // Shown the real log again, Eva's client refuses it: her log was forked.
      const back = await eva.client.syncKeyLog().catch((e: unknown) => e)
      expect(back).toBeInstanceOf(KeyLogIntegrityError)
      expect(['VS_KEYLOG_FORK', 'VS_KEYLOG_ROLLBACK']).toContain(
        (back as KeyLogIntegrityError).code,
      )
    })
  })
})
