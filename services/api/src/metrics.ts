import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Prometheus metrics; one registry per app instance so tests can run several apps. */
export class Metrics {
  readonly registry = new Registry()
  readonly httpRequests = new Counter({
    name: 'vs_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  })
  readonly httpDuration = new Histogram({
    name: 'vs_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })
  readonly wsConnections = new Gauge({
    name: 'vs_ws_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  })
  readonly dbPool: Gauge<'state'>
  /** The message writer: one observation per statement (fast) or transaction (careful). */
  readonly appendSeconds = new Histogram({
    name: 'vs_room_append_seconds',
    help: 'Time to store one batch of room events, including the commit',
    labelNames: ['path'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })
  readonly appendBatch = new Histogram({
    name: 'vs_room_append_batch_events',
    help: 'Events per batch the message writer stores',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  })
  readonly senderReads = new Counter({
    name: 'vs_room_sender_reads_total',
    help: "Rooms whose members the message writer read from the database (its sender cache had none fresh: a room's first send, after a commit, or once a minute)",
    registers: [this.registry],
  })
  readonly sendWait = new Histogram({
    name: 'vs_room_send_wait_seconds',
    help: 'Time a send waits in the writer before its batch is written',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })

  constructor(poolStats: () => { total: number; idle: number; waiting: number }) {
    this.dbPool = new Gauge({
      name: 'vs_db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const s = poolStats()
        this.set({ state: 'total' }, s.total)
        this.set({ state: 'idle' }, s.idle)
        this.set({ state: 'waiting' }, s.waiting)
      },
    })
    collectDefaultMetrics({ register: this.registry, prefix: 'vs_' })
  }
}
