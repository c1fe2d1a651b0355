/**
 * `createApp(ctx)` builds a ready fastify instance and never listens. Plugins are
 * registered explicitly in a fixed order: infrastructure → routes → static web client.
 */
import { existsSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type RawServerDefault,
} from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fastifyStatic from '@fastify/static'
import websocket from '@fastify/websocket'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { AppContext } from './context.js'
import { errors, fromError } from './errors.js'
import { healthRoutes } from './routes/health.js'
import { authRoutes } from './routes/auth.js'
import { keyRoutes } from './routes/keys.js'
import { adminRoutes } from './routes/admin.js'
import { roomRoutes } from './routes/rooms.js'
import { loopRoutes } from './routes/loop.js'
import { consultRoutes } from './routes/consult.js'
import { raiseAlerts } from './loop/notices.js'
import { defaultLimits, Realtime } from './realtime/realtime.js'
import { Scheduler } from './jobs/scheduler.js'
import { writeCheckpoint } from './audit.js'
import { retentionJob } from './retention/job.js'
import { CloseCode, WS_SUBPROTOCOL } from '@vs/protocol'

export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

declare module 'fastify' {
  interface FastifyInstance {
    realtime: Realtime
    scheduler: Scheduler
  }
}

export async function createApp(ctx: AppContext): Promise<App> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    bodyLimit: ctx.cfg.bodyLimit,
    trustProxy: ctx.cfg.trustProxy,
    genReqId: () => randomUUID(),
    ajv: { customOptions: { removeAdditional: 'all', coerceTypes: 'array', allErrors: false } },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Router errors (a malformed or over-long URL) get the same error body as the rest.
    frameworkErrors: (err, _req, reply) => {
      const { status, body } = fromError(err)
      void (reply as unknown as FastifyReply).code(status).send(body)
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setErrorHandler((err, req, reply) => {
    const { status, body, internal } = fromError(err)
    if (internal) req.log.error({ err }, 'request failed')
    else req.log.info({ code: body.error.code, status }, 'request refused')
    return reply.code(status).send(body)
  })
  app.setNotFoundHandler((_req, reply) => {
    const { status, body } = fromError(errors.notFound())
    return reply.code(status).send(body)
  })

  // ajv coerces "1e309" or "Infinity" in a query or path to Infinity and then skips the
  // integer bounds (they only apply to finite numbers): refuse such values here (400).
  app.addHook('preHandler', async (req) => {
    for (const part of [req.query, req.params])
      for (const v of Object.values((part ?? {}) as Record<string, unknown>))
        if (typeof v === 'number' && !Number.isFinite(v))
          throw errors.badRequest('Ongeldig getal / Invalid number')
  })

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched'
    ctx.metrics.httpRequests.inc({ method: req.method, route, status: reply.statusCode })
    ctx.metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000)
  })

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // libsodium runs as WebAssembly in the browser.
        scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        // Only ask browsers to upgrade when we are served over TLS.
        upgradeInsecureRequests: ctx.cfg.publicUrl.startsWith('https:') ? [] : null,
      },
    },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
  })
  await app.register(rateLimit, {
    max: ctx.cfg.rateLimitMax,
    timeWindow: '1 minute',
    errorResponseBuilder: () => ({
      statusCode: 429,
      error: {
        code: 'VS_RATE_LIMITED',
        message: 'Te veel verzoeken, probeer het later / Too many requests',
      },
    }),
  })
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Veilig Samenwerken API',
        description: 'Secure case consultation and MDA messaging. Content is end-to-end encrypted.',
        version: '0.1.0',
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
  await app.register(websocket, {
    options: {
      maxPayload: 256 * 1024,
      // Answer with our protocol; the token rides along as a second subprotocol.
      handleProtocols: (protocols: Set<string>) =>
        protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false,
    },
    preClose(done) {
      // Tell every client we are going away so its SDK reconnects elsewhere.
      for (const client of this.websocketServer.clients) {
        client.close(CloseCode.GoingAway, 'server shutting down')
      }
      done()
    },
  })

  const realtime = new Realtime(ctx, {
    ...defaultLimits,
    maxConnectionsPerUser: ctx.cfg.wsMaxConnectionsPerUser,
    framesPerSecond: ctx.cfg.wsFramesPerSecond,
  })
  await realtime.start()
  app.decorate('realtime', realtime)
  app.addHook('onClose', async () => realtime.stop())

  const scheduler = new Scheduler(ctx.db, ctx.logger.child({ area: 'jobs' }), ctx.now)
  scheduler.add({
    name: 'audit-checkpoint',
    everyMs: 60_000,
    run: async () => {
      await writeCheckpoint(ctx.db.db, ctx.keys.log.privateKey)
    },
  })
  scheduler.add({
    name: 'loop-alerts',
    everyMs: 60_000,
    run: async (now) => {
      await raiseAlerts(ctx.db.db, now)
    },
  })
  scheduler.add(retentionJob(ctx))
  app.decorate('scheduler', scheduler)
  app.addHook('onClose', async () => scheduler.stop())

  await app.register(healthRoutes(ctx))
  await app.register(authRoutes(ctx, realtime))
  await app.register(keyRoutes(ctx))
  await app.register(adminRoutes(ctx, realtime))
  await app.register(roomRoutes(ctx, realtime))
  await app.register(loopRoutes(ctx, realtime))
  await app.register(consultRoutes(ctx, realtime))

  if (existsSync(ctx.cfg.webDir)) {
    await app.register(fastifyStatic, { root: ctx.cfg.webDir, prefix: '/', index: 'index.html' })
  } else {
    ctx.logger.warn({ webDir: ctx.cfg.webDir }, 'web client not built; / will 404')
  }

  await app.ready()
  return app
}
