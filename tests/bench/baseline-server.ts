/**
 * The baselines: a bare `ws` broadcast server speaking the same frames as `/ws`, with no
 * authentication, no validation beyond JSON.parse, and no persistence. It numbers events
 * per room, serializes each event once and writes it to every subscriber, then acks the
 * sender — the least any server with this protocol must do. Run by the orchestrator as
 * its own process: `PORT=… node --import tsx tests/bench/baseline-server.ts`.
 *
 * With `DATABASE_URL` set it is the **durable** baseline: the least any server that keeps
 * what it acknowledges must add. Sends are group-committed: everything that arrived while
 * a statement was in flight goes into the next one, a single multi-row INSERT (autocommit,
 * so one commit and one WAL flush per batch) into a table keyed by (room, seq); only after
 * it committed are the batch's events fanned out and its senders acknowledged. The next
 * batch's statement goes out before the fan-out of the last, as the API's writer does when
 * it is the only writer. No authentication, membership check, idempotency or row lock:
 * what is left of the API's cost over this is its own work, not durability's.
 */
import { createServer } from 'node:http'
import type { Socket } from 'node:net'
import pg from 'pg'
import { WebSocketServer, type WebSocket } from 'ws'
import { packBodies } from '../../services/api/src/rooms/append.js'

if (process.argv.includes('--help')) {
  process.stdout.write(
    'Bare ws broadcast server for the benchmark baselines. Env: PORT (default 8090), HOST,\n' +
      'DATABASE_URL (set: the durable baseline, every send committed to PostgreSQL first).\n',
  )
  process.exit(0)
}

interface Room {
  id: string
  seq: number
  subs: Set<WebSocket>
}

const rooms = new Map<string, Room>()
const room = (id: string): Room => {
  let r = rooms.get(id)
  if (!r) rooms.set(id, (r = { id, seq: 0, subs: new Set() }))
  return r
}

/** A send whose event is numbered and serialized, waiting for its commit (durable only). */
interface Pending {
  room: Room
  seq: number
  frame: string
  ack: string
  body: Buffer
  sender: WebSocket
}

const TABLE = 'bench_durable_events'
const INSERT = `insert into ${TABLE} (room, seq, body, at)
  select v.room, v.seq, substring($3::bytea from v.off + 1 for v.len), now()
  from unnest($1::text[], $2::int[], $4::int[], $5::int[]) as v(room, seq, off, len)`

/** Group commit for the durable baseline: one statement in flight, the rest queue. */
class Committer {
  private queue: Pending[] = []
  private busy = false
  private scheduled = false

  constructor(private readonly db: pg.Client) {}

  add(p: Pending): void {
    this.queue.push(p)
    if (this.busy || this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush(): void {
    if (this.busy || this.queue.length === 0) return
    const batch = this.queue
    this.queue = []
    this.busy = true
    const { bytes, offsets, lengths } = packBodies(batch.map((p) => p.body))
    this.db
      .query({
        name: 'append',
        text: INSERT,
        values: [batch.map((p) => p.room.id), batch.map((p) => p.seq), bytes, offsets, lengths],
      })
      .then(
        () => {
          this.busy = false
          this.flush() // the next batch's statement first, then this batch's fan-out
          deliver(batch)
        },
        (err: unknown) => {
          process.stderr.write(`durable baseline: insert failed: ${String(err)}\n`)
          process.exit(1)
        },
      )
  }
}

/** Fans a committed batch out, each socket corked while the batch is written. */
function deliver(batch: Pending[]): void {
  const corked: Socket[] = []
  const cork = (ws: WebSocket) => {
    const tcp = (ws as unknown as { _socket?: Socket })._socket
    if (tcp && tcp.writableCorked === 0) {
      tcp.cork()
      corked.push(tcp)
    }
  }
  for (const p of batch) {
    for (const s of p.room.subs) {
      if (s.readyState !== s.OPEN) continue
      cork(s)
      s.send(p.frame)
    }
    if (p.sender.readyState === p.sender.OPEN) {
      cork(p.sender)
      p.sender.send(p.ack)
    }
  }
  for (const tcp of corked) tcp.uncork()
}

let committer: Committer | undefined
if (process.env.DATABASE_URL) {
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL })
  await db.connect()
  await db.query(
    `create table if not exists ${TABLE} (room text not null, seq int not null,
       body bytea not null, at timestamptz not null, primary key (room, seq))`,
  )
  // Numbering goes on from what an earlier run of this server stored.
  const heads = await db.query<{ room: string; seq: number }>(
    `select room, max(seq) as seq from ${TABLE} group by room`,
  )
  for (const h of heads.rows) room(h.room).seq = h.seq
  committer = new Committer(db)
}

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"status":"ok"}')
    return
  }
  res.writeHead(404)
  res.end()
})
const wss = new WebSocketServer({
  server: http,
  path: '/ws',
  perMessageDeflate: false,
  maxPayload: 256 * 1024,
  handleProtocols: (protocols) => (protocols.has('vs.v1') ? 'vs.v1' : false),
})

wss.on('connection', (socket, req) => {
  const from = new URL(req.url ?? '/', 'http://x').searchParams.get('u') ?? 'anon'
  const mine = new Set<Room>()
  socket.on('message', (data: Buffer) => {
    let f: { t?: string; rooms?: Record<string, number>; id?: string; room?: string }
    let raw: { dev?: string; body?: string }
    try {
      f = raw = JSON.parse(data.toString()) as typeof f & typeof raw
    } catch {
      return
    }
    if (f.t === 'sub' && f.rooms) {
      for (const id of Object.keys(f.rooms)) {
        const r = room(id)
        r.subs.add(socket)
        mine.add(r)
        socket.send(JSON.stringify({ t: 'subscribed', room: id, head: r.seq }))
      }
    } else if (f.t === 'send' && f.room) {
      const r = room(f.room)
      const seq = ++r.seq
      const frame = JSON.stringify({
        t: 'ev',
        room: f.room,
        seq,
        kind: 'message',
        from,
        dev: raw.dev,
        at: Date.now(),
        body: raw.body,
      })
      const ack = JSON.stringify({ t: 'ack', id: f.id, room: f.room, seq, duplicate: false })
      if (committer) {
        const body = Buffer.from(raw.body ?? '', 'base64url')
        committer.add({ room: r, seq, frame, ack, body, sender: socket })
        return
      }
      for (const s of r.subs) if (s.readyState === s.OPEN) s.send(frame)
      socket.send(ack)
    } else if (f.t === 'ping') {
      socket.send('{"t":"pong"}')
    }
  })
  socket.on('close', () => {
    for (const r of mine) r.subs.delete(socket)
  })
  socket.on('error', () => socket.terminate())
})

const port = Number(process.env.PORT ?? 8090)
http.listen(port, process.env.HOST ?? '127.0.0.1')
process.on('SIGTERM', () => {
  for (const s of wss.clients) s.terminate()
  http.close(() => process.exit(0))
})
