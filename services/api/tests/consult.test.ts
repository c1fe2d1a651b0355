/**
 * Anonymous consultation (adviesvraag) with a Veilig Thuis desk, end to end: the desk
 * inbox, claims decided once, answers in the E2E thread, hand-over, closing; and the fully
 * anonymous mode with blind tokens, with a database scan proving no account link.
 */
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  IdentifierFoundError,
  RoomsClient,
  askAnonymousConsult,
  askConsult,
  continueConsult,
  fetchTokens,
  type ConsultQuestion,
  type PublicDesk,
  type TimelineItem,
} from '@vs/client/rooms'
import {
  certifyDeskKey,
  deskKeyCertToJSON,
  generateBoxKeyPair,
  generateSigningKeyPair,
} from '@vs/crypto'
import type { WelcomeWire } from '@vs/protocol'
import { fromB64, toB64 } from '@vs/crypto'
import { loadPrincipal } from '../src/identity/principal.js'
import { desksOf } from '../src/rooms/access.js'
import { appendCommit } from '../src/rooms/chain.js'
import {
  http,
  listenPeerApp,
  listenTestApp,
  makePerson,
  TestHost,
  until,
  type Person,
} from './helpers/index.js'

type T = Awaited<ReturnType<typeof listenTestApp>>

const question: ConsultQuestion = {
  ageBand: 'ongeboren',
  weeksPregnant: 24,
  signals: 'Moeder vertelt over ruzies thuis en is bang voor haar partner.',
  riskFactors: ['Partnergeweld', 'geïsoleerd gezin'],
  meldcodeStap: 'Stap 2 — collega en/of Veilig Thuis raadplegen',
  question: 'Moet ik melden, of kan ik eerst hulp organiseren?',
}

const bodies = (items: readonly TimelineItem[], type: string) =>
  items.flatMap((i) =>
    i.kind === 'message' && i.content.type === type
      ? [i.content.body as Record<string, unknown>]
      : [],
  )

