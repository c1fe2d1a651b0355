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
  await db.db
    .insertInto('regions')
    .values({ id: `r-${id}`, name: `Regio ${id}` })
    .execute()
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
