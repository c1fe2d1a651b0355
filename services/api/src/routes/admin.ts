import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { fromB64, randomId, toB64 } from '@vs/crypto'
import {
  B64,
  CreateInvitation,
  CreateOrganisation,
  Desk,
  Id,
  InvitationCreated,
  Name,
  Ok,
  Organisation,
  type OrgKind,
} from '@vs/protocol'
import type { AppContext } from '../context.js'
import type { Realtime } from '../realtime/realtime.js'
import { authenticated, principalOf } from '../auth/plugin.js'
import { createInvitation, createOrganisation, stepUpTotp } from '../identity/accounts.js'
import { publishDeskKey } from '../identity/keys.js'
import type { Principal } from '../identity/principal.js'
import { errors } from '../errors.js'
import { appendAudit, auditRecordJson } from '../audit.js'
import { advisesDesk } from '../rooms/access.js'
import { errorResponses } from './schemas.js'

function requireCoordinator(p: Principal): void {
  if (p.role !== 'coordinator') {
    throw errors.forbidden('Alleen een coördinator mag dit / Only a coordinator may do this')
  }
}

/** Organisations, invitations and desks of the caller's region. */
export function adminRoutes(ctx: AppContext, realtime: Realtime): FastifyPluginAsync {
  return authenticated(ctx, async (inner) => {
    const app = inner.withTypeProvider<TypeBoxTypeProvider>()
    const db = ctx.db.db
    const tags = ['admin']

    /** An organisation of the caller's region; others look like they do not exist. */
    async function orgInRegion(p: Principal, orgId: string) {
      const org = await db
        .selectFrom('organisations')
        .selectAll()
        .where('id', '=', orgId)
        .executeTakeFirst()
      if (!org || org.region_id !== p.regionId)
        throw errors.notFound('Organisatie niet gevonden / Organisation not found')
      return org
    }
    async function deskInRegion(p: Principal, deskId: string) {
      const desk = await db
        .selectFrom('desks')
        .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
        .selectAll('desks')
        .select('organisations.region_id')
        .where('desks.id', '=', deskId)
        .executeTakeFirst()
      if (!desk || desk.region_id !== p.regionId)
        throw errors.notFound('Desk niet gevonden / Desk not found')
      return desk
    }

    /**
     * Reading the audit log (NEN 7513): coordinators only, with a fresh TOTP code in
     * `x-vs-totp` (a second factor at the moment of access, not just at sign-in).
     */
    app.get(
      '/api/v1/audit',
      {
        schema: {
          tags,
          querystring: Type.Object({
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          }),
          headers: Type.Object({ 'x-vs-totp': Type.String({ pattern: '^\\d{6}$' }) }),
          response: {
            200: Type.Object({ records: Type.Array(Type.Record(Type.String(), Type.Unknown())) }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const p = principalOf(req)
        requireCoordinator(p)
        await stepUpTotp(ctx, p.userId, req.headers['x-vs-totp'])
        const rows = await db
          .selectFrom('audit_log')
          .selectAll('audit_log')
          // A coordinator reads the records of people in their own region only.
          .innerJoin('users', 'users.id', 'audit_log.actor_user_id')
          .where('users.region_id', '=', p.regionId)
          .where('at', '>=', new Date(req.query.from))
          .where('at', '<', new Date(req.query.to))
          .orderBy('audit_log.seq')
          .limit(req.query.limit ?? 500)
          .execute()
        await appendAudit(db, {
          event: 'audit.read',
          actorUserId: p.userId,
          details: { from: req.query.from, to: req.query.to },
        })
        return { records: rows.map(auditRecordJson) }
      },
    )

    app.get(
      '/api/v1/organisations',
      { schema: { tags, response: { 200: Type.Array(Organisation), ...errorResponses } } },
      async (req) => {
        const p = principalOf(req)
        const rows = await db
          .selectFrom('organisations')
          .selectAll()
          .where('region_id', '=', p.regionId)
          .orderBy('name')
          .execute()
        return rows.map((o) => ({
          id: o.id,
          regionId: o.region_id,
          name: o.name,
          kind: o.kind as OrgKind,
          createdAt: o.created_at.toISOString(),
        }))
      },
    )

    app.post(
      '/api/v1/organisations',
      {
        schema: {
          tags,
          body: CreateOrganisation,
          response: { 200: Organisation, ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        requireCoordinator(p)
        const { id, createdAt } = await createOrganisation(
          db,
          p.regionId,
          req.body.name,
          req.body.kind,
        )
        await appendAudit(db, {
          event: 'organisation.created',
          actorUserId: p.userId,
          subjectKind: 'organisation',
          subjectId: id,
        })
        return {
          id,
          regionId: p.regionId,
          name: req.body.name,
          kind: req.body.kind,
          createdAt: createdAt.toISOString(),
        }
      },
    )

    app.post(
      '/api/v1/invitations',
      {
        schema: {
          tags,
          body: CreateInvitation,
          response: { 200: InvitationCreated, ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        requireCoordinator(p)
        await orgInRegion(p, req.body.organisationId)
        const inv = await createInvitation(ctx, db, { ...req.body, createdBy: p.userId })
        await appendAudit(db, {
          event: 'invitation.created',
          actorUserId: p.userId,
          subjectKind: 'invitation',
          subjectId: inv.id,
        })
        return { id: inv.id, code: inv.code, expiresAt: inv.expiresAt.toISOString() }
      },
    )

    const toDesk = (d: {
      id: string
      organisation_id: string
      name: string
      purpose: 'advies' | 'meldingen'
      key_version: number
      sign_pk: Uint8Array | null
      box_pk: Uint8Array | null
    }) => ({
      id: d.id,
      organisationId: d.organisation_id,
      name: d.name,
      purpose: d.purpose,
      keyVersion: d.key_version,
      signPk: d.sign_pk ? toB64(new Uint8Array(d.sign_pk)) : null,
      boxPk: d.box_pk ? toB64(new Uint8Array(d.box_pk)) : null,
    })

    app.get(
      '/api/v1/desks',
      { schema: { tags, response: { 200: Type.Array(Desk), ...errorResponses } } },
      async (req) => {
        const p = principalOf(req)
        const rows = await db
          .selectFrom('desks')
          .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
          .selectAll('desks')
          .where('organisations.region_id', '=', p.regionId)
          .orderBy('desks.name')
          .execute()
        return rows.map(toDesk)
      },
    )

    app.post(
      '/api/v1/organisations/:orgId/desks',
      {
        schema: {
          tags,
          params: Type.Object({ orgId: Id }),
          body: Type.Object({
            name: Name,
            purpose: Type.Union([Type.Literal('advies'), Type.Literal('meldingen')]),
          }),
          response: { 200: Desk, ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        requireCoordinator(p)
        await orgInRegion(p, req.params.orgId)
        const id = randomId()
        await db
          .insertInto('desks')
          .values({
            id,
            organisation_id: req.params.orgId,
            name: req.body.name,
            purpose: req.body.purpose,
          })
          .execute()
        await appendAudit(db, {
          event: 'desk.created',
          actorUserId: p.userId,
          subjectKind: 'desk',
          subjectId: id,
        })
        return toDesk({
          id,
          organisation_id: req.params.orgId,
          name: req.body.name,
          purpose: req.body.purpose,
          key_version: 0,
          sign_pk: null,
          box_pk: null,
        })
      },
    )

    app.get(
      '/api/v1/desks/:deskId/advisors',
      {
        schema: {
          tags,
          params: Type.Object({ deskId: Id }),
          response: {
            200: Type.Object({
              advisors: Type.Array(Type.Object({ userId: Id, name: Name })),
              needsRotation: Type.Boolean(),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const p = principalOf(req)
        const desk = await deskInRegion(p, req.params.deskId)
        const rows = await db
          .selectFrom('desk_members')
          .innerJoin('users', 'users.id', 'desk_members.user_id')
          .select(['users.id as userId', 'users.name'])
          .where('desk_id', '=', desk.id)
          .orderBy('users.name')
          .execute()
        return { advisors: rows, needsRotation: desk.needs_rotation }
      },
    )

    app.put(
      '/api/v1/desks/:deskId/advisors/:userId',
      {
        schema: {
          tags,
          params: Type.Object({ deskId: Id, userId: Id }),
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        requireCoordinator(p)
        const desk = await deskInRegion(p, req.params.deskId)
        const user = await db
          .selectFrom('users')
          .select(['id', 'organisation_id', 'role'])
          .where('id', '=', req.params.userId)
          .executeTakeFirst()
        if (!user || user.organisation_id !== desk.organisation_id) {
          throw errors.badRequest(
            'Alleen medewerkers van de organisatie van de desk / Only staff of the desk organisation',
          )
        }
        if (user.role !== 'advisor') throw errors.badRequest('Alleen adviseurs / Only advisors')
        await db
          .insertInto('desk_members')
          .values({ desk_id: desk.id, user_id: user.id })
          .onConflict((oc) => oc.doNothing())
          .execute()
        await appendAudit(db, {
          event: 'desk.advisor-added',
          actorUserId: p.userId,
          subjectKind: 'desk',
          subjectId: desk.id,
          onBehalfOf: user.id,
        })
        return { ok: true as const }
      },
    )

    app.delete(
      '/api/v1/desks/:deskId/advisors/:userId',
      {
        schema: {
          tags,
          params: Type.Object({ deskId: Id, userId: Id }),
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        requireCoordinator(p)
        const desk = await deskInRegion(p, req.params.deskId)
        // One transaction under the desk row's lock, as a new desk key takes it: the removal
        // lands wholly before a key is published (which then refuses to seal it to the
        // leaver) or wholly after (and flags the new key as held by the leaver).
        const removed = await db.transaction().execute(async (trx) => {
          await trx.selectFrom('desks').select('id').where('id', '=', desk.id).forUpdate().execute()
          const res = await trx
            .deleteFrom('desk_members')
            .where('desk_id', '=', desk.id)
            .where('user_id', '=', req.params.userId)
            .executeTakeFirst()
          if (Number(res.numDeletedRows) === 0) return false
          // The leaver's devices hold the desk key: a remaining advisor must renew it.
          await trx
            .updateTable('desks')
            .set({ needs_rotation: true })
            .where('id', '=', desk.id)
            .execute()
          return true
        })
        if (!removed) throw errors.notFound('Adviseur niet gevonden / Advisor not found')
        // Their open sockets leave the desk's rooms now, not at their next reconnect.
        realtime.accessChanged(req.params.userId)
        await appendAudit(db, {
          event: 'desk.advisor-removed',
          actorUserId: p.userId,
          subjectKind: 'desk',
          subjectId: desk.id,
          onBehalfOf: req.params.userId,
        })
        return { ok: true as const }
      },
    )

    app.post(
      '/api/v1/desks/:deskId/keys',
      {
        schema: {
          tags,
          params: Type.Object({ deskId: Id }),
          body: Type.Object({
            cert: Type.Object({
              deskId: Id,
              version: Type.Integer({ minimum: 1 }),
              signPk: Type.String(),
              boxPk: Type.String(),
              createdAt: Type.Integer({ minimum: 0 }),
              signature: Type.String(),
            }),
            grants: Type.Array(
              Type.Object({ userId: Id, deviceId: Id, sealed: B64({ maxLength: 1024 }) }),
              { maxItems: 500 },
            ),
          }),
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        const p = principalOf(req)
        await publishDeskKey(
          ctx,
          p,
          req.params.deskId,
          req.body.cert,
          req.body.grants.map((g) => ({
            userId: g.userId,
            deviceId: g.deviceId,
            sealed: fromB64(g.sealed),
          })),
        )
        return { ok: true as const }
      },
    )

    app.get(
      '/api/v1/desks/:deskId/grants',
      {
        schema: {
          tags,
          params: Type.Object({ deskId: Id }),
          response: {
            200: Type.Array(
              Type.Object({
                keyVersion: Type.Integer(),
                deviceId: Id,
                sealed: B64({ maxLength: 1024 }),
              }),
            ),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const p = principalOf(req)
        const desk = await deskInRegion(p, req.params.deskId)
        if (!(await advisesDesk(db, p.userId, desk.id)))
          throw errors.forbidden(
            'Je bent geen adviseur van deze desk / Not an advisor of this desk',
          )
        const rows = await db
          .selectFrom('desk_key_grants')
          .select(['key_version', 'device_id', 'sealed'])
          .where('desk_id', '=', desk.id)
          .where('user_id', '=', p.userId)
          .orderBy('key_version')
          .execute()
        return rows.map((r) => ({
          keyVersion: r.key_version,
          deviceId: r.device_id,
          sealed: toB64(new Uint8Array(r.sealed)),
        }))
      },
    )
  })
}
