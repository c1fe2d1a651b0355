/**
 * Two API processes on one PostgreSQL, three members in one case room: Anna always talks
 * to process 1, Bert to process 2, Carla moves between them. They send 1,000 messages
 * concurrently while connections are dropped at random, so the SDK reconnects, replays
 * from its cursor and resends unacknowledged messages with the same idempotency key.
 * Every member must end with the same decrypted history: gap-free, no duplicates, every
 * acknowledged message exactly once at the seq its ack named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RoomsClient } from '@vs/client/rooms'
import { randomId } from '@vs/crypto'
import { startCluster, type Cluster } from './helpers/cluster.js'
import { moveClient, roomHead, sleep, until, within, type Member } from './helpers/people.js'
import {
  converge,
  enrolAnnaBertCarla,
  expectSameGapFreeTimelines,
  ms,
  openRoom,
  perMember,
  type Opened,
} from './helpers/steady.js'
import { percentile, textsOf } from './helpers/timeline.js'

const TOTAL = 1000
/** Sends of one member in flight at once (the SDK pipelines them over one socket). */
const WINDOW = 16
/** The whole file (start-up included) must finish within this. */
const BUDGET_MS = 90_000
const SETUP_MS = 40_000

interface Participant extends Opened {
  /** Index of the process this participant's client talks to now. */
  proc: number
  attempted: string[]
  acked: Map<string, number>
}

