import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeMasterKeyRecord, generateSigningKeyPair } from '@vs/crypto'
// A server-side master key change (an account reset, or a malicious server) for the test.
import { appendKeyEvent } from '../../../services/api/src/identity/keys.js'
import { KeyChangedError, KeyLogIntegrityError, VsClient } from '../src/index.js'
import {
  TotpClock,
  coordinator,
  invitee,
  startServer,
  type Person,
  type TestServer,
} from './helpers.js'

describe('trust in other people’s keys', () => {
  let server: TestServer
  const clock = new TotpClock()
  let carla: Person
  let pieter: Person

  beforeAll(async () => {
    server = await startServer()
    carla = await coordinator(server, clock)
    await carla.client.setUpFirstDevice('Laptop')
    pieter = await invitee(server, clock, carla, {
      name: 'Pieter Praktijk',
      discipline: 'huisarts',
    })
    await pieter.client.setUpFirstDevice('Praktijk-pc')
  })
  afterAll(() => server.close())

  it('shows the same safety number on both sides', async () => {
    const a = await carla.client.safetyNumber(pieter.me.userId)
    const b = await pieter.client.safetyNumber(carla.me.userId)
    expect(a.digits).toMatch(/^\d{60}$/)
    expect(a.groups).toHaveLength(12)
    expect(a.groups.every((g) => /^\d{5}$/.test(g))).toBe(true)
    expect(b.digits).toBe(a.digits)
    expect(b.qrText).toBe(a.qrText)
    expect(a.verification).toBe('unverified')
    expect(await carla.client.compareSafetyQr(pieter.me.userId, b.qrText)).toBe(true)
    expect(await carla.client.compareSafetyQr(pieter.me.userId, 'VS-SN1:AAAA')).toBe(false)
  })

  it('lists the directory with each person’s verification', async () => {
    const people = await carla.client.directory()
    expect(people.map((p) => [p.name, p.verification, p.self])).toEqual([
      ['Carla Coördinator', 'verified', true],
      ['Pieter Praktijk', 'unverified', false],
    ])
    const sn = await carla.client.safetyNumber(pieter.me.userId)
    await carla.client.markVerified(pieter.me.userId, sn.groups.join(' '))
    expect(await carla.client.verificationState(pieter.me.userId)).toBe('verified')
    const keys = await carla.client.userKeys(pieter.me.userId)
    expect(keys.verification).toBe('verified')
    expect(keys.devices).toHaveLength(1)
  })

  it('refuses a key the server shows but the key log does not record', async () => {
    const other = generateSigningKeyPair().publicKey
    const lying = await VsClient.open({
      baseUrl: server.url,
      store: carla.store,
      fetch: async (input, init) => {
        const res = await fetch(input, init)
        const lie = Buffer.from(other).toString('base64url')
        if (String(input).endsWith('/directory')) {
          const list = (await res.json()) as { userId: string }[]
          return Response.json(
            list.map((p) => (p.userId === pieter.me.userId ? { ...p, masterPk: lie } : p)),
          )
        }
        if (!String(input).endsWith(`/users/${pieter.me.userId}/keys`)) return res
        const body = (await res.json()) as Record<string, unknown>
        return Response.json({ ...body, masterPk: lie })
      },
    })
    const err = await lying.userKeys(pieter.me.userId).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeyLogIntegrityError)
    expect(err).toMatchObject({ code: 'VS_KEYLOG_MISMATCH' })
    await expect(lying.safetyNumber(pieter.me.userId)).rejects.toBeInstanceOf(KeyLogIntegrityError)
    const people = await lying.directory()
    expect(people.map((p) => p.verification)).toEqual(['verified', 'not-in-log'])
    expect(await carla.client.verificationState(pieter.me.userId)).toBe('verified')
  })

  it('blocks a verified person whose master key changed until verified again', async () => {
    const before = await carla.client.safetyNumber(pieter.me.userId)
    const next = generateSigningKeyPair()
    await server.ctx.db.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ master_pk: next.publicKey })
        .where('id', '=', pieter.me.userId)
        .execute()
      await appendKeyEvent(
        trx,
        'master-key-changed',
        pieter.me.userId,
        encodeMasterKeyRecord({
          userId: pieter.me.userId,
          masterPk: next.publicKey,
          createdAt: Date.now(),
        }),
      )
    })
    const err = await carla.client.userKeys(pieter.me.userId).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeyChangedError)
    expect(err).toMatchObject({ code: 'VS_KEY_CHANGED', userId: pieter.me.userId })
    expect((err as Error).message).toMatch(/^De sleutel van deze persoon is veranderd/)
    expect(await carla.client.verificationState(pieter.me.userId)).toBe('changed')
    const people = await carla.client.directory()
    expect(people.find((p) => p.userId === pieter.me.userId)?.verification).toBe('changed')
    // Still blocked on the next try.
    await expect(carla.client.userKeys(pieter.me.userId)).rejects.toBeInstanceOf(KeyChangedError)

    // Pieter's own client notices a master key it did not make.
    const alerts = await pieter.client.syncKeyLog()
    expect(alerts).toEqual([expect.objectContaining({ reason: 'unknown-master-key' })])

    const after = await carla.client.safetyNumber(pieter.me.userId)
    expect(after.digits).not.toBe(before.digits)
    expect(after.verification).toBe('changed')
    await expect(carla.client.markVerified(pieter.me.userId, before.digits)).rejects.toBeInstanceOf(
      KeyChangedError,
    )
    await carla.client.markVerified(pieter.me.userId, after.digits)
    expect(await carla.client.verificationState(pieter.me.userId)).toBe('verified')
    const keys = await carla.client.userKeys(pieter.me.userId)
    // His old device was certified by the old key: no longer trusted.
    expect(keys.devices).toEqual([])
  })
})

