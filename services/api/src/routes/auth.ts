import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import {
  AcceptInvitation,
  ConfirmInvitation,
  InvitationAccepted,
  InvitationInfo,
  Me,
  Ok,
  Refresh,
  Session,
  SessionInfo,
  SignIn,
  Tokens,
  Id,
} from '@vs/protocol'
import type { AppContext } from '../context.js'
import type { Realtime } from '../realtime/realtime.js'
import { authenticated, principalOf } from '../auth/plugin.js'
import {
  acceptInvitation,
  confirmInvitation,
  invitationInfo,
  listSessions,
  me,
  refresh,
  revokeSessions,
  signIn,
} from '../identity/accounts.js'
import { errorResponses } from './schemas.js'
import { errors } from '../errors.js'

const InvitationCode = Type.Object({ code: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }) })

/** Sign-in, invitations, sessions. Brute-force limits on the credential routes. */
export function authRoutes(ctx: AppContext, rt: Realtime): FastifyPluginAsync {
  return async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>()
    const credentialLimit = {
      rateLimit: { max: ctx.cfg.credentialRateLimit, timeWindow: '1 minute' },
    }

    app.get(
      '/api/v1/invitations/:code',
      {
        schema: {
          tags: ['identity'],
          params: InvitationCode,
          response: { 200: InvitationInfo, ...errorResponses },
        },
      },
      async (req) => invitationInfo(ctx, req.params.code),
    )
    app.post(
      '/api/v1/invitations/:code/accept',
      {
        config: credentialLimit,
        schema: {
          tags: ['identity'],
          params: InvitationCode,
          body: AcceptInvitation,
          response: { 200: InvitationAccepted, ...errorResponses },
        },
      },
      async (req) => acceptInvitation(ctx, req.params.code, req.body.password),
    )
    app.post(
      '/api/v1/invitations/:code/confirm',
      {
        config: credentialLimit,
        schema: {
          tags: ['identity'],
          params: InvitationCode,
          body: ConfirmInvitation,
          response: { 200: Session, ...errorResponses },
        },
      },
      async (req) =>
        confirmInvitation(
          ctx,
          req.params.code,
          req.body.password,
          req.body.totp,
          req.headers['user-agent'] ?? '',
        ),
    )
    app.post(
      '/api/v1/auth/sign-in',
      {
        config: credentialLimit,
        schema: { tags: ['identity'], body: SignIn, response: { 200: Session, ...errorResponses } },
      },
      async (req) => signIn(ctx, req.body, req.ip, req.headers['user-agent'] ?? ''),
    )
    app.post(
      '/api/v1/auth/refresh',
      {
        config: credentialLimit,
        schema: { tags: ['identity'], body: Refresh, response: { 200: Tokens, ...errorResponses } },
      },
      async (req) => refresh(ctx, req.body.refreshToken, (s) => rt.disconnect(s)),
    )

    await app.register(
      authenticated(ctx, async (inner) => {
        const a = inner.withTypeProvider<TypeBoxTypeProvider>()
        a.get(
          '/api/v1/me',
          { schema: { tags: ['identity'], response: { 200: Me, ...errorResponses } } },
          async (req) => me(ctx, principalOf(req).userId),
        )
        a.post(
          '/api/v1/auth/sign-out',
          { schema: { tags: ['identity'], response: { 200: Ok, ...errorResponses } } },
          async (req) => {
            const p = principalOf(req)
            await revokeSessions(ctx, p.userId, { sessionId: p.sessionId }, 'sign-out')
            rt.disconnect({ userId: p.userId, sessionId: p.sessionId })
            return { ok: true as const }
          },
        )
        a.post(
          '/api/v1/auth/sign-out-everywhere',
          { schema: { tags: ['identity'], response: { 200: Ok, ...errorResponses } } },
          async (req) => {
            const userId = principalOf(req).userId
            await revokeSessions(ctx, userId, 'all', 'sign-out-everywhere')
            rt.disconnect({ userId })
            return { ok: true as const }
          },
        )
        a.get(
          '/api/v1/auth/sessions',
          {
            schema: {
              tags: ['identity'],
              response: { 200: Type.Array(SessionInfo), ...errorResponses },
            },
          },
          async (req) => {
            const p = principalOf(req)
            return listSessions(ctx, p.userId, p.sessionId)
          },
        )
        a.delete(
          '/api/v1/auth/sessions/:id',
          {
            schema: {
              tags: ['identity'],
              params: Type.Object({ id: Id }),
              response: { 200: Ok, ...errorResponses },
            },
          },
          async (req) => {
            const userId = principalOf(req).userId
            const n = await revokeSessions(
              ctx,
              userId,
              { sessionId: req.params.id },
              'revoked-by-user',
            )
            if (n === 0) throw errors.notFound('Sessie niet gevonden / Session not found')
            // A lost device's open socket would otherwise keep streaming until its token expires.
            rt.disconnect({ userId, sessionId: req.params.id })
            return { ok: true as const }
          },
        )
      }),
    )
  }
}