describe('adviesvraag', () => {
  let t: T
  let coord: Person, a1: Person, a2: Person, prof: Person
  let deskId: string
  const deskSign = generateSigningKeyPair()
  const deskBox = generateBoxKeyPair()
  const clients: RoomsClient[] = []
  const track = (c: RoomsClient) => (clients.push(c), c)
  const asDesk = (p: Person) =>
    track(
      new RoomsClient(p.host, {
        as: { memberId: deskId, deviceId: 'v1', signSk: deskSign.privateKey, boxKeyPair: deskBox },
      }),
    )

  /** A new advisor of the desk, and the path that adds (PUT) or removes (DELETE) them. */
  const newAdvisor = async (name: string) => {
    const a = await makePerson(t.ctx, t.url, {
      organisation: 'Veilig Thuis Twente',
      kind: 'veilig-thuis',
      role: 'advisor',
      name,
    })
    const path = `/api/v1/desks/${deskId}/advisors/${a.userId}`
    await http(t.url, 'PUT', path, undefined, coord.host.token)
    return { a, path }
  }
  /** Whether a statement of this test's database waits for a lock (PostgreSQL). */
  const waitingOnALock = async () => {
    const r = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(t.ctx.db.db)
    return r.rows[0]!.n > 0
  }
  /** The rooms a client's socket is told it was removed from, as they come. */
  const removals = (c: RoomsClient) => {
    const rooms: string[] = []
    c.connection['opts'].onRemoved = (room: string) => rooms.push(room)
    return rooms
  }

  beforeAll(async () => {
    t = await listenTestApp({ logLevel: process.env.VS_TEST_LOG ?? 'silent' })
    const vt = { organisation: 'Veilig Thuis Twente', kind: 'veilig-thuis' as const }
    coord = await makePerson(t.ctx, t.url, { ...vt, role: 'coordinator', name: 'Coördinator VT' })
    a1 = await makePerson(t.ctx, t.url, { ...vt, role: 'advisor', name: 'Adviseur Een' })
    a2 = await makePerson(t.ctx, t.url, { ...vt, role: 'advisor', name: 'Adviseur Twee' })
    prof = await makePerson(t.ctx, t.url, {
      name: 'Verloskundige Vera',
      organisation: 'Verloskundigen Enschede',
      kind: 'verloskunde',
      discipline: 'verloskundige',
    })
    const orgId = coord.session.user.organisation.id
    const desk = await http<{ id: string }>(
      t.url,
      'POST',
      `/api/v1/organisations/${orgId}/desks`,
      { name: 'Veilig Thuis Twente — advies', purpose: 'advies' },
      coord.host.token,
    )
    deskId = desk.id
    for (const a of [a1, a2])
      await http(
        t.url,
        'PUT',
        `/api/v1/desks/${deskId}/advisors/${a.userId}`,
        undefined,
        coord.host.token,
      )
    const cert = certifyDeskKey(coord.master.privateKey, {
      deskId,
      version: 1,
      signPk: deskSign.publicKey,
      boxPk: deskBox.publicKey,
      createdAt: Date.now(),
    })
    await http(
      t.url,
      'POST',
      `/api/v1/desks/${deskId}/keys`,
      { cert: deskKeyCertToJSON(cert), grants: [] },
      coord.host.token,
    )
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await t.close()
  })

  it('refuses a question that names the family, before anything is sent', async () => {
    const p = track(new RoomsClient(prof.host))
    const before = await t.ctx.db.db
      .selectFrom('consults')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow()
    await expect(
      askConsult(p, deskId, { ...question, signals: 'BSN 111222333, woont op 7511 AB 12' }),
    ).rejects.toBeInstanceOf(IdentifierFoundError)
    const after = await t.ctx.db.db
      .selectFrom('consults')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow()
    expect(after.n).toBe(before.n)
  })

  it('asks, is claimed once, answered, handed over and closed', async () => {
    const p = track(new RoomsClient(prof.host))
    const roomId = await askConsult(p, deskId, question, { discipline: 'verloskundige' })
    const inbox = await http<
      {
        roomId: string
        asker: { name: string } | null
        claimedBy: unknown
        waitingMinutes: number
      }[]
    >(t.url, 'GET', `/api/v1/desks/${deskId}/consults`, undefined, a1.host.token)
    expect(inbox).toContainEqual(
      expect.objectContaining({
        roomId,
        asker: expect.objectContaining({ name: 'Verloskundige Vera' }),
        claimedBy: null,
      }),
    )
    // A professional who is not an advisor of the desk sees no inbox.
    await expect(
      http(t.url, 'GET', `/api/v1/desks/${deskId}/consults`, undefined, prof.host.token),
    ).rejects.toMatchObject({ status: 403 })

    const claims = await Promise.allSettled([
      http(t.url, 'POST', `/api/v1/consults/${roomId}/claim`, {}, a1.host.token),
      http(t.url, 'POST', `/api/v1/consults/${roomId}/claim`, {}, a2.host.token),
    ])
    expect(claims.filter((c) => c.status === 'fulfilled')).toHaveLength(1)
    expect(claims.find((c) => c.status === 'rejected')).toMatchObject({
      reason: { status: 409, code: 'VS_CONSULT_TAKEN' },
    })
    const winner = claims[0]!.status === 'fulfilled' ? a1 : a2
    const other = winner === a1 ? a2 : a1

    const desk1 = asDesk(winner)
    const ds = await desk1.open(roomId)
    expect(bodies(ds.timeline, 'adviesvraag')[0]).toMatchObject({
      question: question.question,
      riskFactors: question.riskFactors,
    })
    await desk1.sendText(
      roomId,
      'Dank voor je vraag. Bespreek het eerst met je collega; bel ons gerust.',
    )
    const ps = await p.open(roomId)
    await until(() => ps.timeline.some((i) => i.kind === 'message' && i.from === deskId))

    await http(
      t.url,
      'POST',
      `/api/v1/consults/${roomId}/handover`,
      { to: other.userId },
      winner.host.token,
    )
    const desk2 = asDesk(other)
    await desk2.sendText(roomId, 'Ik neem het over van mijn collega.')
    await until(
      () => ps.timeline.filter((i) => i.kind === 'message' && i.from === deskId).length === 2,
    )
    expect(ps.timeline.filter((i) => i.kind === 'undecryptable')).toEqual([])
    await expect(
      http(
        t.url,
        'POST',
        `/api/v1/consults/${roomId}/close`,
        { outcome: 'advies gegeven' },
        winner.host.token,
      ),
    ).rejects.toMatchObject({ status: 403 })
    await http(
      t.url,
      'POST',
      `/api/v1/consults/${roomId}/close`,
      { outcome: 'advies gegeven' },
      other.host.token,
    )
    // The asker goes on to a melding, carrying the question and the advice over.
    const meldingId = await continueConsult(p, roomId, {
      kind: 'melding',
      members: [{ userId: deskId, kind: 'desk' }],
    })
    const ms = await asDesk(other).open(meldingId)
    const carried = bodies(ms.timeline, 'overgenomen')[0] as {
      thread: { type: string; body: { question?: string; text?: string } }[]
    }
    expect(carried.thread.map((m) => m.type)).toEqual(['adviesvraag', 'text', 'text'])
    expect(carried.thread[0]!.body.question).toBe(question.question)
    const closed = await http<{ roomId: string; outcome: string }[]>(
      t.url,
      'GET',
      `/api/v1/desks/${deskId}/consults?closed=true`,
      undefined,
      other.host.token,
    )
    expect(closed.find((c) => c.roomId === roomId)?.outcome).toBe('advies gegeven')
  })

  it('asks fully anonymously: no account link anywhere, one token once', async () => {
    const tokens = await fetchTokens(prof.host, 2)
    expect(tokens).toHaveLength(2)
    const desks = await http<PublicDesk[]>(t.url, 'GET', '/api/v1/anon/desks')
    const desk = desks.find((d) => d.id === deskId)!
    const anon = await askAnonymousConsult(t.url, tokens[0]!, desk, question, {
      discipline: 'verloskundige',
    })
    track(anon.rooms)

    const inbox = await http<
      { roomId: string; mode: string; asker: unknown; discipline: string }[]
    >(t.url, 'GET', `/api/v1/desks/${deskId}/consults`, undefined, a1.host.token)
    expect(inbox).toContainEqual(
      expect.objectContaining({
        roomId: anon.roomId,
        mode: 'fully-anonymous',
        asker: null,
        discipline: 'verloskundige',
      }),
    )
    await http(t.url, 'POST', `/api/v1/consults/${anon.roomId}/claim`, {}, a1.host.token)
    const desk1 = asDesk(a1)
    const ds = await desk1.open(anon.roomId)
    expect(bodies(ds.timeline, 'adviesvraag')[0]).toMatchObject({ question: question.question })
    await desk1.sendText(anon.roomId, 'Je kunt dit anoniem met ons bespreken. Wat zie je precies?')
    const as = await anon.rooms.open(anon.roomId)
    await until(() => as.timeline.some((i) => i.kind === 'message' && i.from === deskId))

    // The token cannot be used twice.
    await expect(askAnonymousConsult(t.url, tokens[0]!, desk, question)).rejects.toMatchObject({
      status: 409,
      code: 'VS_TOKEN_SPENT',
    })
    // The capability opens this one room only, and nothing that needs an account.
    await expect(anon.host.request('GET', `/api/v1/me`)).rejects.toMatchObject({ status: 401 })
    const other = await track(new RoomsClient(prof.host)).create({ kind: 'case', members: [] })
    await expect(anon.host.request('GET', `/api/v1/rooms/${other}/events`)).rejects.toMatchObject({
      status: 404,
    })

    // No row anywhere ties the anonymous room to the professional's account.
    const db = t.ctx.db.db
    const tables = await sql<{
      table_name: string
    }>`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(
      db,
    )
    let rowsAboutRoom = 0
    for (const { table_name } of tables.rows) {
      const rows = await sql<
        Record<string, unknown>
      >`select * from ${sql.table(table_name)}`.execute(db)
      for (const r of rows.rows) {
        const text = JSON.stringify(r, (_k, v: unknown) =>
          v instanceof Uint8Array ? Buffer.from(v).toString('base64url') : v,
        )
        if (text.includes(anon.roomId)) {
          rowsAboutRoom++
          expect(text, `${table_name} links the anonymous room to the account`).not.toContain(
            prof.userId,
          )
          expect(text).not.toContain(prof.session.sessionId)
          expect(text).not.toContain('127.0.0.1')
        }
      }
    }
    expect(rowsAboutRoom).toBeGreaterThan(3)
    const consult = await db
      .selectFrom('consults')
      .selectAll()
      .where('room_id', '=', anon.roomId)
      .executeTakeFirstOrThrow()
    expect(consult.asker_user_id).toBeNull()
  })

  it('cuts a removed advisor off from the desk at once, on a socket already open', async () => {
    const { a: a3, path: advisors } = await newAdvisor('Adviseur Drie')
    const p = track(new RoomsClient(prof.host))
    const roomId = await askConsult(p, deskId, question)
    const desk3 = asDesk(a3)
    await desk3.open(roomId)
    await desk3.sendText(roomId, 'Ik kijk ernaar.')

    const removedFrom = removals(desk3)

    // Removed from the desk: the same socket may no longer speak for it, nor follow the
    // desk's rooms.
    await http(t.url, 'DELETE', advisors, undefined, coord.host.token)
    await until(() => removedFrom.includes(roomId))
    const stored = async () =>
      (
        await t.ctx.db.db
          .selectFrom('room_events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('room_id', '=', roomId)
          .executeTakeFirstOrThrow()
      ).n
    const before = await stored()
    await expect(desk3.sendText(roomId, 'Nog een bericht namens de desk.')).rejects.toMatchObject({
      code: 'VS_FORBIDDEN',
    })
    expect(await stored()).toBe(before)
    // Added again, the same socket may write as the desk again.
    await http(t.url, 'PUT', advisors, undefined, coord.host.token)
    await desk3.sendText(roomId, 'Weer terug.')
    expect(Number(await stored())).toBe(Number(before) + 1)
  })

  it('refuses a commit as the desk from an advisor removed after their desks were read', async () => {
    const { a: a5, path: advisors } = await newAdvisor('Adviseur Vijf')
    const roomId = await askConsult(track(new RoomsClient(prof.host)), deskId, question)
    // The desk's next commit (a key rotation), held back on its way to the server.
    let held: { commit: string; welcomes: WelcomeWire[]; idem: string } | undefined
    const host = Object.create(a5.host) as TestHost
    host.request = async <R>(method: string, path: string, body?: unknown): Promise<R> => {
      if (method === 'POST' && path.endsWith('/commits')) {
        held = body as typeof held
        throw new Error('held back')
      }
      return a5.host.request<R>(method, path, body)
    }
    const desk5 = track(
      new RoomsClient(host, {
        as: { memberId: deskId, deviceId: 'v1', signSk: deskSign.privateKey, boxKeyPair: deskBox },
      }),
    )
    await expect(desk5.rotate(roomId)).rejects.toThrow('held back')
    // The route reads the caller's desks before its transaction: the request arrived while
    // they were an advisor, and the coordinator removes them before it commits.
    const actAs = await desksOf(t.ctx.db.db, a5.userId)
    expect(actAs).toContain(deskId)
    await http(t.url, 'DELETE', advisors, undefined, coord.host.token)
    const principal = await loadPrincipal(t.ctx.db.db, a5.userId, a5.session.sessionId)
    await expect(
      appendCommit(
        t.ctx,
        principal!,
        roomId,
        fromB64(held!.commit),
        held!.welcomes,
        held!.idem,
        actAs,
      ),
    ).rejects.toMatchObject({ statusCode: 403 })
    const commits = await t.ctx.db.db
      .selectFrom('room_commits')
      .select('epoch')
      .where('room_id', '=', roomId)
      .execute()
    expect(commits.map((c) => c.epoch)).toEqual([0])
  })

  it('refuses a message sent over HTTP for the desk by an advisor removed while it is written', async () => {
    const { a: a7, path: advisors } = await newAdvisor('Adviseur Zeven')
    const roomId = await askConsult(track(new RoomsClient(prof.host)), deskId, question)
    const count = async () =>
      Number(
        (
          await t.ctx.db.db
            .selectFrom('room_events')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('room_id', '=', roomId)
            .executeTakeFirstOrThrow()
        ).n,
      )
    const before = await count()
    // The coordinator's removal has deleted the advisor's row but not committed yet when the
    // request arrives: the route's own check still sees an advisor, the write must not.
    let commit!: () => void
    const committed = new Promise<void>((r) => (commit = r))
    let deleted!: () => void
    const isDeleted = new Promise<void>((r) => (deleted = r))
    const removal = t.ctx.db.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('desk_members')
        .where('desk_id', '=', deskId)
        .where('user_id', '=', a7.userId)
        .execute()
      deleted()
      await committed
    })
    await isDeleted
    const sent = http(
      t.url,
      'POST',
      `/api/v1/rooms/${roomId}/events`,
      { as: deskId, dev: 'v1', idem: 'http-desk-0001', body: toB64(new Uint8Array(64)) },
      a7.host.token,
    )
    let settled = false
    void sent.then(
      () => (settled = true),
      () => (settled = true),
    )
    // Until it waits for the lock (or, read without one, is answered). PGlite has one
    // connection: there the request simply runs after the removal.
    if (t.ctx.db.kind === 'postgres')
      while (!settled && !(await waitingOnALock())) await new Promise((r) => setTimeout(r, 10))
    commit()
    await removal
    // On PostgreSQL the write refuses it; on PGlite the route, run after the removal, no
    // longer shows the desk's room to them.
    await expect(sent).rejects.toMatchObject(
      t.ctx.db.kind === 'postgres'
        ? { status: 403, code: 'VS_FORBIDDEN' }
        : { status: 404, code: 'VS_NOT_FOUND' },
    )
    expect(await count()).toBe(before)
    // Added again, the same request is stored.
    await http(t.url, 'PUT', advisors, undefined, coord.host.token)
    await http(
      t.url,
      'POST',
      `/api/v1/rooms/${roomId}/events`,
      { as: deskId, dev: 'v1', idem: 'http-desk-0001', body: toB64(new Uint8Array(64)) },
      a7.host.token,
    )
    expect(await count()).toBe(before + 1)
  })

  it('cuts a removed advisor off on another process too', async () => {
    const peer = await listenPeerApp(t)
    try {
      const { a: a4, path: advisors } = await newAdvisor('Adviseur Vier')
      const roomId = await askConsult(track(new RoomsClient(prof.host)), deskId, question)
      // The advisor's socket is on the other process; the coordinator removes them on this one.
      const onPeer = new TestHost(peer.url, a4.userId, a4.device, a4.host.token)
      const desk4 = asDesk({ ...a4, host: onPeer })
      await desk4.open(roomId)
      await desk4.sendText(roomId, 'Ik kijk ernaar.')
      const removedFrom = removals(desk4)

      await http(t.url, 'DELETE', advisors, undefined, coord.host.token)
      await until(() => removedFrom.includes(roomId))
      await expect(desk4.sendText(roomId, 'Namens de desk?')).rejects.toMatchObject({
        code: 'VS_FORBIDDEN',
      })
      desk4.close()
    } finally {
      await peer.close()
    }
  })

  it('limits tokens per professional per month', async () => {
    const other = await makePerson(t.ctx, t.url, { name: 'Kraamverzorgende' })
    await fetchTokens(other.host, 10)
    await expect(fetchTokens(other.host, 1)).rejects.toMatchObject({
      status: 429,
      code: 'VS_TOKEN_LIMIT',
    })
  })

  it('seals a new desk key only to current advisors', async () => {
    // The coordinator's client read the advisors, and Zes was removed before it sent the
    // new key: the key sealed to Zes is refused, and the desk still asks for a new one.
    const { a: a6, path: advisors } = await newAdvisor('Adviseur Zes')
    await http(t.url, 'DELETE', advisors, undefined, coord.host.token)
    const desk = () =>
      t.ctx.db.db
        .selectFrom('desks')
        .select(['key_version', 'needs_rotation'])
        .where('id', '=', deskId)
        .executeTakeFirstOrThrow()
    const before = await desk()
    expect(before.needs_rotation).toBe(true)
    const cert = certifyDeskKey(coord.master.privateKey, {
      deskId,
      version: before.key_version + 1,
      signPk: generateSigningKeyPair().publicKey,
      boxPk: generateBoxKeyPair().publicKey,
      createdAt: Date.now(),
    })
    const publish = (grants: { userId: string; deviceId: string; sealed: string }[]) =>
      http(
        t.url,
        'POST',
        `/api/v1/desks/${deskId}/keys`,
        { cert: deskKeyCertToJSON(cert), grants },
        coord.host.token,
      )
    const sealed = toB64(new Uint8Array(80))
    await expect(
      publish([
        { userId: a1.userId, deviceId: a1.device.deviceId, sealed },
        { userId: a6.userId, deviceId: a6.device.deviceId, sealed },
      ]),
    ).rejects.toMatchObject({ status: 409, code: 'VS_DESK_ADVISORS_CHANGED' })
    expect(await desk()).toEqual(before)
    const grants = await t.ctx.db.db
      .selectFrom('desk_key_grants')
      .select('user_id')
      .where('desk_id', '=', deskId)
      .where('user_id', '=', a6.userId)
      .execute()
    expect(grants).toEqual([])
  })
})
