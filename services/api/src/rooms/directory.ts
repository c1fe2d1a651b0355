import type { Kysely, Transaction } from 'kysely'
import type { Commit, DeviceDirectory, DeviceKeys } from '@vs/crypto'
import type { Database } from '../db/schema.js'

type Db = Kysely<Database> | Transaction<Database>

/** Desk "devices" are their key versions: device id `v<version>`. */
export function deskDeviceId(version: number): string {
  return `v${version}`
}

/**
 * A device directory for the server's own chain check: every device ever certified for
 * the users in these commits (revoked ones too, so history still validates) and every
 * desk key version. Clients build theirs from certificates they verified themselves.
 */
export async function loadDirectory(db: Db, commits: readonly Commit[]): Promise<DeviceDirectory> {
  const users = new Set<string>()
  const desks = new Set<string>()
  for (const c of commits) {
    users.add(c.committer.userId)
    for (const m of c.members) (m.kind === 'desk' ? desks : users).add(m.userId)
  }
  const map = new Map<string, DeviceKeys>()
  if (users.size) {
    const rows = await db
      .selectFrom('devices')
      .select(['user_id', 'device_id', 'sign_pk', 'box_pk'])
      .where('user_id', 'in', [...users])
      .execute()
    for (const r of rows) {
      map.set(`${r.user_id}\u0000${r.device_id}`, {
        signPk: new Uint8Array(r.sign_pk),
        boxPk: new Uint8Array(r.box_pk),
      })
    }
  }
  const anon = [...users].filter((u) => u.startsWith('anon_'))
  if (anon.length) {
    const rows = await db
      .selectFrom('anon_members')
      .select(['id', 'device_id', 'sign_pk', 'box_pk'])
      .where('id', 'in', anon)
      .execute()
    for (const r of rows) {
      map.set(`${r.id}\u0000${r.device_id}`, {
        signPk: new Uint8Array(r.sign_pk),
        boxPk: new Uint8Array(r.box_pk),
      })
    }
  }
  if (desks.size) {
    const rows = await db
      .selectFrom('desk_key_versions')
      .select(['desk_id', 'version', 'sign_pk', 'box_pk'])
      .where('desk_id', 'in', [...desks])
      .execute()
    for (const r of rows) {
      map.set(`${r.desk_id}\u0000${deskDeviceId(r.version)}`, {
        signPk: new Uint8Array(r.sign_pk),
        boxPk: new Uint8Array(r.box_pk),
      })
    }
  }
  return (userId, deviceId) => map.get(`${userId}\u0000${deviceId}`)
}
