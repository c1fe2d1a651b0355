import { cryptoReady } from '@vs/crypto'
import type { ServerConfig } from './config.js'
import { Db } from './db/index.js'
import { createLogger, type Logger } from './logger.js'
import { Metrics } from './metrics.js'

export interface ContextOverrides {
  db?: Db
  logger?: Logger
  now?: () => Date
}

/** Everything a request handler needs; a plain class, no DI container. */
export class AppContext {
  private constructor(
    readonly cfg: ServerConfig,
    readonly db: Db,
    readonly logger: Logger,
    readonly metrics: Metrics,
    readonly now: () => Date,
  ) {}

  static async fromConfig(
    cfg: ServerConfig,
    overrides: ContextOverrides = {},
  ): Promise<AppContext> {
    await cryptoReady()
    const logger = overrides.logger ?? createLogger(cfg.logLevel)
    const db =
      overrides.db ??
      (await Db.open({
        databaseUrl: cfg.databaseUrl,
        dataDir: cfg.memoryDb ? undefined : cfg.dataDir,
      }))
    const metrics = new Metrics(() => db.poolStats())
    return new AppContext(cfg, db, logger, metrics, overrides.now ?? (() => new Date()))
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
