/**
 * Anonymous consultation tokens (RFC 9497 VOPRF over ristretto255). The issuer key of a
 * period (one calendar month) is derived from the server's secret; its public key is in
 * the key log so every professional can check they got tokens under the same key (a
 * per-person key would let the server recognise who redeems). A token redeems once, and
 * only in its own period.
 */
import { sql } from 'kysely'
import { encode, hash, toB64, voprf, type IssuerKeyPair } from '@vs/crypto'
import type { AppContext } from '../context.js'
import { appendKeyEvent } from '../identity/keys.js'

export const TOKENS_PER_MONTH = 10

export function periodOf(d: Date): string {
  return d.toISOString().slice(0, 7)
}

const cache = new Map<string, IssuerKeyPair>()

export function issuerKey(ctx: AppContext, period: string): IssuerKeyPair {
  const k = `${toB64(ctx.keys.log.publicKey)}:${period}`
  let key = cache.get(k)
  if (!key) {
    const seed = hash('token-issuer-seed/v1', ctx.keys.log.privateKey)
    key = voprf.deriveKeyPair(
      voprf.voprfSuite,
      seed,
      new TextEncoder().encode(`vs-consult-tokens/${period}`),
    )
    cache.set(k, key)
  }
  return key
}

/** Makes sure this period's issuer key is in the key log (once). */
export async function publishIssuerKey(ctx: AppContext, period: string): Promise<Uint8Array> {
  const key = issuerKey(ctx, period)
  const subject = `issuer_${period}`
  const have = await ctx.db.db
    .selectFrom('key_log')
    .select('idx')
    .where('subject', '=', subject)
    .executeTakeFirst()
  if (!have) {
    await ctx.db.db.transaction().execute(async (trx) => {
      const again = await trx
        .selectFrom('key_log')
        .select('idx')
        .where('subject', '=', subject)
        .executeTakeFirst()
      if (!again)
        await appendKeyEvent(
          trx,
          'token-issuer-key',
          subject,
          encode('token-issuer/v1', period, key.publicKey),
        )
    })
  }
  return key.publicKey
}

/** Counts issuance against the monthly limit; returns false when the limit is reached. */
export async function takeIssuance(
  ctx: AppContext,
  userId: string,
  period: string,
  n: number,
): Promise<boolean> {
  const res = await sql<{ count: number }>`
    insert into token_issuance (user_id, period, count) values (${userId}, ${period}, ${n})
    on conflict (user_id, period) do update set count = token_issuance.count + ${n}
      where token_issuance.count + ${n} <= ${TOKENS_PER_MONTH}
    returning count`.execute(ctx.db.db)
  if (res.rows.length === 0) return false
  return res.rows[0]!.count <= TOKENS_PER_MONTH
}
