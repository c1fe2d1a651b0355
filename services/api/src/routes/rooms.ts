import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { fromB64, randomId, toB64 } from '@vs/crypto'
import {
  AppendCommit,
  B64,
  CreateRoom,
  FileCreate,
  DeviceId,
  Id,
  MAX_FILE_CHUNK_BYTES,
  Ok,
  RoomEventWire,
  RoomSummary,
  SendMessage,
  SendResult,
} from '@vs/protocol'
import type { AppContext } from '../context.js'
import { authenticated, principalOf } from '../auth/plugin.js'
import { appendAudit } from '../audit.js'
import { createError, errors } from '../errors.js'
import { actingAs, desksOf, roomAccess } from '../rooms/access.js'
import { appendCommit, createRoom } from '../rooms/chain.js'
import { bodyB64, fetchEvents } from '../rooms/events.js'
import type { Realtime } from '../realtime/realtime.js'
import { errorResponses } from './schemas.js'

const RoomParams = Type.Object({ roomId: Id })

/** A history page holds fewer than `limit` events when their bodies pass this size. */
const HISTORY_PAGE_BYTES = 4 * 1024 * 1024

/** Rooms over HTTP, and the `/ws` endpoint, all behind authentication. */
export function roomRoutes(ctx: AppContext, rt: Realtime): FastifyPluginAsync {
  return authenticated(
    ctx,
    async (inner) => {
      const app = inner.withTypeProvider<TypeBoxTypeProvider>()
      const db = ctx.db.db
      const tags = ['rooms']

      app.get('/ws', { websocket: true, schema: { hide: true } }, (socket, req) =>
        rt.accept(socket, req),
      )

      app.post(
        '/api/v1/rooms',
        {
          schema: {
            tags,
            body: CreateRoom,
            response: { 200: Type.Object({ roomId: Id, seq: Type.Integer() }), ...errorResponses },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const desks = await desksOf(db, p.userId)
          const { roomId, event } = await createRoom(
            ctx,
            p,
            fromB64(req.body.genesis),
            req.body.welcomes,
            desks,
          )
          rt.committed([event])
          return { roomId, seq: event.seq }
        },
      )

      app.get(
        '/api/v1/rooms',
        { schema: { tags, response: { 200: Type.Array(RoomSummary), ...errorResponses } } },
        async (req) => {
          const p = principalOf(req)
          const ids = [p.userId, ...(await desksOf(db, p.userId))]
          const rows = await db
            .selectFrom('room_members')
            .innerJoin('rooms', 'rooms.id', 'room_members.room_id')
            .leftJoin('room_reads', (j) =>
              j
                .onRef('room_reads.room_id', '=', 'room_members.room_id')
                .onRef('room_reads.member_id', '=', 'room_members.member_id'),
            )
            .select([
              'rooms.id',
              'rooms.kind',
              'rooms.epoch',
              'rooms.last_seq',
              'rooms.created_at',
              'room_members.member_id',
              'room_reads.seq as readSeq',
            ])
            .where('room_members.member_id', 'in', ids)
            .orderBy('rooms.created_at', 'desc')
            .execute()
          const byRoom = new Map<
            string,
            {
              id: string
              kind: 'case' | 'consult' | 'melding'
              epoch: number
              lastSeq: number
              createdAt: string
              as: string[]
              readSeq: number
            }
          >()
          for (const r of rows) {
            const s = byRoom.get(r.id) ?? {
              id: r.id,
              kind: r.kind,
              epoch: r.epoch,
              lastSeq: r.last_seq,
              createdAt: r.created_at.toISOString(),
              as: [],
              readSeq: 0,
            }
            s.as.push(r.member_id)
            s.readSeq = Math.max(s.readSeq, r.readSeq ?? 0)
            byRoom.set(r.id, s)
          }
          await appendAudit(db, { event: 'room.list', actorUserId: p.userId })
          return [...byRoom.values()]
        },
      )

      app.get(
        '/api/v1/rooms/:roomId/commits',
        {
          schema: {
            tags,
            params: RoomParams,
            response: {
              200: Type.Object({ commits: Type.Array(B64({ maxLength: 65536 })) }),
              ...errorResponses,
            },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const access = await roomAccess(db, p, req.params.roomId)
          const rows = await db
            .selectFrom('room_commits')
            .select('commit')
            .where('room_id', '=', access.roomId)
            .orderBy('epoch')
            .execute()
          await appendAudit(db, {
            event: 'room.commits.read',
            actorUserId: p.userId,
            subjectKind: access.kind,
            subjectId: access.roomId,
          })
          return { commits: rows.map((r) => toB64(new Uint8Array(r.commit))) }
        },
      )

      app.post(
        '/api/v1/rooms/:roomId/commits',
        {
          schema: {
            tags,
            params: RoomParams,
            body: AppendCommit,
            response: { 200: SendResult, ...errorResponses },
          },
        },
        async (req) => {
          const p = principalOf(req)
          await roomAccess(db, p, req.params.roomId)
          const desks = await desksOf(db, p.userId)
          const r = await appendCommit(
            ctx,
            p,
            req.params.roomId,
            fromB64(req.body.commit),
            req.body.welcomes,
            req.body.idem,
            desks,
          )
          if (r.event) rt.committed([r.event])
          return { seq: r.seq, duplicate: r.duplicate }
        },
      )

      app.get(
        '/api/v1/rooms/:roomId/events',
        {
          schema: {
            tags,
            params: RoomParams,
            querystring: Type.Object({
              after: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            }),
            response: {
              200: Type.Object({ head: Type.Integer(), events: Type.Array(RoomEventWire) }),
              ...errorResponses,
            },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const access = await roomAccess(db, p, req.params.roomId)
          const events = await fetchEvents(
            db,
            access.roomId,
            req.query.after ?? 0,
            req.query.limit ?? 500,
            HISTORY_PAGE_BYTES,
          )
          await appendAudit(db, {
            event: 'room.events.read',
            actorUserId: p.userId,
            subjectKind: access.kind,
            subjectId: access.roomId,
            details: { after: req.query.after ?? 0, count: events.length },
          })
          return {
            head: access.lastSeq,
            events: events.map((e) => ({
              seq: e.seq,
              kind: e.kind,
              from: e.senderId,
              dev: e.senderDevice,
              at: e.createdAt.getTime(),
              body: bodyB64(e.body),
            })),
          }
        },
      )

      app.post(
        '/api/v1/rooms/:roomId/events',
        {
          schema: {
            tags,
            params: RoomParams,
            body: SendMessage,
            response: { 200: SendResult, ...errorResponses },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const access = await roomAccess(db, p, req.params.roomId)
          const senderId = actingAs(access, p, req.body.as)
          const o = await rt.writer.send({
            roomId: access.roomId,
            kind: 'message',
            senderId,
            senderDevice: req.body.dev,
            idem: req.body.idem,
            body: fromB64(req.body.body),
            ...(senderId !== p.userId ? { actor: p.userId } : {}),
          })
          if (!o.ok)
            throw createError(o.code, o.message, o.code === 'VS_ROOM_NOT_FOUND' ? 404 : 403)
          return { seq: o.seq, duplicate: o.duplicate }
        },
      )

      app.get(
        '/api/v1/rooms/:roomId/welcomes',
        {
          schema: {
            tags,
            params: RoomParams,
            querystring: Type.Object({ device: DeviceId, as: Type.Optional(Id) }),
            response: {
              200: Type.Array(
                Type.Object({ epoch: Type.Integer(), sealed: B64({ maxLength: 2048 }) }),
              ),
              ...errorResponses,
            },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const access = await roomAccess(db, p, req.params.roomId)
          const member = actingAs(access, p, req.query.as)
          if (member === p.userId && !p.anonymous) {
            const dev = await db
              .selectFrom('devices')
              .select('revoked_at')
              .where('user_id', '=', p.userId)
              .where('device_id', '=', req.query.device)
              .executeTakeFirst()
            if (!dev || dev.revoked_at)
              throw errors.forbidden('Onbekend of ingetrokken apparaat / Unknown or revoked device')
          }
          const rows = await db
            .selectFrom('room_welcomes')
            .select(['epoch', 'sealed'])
            .where('room_id', '=', access.roomId)
            .where('member_id', '=', member)
            .where('device_id', '=', req.query.device)
            .orderBy('epoch')
            .execute()
          await appendAudit(db, {
            event: 'room.welcomes.read',
            actorUserId: p.userId,
            actorDeviceId: req.query.device,
            subjectKind: access.kind,
            subjectId: access.roomId,
          })
          return rows.map((r) => ({ epoch: r.epoch, sealed: toB64(new Uint8Array(r.sealed)) }))
        },
      )

      app.post(
        '/api/v1/rooms/:roomId/read',
        {
          schema: {
            tags,
            params: RoomParams,
            body: Type.Object({
              seq: Type.Integer({ minimum: 0, maximum: 2_147_483_647 }),
              as: Type.Optional(Id),
            }),
            response: { 200: Ok, ...errorResponses },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const access = await roomAccess(db, p, req.params.roomId)
          const member = actingAs(access, p, req.body.as)
          const seq = Math.min(req.body.seq, access.lastSeq)
          await db
            .insertInto('room_reads')
            .values({ room_id: access.roomId, member_id: member, seq })
            .onConflict((oc) =>
              oc.columns(['room_id', 'member_id']).doUpdateSet((eb) => ({
                seq: eb.fn('greatest', ['room_reads.seq', eb.ref('excluded.seq')]),
                at: new Date(),
              })),
            )
            .execute()
          return { ok: true as const }
        },
      )

      app.get(
        '/api/v1/rooms/:roomId/reads',
        {
          schema: {
            tags,
            params: RoomParams,
            response: {
              200: Type.Array(Type.Object({ memberId: Id, seq: Type.Integer() })),
              ...errorResponses,
            },
          },
        },
        async (req) => {
          const access = await roomAccess(db, principalOf(req), req.params.roomId)
          const rows = await db
            .selectFrom('room_reads')
            .select(['member_id', 'seq'])
            .where('room_id', '=', access.roomId)
            .execute()
          return rows.map((r) => ({ memberId: r.member_id, seq: r.seq }))
        },
      )

      // Attachments: ciphertext in chunks (the file key travels inside an encrypted message).
      app.post(
        '/api/v1/rooms/:roomId/files',
        {
          schema: {
            tags,
            params: RoomParams,
            body: FileCreate,
            response: { 200: Type.Object({ fileId: Id }), ...errorResponses },
          },
        },
        async (req) => {
          const p = principalOf(req)
          const access = await roomAccess(db, p, req.params.roomId)
          const fileId = randomId()
          await db
            .insertInto('room_files')
            .values({
              id: fileId,
              room_id: access.roomId,
              uploader_id: p.userId,
              size: req.body.size,
              chunk_count: req.body.chunkCount,
            })
            .execute()
          await appendAudit(db, {
            event: 'room.file.created',
            actorUserId: p.userId,
            subjectKind: access.kind,
            subjectId: access.roomId,
            details: { fileId },
          })
          return { fileId }
        },
      )

      await app.register(async (files) => {
        files.addContentTypeParser(
          'application/octet-stream',
          { parseAs: 'buffer', bodyLimit: MAX_FILE_CHUNK_BYTES },
          (_req, body, done) => done(null, body),
        )
        const f = files.withTypeProvider<TypeBoxTypeProvider>()
        const ChunkParams = Type.Object({
          roomId: Id,
          fileId: Id,
          idx: Type.Integer({ minimum: 0, maximum: 63 }),
        })
        f.put(
          '/api/v1/rooms/:roomId/files/:fileId/chunks/:idx',
          {
            bodyLimit: MAX_FILE_CHUNK_BYTES,
            schema: { tags, params: ChunkParams, response: { 200: Ok, ...errorResponses } },
          },
          async (req) => {
            const p = principalOf(req)
            const access = await roomAccess(db, p, req.params.roomId)
            const file = await db
              .selectFrom('room_files')
              .selectAll()
              .where('id', '=', req.params.fileId)
              .where('room_id', '=', access.roomId)
              .executeTakeFirst()
            if (!file) throw errors.notFound('Bestand niet gevonden / File not found')
            if (file.uploader_id !== p.userId) throw errors.forbidden()
            if (file.completed_at)
              throw errors.conflict(
                'VS_FILE_COMPLETE',
                'Bestand is al compleet / File already complete',
              )
            if (req.params.idx >= file.chunk_count)
              throw errors.badRequest('Onderdeel buiten bereik / Chunk out of range')
            const body = req.body
            if (!(body instanceof Buffer) || body.length === 0)
              throw errors.badRequest('Leeg onderdeel / Empty chunk')
            await db
              .insertInto('room_file_chunks')
              .values({ file_id: file.id, idx: req.params.idx, data: new Uint8Array(body) })
              .onConflict((oc) =>
                oc.columns(['file_id', 'idx']).doUpdateSet({ data: new Uint8Array(body) }),
              )
              .execute()
            return { ok: true as const }
          },
        )
        f.post(
          '/api/v1/rooms/:roomId/files/:fileId/complete',
          {
            schema: {
              tags,
              params: Type.Object({ roomId: Id, fileId: Id }),
              response: { 200: Ok, ...errorResponses },
            },
          },
          async (req) => {
            const p = principalOf(req)
            const access = await roomAccess(db, p, req.params.roomId)
            const file = await db
              .selectFrom('room_files')
              .selectAll()
              .where('id', '=', req.params.fileId)
              .where('room_id', '=', access.roomId)
              .executeTakeFirst()
            if (!file || file.uploader_id !== p.userId)
              throw errors.notFound('Bestand niet gevonden / File not found')
            const chunks = await db
              .selectFrom('room_file_chunks')
              .select(['idx', 'data'])
              .where('file_id', '=', file.id)
              .execute()
            const total = chunks.reduce((n, c) => n + c.data.length, 0)
            if (chunks.length !== file.chunk_count || total !== file.size) {
              throw errors.badRequest(
                `Bestand onvolledig: ${chunks.length}/${file.chunk_count} onderdelen / File incomplete`,
              )
            }
            await db
              .updateTable('room_files')
              .set({ completed_at: new Date() })
              .where('id', '=', file.id)
              .execute()
            return { ok: true as const }
          },
        )
        f.get(
          '/api/v1/rooms/:roomId/files/:fileId/chunks/:idx',
          { schema: { tags, params: ChunkParams } },
          async (req, reply) => {
            const p = principalOf(req)
            const access = await roomAccess(db, p, req.params.roomId)
            const row = await db
              .selectFrom('room_file_chunks')
              .innerJoin('room_files', 'room_files.id', 'room_file_chunks.file_id')
              .select(['room_file_chunks.data', 'room_files.completed_at'])
              .where('room_files.id', '=', req.params.fileId)
              .where('room_files.room_id', '=', access.roomId)
              .where('room_file_chunks.idx', '=', req.params.idx)
              .executeTakeFirst()
            if (!row || !row.completed_at)
              throw errors.notFound('Bestand niet gevonden / File not found')
            await appendAudit(db, {
              event: 'room.file.read',
              actorUserId: p.userId,
              subjectKind: access.kind,
              subjectId: access.roomId,
              details: { fileId: req.params.fileId, idx: req.params.idx },
            })
            return reply.type('application/octet-stream').send(Buffer.from(row.data))
          },
        )
      })
    },
    { allowCapability: true },
  )
}
