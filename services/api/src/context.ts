import { cryptoReady, sodium } from '@vs/crypto'
import type { ServerConfig } from './config.js'
import { Db } from './db/index.js'
import { createLogger, type Logger } from './logger.js'
import { Metrics } from './metrics.js'
import { ephemeralKeys, keysFromEnv, loadOrCreateKeys, type ServerKeys } from './keys.js'
import { TokenService } from './auth/tokens.js'

export interface ContextOverrides {
  db?: Db
  logger?: Logger
  now?: () => Date
  keys?: ServerKeys
}

export interface PwhashLimits {
  opsLimit: number
  memLimit: number
}

function pwhashLimits(cost: ServerConfig['passwordHashCost']): PwhashLimits {
  const s = sodium()
  if (cost === 'min')
    return { opsLimit: s.crypto_pwhash_OPSLIMIT_MIN, memLimit: s.crypto_pwhash_MEMLIMIT_MIN }
  if (cost === 'moderate') {
    return {
      opsLimit: s.crypto_pwhash_OPSLIMIT_MODERATE,
      memLimit: s.crypto_pwhash_MEMLIMIT_MODERATE,
    }
  }
  return {
    opsLimit: s.crypto_pwhash_OPSLIMIT_INTERACTIVE,
    memLimit: s.crypto_pwhash_MEMLIMIT_INTERACTIVE,
  }
}

/** Everything a request handler needs; a plain class, no DI container. */
export class AppContext {
  private constructor(
    readonly cfg: ServerConfig,
    readonly db: Db,
    readonly logger: Logger,
    readonly metrics: Metrics,
    readonly now: () => Date,
    readonly keys: ServerKeys,
    readonly tokens: TokenService,
    readonly pwhash: PwhashLimits,
  ) {}

  static async fromConfig(
    cfg: ServerConfig,
    overrides: ContextOverrides = {},
  ): Promise<AppContext> {
    await cryptoReady()
    const logger = overrides.logger ?? createLogger(cfg.logLevel)
    const now = overrides.now ?? (() => new Date())
    const keys =
      overrides.keys ??
      (cfg.ephemeralKeys
        ? ephemeralKeys()
        : cfg.tokenKeysJson || cfg.logKeyJson
          ? keysFromEnv(cfg.tokenKeysJson ?? '', cfg.logKeyJson ?? '')
          : loadOrCreateKeys(cfg.keysDir))
    const tokens = await TokenService.create(keys.tokenKeys, cfg.publicUrl, now)
    const db =
      overrides.db ??
      (await Db.open({
        databaseUrl: cfg.databaseUrl,
        dataDir: cfg.memoryDb ? undefined : cfg.dataDir,
      }))
    const metrics = new Metrics(() => db.poolStats())
    return new AppContext(
      cfg,
      db,
      logger,
      metrics,
      now,
      keys,
      tokens,
      pwhashLimits(cfg.passwordHashCost),
    )
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
