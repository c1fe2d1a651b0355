import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ApiRequestError,
  MemoryKeyStore,
  NotSignedInError,
  VsClient,
  invitationPath,
} from '../src/index.js'
import { TotpClock, coordinator, startServer, type Person, type TestServer } from './helpers.js'

describe('sessions against a real server', () => {
  let server: TestServer
  const clock = new TotpClock()
  let carla: Person

  beforeAll(async () => {
    server = await startServer()
    carla = await coordinator(server, clock)
  })
  afterAll(() => server.close())

  it('redeems an invitation: info, password, TOTP, signed in', async () => {
    expect(carla.client.signedIn).toBe(true)
    expect(carla.me.name).toBe('Carla Coördinator')
    expect(carla.me.role).toBe('coordinator')
    expect(carla.me.hasMasterKey).toBe(false)
    const me = await carla.client.me()
    expect(me.organisation.name).toBe('GGD Twente')
    expect(me.regionName).toBe('Twente')
  })

  it('shows what an invitation is for, and refuses a used one', async () => {
    const inv = await carla.client.createInvitation({
      email: 'vera@example.nl',
      name: 'Vera Verloskundige',
      discipline: 'verloskundige',
      organisationId: carla.me.organisation.id,
      role: 'professional',
    })
    expect(invitationPath(inv.code)).toBe(`/#/uitnodiging/${inv.code}`)
    const anon = await VsClient.open({ baseUrl: server.url, store: new MemoryKeyStore() })
    const info = await anon.invitationInfo(inv.code)
    expect(info).toMatchObject({ name: 'Vera Verloskundige', organisation: { name: 'GGD Twente' } })
    const err = await anon.invitationInfo('A'.repeat(43)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiRequestError)
    expect(err).toMatchObject({ status: 404, code: 'VS_INVITATION_INVALID' })
  })

  it('signs out, keeps nothing of the session, and signs in again', async () => {
    const store = new MemoryKeyStore()
    const client = await VsClient.open({ baseUrl: server.url, store })
    await client.signIn({
      email: carla.email,
      password: carla.password,
      totp: await clock.code(carla.totpSecret),
    })
    expect(await store.get('session')).toBeDefined()
    const sessions = await client.sessions()
    expect(sessions.filter((s) => s.current)).toHaveLength(1)
    expect(sessions.length).toBeGreaterThanOrEqual(2)

    // A saved session survives a restart of the client.
    const again = await VsClient.open({ baseUrl: server.url, store })
    expect((await again.me()).userId).toBe(carla.me.userId)

    await again.signOut()
    expect(again.signedIn).toBe(false)
    expect(await store.get('session')).toBeUndefined()
    await expect(again.me()).rejects.toBeInstanceOf(NotSignedInError)
    // The old client's token is dead on the server too.
    const err = await client.me().catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 401 })
    expect(client.signedIn).toBe(false)
  })

  it('refuses a wrong code with the server’s Dutch message', async () => {
    const client = await VsClient.open({ baseUrl: server.url, store: new MemoryKeyStore() })
    const err = await client
      .signIn({ email: carla.email, password: carla.password, totp: '000000' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiRequestError)
    expect(err).toMatchObject({ status: 401, code: 'VS_SIGNIN_FAILED' })
    expect((err as Error).message).toMatch(/^Aanmelden mislukt/)
  })

  it('ends one session, then every session', async () => {
    const list = await carla.client.sessions()
    const current = list.find((s) => s.current)
    expect(current).toBeDefined()
    let ended = false
    const watcher = await VsClient.open({
      baseUrl: server.url,
      store: carla.store,
      onSessionEnded: () => (ended = true),
    })
    await carla.client.signOutEverywhere()
    expect(carla.client.signedIn).toBe(false)
    await expect(watcher.me()).rejects.toMatchObject({ status: 401 })
    expect(ended).toBe(true)
  })
})

describe('token refresh', () => {
  interface Call {
    path: string
    auth: string | undefined
  }

  /** A fake server: access tokens `a1`, `a2`…; `a1` has expired. */
  function fakeServer(opts: { refreshFails?: boolean } = {}) {
    const calls: Call[] = []
    let issued = 1
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input))
      const auth = (init?.headers as Record<string, string>).authorization
      calls.push({ path: url.pathname, auth })
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), {
          status,
          headers: { 'content-type': 'application/json' },
        })
      if (url.pathname === '/api/v1/auth/refresh') {
        await new Promise((r) => setTimeout(r, 20))
        if (opts.refreshFails) {
          return json(401, { error: { code: 'VS_REFRESH_INVALID', message: 'verlopen / expired' } })
        }
        issued++
        return json(200, {
          accessToken: `a${issued}`,
          refreshToken: `r${issued}`,
          expiresIn: 900,
          sessionId: 's1',
        })
      }
      if (auth === 'Bearer a1') {
        return json(401, { error: { code: 'VS_TOKEN_EXPIRED', message: 'Sessie verlopen' } })
      }
      return json(200, { ok: true, path: url.pathname })
    }
    return { fetch, calls }
  }

  async function signedInStore(): Promise<MemoryKeyStore> {
    const store = new MemoryKeyStore()
    await store.set(
      'session',
      JSON.stringify({
        accessToken: 'a1',
        refreshToken: 'r1',
        sessionId: 's1',
        userId: 'user-0001',
        user: { userId: 'user-0001' },
      }),
    )
    return store
  }

  it('refreshes once for concurrent requests and retries each', async () => {
    const { fetch, calls } = fakeServer()
    const store = await signedInStore()
    const client = await VsClient.open({ baseUrl: 'http://vs.test', store, fetch })
    const results = await Promise.all([client.sessions(), client.me(), client.sessions()])
    expect(results).toHaveLength(3)
    expect(calls.filter((c) => c.path === '/api/v1/auth/refresh')).toHaveLength(1)
    expect(calls.filter((c) => c.auth === 'Bearer a2')).toHaveLength(3)
    const saved = JSON.parse((await store.get('session'))!) as { refreshToken: string }
    expect(saved.refreshToken).toBe('r2')
  })

  it('ends the session when the refresh is refused', async () => {
    const { fetch } = fakeServer({ refreshFails: true })
    const store = await signedInStore()
    let ended = 0
    const client = await VsClient.open({
      baseUrl: 'http://vs.test',
      store,
      fetch,
      onSessionEnded: () => ended++,
    })
    await expect(client.sessions()).rejects.toMatchObject({
      status: 401,
      code: 'VS_REFRESH_INVALID',
    })
    expect(client.signedIn).toBe(false)
    expect(await store.get('session')).toBeUndefined()
    expect(ended).toBe(1)
  })

  it('reports an unreachable server as VS_NETWORK', async () => {
    const store = await signedInStore()
    const client = await VsClient.open({
      baseUrl: 'http://vs.test',
      store,
      fetch: async () => {
        throw new TypeError('fetch failed')
      },
    })
    await expect(client.me()).rejects.toMatchObject({ status: 0, code: 'VS_NETWORK' })
  })
})
