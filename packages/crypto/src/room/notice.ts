/**
 * Notices (terugkoppeling): 'hulp-gestart', 'hulp-beeindigd', monitoring agreements and
 * checks, safety assessments.
 *
 * A notice travels as an envelope of type 'notice' whose plaintext
 * ({@link encodeNoticeContent}) holds the kind, the dates and the encrypted details.
 * The server also needs the kind and the dates in the clear, to remind and raise
 * overdue alerts; the author signs that visible part ("notice/v1") including the hash of
 * the envelope. A client then checks with {@link verifyNoticeMeta} that the server did
 * not alter the visible kind or dates (a forged 'hulp-beeindigd' or a moved due date
 * would silently end monitoring), and that they are the same as in the encrypted content.
 */
import { bytesEqual, encode, toB64 } from '../encoding.js'
import { envelopeHash, type Envelope } from './envelope.js'
import { NoticeError } from './errors.js'
import { HASH_BYTES, SIGNATURE_BYTES, SIGN_PRIVATE_KEY_BYTES, sign, verify } from './primitives.js'
import {
  expectB64,
  expectBytes,
  expectId,
  expectObject,
  expectOneOf,
  field,
  fieldsOf,
  fieldsOfAtLeast,
  readIdField,
  readString,
  type Fail,
} from './wire.js'

export type NoticeKind =
  | 'hulp-gestart'
  | 'hulp-beeindigd'
  | 'monitoring-afspraak'
  | 'monitoring-check'
  | 'veiligheidsbeoordeling'
export const NOTICE_KINDS: readonly NoticeKind[] = [
  'hulp-gestart',
  'hulp-beeindigd',
  'monitoring-afspraak',
  'monitoring-check',
  'veiligheidsbeoordeling',
]

/** Named calendar dates, e.g. `{ start: '2026-11-22', due: '2026-12-06' }`. */
export type NoticeDates = Readonly<Record<string, string>>

/** The part of a notice the server sees. */
export interface NoticeMeta {
  roomId: string
  noticeId: string
  kind: NoticeKind
  dates: NoticeDates
  /** {@link envelopeHash} of the 'notice' envelope carrying the details. */
  envelopeHash: Uint8Array
}

/** Notice metadata with the author's signature (device key or desk key). */
export interface SignedNoticeMeta {
  meta: NoticeMeta
  signature: Uint8Array
}

/** JSON form of {@link SignedNoticeMeta}. */
export interface SignedNoticeMetaJson {
  roomId: string
  noticeId: string
  kind: NoticeKind
  dates: Record<string, string>
  envelopeHash: string
  signature: string
}

/** The plaintext of a 'notice' envelope. */
export interface NoticeContent {
  noticeId: string
  kind: NoticeKind
  dates: NoticeDates
  /** Application-defined encrypted details (programme, organisation, reason, contact). */
  details: Uint8Array
}

/** Optional content checks for {@link verifyNoticeMeta}. */
export interface NoticeChecks {
  /** The 'notice' envelope the meta refers to (already opened with openEnvelope). */
  envelope?: Envelope
  /** Its decrypted content, {@link decodeNoticeContent} of the plaintext. */
  content?: NoticeContent
}

export const MAX_NOTICE_DATES = 16
const DATE_KEY = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

const malformed: Fail = (message) => new NoticeError('malformed', message)

function isCalendarDate(s: string): boolean {
  const m = DATE.exec(s)
  if (!m) return false
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const t = new Date(Date.UTC(y, mo - 1, d))
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d
}

function normalizeDates(dates: unknown): NoticeDates {
  if (typeof dates !== 'object' || dates === null || Array.isArray(dates)) {
    throw malformed('dates must be an object')
  }
  const entries = Object.entries(dates as Record<string, unknown>)
  if (entries.length > MAX_NOTICE_DATES) throw malformed(`at most ${MAX_NOTICE_DATES} dates`)
  const out: Record<string, string> = {}
  for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!DATE_KEY.test(k)) throw malformed(`invalid date name ${JSON.stringify(k)}`)
    if (typeof v !== 'string' || !isCalendarDate(v))
      throw malformed(`${k} is not a YYYY-MM-DD date`)
    out[k] = v
  }
  return Object.freeze(out)
}

function encodeDates(dates: NoticeDates): Uint8Array {
  const keys = Object.keys(dates).sort()
  return encode('dates/v1', ...keys.flatMap((k) => [k, dates[k]!]))
}

function datesEqual(a: NoticeDates, b: NoticeDates): boolean {
  const ka = Object.keys(a).sort()
  const kb = Object.keys(b).sort()
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k])
}

function normalizeMeta(m: NoticeMeta): NoticeMeta {
  if (typeof m !== 'object' || m === null) throw malformed('notice meta must be an object')
  return Object.freeze({
    roomId: expectId(m.roomId, 'roomId', malformed),
    noticeId: expectId(m.noticeId, 'noticeId', malformed),
    kind: expectOneOf(m.kind, NOTICE_KINDS, 'kind', malformed),
    dates: normalizeDates(m.dates),
    envelopeHash: expectBytes(m.envelopeHash, HASH_BYTES, 'envelopeHash', malformed),
  })
}

