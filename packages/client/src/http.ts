/**
 * The HTTP transport: JSON in and out, the bearer token on authenticated calls, one
 * refresh when the access token has expired, and every refusal as an
 * {@link ApiRequestError} with the server's stable code.
 */
import { ApiRequestError, NotSignedInError } from './errors.js'

/** The tokens of a session. */
export interface SessionTokens {
  accessToken: string
  refreshToken: string
  sessionId: string
}

/** Where the transport reads and writes the session (the client's persisted state). */
export interface SessionHolder {
  /** The tokens in memory, if signed in. */
  current(): SessionTokens | undefined
  /** Re-reads the tokens from the store: another tab may have refreshed them. */
  reload(): Promise<SessionTokens | undefined>
  /** Saves rotated tokens. */
  update(tokens: SessionTokens): Promise<void>
  /** The session is over (revoked, refresh refused): forget it. */
  end(): Promise<void>
}

export interface RequestOptions {
  body?: unknown
  /** Send the bearer token (default true). */
  auth?: boolean
  query?: Record<string, string | number | undefined>
}

type Fetch = typeof globalThis.fetch

interface LockManagerLike {
  request<T>(name: string, cb: () => Promise<T>): Promise<T>
}

function errorFromBody(status: number, body: unknown): ApiRequestError {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
  const code = typeof e?.code === 'string' ? e.code : `VS_HTTP_${status}`
  const message =
    typeof e?.message === 'string' ? e.message : `Serverfout ${status} / Server error ${status}`
  return new ApiRequestError(status, code, message)
}

export class HttpClient {
  readonly #baseUrl: string
  readonly #fetch: Fetch
  readonly #session: SessionHolder
  #refreshing: Promise<void> | undefined

  constructor(baseUrl: string, session: SessionHolder, fetchImpl?: Fetch) {
    this.#baseUrl = baseUrl.replace(/\/+$/, '')
    this.#session = session
    this.#fetch = fetchImpl ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** Sends one request; retries once after refreshing an expired access token. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const auth = opts.auth ?? true
    let retried = false
    for (;;) {
      const tokens = auth ? this.#session.current() : undefined
      if (auth && !tokens) {
        throw new NotSignedInError(
          'VS_NOT_SIGNED_IN',
          'Je bent niet aangemeld. / You are not signed in.',
        )
      }
      const res = await this.#send(method, path, opts, tokens?.accessToken)
      if (res.ok) {
        if (res.status === 204) return undefined as T
        if ((res.headers.get('content-type') ?? '').startsWith('application/octet-stream')) {
          return new Uint8Array(await res.arrayBuffer()) as T
        }
        return (await res.json()) as T
      }
      const body: unknown = await res.json().catch(() => null)
      const err = errorFromBody(res.status, body)
      if (auth && res.status === 401) {
        if (err.code === 'VS_TOKEN_EXPIRED' && !retried && tokens) {
          retried = true
          await this.#refreshOnce(tokens.accessToken)
          continue
        }
        // Any other 401 on an authenticated route: the session was ended elsewhere.
        await this.#session.end()
      }
      throw err
    }
  }

  async #send(
    method: string,
    path: string,
    opts: RequestOptions,
    accessToken: string | undefined,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' }
    const binary = opts.body instanceof Uint8Array
    if (opts.body !== undefined) {
      headers['content-type'] = binary ? 'application/octet-stream' : 'application/json'
    }
    if (accessToken) headers.authorization = `Bearer ${accessToken}`
    let url = this.#baseUrl + path
    if (opts.query) {
      const q = new URLSearchParams()
      for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v))
      const s = q.toString()
      if (s) url += `?${s}`
    }
    try {
      return await this.#fetch(url, {
        method,
        headers,
        body:
          opts.body === undefined
            ? undefined
            : binary
              ? (opts.body as Uint8Array as unknown as BodyInit)
              : JSON.stringify(opts.body),
      })
    } catch (cause) {
      throw new ApiRequestError(
        0,
        'VS_NETWORK',
        'Geen verbinding met de server. Controleer je internetverbinding. / No connection to the server.',
        { cause },
      )
    }
  }

  /**
   * Single flight: concurrent requests that all found their token expired wait for one
   * refresh. Refresh tokens rotate and a reused one revokes the session, so two
   * refreshes with the same token must never race (across tabs too: Web Locks).
   */
  #refreshOnce(staleAccessToken: string): Promise<void> {
    this.#refreshing ??= this.#withLock(() => this.#refresh(staleAccessToken)).finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #refresh(staleAccessToken: string): Promise<void> {
    const stored = await this.#session.reload()
    if (!stored) {
      throw new NotSignedInError('VS_SESSION_ENDED', 'Je bent afgemeld. / You were signed out.')
    }
    if (stored.accessToken !== staleAccessToken) return // someone else refreshed already
    const res = await this.#send(
      'POST',
      '/api/v1/auth/refresh',
      { body: { refreshToken: stored.refreshToken } },
      undefined,
    )
    const body: unknown = await res.json().catch(() => null)
    if (!res.ok) {
      if (res.status === 401 || res.status === 400) await this.#session.end()
      throw errorFromBody(res.status, body)
    }
    const t = body as SessionTokens
    await this.#session.update({
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
      sessionId: t.sessionId,
    })
  }

  #withLock<T>(fn: () => Promise<T>): Promise<T> {
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks
    return locks ? locks.request('vs-session-refresh', fn) : fn()
  }
}
