/**
 * Authentication as an encapsulated context: routes registered inside `authenticated()`
 * get a `preParsing` hook that verifies the access token after the rate limiter (an
 * `onRequest` hook) and before the body is parsed, validation, or the handler (including
 * the WebSocket upgrade). There is no URL allowlist: a route is protected by where it is
 * registered.
 *
 * Tokens come in the `Authorization: Bearer` header or, for WebSockets (browsers cannot
 * set headers there), as the subprotocol `vs.auth.<token>` next to `vs.v1` — never in
 * the URL, where proxies and logs would keep it.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { createError, errors } from '../errors.js'
import { TokenError } from './tokens.js'
import { loadCapabilityPrincipal, loadPrincipal, type Principal } from '../identity/principal.js'
import { hash } from '@vs/crypto'

export const WS_CAPABILITY_PREFIX = 'vs.cap.'

/** A consultation capability from `Authorization: Capability <secret>` or subprotocol `vs.cap.<secret>`. */
export function capabilityOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  if (h?.startsWith('Capability ')) return h.slice(11).trim()
  const proto = req.headers['sec-websocket-protocol']
  if (typeof proto === 'string') {
    for (const p of proto.split(',')) {
      const v = p.trim()
      if (v.startsWith(WS_CAPABILITY_PREFIX)) return v.slice(WS_CAPABILITY_PREFIX.length)
    }
  }
  return undefined
}

export function capabilityHash(secret: string): Uint8Array {
  return hash('consult-capability/v1', secret)
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
    /** Access token expiry (ms), for WebSockets that outlive a request. */
    tokenExpiresAt: number
  }
}

import { WS_AUTH_PREFIX } from '@vs/protocol'

export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization
  if (h?.startsWith('Bearer ')) return h.slice(7).trim()
  const proto = req.headers['sec-websocket-protocol']
  if (typeof proto === 'string') {
    for (const p of proto.split(',')) {
      const v = p.trim()
      if (v.startsWith(WS_AUTH_PREFIX)) return v.slice(WS_AUTH_PREFIX.length)
    }
  }
  return undefined
}

/** Resolves the principal of a request; throws 401 with a stable code. */
export async function authenticate(ctx: AppContext, req: FastifyRequest): Promise<Principal> {
  const token = bearerToken(req)
  if (!token) throw errors.unauthorized()
  let claims
  try {
    claims = await ctx.tokens.verify(token)
  } catch (err) {
    if (err instanceof TokenError && err.reason === 'expired') {
      throw createError('VS_TOKEN_EXPIRED', 'Sessie verlopen / Session expired', 401)
    }
    throw errors.unauthorized()
  }
  const principal = await loadPrincipal(ctx.db.db, claims.userId, claims.sessionId)
  if (!principal) throw errors.unauthorized('Sessie beëindigd / Session ended')
  req.tokenExpiresAt = claims.expiresAt
  return principal
}

/**
 * Registers `routes` behind authentication. With `allowCapability`, an anonymous asker's
 * consultation capability is accepted too (room routes only: it opens exactly one room).
 */
export function authenticated(
  ctx: AppContext,
  routes: FastifyPluginAsync,
  opts: { allowCapability?: boolean } = {},
): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    app.decorateRequest('principal', null)
    app.decorateRequest('tokenExpiresAt', 0)
    // `preParsing`, not `onRequest`: the rate limiter (a route-level onRequest hook) has
    // then counted the request already, so a flood of bad tokens is limited too, and no
    // body is parsed for a request that is refused.
    app.addHook('preParsing', async (req) => {
      const cap = opts.allowCapability ? capabilityOf(req) : undefined
      if (cap) {
        const p = await loadCapabilityPrincipal(ctx.db.db, capabilityHash(cap))
        if (!p) throw errors.unauthorized('Onbekende toegangssleutel / Unknown capability')
        req.principal = p
        // A capability does not expire; a socket on it is re-checked daily (on the app's
        // clock, like every token expiry).
        req.tokenExpiresAt = ctx.now().getTime() + 24 * 3600 * 1000
        return
      }
      req.principal = await authenticate(ctx, req)
    })
    await app.register(routes)
  }
}

/** The principal of a request inside `authenticated()`. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw errors.unauthorized()
  return req.principal
}
