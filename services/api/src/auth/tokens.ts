/**
 * Access tokens: short-lived (15 min) JWTs, EdDSA, with explicit `typ`, `aud`, `iss`.
 * The one place that uses jose. Verification pins the algorithm, type, audience and
 * issuer, then checks every claim we rely on: a token for another purpose, from
 * another key, or with a missing claim is refused.
 */
import {
  SignJWT,
  importJWK,
  jwtVerify,
  errors as joseErrors,
  type CryptoKey,
  type KeyObject,
} from 'jose'
import { toB64 } from '@vs/crypto'
import type { TokenKey } from '../keys.js'

export const ACCESS_TOKEN_TTL_S = 15 * 60
const TYP = 'vs-access+jwt'
type Key = CryptoKey | KeyObject

export interface AccessClaims {
  userId: string
  sessionId: string
}

export interface VerifiedClaims extends AccessClaims {
  /** Expiry, ms since the epoch. */
  expiresAt: number
}

export class TokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'token expired' : 'token invalid')
    this.name = 'TokenError'
  }
}

export class TokenService {
  private constructor(
    private readonly signer: { kid: string; key: Key },
    private readonly verifiers: Map<string, Key>,
    private readonly issuer: string,
    private readonly now: () => Date,
  ) {}

  static async create(keys: TokenKey[], issuer: string, now: () => Date): Promise<TokenService> {
    const verifiers = new Map<string, Key>()
    for (const k of keys) {
      const pub = (await importJWK(
        { kty: 'OKP', crv: 'Ed25519', x: toB64(k.publicKey) },
        'EdDSA',
      )) as Key
      verifiers.set(k.kid, pub)
    }
    const first = keys[0]
    if (!first) throw new Error('no token signing key')
    const signKey = (await importJWK(
      { kty: 'OKP', crv: 'Ed25519', x: toB64(first.publicKey), d: toB64(first.seed) },
      'EdDSA',
    )) as Key
    return new TokenService({ kid: first.kid, key: signKey }, verifiers, issuer, now)
  }

  async issue(claims: AccessClaims): Promise<string> {
    const iat = Math.floor(this.now().getTime() / 1000)
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'EdDSA', typ: TYP, kid: this.signer.kid })
      .setSubject(claims.userId)
      .setIssuer(this.issuer)
      .setAudience(this.issuer)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_TTL_S)
      .sign(this.signer.key)
  }

  async verify(token: string): Promise<VerifiedClaims> {
    try {
      const { payload, protectedHeader } = await jwtVerify(
        token,
        async (header) => {
          const key = header.kid ? this.verifiers.get(header.kid) : undefined
          if (!key) throw new TokenError('invalid')
          return key
        },
        {
          algorithms: ['EdDSA'],
          typ: TYP,
          issuer: this.issuer,
          audience: this.issuer,
          requiredClaims: ['sub', 'exp', 'iat', 'sid'],
          currentDate: this.now(),
          maxTokenAge: ACCESS_TOKEN_TTL_S + 60,
        },
      )
      if (protectedHeader.alg !== 'EdDSA') throw new TokenError('invalid')
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new TokenError('invalid')
      }
      return { userId: payload.sub, sessionId: payload.sid, expiresAt: (payload.exp ?? 0) * 1000 }
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired')
      throw new TokenError('invalid')
    }
  }
}
