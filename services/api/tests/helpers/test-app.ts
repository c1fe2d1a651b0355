import { inject } from 'vitest'
import type { ServerConfig } from '../../src/config.js'
import { envToCfg } from '../../src/config.js'
import { AppContext } from '../../src/context.js'
import { createApp, type App } from '../../src/app.js'
import { createLogger } from '../../src/logger.js'
import { createTestDb, type TestDb, type TestDbTemplate } from './test-db.js'

declare module 'vitest' {
  export interface ProvidedContext {
    dbTemplate: TestDbTemplate
  }
}

export interface TestApp {
  app: App
  ctx: AppContext
  testDb: TestDb
  close(): Promise<void>
}

export function testConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    ...envToCfg({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' }),
    memoryDb: true,
    ephemeralKeys: true,
    passwordHashCost: 'min',
    ...overrides,
  }
}

/** An in-process app on this test file's own database (use `app.inject()`). */
export async function createTestApp(
  overrides: Partial<ServerConfig> = {},
  ctxOverrides: { now?: () => Date } = {},
): Promise<TestApp> {
  const testDb = await createTestDb(inject('dbTemplate'))
  const cfg = testConfig(overrides)
  const ctx = await AppContext.fromConfig(cfg, {
    db: testDb.db,
    logger: createLogger(cfg.logLevel),
    ...ctxOverrides,
  })
  const app = await createApp(ctx)
  return {
    app,
    ctx,
    testDb,
    async close() {
      await app.close()
      await testDb.close()
    },
  }
}

/** An in-process app listening on a free port of 127.0.0.1 (for WebSocket tests). */
export async function listenTestApp(
  overrides: Partial<ServerConfig> = {},
  ctxOverrides: { now?: () => Date } = {},
): Promise<TestApp & { url: string }> {
  const t = await createTestApp(
    { ephemeralKeys: true, passwordHashCost: 'min', ...overrides },
    ctxOverrides,
  )
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  const addr = t.app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return { ...t, url: `http://127.0.0.1:${port}` }
}

/**
 * A second app on `t`'s database with the same server keys, listening on its own port:
 * another API process in all but the OS process (its own realtime hub, writer and
 * notifier), for what has to work across processes. Close it before `t`.
 */
export async function listenPeerApp(
  t: TestApp,
  overrides: Partial<ServerConfig> = {},
): Promise<{ app: App; ctx: AppContext; url: string; close(): Promise<void> }> {
  const cfg = testConfig({ ...t.ctx.cfg, ...overrides })
  const ctx = await AppContext.fromConfig(cfg, {
    db: t.ctx.db,
    keys: t.ctx.keys,
    logger: createLogger(cfg.logLevel),
  })
  const app = await createApp(ctx)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return { app, ctx, url: `http://127.0.0.1:${port}`, close: () => app.close() }
}
