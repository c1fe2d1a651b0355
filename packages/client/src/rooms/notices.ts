/**
 * Terugkoppeling in the SDK: post signed notices (hulp-gestart, hulp-beeindigd,
 * monitoring-afspraak, monitoring-check, veiligheidsbeoordeling) and check the server's
 * visible kind and dates against the signed, encrypted originals.
 */
import {
  encodeNoticeContent,
  envelopeHash,
  parseEnvelope,
  randomBytes,
  randomId,
  signNoticeMeta,
  signedNoticeMetaFromJson,
  signedNoticeMetaToJson,
  toB64,
  utf8,
  fromB64,
  verifyNoticeMeta,
  type NoticeKind,
} from '@vs/crypto'
import type { RoomsClient } from './client.js'
import type { RoomsHost } from './host.js'
import type { TimelineItem } from './session.js'

export const HULP_PROGRAMMAS = [
  'Stevig Ouderschap',
  'VoorZorg',
  'Veilige Start',
  'Centering Pregnancy / Centering Parenting',
  'Samen Starten / DMOP',
  'wijkteam / gezinscoach',
  'jeugdbescherming (OTS)',
  'anders',
] as const

export const EINDE_REDENEN = [
  'doel bereikt',
  'gezin stopt',
  'overgedragen',
  'verhuisd',
  'geen contact',
  'anders',
] as const
export const CHECK_UITKOMSTEN = ['stabiel veilig', 'zorg', 'opnieuw melden'] as const

export interface NoticeInput {
  kind: NoticeKind
  /** YYYY-MM-DD dates the server may see (start, end, from, until, check1…, done, due, date). */
  dates: Record<string, string>
  /** Encrypted details: programme, organisation, reason, contact, result… */
  details: Record<string, unknown>
  /** For monitoring-afspraak: the member who does the checks. */
  owner?: string
}

export interface ServerNotice {
  id: string
  roomId: string
  seq: number
  kind: string
  dates: Record<string, string>
  signer: string
  signerDevice: string
  signature: string
  envelopeHash: string
  owner: string | null
  postedAt: string
  acknowledgedBy: string[]
  pending: string[]
}

export interface VerifiedNotice extends ServerNotice {
  /** True when the signature, the envelope and the encrypted content all agree. */
  verified: boolean
  details: Record<string, unknown> | null
}

export async function postNotice(
  host: RoomsHost,
  rooms: RoomsClient,
  roomId: string,
  n: NoticeInput,
): Promise<{ seq: number; noticeId: string }> {
  const session = await rooms.open(roomId)
  await session.idle()
  const noticeId = randomId()
  const plaintext = encodeNoticeContent({
    noticeId,
    kind: n.kind,
    dates: n.dates,
    details: utf8(JSON.stringify(n.details)),
  })
  const { body } = session.sealRaw('notice', plaintext, host.logHead())
  const env = parseEnvelope(fromB64(body))
  const signed = signNoticeMeta(host.device().signSk, {
    roomId,
    noticeId,
    kind: n.kind,
    dates: n.dates,
    envelopeHash: envelopeHash(env),
  })
  const r = await host.request<{ seq: number }>(
    'POST',
    `/api/v1/rooms/${encodeURIComponent(roomId)}/notices`,
    {
      idem: toB64(randomBytes(12)),
      dev: host.device().deviceId,
      body,
      meta: signedNoticeMetaToJson(signed),
      ...(n.owner ? { owner: n.owner } : {}),
    },
  )
  return { seq: r.seq, noticeId }
}

/**
 * The room's notices with acknowledgements, each checked: the signature is by the
 * claimed sender's verified device, and kind and dates match the encrypted original.
 * A notice the server forged or altered comes back with `verified: false`.
 */
export async function verifiedNotices(
  host: RoomsHost,
  rooms: RoomsClient,
  roomId: string,
): Promise<VerifiedNotice[]> {
  const session = await rooms.open(roomId)
  await session.idle()
  const list = await host.request<ServerNotice[]>(
    'GET',
    `/api/v1/rooms/${encodeURIComponent(roomId)}/notices`,
  )
  const bySeq = new Map<number, Extract<TimelineItem, { kind: 'notice' }>>()
  for (const t of session.timeline) if (t.kind === 'notice') bySeq.set(t.seq, t)
  const dir = await session.directory()
  return list.map((n) => {
    const item = bySeq.get(n.seq)
    let verified = false
    try {
      const key = dir(n.signer, n.signerDevice)
      if (item && key && item.from === n.signer && item.device === n.signerDevice) {
        const signed = signedNoticeMetaFromJson({
          roomId: n.roomId,
          noticeId: n.id,
          kind: n.kind,
          dates: n.dates,
          envelopeHash: n.envelopeHash,
          signature: n.signature,
        })
        verifyNoticeMeta(signed, key.signPk, {
          envelope: item.envelope,
          content: {
            noticeId: item.notice.noticeId,
            kind: item.notice.kind as NoticeKind,
            dates: item.notice.dates,
            details: utf8(JSON.stringify(item.notice.details)),
          },
        })
        verified = true
      }
    } catch {
      verified = false
    }
    return { ...n, verified, details: item ? item.notice.details : null }
  })
}

export async function acknowledgeNotice(
  host: RoomsHost,
  noticeId: string,
  as?: string,
): Promise<void> {
  await host.request(
    'POST',
    `/api/v1/notices/${encodeURIComponent(noticeId)}/ack`,
    as ? { as } : {},
  )
}

/** Monitoring check dates every `everyDays` from `from` until `until` (at most 14). */
export function checkSchedule(
  from: string,
  until: string,
  everyDays: number,
): Record<string, string> {
  const out: Record<string, string> = { from, until }
  let d = new Date(`${from}T12:00:00Z`)
  const end = new Date(`${until}T12:00:00Z`)
  for (let i = 1; i <= 14; i++) {
    d = new Date(d.getTime() + everyDays * 24 * 3600 * 1000)
    if (d > end) break
    out[`check${String(i).padStart(2, '0')}`] = d.toISOString().slice(0, 10)
  }
  return out
}

export { randomId }
