import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { bytesEqual, utf8 } from '../encoding.js'
import { cryptoReady, sodium } from '../sodium.js'
import {
  commitHash,
  createGenesis,
  validateChain,
  type Commit,
  type DeviceDirectory,
} from './commit.js'
import {
  ReceiverState,
  envelopeHash,
  openEnvelope,
  sealEnvelope,
  type Envelope,
} from './envelope.js'
import { newEpochSecret } from './epoch.js'
import { NoticeError, type NoticeErrorCode } from './errors.js'
import {
  decodeNoticeContent,
  encodeNoticeContent,
  noticeMetaBytes,
  signNoticeMeta,
  signedNoticeMetaFromJson,
  signedNoticeMetaToJson,
  verifyNoticeMeta,
  type NoticeContent,
  type NoticeMeta,
} from './notice.js'
import type { SignKeyPair } from './primitives.js'
import { LOG_HEAD, T0, makeDevice, makeDirectory, type TestDevice } from './test-utils.js'

let advisor: TestDevice
let prof: TestDevice
let desk: SignKeyPair
let dir: DeviceDirectory
let g: Commit
let secret: Uint8Array

beforeAll(async () => {
  await cryptoReady()
  advisor = makeDevice('vt-twente', 'adviseur-1')
  prof = makeDevice('jgz-anna', 'laptop')
  const kp = sodium().crypto_sign_keypair()
  desk = { publicKey: kp.publicKey, privateKey: kp.privateKey }
  dir = makeDirectory(advisor, prof).lookup
  g = createGenesis({
    roomId: 'case-42',
    kind: 'case',
    committer: prof.ref,
    signPrivateKey: prof.sign.privateKey,
    members: [
      { userId: 'jgz-anna', role: 'admin', devices: ['laptop'] },
      { userId: 'vt-twente', kind: 'desk', role: 'member', devices: ['adviseur-1'] },
    ],
    logHead: LOG_HEAD,
    createdAt: T0,
  })
  secret = newEpochSecret()
})

const content: NoticeContent = {
  noticeId: 'n-1',
  kind: 'hulp-beeindigd',
  dates: { end: '2026-11-20', followUp: '2027-02-20' },
  details: utf8('{"programma":"VoorZorg","reden":"afgerond"}'),
}

function noticeEnvelope(c: NoticeContent = content): Envelope {
  return sealEnvelope({
    roomId: g.roomId,
    epoch: 0,
    commitHash: commitHash(g),
    senderUserId: 'vt-twente',
    senderDeviceId: 'adviseur-1',
    counter: 0,
    sentAt: T0 + 1,
    type: 'notice',
    logHead: LOG_HEAD,
    plaintext: encodeNoticeContent(c),
    epochSecret: secret,
    signPrivateKey: advisor.sign.privateKey,
  })
}

function metaFor(env: Envelope, c: NoticeContent = content): NoticeMeta {
  return {
    roomId: env.header.roomId,
    noticeId: c.noticeId,
    kind: c.kind,
    dates: c.dates,
    envelopeHash: envelopeHash(env),
  }
}

function expectNoticeError(fn: () => unknown, code: NoticeErrorCode): void {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(NoticeError)
    expect((e as NoticeError).code).toBe(code)
    return
  }
  throw new Error(`expected NoticeError ${code}, nothing was thrown`)
}

