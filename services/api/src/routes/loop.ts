import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { B64, DeviceId, Id, Ok } from '@vs/protocol'
import type { AppContext } from '../context.js'
import { authenticated, principalOf } from '../auth/plugin.js'
import { roomAccess } from '../rooms/access.js'
import { acknowledge, caseOverview, inbox, postNotice, roomNotices } from '../loop/notices.js'
import type { Realtime } from '../realtime/realtime.js'
import { errorResponses } from './schemas.js'

const Dates = Type.Record(
  Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
  Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
  { maxProperties: 16 },
)
const NoticeKind = Type.Union(
  [
    'hulp-gestart',
    'hulp-beeindigd',
    'monitoring-afspraak',
    'monitoring-check',
    'veiligheidsbeoordeling',
  ].map((k) => Type.Literal(k)),
)

const NoticeView = Type.Object({
  id: Id,
  roomId: Id,
  seq: Type.Integer(),
  kind: Type.String(),
  dates: Type.Record(Type.String(), Type.String()),
  signer: Type.String(),
  signerDevice: Type.String(),
  signature: Type.String(),
  envelopeHash: Type.String(),
  owner: Type.Union([Type.String(), Type.Null()]),
  postedAt: Type.String(),
  acknowledgedBy: Type.Array(Type.String()),
  pending: Type.Array(Type.String()),
})

const Label = Type.Object({ nl: Type.String(), en: Type.String() })
const CaseOverview = Type.Object({
  roomId: Id,
  kind: Type.String(),
  state: Type.String(),
  stateLabel: Label,
  createdAt: Type.String(),
  timeline: Type.Array(
    Type.Object({
      noticeId: Id,
      kind: Type.String(),
      dates: Type.Record(Type.String(), Type.String()),
      seq: Type.Integer(),
    }),
  ),
  overdue: Type.Object({
    beoordelingDue: Type.Union([Type.String(), Type.Null()]),
    beoordelingOverdue: Type.Boolean(),
    checksOverdue: Type.Array(Type.Object({ dueOn: Type.String(), owner: Type.String() })),
    unacknowledged: Type.Integer(),
  }),
  nextCheck: Type.Union([Type.Object({ dueOn: Type.String(), owner: Type.String() }), Type.Null()]),
})

/** Terugkoppeling: notices, acknowledgements, inbox, case overview. */
export function loopRoutes(ctx: AppContext, rt: Realtime): FastifyPluginAsync {
  return authenticated(ctx, async (inner) => {
    const app = inner.withTypeProvider<TypeBoxTypeProvider>()
    const tags = ['terugkoppeling']

    app.post(
      '/api/v1/rooms/:roomId/notices',
      {
        schema: {
          tags,
          params: Type.Object({ roomId: Id }),
          body: Type.Object({
            idem: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
            dev: DeviceId,
            as: Type.Optional(Id),
            body: B64({ maxLength: 100_000 }),
            owner: Type.Optional(Id),
            meta: Type.Object({
              roomId: Id,
              noticeId: Id,
              kind: NoticeKind,
              dates: Dates,
              envelopeHash: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
              signature: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' }),
            }),
          }),
          response: {
            200: Type.Object({ seq: Type.Integer(), duplicate: Type.Boolean() }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const r = await postNotice(
          ctx,
          principalOf(req),
          req.params.roomId,
          req.body as Parameters<typeof postNotice>[3],
        )
        if (r.event) rt.committed([r.event])
        return { seq: r.seq, duplicate: r.duplicate }
      },
    )

    app.get(
      '/api/v1/rooms/:roomId/notices',
      {
        schema: {
          tags,
          params: Type.Object({ roomId: Id }),
          response: { 200: Type.Array(NoticeView), ...errorResponses },
        },
      },
      async (req) => {
        const access = await roomAccess(ctx.db.db, principalOf(req), req.params.roomId)
        return roomNotices(ctx, access.roomId)
      },
    )

    app.post(
      '/api/v1/notices/:noticeId/ack',
      {
        schema: {
          tags,
          params: Type.Object({ noticeId: Id }),
          body: Type.Object({ as: Type.Optional(Id) }),
          response: { 200: Ok, ...errorResponses },
        },
      },
      async (req) => {
        await acknowledge(ctx, principalOf(req), req.params.noticeId, req.body.as)
        return { ok: true as const }
      },
    )

    app.get(
      '/api/v1/inbox',
      {
        schema: {
          tags,
          response: {
            200: Type.Array(
              Type.Object({
                kind: Type.String(),
                roomId: Id,
                noticeId: Type.Union([Id, Type.Null()]),
                noticeKind: Type.Union([Type.String(), Type.Null()]),
                dates: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
                at: Type.String(),
                as: Type.String(),
              }),
            ),
            ...errorResponses,
          },
        },
      },
      async (req) => inbox(ctx, principalOf(req)),
    )

    app.get(
      '/api/v1/cases',
      { schema: { tags, response: { 200: Type.Array(CaseOverview), ...errorResponses } } },
      async (req) => caseOverview(ctx, principalOf(req)),
    )
  })
}
