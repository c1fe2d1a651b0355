/**
 * Retention per room kind, against a real app and database: consultations are deleted
 * six months after closing, case rooms and meldingen are archived when closed and deleted
 * twenty years after closing (or after their last activity); deletion removes every
 * ciphertext row and the sealed welcomes, keeps a tombstone, and writes an audit record.
 * A dry run changes nothing. Dates are moved by back-dating the rows, so the server's own
 * clock, tokens and TOTP stay real.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoomsClient, askConsult, postNotice } from '@vs/client/rooms'
import { randomId } from '@vs/crypto'
import {
  HttpError,
  createEmptyPostgresDb,
  http,
  listenTestApp,
  makePerson,
  runScript,
  testConfig,
  type Person,
} from '@vs/api/testing'
import { ConfigError, envToCfg } from '../../services/api/src/config.js'
import { Db } from '../../services/api/src/db/index.js'
import { migrateToLatestOrThrow } from '../../services/api/src/db/migrate.js'
import { verifyAuditChain } from '../../services/api/src/audit.js'
import { buildCli } from '../../services/api/src/cli.js'
import { addMonths, dueRooms, runRetention } from '../../services/api/src/retention/retention.js'
import { retentionJob } from '../../services/api/src/retention/job.js'
import { makeDesk, roomRowCounts, dbFingerprint, fingerprintDiff, type Desk } from './helpers.js'

type T = Awaited<ReturnType<typeof listenTestApp>>

const policy = { consultMonths: 6, caseYears: 20 }
const DAY = 24 * 3600 * 1000

describe('retention', () => {
  let t: T
  let coord: Person, advisor: Person, prof: Person, bert: Person
  let desk: Desk
  const clients: RoomsClient[] = []
  const rooms = (p: Person) => {
    const c = new RoomsClient(p.host)
    clients.push(c)
    return c
  }
  const db = () => t.ctx.db.db

  /** Moves every date of a room (creation, commits, events, closing) back by `ms`. */
  async function backdate(roomId: string, ms: number): Promise<void> {
    const iv = sql.raw(`interval '${Math.round(ms / 1000)} seconds'`)
    await sql`update rooms set created_at = created_at - ${iv}, last_commit_at = last_commit_at - ${iv},
      closed_at = closed_at - ${iv} where id = ${roomId}`.execute(db())
    await sql`update room_events set created_at = created_at - ${iv} where room_id = ${roomId}`.execute(
      db(),
    )
    await sql`update consults set created_at = created_at - ${iv}, closed_at = closed_at - ${iv}
      where room_id = ${roomId}`.execute(db())
  }

  async function caseRoom(label: string): Promise<string> {
    const c = rooms(prof)
    const roomId = await c.create({ kind: 'case', members: [{ userId: bert.userId }] })
    await c.sendText(roomId, label)
    await c.attach(roomId, new Uint8Array(5000).fill(7), 'verslag.pdf', 'application/pdf')
    await postNotice(prof.host, c, roomId, {
      kind: 'hulp-gestart',
      dates: { start: '2026-11-01' },
      details: { programma: 'VoorZorg' },
    })
    return roomId
  }

  async function closedConsult(): Promise<string> {
    const roomId = await askConsult(rooms(prof), desk.deskId, {
      ageBand: 'ongeboren',
      weeksPregnant: 20,
      signals: 'Zorgen over spanningen thuis.',
      riskFactors: [],
      meldcodeStap: 'Stap 2 — collega en/of Veilig Thuis raadplegen',
      question: 'Wat is verstandig?',
    })
    await http(t.url, 'POST', `/api/v1/consults/${roomId}/claim`, {}, advisor.host.token)
    await http(
      t.url,
      'POST',
      `/api/v1/consults/${roomId}/close`,
      { outcome: 'advies gegeven' },
      advisor.host.token,
    )
    return roomId
  }

  beforeAll(async () => {
    t = await listenTestApp()
    const vt = { organisation: 'Veilig Thuis Twente', kind: 'veilig-thuis' as const }
    coord = await makePerson(t.ctx, t.url, { ...vt, role: 'coordinator', name: 'Coördinator' })
    advisor = await makePerson(t.ctx, t.url, { ...vt, role: 'advisor', name: 'Adviseur' })
    prof = await makePerson(t.ctx, t.url, { name: 'Vera (verloskundige)' })
    bert = await makePerson(t.ctx, t.url, { name: 'Bert (huisarts)' })
    desk = await makeDesk(t.url, coord, [advisor])
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await t.close()
  })

  it('reads its periods from RETENTION_CONSULT_MONTHS and RETENTION_CASE_YEARS, 6 and 20 by default', () => {
    expect(envToCfg({})).toMatchObject({ retentionConsultMonths: 6, retentionCaseYears: 20 })
    expect(envToCfg({ RETENTION_CONSULT_MONTHS: '3', RETENTION_CASE_YEARS: '15' })).toMatchObject({
      retentionConsultMonths: 3,
      retentionCaseYears: 15,
    })
    for (const [k, v] of [
      ['RETENTION_CONSULT_MONTHS', '0'],
      ['RETENTION_CONSULT_MONTHS', 'zes'],
      ['RETENTION_CASE_YEARS', '-1'],
      ['RETENTION_CASE_YEARS', '101'],
    ] as const) {
      let caught: unknown
      try {
        envToCfg({ [k]: v })
      } catch (err) {
        caught = err
      }
      expect(caught, `${k}=${v}`).toBeInstanceOf(ConfigError)
      expect((caught as ConfigError).variable).toBe(k)
    }
  })

  it('counts calendar months, clamping to the end of a shorter month', () => {
    expect(addMonths(new Date('2026-08-31T10:00:00Z'), 6).toISOString()).toBe(
      '2027-02-28T10:00:00.000Z',
    )
    expect(addMonths(new Date('2026-05-15T00:00:00Z'), -6).toISOString()).toBe(
      '2025-11-15T00:00:00.000Z',
    )
    expect(addMonths(new Date('2024-02-29T00:00:00Z'), 240).toISOString()).toBe(
      '2044-02-29T00:00:00.000Z',
    )
  })

  it('deletes a consultation six months after closing, not a day before, with an audit record', async () => {
    const roomId = await closedConsult()
    const before = await roomRowCounts(t, roomId)
    expect(before.room_events).toBeGreaterThan(0)
    expect(before.room_welcomes).toBeGreaterThan(0)
    expect(before.consults).toBe(1)

    // Closed 6 months minus a day ago: still kept.
    const now = new Date()
    const almost = now.getTime() - addMonths(now, -6).getTime() - DAY
    await backdate(roomId, almost)
    expect((await dueRooms(db(), now, policy)).map((d) => d.roomId)).not.toContain(roomId)

    await backdate(roomId, 2 * DAY)
    const due = (await dueRooms(db(), now, policy)).find((d) => d.roomId === roomId)
    expect(due).toMatchObject({ kind: 'consult', basis: 'closed' })

    const report = await runRetention(db(), { now, policy })
    expect(report.deleted.map((d) => d.roomId)).toContain(roomId)
    const after = await roomRowCounts(t, roomId)
    expect(Object.values(after).every((n) => n === 0)).toBe(true)

    // The tombstone: the id stays taken, nothing readable is left, and no one gets in.
    const room = await db()
      .selectFrom('rooms')
      .selectAll()
      .where('id', '=', roomId)
      .executeTakeFirstOrThrow()
    expect(room.deleted_at).not.toBeNull()
    expect(room.created_by).toBeNull()
    expect(Buffer.from(room.head_hash).equals(Buffer.alloc(32))).toBe(true)
    for (const who of [prof, advisor]) {
      const err = await http(
        t.url,
        'GET',
        `/api/v1/rooms/${roomId}/events`,
        undefined,
        who.host.token,
      ).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(HttpError)
      expect((err as HttpError).status).toBe(404)
    }

    const audit = await db()
      .selectFrom('audit_log')
      .selectAll()
      .where('event', '=', 'retention.deleted')
      .where('subject_id', '=', roomId)
      .execute()
    expect(audit).toHaveLength(1)
    expect(audit[0]!.subject_kind).toBe('consult')
    expect(JSON.parse(audit[0]!.details!)).toMatchObject({
      basis: 'closed',
      events: before.room_events,
      welcomes: before.room_welcomes,
    })
    expect((await verifyAuditChain(db())).ok).toBe(true)

    // A second run finds nothing more to do for it.
    const again = await runRetention(db(), { now, policy })
    expect(again.deleted.map((d) => d.roomId)).not.toContain(roomId)
  })

  it('archives a closed case room and deletes it twenty years after closing, files and notices included', async () => {
    const roomId = await caseRoom('Gezin Merel')
    await db()
      .updateTable('rooms')
      .set({ closed_at: new Date() })
      .where('id', '=', roomId)
      .execute()
    const now = new Date()

    const first = await runRetention(db(), { now, policy })
    expect(first.archived.map((a) => a.roomId)).toContain(roomId)
    expect(first.deleted.map((d) => d.roomId)).not.toContain(roomId)
    const archived = await db()
      .selectFrom('rooms')
      .select(['archived_at', 'deleted_at'])
      .where('id', '=', roomId)
      .executeTakeFirstOrThrow()
    expect(archived.archived_at).not.toBeNull()
    expect(archived.deleted_at).toBeNull()
    // Archived rooms stay readable to their members.
    const page = await http<{ events: unknown[] }>(
      t.url,
      'GET',
      `/api/v1/rooms/${roomId}/events`,
      undefined,
      bert.host.token,
    )
    expect(page.events.length).toBeGreaterThan(0)

    await backdate(roomId, now.getTime() - addMonths(now, -240).getTime() - DAY)
    expect((await dueRooms(db(), now, policy)).map((d) => d.roomId)).not.toContain(roomId)
    await backdate(roomId, 2 * DAY)
    const before = await roomRowCounts(t, roomId)
    expect(before.room_file_chunks).toBeGreaterThan(0)
    expect(before.notices).toBe(1)
    const report = await runRetention(db(), { now, policy })
    const d = report.deleted.find((x) => x.roomId === roomId)
    expect(d).toMatchObject({ kind: 'case', basis: 'closed' })
    expect(d!.rows).toMatchObject({ room_file_chunks: before.room_file_chunks, notices: 1 })
    expect(Object.values(await roomRowCounts(t, roomId)).every((n) => n === 0)).toBe(true)
    const audits = await db()
      .selectFrom('audit_log')
      .select('event')
      .where('subject_id', '=', roomId)
      .where('event', 'like', 'retention.%')
      .orderBy('seq')
      .execute()
    expect(audits.map((a) => a.event)).toEqual(['retention.archived', 'retention.deleted'])
  })

  it('deletes a melding that was never closed twenty years after its last activity', async () => {
    const c = rooms(prof)
    const roomId = await c.create({
      kind: 'melding',
      members: [{ userId: desk.deskId, kind: 'desk' }],
    })
    await c.sendText(roomId, 'Melding: zorgen om veiligheid')
    const now = new Date()
    const twenty = now.getTime() - addMonths(now, -240).getTime()
    await backdate(roomId, twenty - DAY)
    expect((await dueRooms(db(), now, policy)).map((d) => d.roomId)).not.toContain(roomId)
    await backdate(roomId, 2 * DAY)
    expect((await dueRooms(db(), now, policy)).find((d) => d.roomId === roomId)).toMatchObject({
      kind: 'melding',
      basis: 'last-activity',
    })
    // New activity restarts the clock: a message sent today keeps the room.
    await c.sendText(roomId, 'Nog steeds actueel')
    expect((await dueRooms(db(), now, policy)).map((d) => d.roomId)).not.toContain(roomId)
  })

  it('runs as the scheduled job under the scheduler lease', async () => {
    const roomId = await closedConsult()
    const now = new Date()
    await backdate(roomId, now.getTime() - addMonths(now, -7).getTime())
    expect(await t.app.scheduler.runOnce(retentionJob(t.ctx))).toBe(true)
    expect((await roomRowCounts(t, roomId)).room_events).toBe(0)
    const job = await db()
      .selectFrom('jobs')
      .selectAll()
      .where('name', '=', 'retention')
      .executeTakeFirstOrThrow()
    expect(job.last_run_at).not.toBeNull()
    expect(job.lease_owner).toBeNull()
  })

  it('changes nothing in a dry run, yet lists what a real run would delete', async () => {
    const roomId = await closedConsult()
    const now = new Date()
    await backdate(roomId, now.getTime() - addMonths(now, -8).getTime())
    const fp = await dbFingerprint(t)
    const auditBefore = await db()
      .selectFrom('audit_log')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow()
    const report = await runRetention(db(), { now, policy, dryRun: true })
    expect(report.dryRun).toBe(true)
    expect(report.deleted.map((d) => d.roomId)).toContain(roomId)
    expect(fingerprintDiff(fp, await dbFingerprint(t))).toEqual([])
    const auditAfter = await db()
      .selectFrom('audit_log')
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow()
    expect(auditAfter.n).toBe(auditBefore.n)
    // Tidy up for the other tests: a real run.
    await runRetention(db(), { now, policy })
  })
})

