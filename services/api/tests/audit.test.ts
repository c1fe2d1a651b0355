/**
 * NEN 7513 audit log: a hash chain with signed checkpoints. Any change, deletion,
 * insertion or reordering is detected and named; reading the log needs a coordinator
 * with a fresh TOTP code.
 */
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { appendAudit, verifyAuditChain, writeCheckpoint } from '../src/audit.js'
import { createTestApp, listenTestApp, makePerson, totpNow, type TestApp } from './helpers/index.js'

describe('audit chain', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp()
    for (let i = 0; i < 10; i++) {
      await appendAudit(t.ctx.db.db, {
        event: 'room.events.read',
        actorUserId: `u${i}`,
        subjectKind: 'case',
        subjectId: `room${i % 3}`,
      })
    }
  })
  afterEach(() => t.close())

  const verify = () => verifyAuditChain(t.ctx.db.db, undefined, t.ctx.keys.log.publicKey)

  it('verifies an untouched chain', async () => {
    await writeCheckpoint(t.ctx.db.db, t.ctx.keys.log.privateKey)
    const r = await verify()
    expect(r).toMatchObject({ ok: true, count: 10, checkpoints: 1, problems: [] })
  })

  it('names a changed record', async () => {
    await sql`update audit_log set actor_user_id = 'someone-else' where seq = 4`.execute(
      t.ctx.db.db,
    )
    const r = await verify()
    expect(r.ok).toBe(false)
    expect(r.problems).toContainEqual({ seq: 4, problem: 'changed' })
  })

  it('names the record after a deleted one', async () => {
    await sql`delete from audit_log where seq = 5`.execute(t.ctx.db.db)
    const r = await verify()
    expect(r.problems).toContainEqual({ seq: 6, problem: 'reordered-or-missing' })
  })

  it('names an inserted record', async () => {
    await sql`insert into audit_log (seq, at, event, outcome, prev_hash, hash)
      select 100, at, 'forged', 'ok', prev_hash, hash from audit_log where seq = 3`.execute(
      t.ctx.db.db,
    )
    await sql`update audit_log set seq = 1000 + seq where seq > 3 and seq < 100`.execute(
      t.ctx.db.db,
    )
    const r = await verify()
    expect(r.ok).toBe(false)
    expect(r.problems.map((p) => p.seq)).toContain(100)
  })

  it('detects reordering', async () => {
    await sql`update audit_log set seq = -2 where seq = 2`.execute(t.ctx.db.db)
    await sql`update audit_log set seq = 2 where seq = 8`.execute(t.ctx.db.db)
    await sql`update audit_log set seq = 8 where seq = -2`.execute(t.ctx.db.db)
    const r = await verify()
    expect(r.ok).toBe(false)
    expect(r.problems.some((p) => p.seq === 2 || p.seq === 3)).toBe(true)
  })

  it('detects a rewritten tail against a signed checkpoint', async () => {
    await writeCheckpoint(t.ctx.db.db, t.ctx.keys.log.privateKey)
    // Someone deletes the last records: the remaining chain is self-consistent,
    // but the checkpoint names a record that is gone.
    await sql`delete from audit_log where seq >= 9`.execute(t.ctx.db.db)
    const r = await verify()
    expect(r.problems).toContainEqual({ seq: 10, problem: 'checkpoint-missing-record' })
  })
})

describe('reading the audit log', () => {
  it('needs a coordinator with a fresh TOTP code, and is itself audited', async () => {
    const t = await listenTestApp()
    try {
      const coord = await makePerson(t.ctx, t.url, { role: 'coordinator' })
      const prof = await makePerson(t.ctx, t.url)
      const q = `/api/v1/audit?from=${encodeURIComponent('2000-01-01T00:00:00Z')}&to=${encodeURIComponent('2100-01-01T00:00:00Z')}`
      const get = (token: string, code?: string) =>
        fetch(t.url + q, {
          headers: { authorization: `Bearer ${token}`, ...(code ? { 'x-vs-totp': code } : {}) },
        })
      expect((await get(coord.session.accessToken)).status).toBe(400)
      expect((await get(prof.session.accessToken, '123456')).status).toBe(403)
      // The code used at enrolment is already spent: a fresh one from the next window is needed.
      const res = await get(
        coord.session.accessToken,
        totpNow(coord.totpSecret, Date.now() + 30_000),
      )
      expect(res.status).toBe(200)
      const body = (await res.json()) as { records: { event: string }[] }
      expect(body.records.map((r) => r.event)).toContain('account.created')
      // The same code cannot be used twice.
      expect(
        (await get(coord.session.accessToken, totpNow(coord.totpSecret, Date.now() + 30_000)))
          .status,
      ).toBe(403)
      const audit = await t.ctx.db.db
        .selectFrom('audit_log')
        .select('event')
        .where('event', '=', 'audit.read')
        .execute()
      expect(audit).toHaveLength(1)
    } finally {
      await t.close()
    }
  })
})
