import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'

export type Role = 'professional' | 'advisor' | 'coordinator'

/** Who is making a request, resolved from a live session. */
export interface Principal {
  userId: string
  sessionId: string
  role: Role
  organisationId: string
  regionId: string
  name: string
  /** An anonymous asker holding a consultation capability: no account behind it. */
  anonymous?: boolean
}

/** Loads the principal for a session; undefined if the session or user is gone or revoked. */
export async function loadPrincipal(
  db: Kysely<Database>,
  userId: string,
  sessionId: string,
): Promise<Principal | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'users.id as userId',
      'sessions.id as sessionId',
      'users.role',
      'users.organisation_id as organisationId',
      'users.region_id as regionId',
      'users.name',
    ])
    .where('sessions.id', '=', sessionId)
    .where('sessions.user_id', '=', userId)
    .where('sessions.revoked_at', 'is', null)
    .where('users.disabled_at', 'is', null)
    .executeTakeFirst()
  return row
}

/** Of `sessionIds`, those still live (not revoked, user not disabled): `loadPrincipal`'s test. */
export async function liveSessions(
  db: Kysely<Database>,
  sessionIds: readonly string[],
): Promise<Set<string>> {
  if (sessionIds.length === 0) return new Set()
  const rows = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select('sessions.id')
    .where('sessions.id', 'in', sessionIds)
    .where('sessions.revoked_at', 'is', null)
    .where('users.disabled_at', 'is', null)
    .execute()
  return new Set(rows.map((r) => r.id))
}

/** Principal for a consultation capability (no account, no session, no address). */
export async function loadCapabilityPrincipal(
  db: Kysely<Database>,
  capabilityHash: Uint8Array,
): Promise<Principal | undefined> {
  const row = await db
    .selectFrom('anon_members')
    .innerJoin('rooms', 'rooms.id', 'anon_members.room_id')
    .select(['anon_members.id', 'rooms.region_id'])
    .where('anon_members.capability_hash', '=', capabilityHash)
    .executeTakeFirst()
  if (!row) return undefined
  return {
    userId: row.id,
    sessionId: 'capability',
    role: 'professional',
    organisationId: '',
    regionId: row.region_id,
    name: 'anoniem',
    anonymous: true,
  }
}
