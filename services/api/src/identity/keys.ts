/**
 * Key events: master keys, devices, desk keys and the key log that records them all.
 * The server checks signatures too (refusing garbage early), but clients never take its
 * word: they verify every certificate and the signed, append-only log themselves.
 */
import { sql, type Transaction } from 'kysely'
import {
  appendEntries,
  deskKeyCertFromJSON,
  deviceCertFromJSON,
  deviceCertToJSON,
  emptyHead,
  encodeDeskKeyCert,
  encodeDeviceCert,
  encodeDeviceRevocation,
  encodeMasterKeyRecord,
  fromB64,
  keyLogEntryToJSON,
  randomId,
  signHead,
  signedHeadToJSON,
  toB64,
  verifyDeskKeyCert,
  verifyDeviceCert,
  verifyDeviceRevocation,
  type DeviceCert,
  type KeyEventKind,
} from '@vs/crypto'
import type {
  DeviceCertWire,
  DeviceInfo,
  DeviceLinkPending,
  DeviceLinkState,
  KeyLogPage,
  UserKeys,
} from '@vs/protocol'
import type { AppContext } from '../context.js'
import type { Database } from '../db/schema.js'
import { createError, errors } from '../errors.js'
import { appendAudit } from '../audit.js'
import { advisesDesk } from '../rooms/access.js'

type Trx = Transaction<Database>

const KEYLOG_LOCK = 4242_0001
const LINK_TTL_MS = 15 * 60 * 1000

/** Appends one key event; serialised by an advisory lock so the chain stays linear. */
export async function appendKeyEvent(
  trx: Trx,
  kind: KeyEventKind,
  subject: string,
  payload: Uint8Array,
): Promise<number> {
  await sql`select pg_advisory_xact_lock(${KEYLOG_LOCK})`.execute(trx)
  const last = await trx
    .selectFrom('key_log')
    .select(['idx', 'head'])
    .orderBy('idx', 'desc')
    .limit(1)
    .executeTakeFirst()
  const index = last ? last.idx + 1 : 0
  const prevHead = last ? new Uint8Array(last.head) : emptyHead()
  const head = appendEntries(prevHead, index, [{ index, kind, subject, payload }])
  await trx.insertInto('key_log').values({ idx: index, kind, subject, payload, head }).execute()
  return index
}

export async function keyLogPage(ctx: AppContext, from: number, limit = 1000): Promise<KeyLogPage> {
  const db = ctx.db.db
  const last = await db
    .selectFrom('key_log')
    .select(['idx', 'head'])
    .orderBy('idx', 'desc')
    .limit(1)
    .executeTakeFirst()
  const size = last ? last.idx + 1 : 0
  const head = last ? new Uint8Array(last.head) : emptyHead()
  const rows = await db
    .selectFrom('key_log')
    .select(['idx', 'kind', 'subject', 'payload'])
    .where('idx', '>=', from)
    .where('idx', '<', size)
    .orderBy('idx')
    .limit(limit)
    .execute()
  return {
    logPublicKey: toB64(ctx.keys.log.publicKey),
    sth: signedHeadToJSON(signHead(ctx.keys.log.privateKey, size, head)),
    entries: rows.map((r) =>
      keyLogEntryToJSON({
        index: r.idx,
        kind: r.kind as KeyEventKind,
        subject: r.subject,
        payload: new Uint8Array(r.payload),
      }),
    ),
  }
}

function badKey(message: string) {
  return createError('VS_BAD_KEY', message, 400)
}

export async function publishMasterKey(
  ctx: AppContext,
  userId: string,
  masterPk: Uint8Array,
  wrappedMasterSecret: Uint8Array,
): Promise<void> {
  await ctx.db.db.transaction().execute(async (trx) => {
    const u = await trx
      .selectFrom('users')
      .select('master_pk')
      .where('id', '=', userId)
      .forUpdate()
      .executeTakeFirstOrThrow()
    if (u.master_pk) {
      throw errors.conflict(
        'VS_MASTER_KEY_EXISTS',
        'Dit account heeft al een hoofdsleutel / Account already has a master key',
      )
    }
    await trx
      .updateTable('users')
      .set({ master_pk: masterPk, master_backup: wrappedMasterSecret })
      .where('id', '=', userId)
      .execute()
    await appendKeyEvent(
      trx,
      'master-key-created',
      userId,
      encodeMasterKeyRecord({ userId, masterPk, createdAt: Date.now() }),
    )
    await appendAudit(trx, {
      event: 'key.master-created',
      actorUserId: userId,
      subjectKind: 'user',
      subjectId: userId,
    })
  })
}

export async function masterBackup(ctx: AppContext, userId: string): Promise<Uint8Array> {
  const u = await ctx.db.db
    .selectFrom('users')
    .select('master_backup')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow()
  if (!u.master_backup)
    throw createError('VS_NO_MASTER_KEY', 'Nog geen hoofdsleutel / No master key yet', 404)
  return new Uint8Array(u.master_backup)
}

