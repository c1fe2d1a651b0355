/**
 * The baseline: a bare `ws` broadcast server speaking the same frames as `/ws`, with no
 * authentication, no validation beyond JSON.parse, and no persistence. It numbers events
 * per room, serializes each event once and writes it to every subscriber, then acks the
 * sender — the least any server with this protocol must do. Run by the orchestrator as
 * its own process: `PORT=… node --import tsx tests/bench/baseline-server.ts`.
 */
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'

if (process.argv.includes('--help')) {
  process.stdout.write(
    'Bare ws broadcast server for the benchmark baseline. Env: PORT (default 8090), HOST.\n',
  )
  process.exit(0)
}

interface Room {
  seq: number
  subs: Set<WebSocket>
}

const rooms = new Map<string, Room>()
const room = (id: string): Room => {
  let r = rooms.get(id)
  if (!r) rooms.set(id, (r = { seq: 0, subs: new Set() }))
  return r
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
      for (const s of r.subs) if (s.readyState === s.OPEN) s.send(frame)
      socket.send(JSON.stringify({ t: 'ack', id: f.id, room: f.room, seq, duplicate: false }))
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
