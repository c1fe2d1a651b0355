/**
 * Configuration: `readEnv()` is the only reader of `process.env`; `envToCfg()`
 * validates and turns it into a typed config. Tests build a `ServerConfig` directly.
 */
import path from 'node:path'

export interface ServerConfig {
  host: string
  port: number
  /** PostgreSQL URL; when absent the embedded PGlite database in `dataDir` is used. */
  databaseUrl: string | undefined
  dataDir: string
  /** Use an in-memory PGlite (tests). */
  memoryDb: boolean
  logLevel: string
  /** Where the built web client lives; served at `/` when present. */
  webDir: string
  /** Maximum request body in bytes. */
  bodyLimit: number
  rateLimitMax: number
  /** Requests per minute per address on the credential routes (sign-in, invitations). */
  credentialRateLimit: number
  /** WebSockets one user may hold open at once. */
  wsMaxConnectionsPerUser: number
  /** Frames per second one WebSocket may send (token bucket). */
  wsFramesPerSecond: number
  /** Directory with the server's long-lived keys (token signing, key log). */
  keysDir: string
  /** Public origin used as token issuer/audience. */
  publicUrl: string
  /** Graceful shutdown deadline in ms. */
  shutdownTimeoutMs: number
  /** Trust X-Forwarded-* from a reverse proxy. */
  trustProxy: boolean
  /** Keep server keys in memory only (tests); otherwise loaded from `keysDir`. */
  ephemeralKeys: boolean
  /** Keys given in the environment (JSON key files), used instead of `keysDir` when set. */
  tokenKeysJson: string | undefined
  logKeyJson: string | undefined
  /** Argon2id cost for password hashes; 'min' only in tests. */
  passwordHashCost: 'interactive' | 'moderate' | 'min'
  /** Sign-in: failures per account (or address) before a 15-minute lock. */
  signInMaxFailures: number
  /** Retention: months after closing before a consultation's content is deleted. */
  retentionConsultMonths: number
  /** Retention: years after closing (or last activity) before a case room or melding is deleted. */
  retentionCaseYears: number
}

export interface ServerEnv {
  HOST?: string
  PORT?: string
  DATABASE_URL?: string
  DATA_DIR?: string
  LOG_LEVEL?: string
  WEB_DIR?: string
  BODY_LIMIT?: string
  RATE_LIMIT_MAX?: string
  CREDENTIAL_RATE_LIMIT?: string
  WS_MAX_CONNECTIONS_PER_USER?: string
  WS_FRAMES_PER_SECOND?: string
  KEYS_DIR?: string
  PUBLIC_URL?: string
  TRUST_PROXY?: string
  TOKEN_KEYS?: string
  LOG_KEY?: string
  RETENTION_CONSULT_MONTHS?: string
  RETENTION_CASE_YEARS?: string
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`)
    this.name = 'ConfigError'
  }
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): ServerEnv {
  const pick = (k: keyof ServerEnv) => (env[k] === '' ? undefined : env[k])
  return {
    HOST: pick('HOST'),
    PORT: pick('PORT'),
    DATABASE_URL: pick('DATABASE_URL'),
    DATA_DIR: pick('DATA_DIR'),
    LOG_LEVEL: pick('LOG_LEVEL'),
    WEB_DIR: pick('WEB_DIR'),
    BODY_LIMIT: pick('BODY_LIMIT'),
    RATE_LIMIT_MAX: pick('RATE_LIMIT_MAX'),
    CREDENTIAL_RATE_LIMIT: pick('CREDENTIAL_RATE_LIMIT'),
    WS_MAX_CONNECTIONS_PER_USER: pick('WS_MAX_CONNECTIONS_PER_USER'),
    WS_FRAMES_PER_SECOND: pick('WS_FRAMES_PER_SECOND'),
    KEYS_DIR: pick('KEYS_DIR'),
    PUBLIC_URL: pick('PUBLIC_URL'),
    TRUST_PROXY: pick('TRUST_PROXY'),
    TOKEN_KEYS: pick('TOKEN_KEYS'),
    LOG_KEY: pick('LOG_KEY'),
    RETENTION_CONSULT_MONTHS: pick('RETENTION_CONSULT_MONTHS'),
    RETENTION_CASE_YEARS: pick('RETENTION_CASE_YEARS'),
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function int(name: string, value: string | undefined, dflt: number, min: number, max: number) {
  if (value === undefined) return dflt
  if (!/^\d+$/.test(value)) throw new ConfigError(name, `must be a whole number, got "${value}"`)
  const n = Number(value)
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`)
  return n
}

function bool(name: string, value: string | undefined): boolean {
  if (value === undefined) return false
  if (/^(1|true|yes)$/i.test(value)) return true
  if (/^(0|false|no)$/i.test(value)) return false
  throw new ConfigError(name, `must be true or false, got "${value}"`)
}

/** Repository root, two levels above services/api. */
export const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..')

export function envToCfg(env: ServerEnv): ServerConfig {
  const port = int('PORT', env.PORT, 8080, 0, 65535)
  const host = env.HOST ?? '0.0.0.0'
  if (env.DATABASE_URL !== undefined) {
    let url: URL
    try {
      url = new URL(env.DATABASE_URL)
    } catch {
      throw new ConfigError('DATABASE_URL', 'is not a valid URL')
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new ConfigError('DATABASE_URL', 'must start with postgres:// or postgresql://')
    }
  }
  const logLevel = env.LOG_LEVEL ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`)
  }
  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${port}`
  try {
    new URL(publicUrl)
  } catch {
    throw new ConfigError('PUBLIC_URL', 'is not a valid URL')
  }
  const dataDir = path.resolve(env.DATA_DIR ?? path.join(repoRoot, 'data'))
  return {
    host,
    port,
    databaseUrl: env.DATABASE_URL,
    dataDir,
    memoryDb: false,
    logLevel,
    webDir: path.resolve(env.WEB_DIR ?? path.join(repoRoot, 'packages', 'web', 'dist')),
    bodyLimit: int('BODY_LIMIT', env.BODY_LIMIT, 1024 * 1024, 1024, 64 * 1024 * 1024),
    rateLimitMax: int('RATE_LIMIT_MAX', env.RATE_LIMIT_MAX, 600, 1, 1_000_000),
    credentialRateLimit: int('CREDENTIAL_RATE_LIMIT', env.CREDENTIAL_RATE_LIMIT, 20, 1, 1_000_000),
    wsMaxConnectionsPerUser: int(
      'WS_MAX_CONNECTIONS_PER_USER',
      env.WS_MAX_CONNECTIONS_PER_USER,
      20,
      1,
      100_000,
    ),
    wsFramesPerSecond: int('WS_FRAMES_PER_SECOND', env.WS_FRAMES_PER_SECOND, 500, 1, 1_000_000),
    keysDir: path.resolve(env.KEYS_DIR ?? path.join(dataDir, 'keys')),
    publicUrl: publicUrl.replace(/\/$/, ''),
    shutdownTimeoutMs: 10_000,
    trustProxy: bool('TRUST_PROXY', env.TRUST_PROXY),
    ephemeralKeys: false,
    tokenKeysJson: env.TOKEN_KEYS,
    logKeyJson: env.LOG_KEY,
    passwordHashCost: 'interactive',
    signInMaxFailures: 5,
    retentionConsultMonths: int(
      'RETENTION_CONSULT_MONTHS',
      env.RETENTION_CONSULT_MONTHS,
      6,
      1,
      1200,
    ),
    retentionCaseYears: int('RETENTION_CASE_YEARS', env.RETENTION_CASE_YEARS, 20, 1, 100),
  }
}
