/**
 * The explicit list of migrations, in order. Migration files are frozen in time: they
 * never import application types, so an old migration keeps meaning what it meant.
 */
import type { Migration, MigrationProvider } from 'kysely/migration'
import * as m20261124T120000000Z from './20261124T120000000Z-audit-log.js'
import * as m20261124T130000000Z from './20261124T130000000Z-identity.js'
import * as m20261124T140000000Z from './20261124T140000000Z-rooms.js'
import * as m20261124T150000000Z from './20261124T150000000Z-audit-checkpoints.js'
import * as m20261124T160000000Z from './20261124T160000000Z-notices.js'
import * as m20261124T170000000Z from './20261124T170000000Z-consults.js'
import * as m20261124T180000000Z from './20261124T180000000Z-retention.js'
import * as m20261124T190000000Z from './20261124T190000000Z-events-created-index.js'
import * as m20261208T000000000Z from './20261208T000000000Z-events-room-fk.js'

export const migrations: Record<string, Migration> = {
  '20261124T120000000Z-audit-log': m20261124T120000000Z,
  '20261124T130000000Z-identity': m20261124T130000000Z,
  '20261124T140000000Z-rooms': m20261124T140000000Z,
  '20261124T150000000Z-audit-checkpoints': m20261124T150000000Z,
  '20261124T160000000Z-notices': m20261124T160000000Z,
  '20261124T170000000Z-consults': m20261124T170000000Z,
  '20261124T180000000Z-retention': m20261124T180000000Z,
  '20261124T190000000Z-events-created-index': m20261124T190000000Z,
  '20261208T000000000Z-events-room-fk': m20261208T000000000Z,
}

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations
  },
}
