import { pino, type Logger, type LoggerOptions } from 'pino'

/**
 * Fields that must never reach a log line: credentials, and anything that could carry
 * ciphertext or key material (it is useless to an operator and a liability in a leak).
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'headers.authorization',
  'password',
  'totp',
  'token',
  'accessToken',
  'refreshToken',
  '*.password',
  '*.token',
  '*.ciphertext',
  '*.envelope',
  '*.secret',
]

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { service: 'vs-api' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    // No network addresses and no query strings in logs: anonymous consultation must
    // not be linkable through the log, and query strings may carry capabilities.
    serializers: {
      req: (req: { method: string; url: string; id?: string }) => ({
        method: req.method,
        url: req.url.split('?')[0],
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }
}

export function createLogger(level: string): Logger {
  return pino(loggerOptions(level))
}

export type { Logger }
