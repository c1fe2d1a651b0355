import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from './helpers/index.js'

describe('foundation endpoints (in-process)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await createTestApp()
  })
  afterAll(() => t.close())

  it('answers /healthz', async () => {
    const res = await t.app.inject({ url: '/healthz' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })

  it('answers /readyz when the database is reachable and migrated', async () => {
    const res = await t.app.inject({ url: '/readyz' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ready', database: t.ctx.db.kind })
  })

  it('serves Prometheus metrics with request counts, latencies, sockets and pool', async () => {
    await t.app.inject({ url: '/healthz' })
    const res = await t.app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/plain/)
    expect(res.body).toMatch(
      /vs_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/,
    )
    expect(res.body).toContain('vs_http_request_duration_seconds_bucket')
    expect(res.body).toContain('vs_ws_connections')
    expect(res.body).toMatch(/vs_db_pool_connections\{state="total"\}/)
  })

  it('describes the API as OpenAPI at /docs/json and serves the UI at /docs', async () => {
    const json = await t.app.inject({ url: '/docs/json' })
    expect(json.statusCode).toBe(200)
    const doc = json.json() as { openapi: string; paths: Record<string, unknown> }
    expect(doc.openapi).toMatch(/^3\./)
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz']))
    const ui = await t.app.inject({ url: '/docs/' })
    expect(ui.statusCode).toBe(200)
    expect(ui.body).toContain('swagger')
  })

  it('gives unknown routes a stable error code and no internals', async () => {
    const res = await t.app.inject({ url: '/no/such/route' })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toEqual({ error: { code: 'VS_NOT_FOUND', message: expect.any(String) } })
  })

  it('sends strict security headers', async () => {
    const res = await t.app.inject({ url: '/healthz' })
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['referrer-policy']).toBe('no-referrer')
  })

  it('reports 503 from /readyz when the database is gone', async () => {
    const other = await createTestApp()
    // Closes the database (PGlite) or drops it (PostgreSQL): either way it is gone.
    await other.testDb.close()
    const res = await other.app.inject({ url: '/readyz' })
    expect(res.statusCode).toBe(503)
    expect(res.json().error.code).toBe('VS_DB_UNREACHABLE')
    await other.app.close()
  })
})

describe('rate limiting', () => {
  it('answers 429 with a Dutch message past the limit', async () => {
    const t = await createTestApp({ rateLimitMax: 3 })
    try {
      const codes: number[] = []
      for (let i = 0; i < 5; i++) codes.push((await t.app.inject({ url: '/docs/json' })).statusCode)
      expect(codes).toEqual([200, 200, 200, 429, 429])
      const res = await t.app.inject({ url: '/docs/json' })
      expect(res.json().error.code).toBe('VS_RATE_LIMITED')
      expect(res.json().error.message).toMatch(/Te veel verzoeken/)
    } finally {
      await t.close()
    }
  })
})

describe('request bodies', () => {
  it('refuses an oversized body with 413 and a stable code', async () => {
    const t = await createTestApp({ bodyLimit: 2048 })
    try {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ email: 'a@b.nl', password: 'x'.repeat(4096), totp: '123456' }),
      })
      expect(res.statusCode).toBe(413)
      expect(res.json().error.code).toBe('VS_PAYLOAD_TOO_LARGE')
    } finally {
      await t.close()
    }
  })

  it('validates bodies by schema, ignoring unknown fields and refusing bad ones with 400', async () => {
    const t = await createTestApp()
    try {
      const extra = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        payload: { email: 'niemand@example.nl', password: 'x', totp: '123456', isAdmin: true },
      })
      // Unknown fields are dropped: the request is judged on its known fields (no such account).
      expect(extra.statusCode).toBe(401)
      const bad = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        payload: { email: 'geen-adres', password: 'x', totp: '12' },
      })
      expect(bad.statusCode).toBe(400)
      expect(bad.json().error.code).toBe('VS_VALIDATION')
      const notJson = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/sign-in',
        headers: { 'content-type': 'application/json' },
        payload: '{nope',
      })
      expect(notJson.statusCode).toBe(400)
      expect(notJson.json().error.code).not.toBe('VS_INTERNAL')
    } finally {
      await t.close()
    }
  })
})
