import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import {
  issueTokens,
  ristretto255,
  toB64,
  tokenRequestFromJson,
  tokenResponseToJson,
} from '@vs/crypto'
import { B64, Id, Key32, Ok, WelcomeWire } from '@vs/protocol'
import type { AppContext } from '../context.js'
import { authenticated, principalOf } from '../auth/plugin.js'
import { createError, errors } from '../errors.js'
import { appendAudit } from '../audit.js'
import type { Realtime } from '../realtime/realtime.js'
import { desksOf } from '../rooms/access.js'
import {
  OUTCOMES,
  claimConsult,
  closeConsult,
  deskConsults,
  handOver,
  openAnonymousConsult,
  openConsult,
} from '../consult/service.js'
import {
  TOKENS_PER_MONTH,
  issuerKey,
  periodOf,
  publishIssuerKey,
  takeIssuance,
} from '../consult/tokens.js'
import { errorResponses } from './schemas.js'

const Discipline = Type.Optional(Type.String({ minLength: 1, maxLength: 100 }))
const DeskKeyVersion = Type.Object({ version: Type.Integer(), signPk: Key32, boxPk: Key32 })
const PublicDesk = Type.Object({
  id: Id,
  name: Type.String(),
  organisation: Type.String(),
  region: Type.String(),
  keyVersion: Type.Integer(),
  signPk: Key32,
  boxPk: Key32,
})

/**
 * Consultations. The anonymous routes take no session and store no account link or
 * address; pino never logs addresses (see logger.ts), and the rate limiter keeps them
 * in memory only.
 */
