/**
 * The API in this process on embedded PGlite, keeping hold of the PGlite instance so a
 * test can take what a thief of the data folder gets: `dumpDataDir()`, every file of the
 * database (heap, TOAST, WAL). `createTestApp` from '@vs/api/testing' hides the instance
 * inside its Db, so this builds the same app around an instance it owns.
 */
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { inject } from 'vitest'
import { apiRoot, testConfig } from '@vs/api/testing'
import { createApp, type App } from '../../../services/api/src/app.js'
import { AppContext } from '../../../services/api/src/context.js'
import { Db, pgliteOptions, type DbOptions } from '../../../services/api/src/db/index.js'
import { migrateToLatestOrThrow } from '../../../services/api/src/db/migrate.js'
import { createLogger } from '../../../services/api/src/logger.js'

export type PGliteInstance = NonNullable<DbOptions['pglite']>

interface PGliteModule {
  PGlite: { create(opts: Record<string, unknown>): Promise<PGliteInstance> }
}

/**
 * PGlite is a dependency of @vs/api, not of this package: load the very module the API
 * loads (its ESM entry, per the package's exports map), resolved from the API's folder.
 */
async function loadPGlite(): Promise<PGliteModule> {
  const require = createRequire(path.join(apiRoot, 'package.json'))
  let dir = path.dirname(require.resolve('@electric-sql/pglite'))
  for (;;) {
    const manifest = path.join(dir, 'package.json')
    try {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name?: string
        exports?: Record<string, { import?: { default?: string } }>
      }
      if (pkg.name === '@electric-sql/pglite') {
        const entry = pkg.exports?.['.']?.import?.default ?? './dist/index.js'
        return (await import(pathToFileURL(path.join(dir, entry)).href)) as PGliteModule
      }
    } catch {
      // no package.json here
    }
    const up = path.dirname(dir)
    if (up === dir) throw new Error('cannot find @electric-sql/pglite from services/api')
    dir = up
  }
}

export interface PgliteApp {
  url: string
  app: App
  ctx: AppContext
  pglite: PGliteInstance
  close(): Promise<void>
}

/**
 * A migrated in-memory PGlite (the run's template when the run is on PGlite, else freshly
 * migrated), with the real app listening on 127.0.0.1.
 */
export async function listenPgliteApp(): Promise<PgliteApp> {
  const { PGlite } = await loadPGlite()
  const template = inject('dbTemplate')
  let pglite: PGliteInstance
  if (template.kind === 'pglite') {
    const data = await readFile(template.ref)
    pglite = await PGlite.create({ ...pgliteOptions, loadDataDir: new Blob([data]) })
  } else {
    pglite = await PGlite.create({ ...pgliteOptions })
  }
  const db = await Db.open({ pglite })
  if (template.kind !== 'pglite') await migrateToLatestOrThrow(db.db)
  const cfg = testConfig()
  const ctx = await AppContext.fromConfig(cfg, { db, logger: createLogger(cfg.logLevel) })
  const app = await createApp(ctx)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    ctx,
    pglite,
    async close() {
      await app.close()
      await db.close()
    },
  }
}
