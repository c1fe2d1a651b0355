import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  certifyDevice,
  deviceCertToJSON,
  formatRecoveryKey,
  fromB64,
  generateBoxKeyPair,
  generateRecoveryKey,
  generateSigningKeyPair,
  randomId,
  signingKeyPairFromSeed,
  toB64,
} from '@vs/crypto'
import type { MemoryKeyStore } from '../src/index.js'
import { DeviceError, LinkError, VsClient } from '../src/index.js'
import {
  TotpClock,
  coordinator,
  invitee,
  otherDevice,
  startServer,
  type Person,
  type TestServer,
} from './helpers.js'

/** The master seed a client keeps (tests only: reaching into its store). */
async function masterSeed(store: MemoryKeyStore, userId: string): Promise<Uint8Array> {
  const raw = await store.get(`user/${userId}/master`)
  return fromB64((JSON.parse(raw!) as { seed: string }).seed)
}

describe('devices', () => {
  let server: TestServer
  const clock = new TotpClock()
  let carla: Person
  let recoveryKey: string

  beforeAll(async () => {
    server = await startServer()
    carla = await coordinator(server, clock)
  })
  afterAll(() => server.close())

  it('sets up the first device: master key, recovery key shown once, certified device', async () => {
    const first = await carla.client.setUpFirstDevice('Laptop werk')
    recoveryKey = first.recoveryKey
    expect(recoveryKey).toMatch(/^([0-9A-Z]{4} ){13}[0-9A-Z]{4}$/)
    expect(await carla.client.pendingRecoveryKey()).toBe(recoveryKey)
    await carla.client.acknowledgeRecoveryKey()
    expect(await carla.client.pendingRecoveryKey()).toBeUndefined()
    expect(carla.store.keys().join(' ')).not.toContain(recoveryKey)

    expect(await carla.client.localDevice()).toEqual({
      deviceId: first.deviceId,
      name: 'Laptop werk',
    })
    expect((await carla.client.me()).hasMasterKey).toBe(true)
    const devices = await carla.client.devices()
    expect(devices).toEqual([
      expect.objectContaining({ deviceId: first.deviceId, current: true, certified: true }),
    ])
    // Device keys are kept as base64url in the store.
    const saved = JSON.parse((await carla.store.get(`user/${carla.me.userId}/device`))!) as {
      signPk: string
    }
    expect(fromB64(saved.signPk)).toHaveLength(32)
    await expect(carla.client.setUpFirstDevice('nog een')).rejects.toMatchObject({
      code: 'VS_DEVICE_PRESENT',
    })
    expect(await carla.client.syncKeyLog()).toEqual([])
  })

  it('recovers on a second device with the recovery key', async () => {
    const second = await otherDevice(server, clock, carla)
    await expect(second.client.setUpFirstDevice('Telefoon')).rejects.toMatchObject({
      code: 'VS_MASTER_KEY_EXISTS',
    })
    await expect(second.client.recoverDevice('1234 5678', 'Telefoon')).rejects.toMatchObject({
      code: 'VS_RECOVERY_KEY_INVALID',
    })
    const someoneElses = formatRecoveryKey(generateRecoveryKey())
    const wrong = await second.client.recoverDevice(someoneElses, 'Telefoon').catch((e) => e)
    expect(wrong).toBeInstanceOf(DeviceError)
    expect(wrong).toMatchObject({ code: 'VS_RECOVERY_KEY_WRONG' })
    expect((wrong as Error).message).toMatch(/^Deze herstelsleutel past niet/)

    const typed = recoveryKey.toLowerCase().replace(/ /g, '-')
    const dev = await second.client.recoverDevice(typed, 'Telefoon')
    expect(await masterSeed(second.store, carla.me.userId)).toEqual(
      await masterSeed(carla.store, carla.me.userId),
    )
    const list = await second.client.devices()
    expect(list).toHaveLength(2)
    expect(list.every((d) => d.certified)).toBe(true)
    expect(list.find((d) => d.current)?.deviceId).toBe(dev.deviceId)
    // The new device adopted the existing one; the old one sees a device it did not make.
    expect(await second.client.syncKeyLog()).toEqual([])
    const alerts = await carla.client.syncKeyLog()
    expect(alerts).toEqual([
      expect.objectContaining({ reason: 'unknown-device', deviceId: dev.deviceId }),
    ])
    await carla.client.trustOwnDevice(dev.deviceId)
    expect(await carla.client.keyLogAlerts()).toEqual([])
  })

  it('links a new device with the code shown on its screen', async () => {
    const lena = await invitee(server, clock, carla, { name: 'Lena Linker' })
    await lena.client.setUpFirstDevice('Werkplek')
    const fresh = await otherDevice(server, clock, lena)
    expect(await fresh.client.localDevice()).toBeUndefined()

    const req = await fresh.client.requestLink()
    expect(req.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/)
    expect(await fresh.client.currentLinkRequest()).toEqual(req)
    const waiting = fresh.client.waitForLink(req.linkId, { name: 'Tablet' })

    const pending = await lena.client.pendingLinks()
    expect(pending.map((p) => p.linkId)).toEqual([req.linkId])
    // Typed with a space and in lower case, as people do.
    await lena.client.approveLink(req.linkId, req.code.toLowerCase().replace('-', ' '))
    const linked = await waiting
    expect(linked.name).toBe('Tablet')
    expect(await fresh.client.localDevice()).toEqual(linked)
    expect(await fresh.client.currentLinkRequest()).toBeUndefined()
    expect(await masterSeed(fresh.store, lena.me.userId)).toEqual(
      await masterSeed(lena.store, lena.me.userId),
    )

    for (const c of [lena.client, fresh.client]) {
      const list = await c.devices()
      expect(list.map((d) => d.name).sort()).toEqual(['Tablet', 'Werkplek'])
      expect(list.every((d) => d.certified)).toBe(true)
      expect(await c.syncKeyLog()).toEqual([])
    }
    expect(await lena.client.pendingLinks()).toEqual([])

    // The linked device can do what the first one can: rename and remove.
    await fresh.client.renameDevice(linked.deviceId, 'iPad')
    const werkplek = (await fresh.client.devices()).find((d) => d.name === 'Werkplek')!
    await fresh.client.removeDevice(werkplek.deviceId)
    const after = await lena.client.devices()
    expect(after.find((d) => d.deviceId === werkplek.deviceId)?.revokedAt).not.toBeNull()
    expect(after.find((d) => d.deviceId === linked.deviceId)?.name).toBe('iPad')
    const keys = await fresh.client.userKeys(lena.me.userId)
    expect(keys.devices.map((d) => d.deviceId)).toEqual([linked.deviceId])
  })

  it('refuses to link when the typed code does not match the keys', async () => {
    const otto = await invitee(server, clock, carla, { name: 'Otto Oplettend' })
    await otto.client.setUpFirstDevice('Werkplek')
    const fresh = await otherDevice(server, clock, otto)
    const req = await fresh.client.requestLink()

    const otherCode = req.code.startsWith('0') ? 'ZZZZZ-ZZZZZ' : '00000-00000'
    const err = await otto.client.approveLink(req.linkId, otherCode).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LinkError)
    expect(err).toMatchObject({ code: 'VS_LINK_CODE_MISMATCH' })
    expect((err as Error).message).toMatch(/^De code past niet bij het nieuwe apparaat/)
    await expect(otto.client.approveLink(req.linkId, 'kort')).rejects.toMatchObject({
      code: 'VS_LINK_CODE_FORMAT',
    })
    // Nothing was certified; the request still waits.
    expect(await otto.client.devices()).toHaveLength(1)
    expect((await otto.client.pendingLinks()).map((p) => p.linkId)).toEqual([req.linkId])

    // A server that swaps in its own keys is caught even with the right code.
    const evilKey = toB64(generateSigningKeyPair().publicKey)
    const swapping = await VsClient.open({
      baseUrl: server.url,
      store: otto.store,
      fetch: async (input, init) => {
        const res = await fetch(input, init)
        if (!String(input).endsWith('/api/v1/device-links') || init?.method !== 'GET') return res
        const list = (await res.json()) as { signPk: string }[]
        return Response.json(list.map((l) => ({ ...l, signPk: evilKey })))
      },
    })
    await expect(swapping.approveLink(req.linkId, req.code)).rejects.toMatchObject({
      code: 'VS_LINK_CODE_MISMATCH',
    })
    expect(await otto.client.devices()).toHaveLength(1)

    // With the right code, from an honest server, it links.
    const waiting = fresh.client.waitForLink(req.linkId)
    await otto.client.approveLink(req.linkId, req.code)
    await waiting
    expect(await otto.client.devices()).toHaveLength(2)
  })

  it('raises a key log alert for a device this client did not make', async () => {
    // Someone holding Carla's master key (here: the test) registers a device by hand.
    const master = signingKeyPairFromSeed(await masterSeed(carla.store, carla.me.userId))
    const cert = certifyDevice(master.privateKey, {
      userId: carla.me.userId,
      deviceId: randomId(),
      signPk: generateSigningKeyPair().publicKey,
      boxPk: generateBoxKeyPair().publicKey,
      notAfter: Date.now() + 86_400_000,
    })
    const session = JSON.parse((await carla.store.get('session'))!) as { accessToken: string }
    const res = await fetch(`${server.url}/api/v1/devices`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${session.accessToken}`,
      },
      body: JSON.stringify({ cert: deviceCertToJSON(cert), name: 'Onbekend' }),
    })
    expect(res.status).toBe(200)

    const alerts = await carla.client.syncKeyLog()
    expect(alerts).toEqual([
      expect.objectContaining({
        kind: 'device-certified',
        reason: 'unknown-device',
        deviceId: cert.deviceId,
      }),
    ])
    expect(await carla.client.keyLogAlerts()).toEqual(alerts)
    // Synced again: no new alert, the open one stays until resolved.
    expect(await carla.client.syncKeyLog()).toEqual([])
    expect(await carla.client.keyLogAlerts()).toHaveLength(1)
    await carla.client.removeDevice(cert.deviceId)
    const keys = await carla.client.userKeys(carla.me.userId)
    expect(keys.devices.map((d) => d.deviceId)).not.toContain(cert.deviceId)
  })

  it('surfaces a key log that was rolled back or badly signed', async () => {
    const session = JSON.parse((await carla.store.get('session'))!) as { accessToken: string }
    const headers = { authorization: `Bearer ${session.accessToken}` }
    const old = await (await fetch(`${server.url}/api/v1/keylog?from=0`, { headers })).json()
    // The log grows (Carla renames nothing: a device event is what it records).
    const master = signingKeyPairFromSeed(await masterSeed(carla.store, carla.me.userId))
    const cert = certifyDevice(master.privateKey, {
      userId: carla.me.userId,
      deviceId: randomId(),
      signPk: generateSigningKeyPair().publicKey,
      boxPk: generateBoxKeyPair().publicKey,
      notAfter: Date.now() + 86_400_000,
    })
    await fetch(`${server.url}/api/v1/devices`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ cert: deviceCertToJSON(cert), name: 'Nog een' }),
    })
    await carla.client.syncKeyLog()

    const serving = (rewrite: (page: { sth: { size: number } }) => unknown) =>
      VsClient.open({
        baseUrl: server.url,
        store: carla.store,
        fetch: async (input, init) => {
          const res = await fetch(input, init)
          if (!String(input).includes('/api/v1/keylog')) return res
          return Response.json(rewrite((await res.json()) as { sth: { size: number } }))
        },
      })
    const rolledBack = await serving(() => old)
    await expect(rolledBack.syncKeyLog()).rejects.toMatchObject({ code: 'VS_KEYLOG_ROLLBACK' })
    const badlySigned = await serving((page) => ({ ...page, sth: { ...page.sth, size: 1 } }))
    await expect(badlySigned.syncKeyLog()).rejects.toMatchObject({
      code: 'VS_KEYLOG_BAD_SIGNATURE',
    })
    const err = await rolledBack.syncKeyLog().catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/^De sleutellijst van de server klopt niet/)
  })
})
