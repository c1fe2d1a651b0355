import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Principal } from '../identity/principal.js'
import { errors } from '../errors.js'

type Db = Kysely<Database> | Transaction<Database>

/** How a principal is in a room: as themself, or through a desk they staff. */
export interface RoomAccess {
  roomId: string
  kind: 'case' | 'consult' | 'melding'
  regionId: string
  /** The member ids this principal may act as in this room (user id and/or desk ids). */
  memberIds: string[]
  lastSeq: number
  epoch: number
}

/** The desks a user staffs. */
export async function desksOf(db: Db, userId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('desk_members')
    .select('desk_id')
    .where('user_id', '=', userId)
    .execute()
  return rows.map((r) => r.desk_id)
}

/**
 * Whether `userId` advises `deskId` now (one indexed row). With `lock` (inside a
 * transaction that writes as the desk) the row is share-locked until the transaction ends:
 * removing the advisor waits for it, and a removal that committed first finds no row.
 */
export async function advisesDesk(
  db: Db,
  userId: string,
  deskId: string,
  opts: { lock?: boolean } = {},
): Promise<boolean> {
  let q = db
    .selectFrom('desk_members')
    .select('desk_id')
    .where('desk_id', '=', deskId)
    .where('user_id', '=', userId)
  if (opts.lock) q = q.forShare()
  return (await q.executeTakeFirst()) !== undefined
}

/**
 * Only current members (or advisors of a member desk) may see a room at all; to anyone
 * else it does not exist (404), so room ids reveal nothing.
 */
export async function roomAccess(
  db: Db,
  principal: Pick<Principal, 'userId'>,
  roomId: string,
): Promise<RoomAccess> {
  const room = await db
    .selectFrom('rooms')
    .select(['id', 'kind', 'region_id', 'last_seq', 'epoch'])
    .where('id', '=', roomId)
    .executeTakeFirst()
  if (!room) throw errors.notFound('Kamer niet gevonden / Room not found')
  const candidates = [principal.userId, ...(await desksOf(db, principal.userId))]
  const members = await db
    .selectFrom('room_members')
    .select('member_id')
    .where('room_id', '=', roomId)
    .where('member_id', 'in', candidates)
    .execute()
  if (members.length === 0) throw errors.notFound('Kamer niet gevonden / Room not found')
  return {
    roomId,
    kind: room.kind,
    regionId: room.region_id,
    memberIds: members.map((m) => m.member_id),
    lastSeq: room.last_seq,
    epoch: room.epoch,
  }
}

/** Resolves who a principal acts as: themself by default, or a desk they staff. */
export function actingAs(access: RoomAccess, principal: Principal, as: string | undefined): string {
  const who = as ?? principal.userId
  if (!access.memberIds.includes(who))
    throw errors.forbidden('Je bent geen lid als deze afzender / Not a member as this sender')
  return who
}
