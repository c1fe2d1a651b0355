/**
 * What the orchestrator, the load client and the report share: the seeded world (rooms,
 * member devices, tokens), the IPC messages to the load client, and step results.
 */

/** One member device: one WebSocket connection in one room. */
export interface ConnSpec {
  userId: string
  deviceId: string
  /** Access token of the device's person (bearer, sent as the `vs.auth.` subprotocol). */
  token: string
  /** Index into `rooms`. */
  room: number
  /** Position of this device among the room's members (0 = the room's creator). */
  member: number
  /** Device keys, base64url. */
  signPk: string
  signSk: string
  boxPk: string
  boxSk: string
}

export interface RoomSpec {
  roomId: string
  /** Serialized genesis commit (base64url), event seq 1 of the room. */
  genesis: string
  /** The epoch-0 secret the creator made (base64url); see README on why it is passed. */
  epochSecret: string
}

export interface LoadSetup {
  rooms: RoomSpec[]
  conns: ConnSpec[]
  /** Member devices per room. */
  members: number
  /** Distinct sealed envelopes per sending device. */
  pool: number
  plaintextBytes: number
}

/**
 * Whose sequence numbers a connection set follows: the database's (API), the bare
 * baseline's, or the durable baseline's (its own table).
 */
export type Ledger = 'api' | 'baseline' | 'durable'

/**
 * The load client holds named connection sets (one WebSocket per member device each),
 * so the baseline and the API can stay connected side by side and be measured in
 * alternation at the same rates.
 */
export type ToLoad =
  | { t: 'init'; setupFile: string }
  | {
      t: 'connect'
      set: string
      ledger: Ledger
      /** One URL, or two: members split across them (first half → 0, second half → 1). */
      urls: string[]
      auth: boolean
      /**
       * Connect only the set's first `upTo` sockets; a later `connect` of the same set with
       * a larger (or no) `upTo` connects the rest.
       */
      upTo?: number
    }
  | {
      t: 'step'
      set: string
      label: string
      rate: number
      durationMs: number
      drainMs: number
    }
  /** Waits until every connection of each room reached the room's highest seq seen. */
  | { t: 'settle'; set: string; timeoutMs: number }
  | { t: 'disconnect'; set: string }
  | { t: 'exit' }

export type FromLoad =
  | { t: 'ready'; sealed: number; sealMs: number; envelopeBytes: number }
  /** `conns`: sockets this message connected. */
  | { t: 'connected'; conns: number; ms: number }
  | { t: 'step'; result: StepResult }
  | { t: 'settled'; rooms: RoomHeads[]; ms: number }
  | { t: 'disconnected' }
  | { t: 'error'; message: string }

export interface RoomHeads {
  roomId: string
  /** Lowest and highest seq reached by the room's connections. */
  min: number
  max: number
  /** Sum over connections of (max − own seq): deliveries still missing. */
  behind: number
}

export interface Percentiles {
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export interface StepResult {
  label: string
  /** Offered rate, messages per second. */
  rate: number
  durationMs: number
  /** Messages sent (all scheduled sends that reached an open socket). */
  sent: number
  acked: number
  /** `err` frames and sends on closed sockets, by code. */
  errors: Record<string, number>
  /** sent × members: every member device (the sender's own too) must receive each message. */
  expected: number
  /** Distinct (message, member) deliveries. */
  delivered: number
  duplicates: number
  lost: number
  /** Deliveries not in per-room sequence order (gaps) on a connection. */
  outOfOrder: number
  /** Delivered body differs from the body sent with that sequence number. */
  mismatched: number
  /** Send → receipt by each member device, ms, measured from the scheduled send time. */
  latency: Percentiles
  /** Send → durable acknowledgement to the sender, ms. */
  ack: Percentiles
  /** How far the load client's send loop fell behind its schedule, ms. */
  sendLagMaxMs: number
  sendLagP99Ms: number
  deliveriesPerS: number
  /** Sockets closed by the server during the step, by close code. */
  closes: Record<string, number>
  /** Time after the last scheduled send until every delivery arrived (or the drain limit). */
  tailMs: number
}