describe('organisations and desks', () => {
  let server: TestServer
  const clock = new TotpClock()
  let carla: Person

  beforeAll(async () => {
    server = await startServer()
    carla = await coordinator(server, clock)
    await carla.client.setUpFirstDevice('Laptop')
  })
  afterAll(() => server.close())

  it('creates an organisation, invites advisors, and shares a desk key with their devices', async () => {
    const vt = await carla.client.createOrganisation('Veilig Thuis Twente', 'veilig-thuis')
    expect((await carla.client.listOrganisations()).map((o) => o.name)).toEqual([
      'GGD Twente',
      'Veilig Thuis Twente',
    ])
    const anna = await invitee(server, clock, carla, {
      name: 'Anna Adviseur',
      role: 'advisor',
      discipline: 'Veilig Thuis-adviseur',
      organisationId: vt.id,
    })
    await anna.client.setUpFirstDevice('Werkplek')
    const bas = await invitee(server, clock, carla, {
      name: 'Bas Adviseur',
      role: 'advisor',
      discipline: 'Veilig Thuis-adviseur',
      organisationId: vt.id,
    })

    const desk = await carla.client.createDesk(vt.id, {
      name: 'Veilig Thuis Twente — advies',
      purpose: 'advies',
    })
    await carla.client.addAdvisor(desk.id, anna.me.userId)
    await carla.client.addAdvisor(desk.id, bas.me.userId)
    expect((await carla.client.deskAdvisors(desk.id)).advisors).toHaveLength(2)

    const published = await carla.client.publishDeskKey(desk.id)
    expect(published.version).toBe(1)
    expect(published.granted).toEqual([expect.objectContaining({ userId: anna.me.userId })])
    expect(published.skipped).toEqual([bas.me.userId])
    const listed = (await carla.client.desks()).find((d) => d.id === desk.id)
    expect(listed?.keyVersion).toBe(1)

    const keys = await anna.client.deskKeys(desk.id)
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatchObject({ version: 1, certifiedBy: carla.me.userId })
    expect(keys[0]!.sign.publicKey).toEqual(published.signPk)
    expect(keys[0]!.box.publicKey).toEqual(published.boxPk)

    // Bas sets up a device; the desk key is rotated to include him.
    await bas.client.setUpFirstDevice('Werkplek')
    await carla.client.removeAdvisor(desk.id, anna.me.userId)
    expect((await carla.client.deskAdvisors(desk.id)).needsRotation).toBe(true)
    const rotated = await carla.client.publishDeskKey(desk.id)
    expect(rotated.version).toBe(2)
    expect(rotated.granted.map((g) => g.userId)).toEqual([bas.me.userId])
    const basKeys = await bas.client.deskKeys(desk.id)
    expect(basKeys.map((k) => k.version)).toEqual([2])
    await expect(anna.client.deskKeys(desk.id)).rejects.toMatchObject({ status: 403 })
  })

  it('refuses coordinator work to a professional', async () => {
    const prof = await invitee(server, clock, carla, { name: 'Petra Professional' })
    await expect(prof.client.createOrganisation('Nieuw', 'anders')).rejects.toMatchObject({
      status: 403,
      code: 'VS_FORBIDDEN',
    })
  })
})