describe('two API processes sharing one PostgreSQL', () => {
  const fileStart = Date.now()
  let cluster: Cluster
  let members: Member[]
  const clients: RoomsClient[] = []

  beforeAll(async () => {
    cluster = await startCluster({ processes: 2 })
    members = await enrolAnnaBertCarla(cluster, 0)
  }, SETUP_MS)

  afterAll(async () => {
    for (const c of clients) c.close()
    await cluster?.close()
  })

  it(
    'gives every member the same gap-free history of 1,000 concurrent messages despite dropped connections',
    async () => {
      const deadline = fileStart + BUDGET_MS - 5_000
      const urls = cluster.apis.map((a) => a.url)
      const [anna, bert, carla] = members as [Member, Member, Member]

      const { roomId, opened } = await openRoom(anna, members, 'Gezin Vlinder', clients)
      const procs = [0, 1, 0]
      const participants: Participant[] = opened.map((o, i) => ({
        ...o,
        proc: procs[i]!,
        attempted: [],
        acked: new Map(),
      }))
      const [pa, pb, pc] = participants as [Participant, Participant, Participant]

      // Cross-process delivery latency: Anna (process 1) ↔ Bert (process 2), from sealing
      // on the sender to the decrypted item on the receiver (one machine, one clock).
      // For comparison, same-process latency: Carla receiving from whoever shares her
      // process at that moment (approximate around her moves).
      const latencies: number[] = []
      const sameProcess: number[] = []
      const listeners: (() => void)[] = []
      for (const [receiver, sender] of [
        [pa, pb],
        [pb, pa],
      ] as const) {
        listeners.push(
          receiver.session.onItem((item) => {
            if (item.kind === 'message' && item.from === sender.member.userId)
              latencies.push(Date.now() - item.sentAt)
          }),
        )
      }
      listeners.push(
        pc.session.onItem((item) => {
          if (item.kind !== 'message') return
          const sender = item.from === anna.userId ? pa : item.from === bert.userId ? pb : undefined
          if (sender && sender.proc === pc.proc) sameProcess.push(Date.now() - item.sentAt)
        }),
      )

      // Faults: every ~100 messages one member's socket drops; Carla also moves to the
      // other process (at least every 250 messages), so she alternates between them.
      let attempts = 0
      let nextDrop = nextDropPoint()
      let lastCarlaMove = 0
      const drops = { Anna: 0, Bert: 0, Carla: 0 }
      function nextDropPoint(): number {
        return attempts + 80 + Math.floor(Math.random() * 41)
      }
      function faults(): void {
        if (attempts - lastCarlaMove >= 250) {
          moveCarla()
          return
        }
        if (attempts < nextDrop) return
        nextDrop = nextDropPoint()
        const victim = participants[Math.floor(Math.random() * participants.length)]!
        if (victim === pc) return moveCarla()
        drops[victim.member.name as keyof typeof drops]++
        victim.client.connection.drop()
      }
      function moveCarla(): void {
        lastCarlaMove = attempts
        pc.proc = 1 - pc.proc
        drops.Carla++
        moveClient(pc.client, carla.host, urls[pc.proc]!)
      }

      const sendAll = async (p: Participant, count: number): Promise<void> => {
        const inflight = new Set<Promise<void>>()
        for (let i = 0; i < count; i++) {
          if (Date.now() > deadline) throw new Error(`${p.member.name}: out of time at ${i}`)
          await sleep(Math.random() * 12)
          const text = `${p.member.name} #${i} ${randomId().slice(0, 8)}`
          p.attempted.push(text)
          attempts++
          faults()
          const sent: Promise<void> = p.client.sendText(roomId, text).then(
            (seq) => {
              p.acked.set(text, seq)
              inflight.delete(sent)
            },
            (err: unknown) => {
              inflight.delete(sent)
              throw new Error(`${p.member.name}: send ${i} failed: ${String(err)}`)
            },
          )
          inflight.add(sent)
          if (inflight.size >= WINDOW) await Promise.race(inflight)
        }
        await Promise.all(inflight)
      }

      const t0 = Date.now()
      const timeLeft = deadline - Date.now()
      await within(
        Promise.all([sendAll(pa, 333), sendAll(pb, 333), sendAll(pc, TOTAL - 666)]),
        timeLeft,
        () => `every send acknowledged (acked: ${perMember(participants, (p) => p.acked.size)})`,
      )
      const sendMs = Date.now() - t0

      // Everyone converges on the server's head.
      const head = await roomHead(anna.host, roomId)
      await converge(participants, head, Math.max(1_000, deadline - Date.now()))
      const convergeMs = Date.now() - t0 - sendMs
      for (const stop of listeners) stop()

      // genesis commit + label + 1,000 texts, nothing more: retries never took a number.
      expect(head).toBe(TOTAL + 2)
      expectSameGapFreeTimelines(participants, head)
      const texts = textsOf(pa.session.timeline)
      expect(texts).toHaveLength(TOTAL)
      const attempted = participants.flatMap((p) => p.attempted)
      expect(new Set(texts.map((t) => t.text))).toEqual(new Set(attempted))
      // Every acknowledgement names the seq where that message is, and it is there once.
      const bySeq = new Map(texts.map((t) => [t.seq, t.text]))
      const count = new Map<string, number>()
      for (const t of texts) count.set(t.text, (count.get(t.text) ?? 0) + 1)
      let acks = 0
      for (const p of participants)
        for (const [text, seq] of p.acked) {
          acks++
          expect(bySeq.get(seq), `ack of "${text}"`).toBe(text)
          expect(count.get(text), `"${text}"`).toBe(1)
        }
      expect(acks).toBe(TOTAL)
      // The faults really happened: sockets dropped and reopened, Carla used both processes.
      const totalDrops = drops.Anna + drops.Bert + drops.Carla
      expect(totalDrops).toBeGreaterThanOrEqual(5)
      expect(drops.Carla).toBeGreaterThanOrEqual(2)
      for (const p of participants)
        if (drops[p.member.name as keyof typeof drops] > 0)
          expect(p.client.connection.opens, p.member.name).toBeGreaterThan(1)

      // Unloaded latency for comparison: Anna (process 1) sends one message at a time;
      // Bert receives on process 2, Carla (moved to process 1) on the same process.
      if (pc.proc !== 0) {
        pc.proc = 0
        moveClient(pc.client, carla.host, urls[0]!)
      }
      await pc.client.connection.waitOpen()
      const idle = { cross: [] as number[], same: [] as number[] }
      const stopB = pb.session.onItem((i) => {
        if (i.kind === 'message' && i.from === anna.userId) idle.cross.push(Date.now() - i.sentAt)
      })
      const stopC = pc.session.onItem((i) => {
        if (i.kind === 'message' && i.from === anna.userId) idle.same.push(Date.now() - i.sentAt)
      })
      for (let k = 0; k < 20; k++) {
        const seq = await pa.client.sendText(roomId, `stil ${k}`)
        await until(
          () => pb.session.cursor >= seq && pc.session.cursor >= seq,
          Math.max(500, deadline - Date.now()),
          () => `idle message ${k}`,
        )
      }
      stopB()
      stopC()

      console.log(
        [
          `two processes: ${TOTAL} messages sent and acknowledged in ${ms(sendMs)}, ` +
            `all members converged ${ms(convergeMs)} later`,
          `drops/moves: ${JSON.stringify(drops)}`,
          `cross-process delivery latency (Anna↔Bert, n=${latencies.length}): ` +
            `p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))}, ` +
            `max ${ms(Math.max(...latencies))}; same process (Carla, n=${sameProcess.length}): ` +
            `p50 ${ms(percentile(sameProcess, 50))}`,
          `unloaded, one at a time (n=20): cross-process p50 ${ms(percentile(idle.cross, 50))}, ` +
            `same process p50 ${ms(percentile(idle.same, 50))}`,
          `acks answering a resend as duplicate: ${perMember(participants, (p) => p.acks.duplicates)}; ` +
            `socket opens: ${perMember(participants, (p) => p.client.connection.opens)}`,
          `file total ${ms(Date.now() - fileStart)}`,
        ].join('\n'),
      )
    },
    BUDGET_MS,
  )
})