describe('notices', () => {
  it('travel as a notice envelope whose visible part the desk signs and members verify', () => {
    const env = noticeEnvelope()
    const signed = signNoticeMeta(desk.privateKey, metaFor(env))
    // The server stores and serves the JSON form.
    const served = signedNoticeMetaFromJson(
      JSON.parse(JSON.stringify(signedNoticeMetaToJson(signed))),
    )
    const room = validateChain([g], dir)
    const r = new ReceiverState('case-42')
    r.addEpochSecret(0, commitHash(g), secret)
    const opened = openEnvelope(r, env, room, dir)
    expect(opened.header.type).toBe('notice')
    const decoded = decodeNoticeContent(opened.plaintext)
    const meta = verifyNoticeMeta(served, desk.publicKey, { envelope: env, content: decoded })
    expect(meta.kind).toBe('hulp-beeindigd')
    expect(meta.dates).toEqual({ end: '2026-11-20', followUp: '2027-02-20' })
    expect(bytesEqual(decoded.details, content.details)).toBe(true)
  })

  it('can also be signed by a device key', () => {
    const env = noticeEnvelope()
    const signed = signNoticeMeta(advisor.sign.privateKey, metaFor(env))
    expect(verifyNoticeMeta(signed, advisor.sign.publicKey).noticeId).toBe('n-1')
    expectNoticeError(() => verifyNoticeMeta(signed, desk.publicKey), 'bad-signature')
  })

  it('are refused when the server changes the visible kind or a date', () => {
    const signed = signNoticeMeta(desk.privateKey, metaFor(noticeEnvelope()))
    expectNoticeError(
      () =>
        verifyNoticeMeta(
          { ...signed, meta: { ...signed.meta, kind: 'hulp-gestart' } },
          desk.publicKey,
        ),
      'bad-signature',
    )
    expectNoticeError(
      () =>
        verifyNoticeMeta(
          {
            ...signed,
            meta: { ...signed.meta, dates: { ...signed.meta.dates, followUp: '2027-12-31' } },
          },
          desk.publicKey,
        ),
      'bad-signature',
    )
    expectNoticeError(
      () =>
        verifyNoticeMeta(
          { ...signed, meta: { ...signed.meta, dates: { end: '2026-11-20' } } },
          desk.publicKey,
        ),
      'bad-signature',
    )
  })

  it('are refused when the metadata points at another envelope', () => {
    const env = noticeEnvelope()
    const signed = signNoticeMeta(desk.privateKey, metaFor(env))
    expectNoticeError(
      () => verifyNoticeMeta(signed, desk.publicKey, { envelope: noticeEnvelope() }),
      'wrong-envelope',
    )
    const otherRoom = signNoticeMeta(desk.privateKey, { ...metaFor(env), roomId: 'case-43' })
    expectNoticeError(
      () => verifyNoticeMeta(otherRoom, desk.publicKey, { envelope: env }),
      'wrong-room',
    )
  })

  it('are refused when the visible kind or dates differ from the encrypted content', () => {
    const env = noticeEnvelope()
    const lying = signNoticeMeta(desk.privateKey, { ...metaFor(env), kind: 'hulp-gestart' })
    expectNoticeError(() => verifyNoticeMeta(lying, desk.publicKey, { content }), 'mismatch')
    const moved = signNoticeMeta(desk.privateKey, {
      ...metaFor(env),
      dates: { end: '2026-11-20', followUp: '2028-01-01' },
    })
    expectNoticeError(() => verifyNoticeMeta(moved, desk.publicKey, { content }), 'mismatch')
  })

  it('sign the same bytes whatever the order of the dates', () => {
    const env = noticeEnvelope()
    const a = noticeMetaBytes({
      ...metaFor(env),
      dates: { end: '2026-11-20', followUp: '2027-02-20' },
    })
    const b = noticeMetaBytes({
      ...metaFor(env),
      dates: { followUp: '2027-02-20', end: '2026-11-20' },
    })
    expect(bytesEqual(a, b)).toBe(true)
  })

  it('accept only real YYYY-MM-DD dates, known kinds and sane date names', () => {
    const env = noticeEnvelope()
    const bad: Record<string, string>[] = [
      { due: '2026-02-30' },
      { due: '2026-2-3' },
      { due: '20261122' },
      { 'due date': '2026-11-22' },
    ]
    for (const dates of bad) {
      expectNoticeError(
        () => signNoticeMeta(desk.privateKey, { ...metaFor(env), dates }),
        'malformed',
      )
    }
    expectNoticeError(
      () => signNoticeMeta(desk.privateKey, { ...metaFor(env), kind: 'melding' as never }),
      'malformed',
    )
    expect(
      signNoticeMeta(desk.privateKey, { ...metaFor(env), dates: { due: '2028-02-29' } }).meta.dates
        .due,
    ).toBe('2028-02-29')
  })

  it('round-trip their content and refuse malformed content', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          'hulp-gestart' as const,
          'hulp-beeindigd' as const,
          'monitoring-afspraak' as const,
          'monitoring-check' as const,
          'veiligheidsbeoordeling' as const,
        ),
        fc.dictionary(
          fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,10}$/),
          fc
            .date({ min: new Date('2000-01-01'), max: new Date('2099-12-31'), noInvalidDate: true })
            .map((d) => d.toISOString().slice(0, 10)),
          { maxKeys: 5 },
        ),
        fc.uint8Array({ maxLength: 200 }),
        (kind, dates, details) => {
          const c = { noticeId: 'n-9', kind, dates, details }
          const back = decodeNoticeContent(encodeNoticeContent(c))
          expect(back.kind).toBe(kind)
          expect(back.dates).toEqual(dates)
          expect(bytesEqual(back.details, details)).toBe(true)
        },
      ),
      { numRuns: 100 },
    )
    expectNoticeError(() => decodeNoticeContent(utf8('niet een notice')), 'malformed')
  })

  it('refuse malformed JSON metadata', () => {
    const json = signedNoticeMetaToJson(signNoticeMeta(desk.privateKey, metaFor(noticeEnvelope())))
    expectNoticeError(() => signedNoticeMetaFromJson({ ...json, extra: true }), 'malformed')
    expectNoticeError(() => signedNoticeMetaFromJson({ ...json, signature: 'AAAA' }), 'malformed')
    expectNoticeError(() => signedNoticeMetaFromJson({ ...json, dates: [] }), 'malformed')
  })
})