export function consultRoutes(ctx: AppContext, rt: Realtime): FastifyPluginAsync {
  return async (root) => {
    const pub = root.withTypeProvider<TypeBoxTypeProvider>()
    const db = ctx.db.db
    const tags = ['adviesvraag']

    pub.get(
      '/api/v1/anon/desks',
      { schema: { tags, response: { 200: Type.Array(PublicDesk) } } },
      async () => {
        const rows = await db
          .selectFrom('desks')
          .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
          .innerJoin('regions', 'regions.id', 'organisations.region_id')
          .select([
            'desks.id',
            'desks.name',
            'desks.key_version',
            'desks.sign_pk',
            'desks.box_pk',
            'organisations.name as org',
            'regions.name as region',
          ])
          .where('desks.purpose', '=', 'advies')
          .where('desks.key_version', '>', 0)
          .orderBy('regions.name')
          .execute()
        return rows.map((r) => ({
          id: r.id,
          name: r.name,
          organisation: r.org,
          region: r.region,
          keyVersion: r.key_version,
          signPk: toB64(new Uint8Array(r.sign_pk!)),
          boxPk: toB64(new Uint8Array(r.box_pk!)),
        }))
      },
    )

    pub.post(
      '/api/v1/anon/consults',
      {
        config: { rateLimit: { max: 20, timeWindow: '1 minute' } },
        schema: {
          tags,
          body: Type.Object({
            token: Type.Object({
              period: Type.String({ pattern: '^\\d{4}-\\d{2}$' }),
              input: B64({ maxLength: 64 }),
              output: B64({ maxLength: 128 }),
            }),
            deskId: Id,
            discipline: Discipline,
            member: Type.Object({
              id: Type.String({ pattern: '^anon_[A-Za-z0-9_-]{16,40}$' }),
              deviceId: Id,
              signPk: Key32,
              boxPk: Key32,
            }),
            genesis: B64({ maxLength: 65536 }),
            welcomes: Type.Array(WelcomeWire, { maxItems: 100 }),
          }),
          response: {
            200: Type.Object({ roomId: Id, capability: Type.String() }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const r = await openAnonymousConsult(ctx, req.body)
        rt.committed([r.event])
        return { roomId: r.roomId, capability: r.capability }
      },
    )

    await root.register(
      authenticated(ctx, async (inner) => {
        const app = inner.withTypeProvider<TypeBoxTypeProvider>()

        app.get(
          '/api/v1/tokens/issuer',
          {
            schema: {
              tags,
              response: {
                200: Type.Object({
                  period: Type.String(),
                  publicKey: Key32,
                  perMonth: Type.Integer(),
                }),
                ...errorResponses,
              },
            },
          },
          async () => {
            const period = periodOf(ctx.now())
            return {
              period,
              publicKey: toB64(await publishIssuerKey(ctx, period)),
              perMonth: TOKENS_PER_MONTH,
            }
          },
        )

        app.post(
          '/api/v1/tokens/issue',
          {
            schema: {
              tags,
              body: Type.Object({
                blindedElements: Type.Array(Key32, { minItems: 1, maxItems: TOKENS_PER_MONTH }),
              }),
              response: {
                200: Type.Object({
                  period: Type.String(),
                  publicKey: Key32,
                  evaluated: Type.Array(Key32),
                  proof: B64({ maxLength: 200 }),
                }),
                ...errorResponses,
              },
            },
          },
          async (req) => {
            const p = principalOf(req)
            const period = periodOf(ctx.now())
            let blinded
            try {
              blinded = tokenRequestFromJson(req.body)
              // Every element must be a valid point before any of the monthly budget is used.
              for (const b of blinded) ristretto255.deserializeElement(b, 'blinded element')
            } catch {
              throw errors.badRequest('Ongeldig tokenverzoek / Malformed token request')
            }
            if (!(await takeIssuance(ctx, p.userId, period, blinded.length))) {
              throw createError(
                'VS_TOKEN_LIMIT',
                `Maximaal ${TOKENS_PER_MONTH} anonieme vragen per maand / At most ${TOKENS_PER_MONTH} per month`,
                429,
              )
            }
            const publicKey = await publishIssuerKey(ctx, period)
            const issued = await issueTokens(issuerKey(ctx, period), blinded)
            await appendAudit(db, {
              event: 'tokens.issued',
              actorUserId: p.userId,
              details: { count: blinded.length, period },
            })
            return { period, publicKey: toB64(publicKey), ...tokenResponseToJson(issued) }
          },
        )

        app.get(
          '/api/v1/desks/:deskId/keys',
          {
            schema: {
              tags,
              params: Type.Object({ deskId: Id }),
              response: { 200: Type.Array(DeskKeyVersion), ...errorResponses },
            },
          },
          async (req) => {
            const p = principalOf(req)
            const desk = await db
              .selectFrom('desks')
              .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
              .select(['desks.id', 'organisations.region_id'])
              .where('desks.id', '=', req.params.deskId)
              .executeTakeFirst()
            if (!desk || desk.region_id !== p.regionId)
              throw errors.notFound('Desk niet gevonden / Desk not found')
            const rows = await db
              .selectFrom('desk_key_versions')
              .selectAll()
              .where('desk_id', '=', desk.id)
              .orderBy('version')
              .execute()
            return rows.map((r) => ({
              version: r.version,
              signPk: toB64(new Uint8Array(r.sign_pk)),
              boxPk: toB64(new Uint8Array(r.box_pk)),
            }))
          },
        )

        app.get(
          '/api/v1/anon-members/:memberId',
          {
            schema: {
              tags,
              params: Type.Object({
                memberId: Type.String({ pattern: '^anon_[A-Za-z0-9_-]{16,40}$' }),
              }),
              response: {
                200: Type.Object({ id: Type.String(), deviceId: Id, signPk: Key32, boxPk: Key32 }),
                ...errorResponses,
              },
            },
          },
          async (req) => {
            const p = principalOf(req)
            const a = await db
              .selectFrom('anon_members')
              .selectAll()
              .where('id', '=', req.params.memberId)
              .executeTakeFirst()
            if (!a) throw errors.notFound()
            // Only those who share the consultation see the asker's keys.
            const ids = [p.userId, ...(await desksOf(db, p.userId))]
            const shared = await db
              .selectFrom('room_members')
              .select('member_id')
              .where('room_id', '=', a.room_id)
              .where('member_id', 'in', ids)
              .executeTakeFirst()
            if (!shared) throw errors.notFound()
            return {
              id: a.id,
              deviceId: a.device_id,
              signPk: toB64(new Uint8Array(a.sign_pk)),
              boxPk: toB64(new Uint8Array(a.box_pk)),
            }
          },
        )

        app.post(
          '/api/v1/consults',
          {
            schema: {
              tags,
              body: Type.Object({
                deskId: Id,
                genesis: B64({ maxLength: 65536 }),
                welcomes: Type.Array(WelcomeWire, { maxItems: 200 }),
                discipline: Discipline,
              }),
              response: { 200: Type.Object({ roomId: Id }), ...errorResponses },
            },
          },
          async (req) => {
            const r = await openConsult(ctx, principalOf(req), req.body)
            rt.committed([r.event])
            return { roomId: r.roomId }
          },
        )

        app.get(
          '/api/v1/desks/:deskId/consults',
          {
            schema: {
              tags,
              params: Type.Object({ deskId: Id }),
              querystring: Type.Object({ closed: Type.Optional(Type.Boolean()) }),
              response: {
                200: Type.Array(
                  Type.Object({
                    roomId: Id,
                    mode: Type.String(),
                    asker: Type.Union([
                      Type.Object({
                        name: Type.String(),
                        discipline: Type.String(),
                        organisation: Type.String(),
                      }),
                      Type.Null(),
                    ]),
                    discipline: Type.Union([Type.String(), Type.Null()]),
                    createdAt: Type.String(),
                    waitingMinutes: Type.Integer(),
                    claimedBy: Type.Union([
                      Type.Object({ userId: Id, name: Type.String() }),
                      Type.Null(),
                    ]),
                    closedAt: Type.Union([Type.String(), Type.Null()]),
                    outcome: Type.Union([Type.String(), Type.Null()]),
                  }),
                ),
                ...errorResponses,
              },
            },
          },
          async (req) =>
            deskConsults(ctx, principalOf(req), req.params.deskId, req.query.closed ?? false),
        )

        const RoomParams = Type.Object({ roomId: Id })
        app.post(
          '/api/v1/consults/:roomId/claim',
          { schema: { tags, params: RoomParams, response: { 200: Ok, ...errorResponses } } },
          async (req) => {
            await claimConsult(ctx, principalOf(req), req.params.roomId)
            return { ok: true as const }
          },
        )
        app.post(
          '/api/v1/consults/:roomId/handover',
          {
            schema: {
              tags,
              params: RoomParams,
              body: Type.Object({ to: Id }),
              response: { 200: Ok, ...errorResponses },
            },
          },
          async (req) => {
            await handOver(ctx, principalOf(req), req.params.roomId, req.body.to)
            return { ok: true as const }
          },
        )
        app.post(
          '/api/v1/consults/:roomId/close',
          {
            schema: {
              tags,
              params: RoomParams,
              body: Type.Object({
                outcome: Type.Unsafe<(typeof OUTCOMES)[number]>(
                  Type.String({ enum: [...OUTCOMES] }),
                ),
              }),
              response: { 200: Ok, ...errorResponses },
            },
          },
          async (req) => {
            await closeConsult(ctx, principalOf(req), req.params.roomId, req.body.outcome)
            return { ok: true as const }
          },
        )
      }),
    )
  }
}
