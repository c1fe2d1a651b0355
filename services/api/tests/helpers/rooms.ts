/**
 * A room written straight into the database (region, room row, members with their devices),
 * for tests of the write path and the hub below the HTTP API.
 */
import { randomId } from '@vs/crypto'
import type { Db } from '../../src/db/index.js'

export async function makeRoom(
  db: Db,
  members: Record<string, string[]>,
  opts: { closed?: boolean } = {},
): Promise<string> {
  const id = randomId()
  await makeRegion(db, `r-${id}`)
  await db.db
    .insertInto('rooms')
    .values({
      id,
      kind: 'case',
      region_id: `r-${id}`,
      head_hash: new Uint8Array(32),
      epoch: 0,
      last_seq: 0,
      ...(opts.closed ? { closed_at: new Date() } : {}),
    })
    .execute()
  for (const [member, devices] of Object.entries(members)) {
    await db.db
      .insertInto('room_members')
      .values({
        room_id: id,
        member_id: member,
        member_kind: 'user',
        role: 'member',
        devices: JSON.stringify(devices),
      })
      .execute()
  }
  return id
}

/**
 * A desk with its organisation, region and advisors (users made here); returns the desk's
 * id and the advisors' user ids.
 */
export async function makeDesk(
  db: Db,
  advisors: number,
): Promise<{ deskId: string; advisorIds: string[] }> {
  const id = randomId()
  await makeRegion(db, `r-${id}`)
  await db.db
    .insertInto('organisations')
    .values({ id: `o-${id}`, region_id: `r-${id}`, name: 'Veilig Thuis', kind: 'veilig-thuis' })
    .execute()
  await db.db
    .insertInto('desks')
    .values({ id: `d-${id}`, organisation_id: `o-${id}`, name: 'Advies', purpose: 'advies' })
    .execute()
  const advisorIds = Array.from({ length: advisors }, (_, i) => `u-${id}-${i}`)
  for (const userId of advisorIds) {
    await db.db
      .insertInto('users')
      .values({
        id: userId,
        organisation_id: `o-${id}`,
        region_id: `r-${id}`,
        email: `${userId}@example.nl`,
        name: 'Adviseur',
        discipline: 'veilig-thuis',
        role: 'advisor',
        password_hash: 'x',
        totp_secret: 'x',
      })
      .execute()
    await db.db
      .insertInto('desk_members')
      .values({ desk_id: `d-${id}`, user_id: userId })
      .execute()
  }
  return { deskId: `d-${id}`, advisorIds }
}

async function makeRegion(db: Db, id: string): Promise<void> {
  await db.db
    .insertInto('regions')
    .values({ id, name: `Regio ${id}` })
    .execute()
}