function parseCert(wire: DeviceCertWire): DeviceCert {
  try {
    return deviceCertFromJSON(wire)
  } catch {
    throw badKey('Ongeldig apparaatcertificaat / Malformed device certificate')
  }
}

async function insertDevice(
  trx: Trx,
  ctx: AppContext,
  userId: string,
  cert: DeviceCert,
  name: string,
  actorDeviceId: string | null,
) {
  if (cert.userId !== userId)
    throw badKey('Certificaat hoort bij een ander account / Certificate is for another account')
  const u = await trx
    .selectFrom('users')
    .select('master_pk')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow()
  if (!u.master_pk)
    throw createError(
      'VS_NO_MASTER_KEY',
      'Maak eerst een hoofdsleutel / Create a master key first',
      409,
    )
  try {
    verifyDeviceCert(new Uint8Array(u.master_pk), cert, ctx.now().getTime(), { expect: { userId } })
  } catch {
    throw badKey('Certificaat niet geldig voor de hoofdsleutel / Certificate does not verify')
  }
  const exists = await trx
    .selectFrom('devices')
    .select('device_id')
    .where('user_id', '=', userId)
    .where('device_id', '=', cert.deviceId)
    .executeTakeFirst()
  if (exists)
    throw errors.conflict('VS_DEVICE_EXISTS', 'Dit apparaat bestaat al / Device already exists')
  await trx
    .insertInto('devices')
    .values({
      user_id: userId,
      device_id: cert.deviceId,
      name,
      sign_pk: cert.signPk,
      box_pk: cert.boxPk,
      not_after: cert.notAfter,
      cert_sig: cert.signature,
    })
    .execute()
  await appendKeyEvent(trx, 'device-certified', userId, encodeDeviceCert(cert))
  await appendAudit(trx, {
    event: 'key.device-certified',
    actorUserId: userId,
    actorDeviceId,
    subjectKind: 'device',
    subjectId: cert.deviceId,
  })
}

export async function registerDevice(
  ctx: AppContext,
  userId: string,
  wire: DeviceCertWire,
  name: string,
) {
  const cert = parseCert(wire)
  await ctx.db.db
    .transaction()
    .execute((trx) => insertDevice(trx, ctx, userId, cert, name, cert.deviceId))
}

function toDeviceInfo(r: {
  user_id: string
  device_id: string
  name: string
  sign_pk: Uint8Array
  box_pk: Uint8Array
  not_after: number
  cert_sig: Uint8Array
  created_at: Date
  revoked_at: Date | null
}): DeviceInfo {
  return {
    deviceId: r.device_id,
    name: r.name,
    cert: certWire(r),
    createdAt: r.created_at.toISOString(),
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
  }
}

function certWire(r: {
  user_id: string
  device_id: string
  sign_pk: Uint8Array
  box_pk: Uint8Array
  not_after: number
  cert_sig: Uint8Array
}): DeviceCertWire {
  return deviceCertToJSON({
    userId: r.user_id,
    deviceId: r.device_id,
    signPk: new Uint8Array(r.sign_pk),
    boxPk: new Uint8Array(r.box_pk),
    notAfter: Number(r.not_after),
    signature: new Uint8Array(r.cert_sig),
  })
}

export async function listDevices(ctx: AppContext, userId: string): Promise<DeviceInfo[]> {
  const rows = await ctx.db.db
    .selectFrom('devices')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .execute()
  return rows.map(toDeviceInfo)
}

export async function renameDevice(
  ctx: AppContext,
  userId: string,
  deviceId: string,
  name: string,
) {
  const res = await ctx.db.db
    .updateTable('devices')
    .set({ name })
    .where('user_id', '=', userId)
    .where('device_id', '=', deviceId)
    .executeTakeFirst()
  if (Number(res.numUpdatedRows) !== 1)
    throw errors.notFound('Apparaat niet gevonden / Device not found')
}

