import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { fromB64 } from '@vs/crypto'
import {
  B64,
  DeviceInfo,
  DeviceLinkApprove,
  DeviceLinkPending,
  DeviceLinkRequest,
  DeviceLinkState,
  DirectoryEntry,
  Id,
  KeyLogPage,
  Ok,
  PublishMasterKey,
  RegisterDevice,
  RevokeDevice,
  UserKeys,
  type OrgKind,
} from '@vs/protocol'
import type { AppContext } from '../context.js'
import { authenticated, principalOf } from '../auth/plugin.js'
import {
  approveDeviceLink,
  createDeviceLink,
  deviceLinkState,
  keyLogPage,
  listDevices,
  masterBackup,
  pendingDeviceLinks,
  publishMasterKey,
  registerDevice,
  renameDevice,
  revokeDevice,
  userKeys,
} from '../identity/keys.js'
import { toB64 } from '@vs/crypto'
import { errorResponses } from './schemas.js'
import { appendAudit } from '../audit.js'

/** Master keys, devices, device linking, the key log and the region directory. */
export function keyRoutes(ctx: AppContext): FastifyPluginAsync {
  return authenticated(ctx, async (inner) => {
    const app = inner.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['keys']

    app.post(
      '/api/v1/keys/master',
      { schema: { tags, body: PublishMasterKey, response: { 200: Ok, ...errorResponses } } },
      async (req) => {
        await publishMasterKey(
          ctx,
          principalOf(req).userId,
          fromB64(req.body.masterPk),
          fromB64(req.body.wrappedMasterSecret),
        )
        return { ok: true as const }
      },
    )
    app.get(
      '/api/v1/keys/backup',
      {
        schema: {
          tags,
          response: { 200: Type.Object({ wrappedMasterSecret: B64() }), ...errorResponses },
        },
      },
      async (req) => ({
        wrappedMasterSecret: toB64(await masterBackup(ctx, principalOf(req).userId)),
      }),
    )
    app.post(
      '/api/v1/devices',
      { schema: { tags, body: RegisterDevice, response: { 200: Ok, ...errorResponses } } },
      async (req) => {
        await registerDevice(ctx, principalOf(req).userId, req.body.cert, req.body.name)
        return { ok: true as const }
      },
    )
    app.get(
      '/api/v1/devices',
      { schema: { tags, response: { 200: Type.Array(DeviceInfo), ...errorResponses } } },
      async (req) => listDevices(ctx, principalOf(req).userId),
    )
    app.patch(
      '/api/v1/devices/:deviceId',
      {
        schema: {
          tags,
          params: Type.Object({ deviceId: Id }),
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }),
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        await renameDevice(ctx, principalOf(req).userId, req.params.deviceId, req.body.name)
        return { ok: true as const }
      },
    )
    app.post(
      '/api/v1/devices/:deviceId/revoke',
      {
        schema: {
          tags,
          params: Type.Object({ deviceId: Id }),
          body: RevokeDevice,
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        await revokeDevice(
          ctx,
          principalOf(req).userId,
          req.params.deviceId,
          req.body.revokedAt,
          fromB64(req.body.signature),
        )
        return { ok: true as const }
      },
    )
    app.post(
      '/api/v1/device-links',
      {
        schema: {
          tags,
          body: DeviceLinkRequest,
          response: { 200: Type.Object({ linkId: Id }), ...errorResponses },
        },
      },
      async (req) => createDeviceLink(ctx, principalOf(req).userId, req.body),
    )
    app.get(
      '/api/v1/device-links',
      { schema: { tags, response: { 200: Type.Array(DeviceLinkPending), ...errorResponses } } },
      async (req) => pendingDeviceLinks(ctx, principalOf(req).userId),
    )
    app.get(
      '/api/v1/device-links/:linkId',
      {
        schema: {
          tags,
          params: Type.Object({ linkId: Id }),
          response: { 200: DeviceLinkState, ...errorResponses },
        },
      },
      async (req) => deviceLinkState(ctx, principalOf(req).userId, req.params.linkId),
    )
    app.post(
      '/api/v1/device-links/:linkId/approve',
      {
        schema: {
          tags,
          params: Type.Object({ linkId: Id }),
          body: Type.Composite([
            DeviceLinkApprove,
            Type.Object({ approverDeviceId: Type.Optional(Id) }),
          ]),
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        await approveDeviceLink(
          ctx,
          principalOf(req).userId,
          req.body.approverDeviceId ?? null,
          req.params.linkId,
          req.body.cert,
          fromB64(req.body.sealedMaster),
        )
        return { ok: true as const }
      },
    )
    app.get(
      '/api/v1/keylog',
      {
        schema: {
          tags,
          // key_log.idx is a 32-bit integer: a larger `from` would fail in the database (500).
          querystring: Type.Object({
            from: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })),
          }),
          response: { 200: KeyLogPage, ...errorResponses },
        },
      },
      async (req) => keyLogPage(ctx, req.query.from ?? 0),
    )
    app.get(
      '/api/v1/users/:userId/keys',
      {
        schema: {
          tags,
          params: Type.Object({ userId: Id }),
          response: { 200: UserKeys, ...errorResponses },
        },
      },
      async (req) => userKeys(ctx, principalOf(req).regionId, req.params.userId),
    )
    app.get(
      '/api/v1/directory',
      {
        schema: {
          tags: ['directory'],
          response: { 200: Type.Array(DirectoryEntry), ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        const rows = await ctx.db.db
          .selectFrom('users')
          .innerJoin('organisations', 'organisations.id', 'users.organisation_id')
          .select([
            'users.id',
            'users.name',
            'users.discipline',
            'users.role',
            'users.master_pk',
            'organisations.id as orgId',
            'organisations.name as orgName',
            'organisations.kind as orgKind',
          ])
          .where('users.region_id', '=', p.regionId)
          .where('users.disabled_at', 'is', null)
          .orderBy('users.name')
          .execute()
        await appendAudit(ctx.db.db, {
          event: 'directory.read',
          actorUserId: p.userId,
          subjectKind: 'region',
          subjectId: p.regionId,
        })
        return rows.map((r) => ({
          userId: r.id,
          name: r.name,
          discipline: r.discipline,
          role: r.role,
          organisation: { id: r.orgId, name: r.orgName, kind: r.orgKind as OrgKind },
          masterPk: r.master_pk ? toB64(new Uint8Array(r.master_pk)) : null,
        }))
      },
    )
  })
}