/** Canonical bytes the notice signature covers ("notice/v1", dates sorted by name). */
export function noticeMetaBytes(meta: NoticeMeta): Uint8Array {
  const m = normalizeMeta(meta)
  return encode('notice/v1', m.roomId, m.noticeId, m.kind, encodeDates(m.dates), m.envelopeHash)
}

/** Signs the visible part of a notice with a device key or a desk key. */
export function signNoticeMeta(signPrivateKey: Uint8Array, meta: NoticeMeta): SignedNoticeMeta {
  const m = normalizeMeta(meta)
  expectBytes(signPrivateKey, SIGN_PRIVATE_KEY_BYTES, 'signPrivateKey', malformed)
  return { meta: m, signature: sign(signPrivateKey, noticeMetaBytes(m)) }
}

/**
 * Checks that `signed` is signed by `signerPk` (the author's device key, or the desk key
 * from the key log) and, when given, that it refers to exactly `checks.envelope` (same
 * room, type 'notice', same envelope hash) and agrees with the decrypted
 * `checks.content` (same notice id, kind and dates). Returns the verified meta.
 */
export function verifyNoticeMeta(
  signed: SignedNoticeMeta,
  signerPk: Uint8Array,
  checks: NoticeChecks = {},
): NoticeMeta {
  const m = normalizeMeta(signed.meta)
  const signature = expectBytes(signed.signature, SIGNATURE_BYTES, 'signature', malformed)
  if (!verify(signature, noticeMetaBytes(m), signerPk)) {
    throw new NoticeError('bad-signature', 'the notice metadata signature does not verify')
  }
  const env = checks.envelope
  if (env) {
    if (env.header.roomId !== m.roomId) {
      throw new NoticeError('wrong-room', 'the notice envelope is for another room')
    }
    if (env.header.type !== 'notice' || !bytesEqual(envelopeHash(env), m.envelopeHash)) {
      throw new NoticeError('wrong-envelope', 'the metadata refers to another envelope')
    }
  }
  const c = checks.content
  if (c) {
    if (c.noticeId !== m.noticeId || c.kind !== m.kind || !datesEqual(c.dates, m.dates)) {
      throw new NoticeError(
        'mismatch',
        'the visible kind or dates differ from the encrypted notice',
      )
    }
  }
  return m
}

/** The plaintext of a 'notice' envelope ("notice-content/v1"). */
export function encodeNoticeContent(c: NoticeContent): Uint8Array {
  const noticeId = expectId(c.noticeId, 'noticeId', malformed)
  const kind = expectOneOf(c.kind, NOTICE_KINDS, 'kind', malformed)
  if (!(c.details instanceof Uint8Array)) throw malformed('details must be bytes')
  return encode(
    'notice-content/v1',
    noticeId,
    kind,
    encodeDates(normalizeDates(c.dates)),
    c.details,
  )
}

/** Parses the plaintext of a 'notice' envelope. */
export function decodeNoticeContent(bytes: Uint8Array): NoticeContent {
  const f = fieldsOf(bytes, 'notice-content/v1', 4, malformed)
  const d = fieldsOfAtLeast(field(f, 2, malformed), 'dates/v1', 0, 2 * MAX_NOTICE_DATES, malformed)
  if (d.length % 2 !== 0) throw malformed('dates come in name/value pairs')
  const dates: Record<string, string> = {}
  for (let i = 0; i < d.length; i += 2) {
    const k = readString(d[i]!, malformed)
    if (Object.hasOwn(dates, k)) throw malformed(`duplicate date ${k}`)
    dates[k] = readString(d[i + 1]!, malformed)
  }
  const content: NoticeContent = {
    noticeId: readIdField(field(f, 0, malformed), 'noticeId', malformed),
    kind: expectOneOf(
      readString(field(f, 1, malformed), malformed),
      NOTICE_KINDS,
      'kind',
      malformed,
    ),
    dates: normalizeDates(dates),
    details: field(f, 3, malformed).slice(),
  }
  if (!bytesEqual(encodeNoticeContent(content), bytes)) throw malformed('notice is not canonical')
  return content
}

/** JSON form of signed notice metadata (what the server stores and shows). */
export function signedNoticeMetaToJson(s: SignedNoticeMeta): SignedNoticeMetaJson {
  return {
    roomId: s.meta.roomId,
    noticeId: s.meta.noticeId,
    kind: s.meta.kind,
    dates: { ...s.meta.dates },
    envelopeHash: toB64(s.meta.envelopeHash),
    signature: toB64(s.signature),
  }
}

/** Parses the JSON form (untrusted: exact keys, types, lengths); does not verify. */
export function signedNoticeMetaFromJson(json: unknown): SignedNoticeMeta {
  const rec = expectObject(
    json,
    ['roomId', 'noticeId', 'kind', 'dates', 'envelopeHash', 'signature'],
    'notice meta',
    malformed,
  )
  return {
    meta: normalizeMeta({
      roomId: rec.roomId as string,
      noticeId: rec.noticeId as string,
      kind: rec.kind as NoticeKind,
      dates: rec.dates as NoticeDates,
      envelopeHash: expectB64(rec.envelopeHash, HASH_BYTES, 'envelopeHash', malformed),
    }),
    signature: expectB64(rec.signature, SIGNATURE_BYTES, 'signature', malformed),
  }
}
