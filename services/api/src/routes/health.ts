import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { AppContext } from '../context.js'
import { isFullyMigrated } from '../db/migrate.js'
import { ErrorBodySchema } from './schemas.js'

/** Liveness, readiness and Prometheus metrics. */
export function healthRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/healthz',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['ops'],
          summary: 'Process is up',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    )

    app.get(
      '/readyz',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['ops'],
          summary: 'Database reachable and fully migrated',
          response: {
            200: Type.Object({ status: Type.Literal('ready'), database: Type.String() }),
            503: ErrorBodySchema,
          },
        },
      },
      async (_req, reply) => {
        try {
          await ctx.db.ping()
          if (!(await isFullyMigrated(ctx.db.db))) {
            return reply.code(503).send({
              error: { code: 'VS_NOT_MIGRATED', message: 'Database is not fully migrated' },
            })
          }
        } catch {
          return reply.code(503).send({
            error: { code: 'VS_DB_UNREACHABLE', message: 'Database is not reachable' },
          })
        }
        return { status: 'ready' as const, database: ctx.db.kind }
      },
    )

    app.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: { tags: ['ops'], summary: 'Prometheus metrics', hide: false },
      },
      async (_req, reply) => {
        reply.header('content-type', ctx.metrics.registry.contentType)
        return ctx.metrics.registry.metrics()
      },
    )
  }
}