export async function revokeDevice(
  ctx: AppContext,
  userId: string,
  deviceId: string,
  revokedAt: number,
  signature: Uint8Array,
) {
  // Past ±8.64e15 ms there is no Date: the database would refuse it as a 500, not a 400.
  if (Number.isNaN(new Date(revokedAt).getTime()))
    throw errors.badRequest('Ongeldig tijdstip van intrekking / Invalid revocation time')
  await ctx.db.db.transaction().execute(async (trx) => {
    const d = await trx
      .selectFrom('devices')
      .innerJoin('users', 'users.id', 'devices.user_id')
      .select(['devices.revoked_at', 'users.master_pk'])
      .where('devices.user_id', '=', userId)
      .where('devices.device_id', '=', deviceId)
      .forUpdate()
      .executeTakeFirst()
    if (!d) throw errors.notFound('Apparaat niet gevonden / Device not found')
    if (d.revoked_at)
      throw errors.conflict(
        'VS_DEVICE_REVOKED',
        'Apparaat is al verwijderd / Device already removed',
      )
    const rev = { userId, deviceId, revokedAt, signature }
    try {
      verifyDeviceRevocation(new Uint8Array(d.master_pk!), rev)
    } catch {
      throw badKey('Intrekking niet ondertekend met de hoofdsleutel / Revocation does not verify')
    }
    await trx
      .updateTable('devices')
      .set({ revoked_at: new Date(revokedAt), revoke_sig: signature })
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .execute()
    await appendKeyEvent(trx, 'device-revoked', userId, encodeDeviceRevocation(rev))
    await appendAudit(trx, {
      event: 'key.device-revoked',
      actorUserId: userId,
      subjectKind: 'device',
      subjectId: deviceId,
    })
  })
}

/** Another user's keys: master key and live device certificates (same region only). */
export async function userKeys(
  ctx: AppContext,
  regionId: string,
  userId: string,
): Promise<UserKeys> {
  const u = await ctx.db.db
    .selectFrom('users')
    .innerJoin('organisations', 'organisations.id', 'users.organisation_id')
    .select([
      'users.id',
      'users.name',
      'users.discipline',
      'users.master_pk',
      'users.region_id',
      'organisations.name as orgName',
    ])
    .where('users.id', '=', userId)
    .executeTakeFirst()
  if (!u || u.region_id !== regionId)
    throw errors.notFound('Persoon niet gevonden / Person not found')
  const devices = await ctx.db.db
    .selectFrom('devices')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .orderBy('created_at')
    .execute()
  return {
    userId: u.id,
    name: u.name,
    discipline: u.discipline,
    organisationName: u.orgName,
    masterPk: u.master_pk ? toB64(new Uint8Array(u.master_pk)) : null,
    devices: devices.map(certWire),
  }
}

// ------------------------------------------------------------------ device linking

export async function createDeviceLink(
  ctx: AppContext,
  userId: string,
  req: { deviceId: string; signPk: string; boxPk: string; mac: string },
): Promise<{ linkId: string }> {
  const linkId = randomId()
  await ctx.db.db
    .insertInto('device_links')
    .values({
      id: linkId,
      user_id: userId,
      device_id: req.deviceId,
      sign_pk: fromB64(req.signPk),
      box_pk: fromB64(req.boxPk),
      mac: fromB64(req.mac),
      expires_at: new Date(ctx.now().getTime() + LINK_TTL_MS),
    })
    .execute()
  return { linkId }
}

export async function pendingDeviceLinks(
  ctx: AppContext,
  userId: string,
): Promise<DeviceLinkPending[]> {
  const rows = await ctx.db.db
    .selectFrom('device_links')
    .selectAll()
    .where('user_id', '=', userId)
    .where('approved_at', 'is', null)
    .where('expires_at', '>', ctx.now())
    .orderBy('created_at')
    .execute()
  return rows.map((r) => ({
    linkId: r.id,
    deviceId: r.device_id,
    signPk: toB64(new Uint8Array(r.sign_pk)),
    boxPk: toB64(new Uint8Array(r.box_pk)),
    mac: toB64(new Uint8Array(r.mac)),
    createdAt: r.created_at.toISOString(),
  }))
}

/**
 * An existing device approves a link: it certifies the new device's keys (which the
 * user confirmed by comparing the short code both screens show) and seals the master
 * secret to the new device. The server only checks the certificate matches the request.
 */
export async function approveDeviceLink(
  ctx: AppContext,
  userId: string,
  approverDeviceId: string | null,
  linkId: string,
  wire: DeviceCertWire,
  sealedMaster: Uint8Array,
) {
  const cert = parseCert(wire)
  await ctx.db.db.transaction().execute(async (trx) => {
    const link = await trx
      .selectFrom('device_links')
      .selectAll()
      .where('id', '=', linkId)
      .where('user_id', '=', userId)
      .forUpdate()
      .executeTakeFirst()
    if (!link) throw errors.notFound('Koppelverzoek niet gevonden / Link request not found')
    if (link.approved_at) throw errors.conflict('VS_LINK_DONE', 'Al gekoppeld / Already linked')
    if (link.expires_at.getTime() < ctx.now().getTime()) {
      throw createError('VS_LINK_EXPIRED', 'Koppelverzoek verlopen / Link request expired', 410)
    }
    if (
      cert.deviceId !== link.device_id ||
      toB64(cert.signPk) !== toB64(new Uint8Array(link.sign_pk)) ||
      toB64(cert.boxPk) !== toB64(new Uint8Array(link.box_pk))
    ) {
      throw badKey(
        'Certificaat past niet bij het koppelverzoek / Certificate does not match the request',
      )
    }
    await insertDevice(trx, ctx, userId, cert, 'Gekoppeld apparaat', approverDeviceId)
    await trx
      .updateTable('device_links')
      .set({ approved_at: ctx.now(), cert: JSON.stringify(wire), sealed_master: sealedMaster })
      .where('id', '=', linkId)
      .execute()
  })
}