describe('retention command', () => {
  const serverUrl = process.env.DATABASE_URL || undefined

  it('has --help with the periods it applies', async () => {
    const run = runScript('cli.ts', ['retention', 'run', '--help'], {})
    expect(await run.exited).toBe(0)
    expect(run.output()).toMatch(/Usage: pnpm cli retention run/)
    expect(run.output()).toMatch(/--dry-run/)
    expect(run.output()).toMatch(/RETENTION_CONSULT_MONTHS/)
  })

  it('previews, then deletes, with progress and one line per room', async () => {
    let cfgEnv: Record<string, string>
    let cleanup: () => Promise<void>
    if (serverUrl) {
      const d = await createEmptyPostgresDb(serverUrl)
      cfgEnv = { DATABASE_URL: d.url }
      cleanup = d.drop
    } else {
      const dir = await mkdtemp(path.join(tmpdir(), 'vs-retention-'))
      cfgEnv = { DATA_DIR: dir }
      cleanup = () => rm(dir, { recursive: true, force: true })
    }
    const cfg = {
      ...testConfig(),
      ...envToCfg({ ...cfgEnv, LOG_LEVEL: 'silent' }),
      memoryDb: false,
      ephemeralKeys: true,
    }
    try {
      const roomId = randomId()
      const seed = await Db.open({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir })
      try {
        await migrateToLatestOrThrow(seed.db)
        await seed.db.insertInto('regions').values({ id: 'r1', name: 'Twente' }).execute()
        const long = new Date(Date.now() - 21 * 366 * DAY)
        await seed.db
          .insertInto('rooms')
          .values({
            id: roomId,
            kind: 'case',
            region_id: 'r1',
            created_by: null,
            created_at: long,
            last_seq: 1,
            epoch: 0,
            head_hash: new Uint8Array(32).fill(1),
            last_commit_at: long,
            closed_at: long,
          })
          .execute()
        await seed.db
          .insertInto('room_events')
          .values({
            room_id: roomId,
            seq: 1,
            kind: 'message',
            sender_id: 'u1',
            sender_device: 'd1',
            idem_key: 'idem-0001',
            body: new Uint8Array(300).fill(9),
            created_at: long,
          })
          .execute()
      } finally {
        await seed.close()
      }
      const run = async (args: string[]) => {
        let text = ''
        const program = buildCli(
          () => cfg,
          (s) => (text += s),
        )
        program.exitOverride()
        await program.parseAsync(['retention', 'run', ...args], { from: 'user' })
        return text
      }
      const dry = await run(['--dry-run'])
      expect(dry).toMatch(new RegExp(`would archive case\\s+${roomId}`))
      expect(dry).toMatch(new RegExp(`would delete\\s+case\\s+${roomId}\\s+closed`))
      expect(dry).toMatch(/Dry run: 1 to archive, 1 to delete; nothing changed\./)
      // Still all there after the dry run.
      expect(await run(['--dry-run'])).toMatch(/1 to delete/)
      await expect(run(['--now', '2099-01-01'])).rejects.toThrow(/only allowed with --dry-run/)
      const real = await run([])
      expect(real).toMatch(new RegExp(`delete\\s+case\\s+${roomId}`))
      expect(real).toMatch(/Archived 1, deleted 1 rooms; 2 audit records written\./)
      expect(await run(['--dry-run'])).toMatch(/0 to archive, 0 to delete/)

      const check = await Db.open({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir })
      try {
        const left = await check.db.selectFrom('room_events').selectAll().execute()
        expect(left).toHaveLength(0)
        const audit = await check.db
          .selectFrom('audit_log')
          .select(['event', 'subject_id'])
          .orderBy('seq')
          .execute()
        expect(audit).toEqual([
          { event: 'retention.archived', subject_id: roomId },
          { event: 'retention.deleted', subject_id: roomId },
        ])
        expect((await verifyAuditChain(check.db)).ok).toBe(true)
      } finally {
        await check.close()
      }
    } finally {
      await cleanup()
    }
  })
})
