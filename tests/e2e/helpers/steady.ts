/**
 * What the cross-process suites share around one case room: Anna, Bert and Carla enrolled
 * on two API processes, one client and session each in a room one of them opened, sends
 * at a steady rate with what was attempted and what was acknowledged (and when), and the
 * checks on the outcome: every member's timeline gap-free and identical, every attempted
 * text stored once, every acknowledgement naming the seq that holds its text.
 */
import { expect } from 'vitest'
import { RoomsClient, type RoomSession } from '@vs/client/rooms'
import { randomId } from '@vs/crypto'
import type { Cluster } from './cluster.js'
import {
  countAcks,
  enrolCoordinator,
  makeMembers,
  sleep,
  until,
  within,
  type Member,
} from './people.js'
import { describeItem, textsOf, timelineProblems } from './timeline.js'

/** `123 ms`. */
export const ms = (n: number) => `${Math.round(n)} ms`

/** `Anna 3, Bert 4, Carla 2`: one value per member, for messages and logs. */
export function perMember<P extends { member: Member }>(
  ps: readonly P[],
  value: (p: P) => string | number,
): string {
  return ps.map((p) => `${p.member.name} ${value(p)}`).join(', ')
}

/**
 * Anna and Carla enrolled against process 1, Bert against process 2, all invited by the
 * coordinator enrolled against process `coordinatorOn` (0 or 1).
 */
export async function enrolAnnaBertCarla(
  cluster: Cluster,
  coordinatorOn: number,
): Promise<Member[]> {
  const [p1, p2] = cluster.apis
  const url = cluster.apis[coordinatorOn]!.url
  const coordinator = await enrolCoordinator(url, cluster.coordinatorCode)
  return makeMembers(url, coordinator, [
    { name: 'Anna', baseUrl: p1!.url },
    { name: 'Bert', baseUrl: p2!.url },
    { name: 'Carla', baseUrl: p1!.url },
  ])
}

/** One member's client and session in the room, with its acknowledgements counted. */
export interface Opened {
  member: Member
  client: RoomsClient
  session: RoomSession
  acks: { acks: number; duplicates: number }
}

/**
 * `creator` makes a case room labelled `label` with the other `members`; then each member,
 * in order, opens it on their own client (the creator's is the one that made the room) and
 * waits for its socket. Every client made is pushed to `clients`, for closing.
 */
export async function openRoom(
  creator: Member,
  members: readonly Member[],
  label: string,
  clients: RoomsClient[],
): Promise<{ roomId: string; opened: Opened[] }> {
  const creatorClient = new RoomsClient(creator.host)
  clients.push(creatorClient)
  const roomId = await creatorClient.create({
    kind: 'case',
    label,
    members: members.filter((m) => m !== creator).map((m) => ({ userId: m.userId })),
  })
  const opened: Opened[] = []
  for (const member of members) {
    const client = member === creator ? creatorClient : new RoomsClient(member.host)
    if (client !== creatorClient) clients.push(client)
    const session = await client.open(roomId)
    await client.connection.waitOpen()
    opened.push({ member, client, session, acks: countAcks(client) })
  }
  return { roomId, opened }
}

/** A member sending at a steady rate: each text attempted, and each acknowledged. */
export interface Sender extends Opened {
  attempted: { text: string; at: number }[]
  acked: Map<string, { seq: number; at: number }>
}

/**
 * Opens the room as `openRoom` does and makes each member a sender, with what `extend`
 * adds to them (wrappers on their client, say); the run's `t0` is when that is done.
 */
export async function openSteady<X extends object = object>(
  creator: Member,
  members: readonly Member[],
  label: string,
  clients: RoomsClient[],
  opts: { intervalMs: number; sendForMs: number },
  extend: (client: RoomsClient) => X = () => ({}) as X,
): Promise<SteadySends<Sender & X>> {
  const { roomId, opened } = await openRoom(creator, members, label, clients)
  const senders = opened.map((o): Sender & X => ({
    ...o,
    attempted: [],
    acked: new Map(),
    ...extend(o.client),
  }))
  return new SteadySends(roomId, senders, opts)
}

