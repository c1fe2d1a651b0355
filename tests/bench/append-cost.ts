/**
 * What one message append costs PostgreSQL: runs the writer's append statement
 * (`services/api/src/rooms/append.ts`) on one connection with batches of several sizes
 * against a fresh, migrated database, and reads the backend's own CPU time from
 * /proc/<pid>/stat before and after. The fixed cost per statement and the cost per row
 * fall out of a line fitted through the batch sizes. Also measures the `NOTIFY` the
 * realtime layer sends per turn.
 *
 *   pnpm tsx tests/bench/append-cost.ts [--statements N] [--rooms N] [--batches 1,4,16,64] [--alone]
 *
 * Needs PostgreSQL on this host (reads the backend's /proc entry); DATABASE_URL names the
 * server (default postgres://postgres@127.0.0.1:5432/postgres). The database it creates is
 * dropped at the end.
 */
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { migrateToLatestOrThrow } from '../../services/api/src/db/migrate.js'
import { appendParams, appendSql } from '../../services/api/src/rooms/append.js'
import type { NewEvent } from '../../services/api/src/rooms/events.js'

const { values: args } = parseArgs({
  options: {
    statements: { type: 'string', default: '1500' },
    rooms: { type: 'string', default: '100' },
    batches: { type: 'string', default: '1,4,16,64' },
    alone: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  console.log(`Usage: tsx tests/bench/append-cost.ts [--statements N] [--rooms N] [--batches 1,4,16,64] [--alone]

Runs the message append statement with each batch size N times on one connection to a
fresh database and prints PostgreSQL backend CPU per statement and per row, plus the
cost of one NOTIFY. --alone: the statement a process writing alone uses (no ordered lock
pass). DATABASE_URL: the server (default postgres://postgres@127.0.0.1:5432/postgres).`)
  process.exit(0)
}

const TICK_MS = 1000 / 100 // USER_HZ on Linux
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const statements = Number(args.statements)
const roomCount = Number(args.rooms)
const batches = args.batches.split(',').map(Number)

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}

const dbName = `vs_append_cost_${randomBytes(4).toString('hex')}`
const admin = new pg.Client({ connectionString: serverUrl })
await admin.connect()
await admin.query(`create database ${dbName}`)
const url = new URL(serverUrl)
url.pathname = `/${dbName}`
const pool = new pg.Pool({ connectionString: url.toString(), max: 2 })
try {
  const k = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
  await migrateToLatestOrThrow(k)
  const c = await pool.connect()
  try {
    await c.query(`insert into regions (id, name) values ('r', 'Regio')`)
    const rooms = Array.from({ length: roomCount }, (_, i) => `room_${i}`)
    const devices = Array.from({ length: 12 }, (_, i) => `dev_${i}`)
    for (const id of rooms) {
      await c.query(
        `insert into rooms (id, kind, region_id, head_hash) values ($1, 'case', 'r', '\\x00')`,
        [id],
      )
      for (const [i, d] of devices.entries()) {
        await c.query(
          `insert into room_members (room_id, member_id, member_kind, role, devices)
           values ($1, $2, 'user', 'member', $3)`,
          [id, `user_${i}`, JSON.stringify([d, `${d}_b`])],
        )
      }
    }
    for (const ddl of (process.env.DDL ?? '').split(';').filter(Boolean)) await c.query(ddl)
    if (process.env.PLAN_MODE) await c.query(`set plan_cache_mode = ${process.env.PLAN_MODE}`)
    const pid = (await c.query<{ p: number }>('select pg_backend_pid() as p')).rows[0]!.p
    const body = randomBytes(614)
    const text = appendSql(!args.alone)
    // Every room is at epoch 0 here, as the writer's member check would have found it.
    const epochs = new Map(rooms.map((id) => [id, 0]))
    let n = 0
    const run = async (size: number): Promise<{ ms: number; cpu: number }> => {
      const before = cpuMs(pid)
      const t = performance.now()
      for (let s = 0; s < statements; s++) {
        const events = Array.from({ length: size }, (): NewEvent => {
          const who = n++ % 12
          return {
            roomId: rooms[n++ % rooms.length]!,
            kind: 'message',
            senderId: `user_${who}`,
            senderDevice: `dev_${who}`,
            idem: randomBytes(12).toString('base64url'),
            body,
          }
        })
        await c.query({
          name: 'append',
          text,
          values: appendParams(events, epochs, new Date()),
        })
      }
      return { ms: performance.now() - t, cpu: cpuMs(pid) - before }
    }
    await run(4) // warm-up: plans, caches
    console.log('batch  statements  wall ms/stmt  backend CPU µs/stmt  µs/row')
    const points: Array<[number, number]> = []
    for (const size of batches) {
      const r = await run(size)
      const perStmt = (r.cpu * 1000) / statements
      points.push([size, perStmt])
      console.log(
        `${String(size).padStart(5)}  ${String(statements).padStart(10)}  ${(r.ms / statements).toFixed(3).padStart(12)}  ${perStmt.toFixed(0).padStart(19)}  ${(perStmt / size).toFixed(0).padStart(6)}`,
      )
    }
    // Least squares: cpu per statement = fixed + perRow × size.
    const mx = points.reduce((a, p) => a + p[0], 0) / points.length
    const my = points.reduce((a, p) => a + p[1], 0) / points.length
    const slope =
      points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) /
      points.reduce((a, p) => a + (p[0] - mx) ** 2, 0)
    console.log(
      `fit: ${(my - slope * mx).toFixed(0)} µs per statement + ${slope.toFixed(0)} µs per row`,
    )
    const before = cpuMs(pid)
    for (let s = 0; s < statements; s++)
      await c.query(`select pg_notify('vs_cost', $1)`, ['x'.repeat(900)])
    console.log(
      `notify: ${(((cpuMs(pid) - before) * 1000) / statements).toFixed(0)} µs per statement`,
    )
  } finally {
    c.release()
  }
  await k.destroy()
} finally {
  await pool.end().catch(() => {})
  await admin.query(`drop database if exists ${dbName}`)
  await admin.end()
}
