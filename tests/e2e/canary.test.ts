/**
 * What a database dump, a stolen data folder or the logs reveal: after a real exchange
 * (room label, messages, an afspraak, an attachment, a notice's details) full of canary
 * strings, none of them may appear anywhere, in any encoding. On PostgreSQL with `pg_dump`
 * against real API processes (and their logs); on PGlite in process with `dumpDataDir()`
 * and a scan of every row of every table. Each scan also proves that it can fail: a
 * canary planted in a table (or a log line) is found.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RoomsClient } from '@vs/client/rooms'
import { http, makePerson } from '@vs/api/testing'
import { startCluster, type Cluster } from './helpers/cluster.js'
import {
  canaryContent,
  exchangeWithCanaries,
  findCanary,
  makeCanary,
  pgDump,
} from './helpers/canary.js'
import { listenPgliteApp, type PgliteApp } from './helpers/pglite-app.js'
import { enrolCoordinator, makeMembers, type Member } from './helpers/people.js'

/** SQL that plants a canary as text (an organisation's name) and as bytes (a file chunk). */
const PLANT = [
  `insert into organisations (id, region_id, name, kind)
     select 'canary-control', id, $1, 'anders' from regions limit 1`,
  `insert into room_file_chunks (file_id, idx, data)
     select id, 9999, convert_to($1, 'UTF8') from room_files limit 1`,
]
const UNPLANT = [
  `delete from room_file_chunks where idx = 9999`,
  `delete from organisations where id = 'canary-control'`,
]

describe('no content in a PostgreSQL dump or the logs (real processes)', () => {
  const canary = makeCanary()
  let cluster: Cluster
  let anna: Member, bert: Member
  const clients: RoomsClient[] = []
  let roomId: string

  beforeAll(async () => {
    // Log everything the server is able to log: a canary must not be in any of it.
    cluster = await startCluster({ processes: 2, logLevel: 'trace' })
    const [p1, p2] = cluster.apis
    const coordinator = await enrolCoordinator(p1!.url, cluster.coordinatorCode)
    ;[anna, bert] = (await makeMembers(p1!.url, coordinator, [
      { name: 'Anna', baseUrl: p1!.url },
      { name: 'Bert', baseUrl: p2!.url },
    ])) as [Member, Member]
    const a = new RoomsClient(anna.host)
    const b = new RoomsClient(bert.host)
    clients.push(a, b)
    roomId = await exchangeWithCanaries(anna.host, a, b, bert.userId, canaryContent(canary))
  }, 60_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await cluster?.close()
  })

  it('leaves no canary in a full pg_dump, in any encoding, though a planted one is found', async () => {
    const dump = await pgDump(cluster.databaseUrl)
    // The dump holds the exchange (the room, its events and the file's ciphertext)...
    expect(dump.includes(roomId)).toBe(true)
    expect(dump.length).toBeGreaterThan(1024 * 1024)
    // ...and none of its content.
    expect(findCanary(dump, canary)).toEqual([])

    // Control: the same scan finds a canary planted as text and as bytea, and stops
    // finding it once it is deleted.
    const control = makeCanary('CONTROL')
    const db = new pg.Client({ connectionString: cluster.databaseUrl })
    await db.connect()
    try {
      for (const q of PLANT) expect((await db.query(q, [control])).rowCount).toBe(1)
      const planted = await pgDump(cluster.databaseUrl)
      expect(findCanary(planted, control)).toEqual(expect.arrayContaining(['utf8', 'hex']))
      for (const q of UNPLANT) await db.query(q)
      expect(findCanary(await pgDump(cluster.databaseUrl), control)).toEqual([])
    } finally {
      for (const q of UNPLANT) await db.query(q).catch(() => {})
      await db.end()
    }
  })

  it('leaves no canary in any API process log, though a canary in a request path is logged', async () => {
    const logs = cluster.output()
    expect(logs.length).toBeGreaterThan(0)
    expect(findCanary(logs, canary)).toEqual([])

    // Control: what reaches a log line is scanned. A canary in a URL path is logged by
    // the request logger (paths are metadata; contents never travel in them).
    const control = makeCanary('CONTROL')
    await http(
      cluster.apis[1]!.url,
      'GET',
      `/api/v1/rooms/${control}/events`,
      undefined,
      anna.host.token,
    ).catch(() => {})
    const deadline = Date.now() + 5_000
    while (findCanary(cluster.output(), control).length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    expect(findCanary(cluster.output(), control)).toContain('utf8')
  })
})

describe('no content in a PGlite data folder or its rows (in process)', () => {
  const canary = makeCanary()
  let t: PgliteApp
  const clients: RoomsClient[] = []

  async function everyRow(): Promise<string> {
    const tables = await t.pglite.query<{ table_name: string }>(
      `select table_name from information_schema.tables
        where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
    )
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['room_events', 'room_file_chunks', 'rooms', 'users']),
    )
    const out: string[] = []
    for (const { table_name } of tables.rows) {
      // A row cast to text: every column, bytea as \x hex, as a dump would print it.
      const rows = await t.pglite.query<{ row: string }>(
        `select r::text as row from public."${table_name.replace(/"/g, '""')}" r`,
      )
      for (const r of rows.rows) out.push(r.row)
    }
    return out.join('\n')
  }

  async function dataDir(): Promise<Buffer> {
    const blob = await t.pglite.dumpDataDir('none')
    return Buffer.from(await blob.arrayBuffer())
  }

  beforeAll(async () => {
    t = await listenPgliteApp()
    const anna = await makePerson(t.ctx, t.url, { name: 'Anna (verloskundige)' })
    const bert = await makePerson(t.ctx, t.url, { name: 'Bert (huisarts)' })
    const a = new RoomsClient(anna.host)
    const b = new RoomsClient(bert.host)
    clients.push(a, b)
    await exchangeWithCanaries(anna.host, a, b, bert.userId, canaryContent(canary))
  }, 60_000)

  afterAll(async () => {
    for (const c of clients) c.close()
    await t?.close()
  })

  it('leaves no canary in the dumped data folder or in any row, though a planted one is found', async () => {
    const dir = await dataDir()
    expect(dir.length).toBeGreaterThan(1024 * 1024)
    expect(findCanary(dir, canary)).toEqual([])
    const rows = await everyRow()
    expect(rows.length).toBeGreaterThan(1024 * 1024)
    expect(findCanary(rows, canary)).toEqual([])

    // Control: planted as text and as bytea, the canary shows up in both scans. (A
    // deleted row stays in the data folder's pages and WAL until vacuumed and recycled:
    // deletion is not erasure, which is why content must never be there in plaintext.)
    const control = makeCanary('CONTROL')
    for (const q of PLANT) expect((await t.pglite.query(q, [control])).affectedRows).toBe(1)
    expect(findCanary(await dataDir(), control)).toContain('utf8')
    expect(findCanary(await everyRow(), control)).toEqual(expect.arrayContaining(['utf8', 'hex']))
    for (const q of UNPLANT) await t.pglite.query(q)
    expect(findCanary(await everyRow(), control)).toEqual([])
  })
})