/**
 * Steady sending in one room, not waiting for acks: sends made while a server or its
 * database is down wait in the SDK and go out when it can. `t0` is when the run began.
 */
export class SteadySends<S extends Sender> {
  readonly t0 = Date.now()
  /** Every send made, settling when it is acknowledged. */
  readonly sends: Promise<void>[] = []

  constructor(
    readonly roomId: string,
    readonly senders: readonly S[],
    private readonly opts: { intervalMs: number; sendForMs: number },
  ) {}

  /** Sends one text (`<name> <label> <random>`), recording when it was attempted and acked. */
  sendOne(s: S, label: string): void {
    const text = `${s.member.name} ${label} ${randomId().slice(0, 8)}`
    s.attempted.push({ text, at: Date.now() })
    this.sends.push(
      s.client.sendText(this.roomId, text).then((seq) => {
        s.acked.set(text, { seq, at: Date.now() })
      }),
    )
  }

  /**
   * Every sender sends once per interval until `sendForMs` after `t0`, while `fault` runs;
   * then every send made must be acknowledged, all within `ms`.
   */
  async run(fault: Promise<void>, ms: number): Promise<void> {
    const { intervalMs, sendForMs } = this.opts
    const sendSteadily = async (s: S): Promise<void> => {
      await sleep(Math.random() * intervalMs)
      for (let i = 0; Date.now() - this.t0 < sendForMs; i++) {
        this.sendOne(s, `#${i}`)
        await sleep(intervalMs)
      }
    }
    await within(
      Promise.all([fault, ...this.senders.map(sendSteadily)]).then(() => Promise.all(this.sends)),
      ms,
      () =>
        `every send acknowledged (attempted/acked: ${perMember(this.senders, (s) => `${s.attempted.length}/${s.acked.size}`)})`,
    )
  }

  /** Waits until every sender's session has caught up with `head`. */
  converge(head: number, ms: number): Promise<void> {
    return converge(this.senders, head, ms)
  }

  /**
   * The room holds exactly what was attempted: genesis, label, and each send once, the
   * same in every timeline; every send was acknowledged, at the seq that holds its text.
   * Returns the attempted texts.
   */
  expectEverySendStoredOnce(head: number): string[] {
    const senders = this.senders
    const attempted = senders.flatMap((s) => s.attempted.map((a) => a.text))
    expect(head).toBe(attempted.length + 2)
    expectSameGapFreeTimelines(senders, head)
    const texts = textsOf(senders[0]!.session.timeline)
    expect(texts.map((t) => t.text).sort()).toEqual([...attempted].sort())
    const bySeq = new Map(texts.map((t) => [t.seq, t.text]))
    for (const s of senders) {
      expect(s.acked.size, s.member.name).toBe(s.attempted.length)
      for (const [text, { seq }] of s.acked) expect(bySeq.get(seq), text).toBe(text)
    }
    return attempted
  }

  /** `Anna 3, Bert 4, Carla 2`: one value per sender. */
  perSender(value: (s: S) => string | number): string {
    return perMember(this.senders, value)
  }
}

/** Waits until every member's session has caught up with `head`. */
export function converge(
  ps: readonly { member: Member; session: RoomSession }[],
  head: number,
  ms: number,
): Promise<void> {
  return until(
    () => ps.every((p) => p.session.cursor >= head),
    ms,
    () => `every member at seq ${head} (${perMember(ps, (p) => p.session.cursor)})`,
  )
}

/** Every member's timeline holds seqs 1…head, all decrypted, once each, and all are equal. */
export function expectSameGapFreeTimelines(
  ps: readonly { member: Member; session: RoomSession }[],
  head: number,
): void {
  const reference = ps[0]!.session.timeline.map(describeItem)
  for (const p of ps) {
    expect(timelineProblems(p.session, head), p.member.name).toEqual([])
    expect(p.session.timeline.map(describeItem), p.member.name).toEqual(reference)
  }
}