export async function deviceLinkState(
  ctx: AppContext,
  userId: string,
  linkId: string,
): Promise<DeviceLinkState> {
  const link = await ctx.db.db
    .selectFrom('device_links')
    .selectAll()
    .where('id', '=', linkId)
    .where('user_id', '=', userId)
    .executeTakeFirst()
  if (!link) throw errors.notFound('Koppelverzoek niet gevonden / Link request not found')
  if (link.approved_at && link.cert && link.sealed_master) {
    return {
      linkId,
      status: 'approved',
      cert: JSON.parse(link.cert) as DeviceCertWire,
      sealedMaster: toB64(new Uint8Array(link.sealed_master)),
    }
  }
  return { linkId, status: link.expires_at.getTime() < ctx.now().getTime() ? 'expired' : 'pending' }
}

// ------------------------------------------------------------------ desks

export async function publishDeskKey(
  ctx: AppContext,
  actor: { userId: string; regionId: string; role: string },
  deskId: string,
  certJson: unknown,
  grants: { userId: string; deviceId: string; sealed: Uint8Array }[],
) {
  await ctx.db.db.transaction().execute(async (trx) => {
    const desk = await trx
      .selectFrom('desks')
      .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
      .select(['desks.id', 'desks.key_version', 'organisations.region_id'])
      .where('desks.id', '=', deskId)
      .forUpdate()
      .executeTakeFirst()
    if (!desk || desk.region_id !== actor.regionId)
      throw errors.notFound('Desk niet gevonden / Desk not found')
    if (actor.role !== 'coordinator' && !(await advisesDesk(trx, actor.userId, deskId)))
      throw errors.forbidden()
    let cert
    try {
      cert = deskKeyCertFromJSON(certJson)
    } catch {
      throw badKey('Ongeldige desksleutel / Malformed desk key statement')
    }
    const u = await trx
      .selectFrom('users')
      .select('master_pk')
      .where('id', '=', actor.userId)
      .executeTakeFirstOrThrow()
    try {
      verifyDeskKeyCert(new Uint8Array(u.master_pk ?? new Uint8Array(32)), cert, {
        expectDeskId: deskId,
      })
    } catch {
      throw badKey('Desksleutel niet ondertekend met jouw hoofdsleutel / Desk key does not verify')
    }
    if (cert.version !== desk.key_version + 1) {
      throw errors.conflict(
        'VS_DESK_VERSION',
        `Verwacht versie ${desk.key_version + 1} / Expected version ${desk.key_version + 1}`,
      )
    }
    // Sealed only to current advisors. The publisher read the advisors before sending; one
    // removed since (removal locks the desk row too, so it is either before this or after
    // it, where it flags the desk again) must not get the new key.
    const grantees = [...new Set(grants.map((g) => g.userId))]
    if (grantees.length > 0) {
      const advising = await trx
        .selectFrom('desk_members')
        .select('user_id')
        .where('desk_id', '=', deskId)
        .where('user_id', 'in', grantees)
        .forShare()
        .execute()
      if (advising.length !== grantees.length)
        throw errors.conflict(
          'VS_DESK_ADVISORS_CHANGED',
          'De adviseurs van de desk zijn veranderd; probeer het opnieuw / The desk’s advisors changed; try again',
        )
    }
    await trx
      .updateTable('desks')
      .set({
        key_version: cert.version,
        sign_pk: cert.signPk,
        box_pk: cert.boxPk,
        needs_rotation: false,
      })
      .where('id', '=', deskId)
      .execute()
    await trx
      .insertInto('desk_key_versions')
      .values({ desk_id: deskId, version: cert.version, sign_pk: cert.signPk, box_pk: cert.boxPk })
      .execute()
    for (const g of grants) {
      await trx
        .insertInto('desk_key_grants')
        .values({
          desk_id: deskId,
          key_version: cert.version,
          user_id: g.userId,
          device_id: g.deviceId,
          sealed: g.sealed,
        })
        .execute()
    }
    await appendKeyEvent(
      trx,
      cert.version === 1 ? 'desk-key-created' : 'desk-key-rotated',
      deskId,
      encodeDeskKeyCert(cert),
    )
    await appendAudit(trx, {
      event: cert.version === 1 ? 'key.desk-created' : 'key.desk-rotated',
      actorUserId: actor.userId,
      subjectKind: 'desk',
      subjectId: deskId,
    })
  })
}
