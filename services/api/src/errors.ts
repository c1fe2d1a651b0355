/**
 * Stable error codes. A 4xx body is `{ error: { code, message } }`; a 5xx body never
 * carries internals (only `VS_INTERNAL`), the details go to the log.
 */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

export function createError(
  code: string,
  message: string,
  statusCode: number,
  details?: Record<string, unknown>,
): ApiError {
  return new ApiError(code, message, statusCode, details)
}

export const errors = {
  notFound: (what = 'Niet gevonden / Not found') => createError('VS_NOT_FOUND', what, 404),
  badRequest: (message: string, details?: Record<string, unknown>) =>
    createError('VS_BAD_REQUEST', message, 400, details),
  unauthorized: (message = 'Niet aangemeld / Not signed in') =>
    createError('VS_UNAUTHORIZED', message, 401),
  forbidden: (message = 'Geen toegang / Forbidden') => createError('VS_FORBIDDEN', message, 403),
  conflict: (code: string, message: string) => createError(code, message, 409),
  tooLarge: () => createError('VS_PAYLOAD_TOO_LARGE', 'Verzoek te groot / Request too large', 413),
  rateLimited: () =>
    createError('VS_RATE_LIMITED', 'Te veel verzoeken, probeer het later / Too many requests', 429),
  notReady: () => createError('VS_NOT_READY', 'Niet gereed / Not ready', 503),
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> }
}

interface FastifyLikeError {
  statusCode?: number
  code?: string
  message?: string
  validation?: unknown
}

/** Normalises anything thrown into a status and a safe body. */
export function fromError(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof ApiError) {
    const body: ErrorBody = { error: { code: err.code, message: err.message } }
    if (err.details) body.error.details = err.details
    return { status: err.statusCode, body, internal: err.statusCode >= 500 }
  }
  const e = (err ?? {}) as FastifyLikeError
  if (e.validation) {
    return {
      status: 400,
      body: { error: { code: 'VS_VALIDATION', message: e.message ?? 'Ongeldige invoer' } },
      internal: false,
    }
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500
  if (status === 413) {
    return {
      status,
      body: {
        error: { code: 'VS_PAYLOAD_TOO_LARGE', message: 'Verzoek te groot / Request too large' },
      },
      internal: false,
    }
  }
  if (status === 429) {
    return {
      status,
      body: {
        error: {
          code: 'VS_RATE_LIMITED',
          message: 'Te veel verzoeken, probeer het later / Too many requests',
        },
      },
      internal: false,
    }
  }
  if (status >= 400 && status < 500) {
    const code =
      e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'VS_UNSUPPORTED_MEDIA_TYPE'
        : e.code?.startsWith('FST_ERR_CTP')
          ? 'VS_BAD_BODY'
          : 'VS_BAD_REQUEST'
    return {
      status,
      body: { error: { code, message: e.message ?? 'Bad request' } },
      internal: false,
    }
  }
  return {
    status: 500,
    body: { error: { code: 'VS_INTERNAL', message: 'Interne fout / Internal error' } },
    internal: true,
  }
}
