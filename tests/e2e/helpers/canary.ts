/**
 * Canaries: unique strings put into everything a family's professionals write (room
 * label, messages, afspraken, attachments), then searched for in what an operator or a
 * thief gets: database dumps, data folders, logs. Searched as UTF-8 and as every encoding
 * a server might store bytes in (hex as bytea is dumped, base64 and base64url at every
 * byte alignment, UTF-16), so a plaintext copy cannot hide behind an encoding.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { expect } from 'vitest'
import {
  RoomsClient,
  postNotice,
  type FileContent,
  type NoticeInput,
  type RoomsHost,
  type TimelineItem,
} from '@vs/client/rooms'
import { until } from './people.js'

export function makeCanary(tag = 'CANARY'): string {
  return `${tag}-${randomBytes(8).toString('hex')}`
}

/** Every form the canary's bytes could take in storage or logs. */
export function canaryForms(canary: string): { encoding: string; needle: Buffer }[] {
  const bytes = Buffer.from(canary, 'utf8')
  const forms: { encoding: string; needle: Buffer }[] = [
    { encoding: 'utf8', needle: bytes },
    { encoding: 'utf16le', needle: Buffer.from(canary, 'utf16le') },
    { encoding: 'hex', needle: Buffer.from(bytes.toString('hex')) },
    { encoding: 'HEX', needle: Buffer.from(bytes.toString('hex').toUpperCase()) },
  ]
  // Inside a longer value the canary starts at any offset mod 3; keep only the base64
  // characters that depend on the canary's bytes alone.
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64')
    const stable = b64.slice(shift ? 4 : 0, 4 * Math.floor((shift + bytes.length) / 3))
    forms.push({ encoding: `base64@${shift}`, needle: Buffer.from(stable) })
    forms.push({
      encoding: `base64url@${shift}`,
      needle: Buffer.from(stable.replace(/\+/g, '-').replace(/\//g, '_')),
    })
  }
  return forms
}

/** The encodings in which `canary` occurs in `haystack` (empty: not there). */
export function findCanary(haystack: Buffer | string, canary: string): string[] {
  const hay = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack
  return canaryForms(canary)
    .filter((f) => hay.includes(f.needle))
    .map((f) => f.encoding)
}

/** A full plain-format dump (schema and data) of one PostgreSQL database, as pg_dump makes it. */
export async function pgDump(databaseUrl: string): Promise<Buffer> {
  const bin = existsSync('/usr/bin/pg_dump') ? '/usr/bin/pg_dump' : 'pg_dump'
  const { stdout } = await promisify(execFile)(
    bin,
    ['--format=plain', '--no-owner', '--no-privileges', `--dbname=${databaseUrl}`],
    { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 },
  )
  return stdout
}

/** The canary as it appears in each kind of content of the exchange. */
export interface CanaryContent {
  label: string
  text: string
  afspraak: { what: string; who: string; due: string }
  fileName: string
  file: Uint8Array
  /** A hulp-gestart notice: kind and dates are server-visible by design, details are not. */
  notice: NoticeInput
}

export function canaryContent(canary: string): CanaryContent {
  // The canary sits at different byte offsets in each value and, in the file, at an
  // offset past the first chunk boundary too.
  const file = Buffer.alloc(1024 * 1024 + 4096, 0x20)
  file.write(`Verslag huisbezoek ${canary}\n`, 0)
  file.write(`bijlage ${canary} einde`, 1024 * 1024 + 17)
  return {
    label: `Gezin ${canary}`,
    text: `Moeder vertelt over ${canary} thuis`,
    afspraak: { what: `Huisbezoek ${canary}`, who: `JGZ ${canary}`, due: '2026-12-01' },
    fileName: `verslag-${canary}.pdf`,
    file: new Uint8Array(file),
    notice: {
      kind: 'hulp-gestart',
      dates: { start: '2026-11-24' },
      details: {
        programma: 'Stevig Ouderschap',
        organisatie: `GGD ${canary}`,
        contact: `${canary} 053-0000000`,
      },
    },
  }
}

function texts(items: readonly TimelineItem[]): string[] {
  return items.flatMap((i) =>
    i.kind === 'message' && i.content.type === 'text'
      ? [(i.content.body as { text: string }).text]
      : [],
  )
}

/**
 * Anna opens a room with the canary label, sends a message, an afspraak, an attachment and
 * a hulp-gestart notice; Bert replies. Bert's and Anna's clients must read it all back (so the canaries really
 * travelled through the server), and the room id is returned.
 */
export async function exchangeWithCanaries(
  annaHost: RoomsHost,
  anna: RoomsClient,
  bert: RoomsClient,
  bertId: string,
  c: CanaryContent,
): Promise<string> {
  const roomId = await anna.create({ kind: 'case', label: c.label, members: [{ userId: bertId }] })
  await anna.sendText(roomId, c.text)
  await anna.addAfspraak(roomId, c.afspraak)
  await anna.attach(roomId, c.file, c.fileName, 'application/pdf')
  await postNotice(annaHost, anna, roomId, c.notice)
  const bs = await bert.open(roomId)
  await bert.sendText(roomId, `Antwoord op ${c.text}`)
  await until(
    () =>
      texts(bs.timeline).length === 2 &&
      bs.timeline.some(isFile) &&
      bs.timeline.some((i) => i.kind === 'notice'),
    15_000,
    () => 'Bert to receive everything',
  )
  expect(RoomsClient.label(bs.timeline)).toBe(c.label)
  expect(texts(bs.timeline)).toEqual([c.text, `Antwoord op ${c.text}`])
  expect(RoomsClient.afspraken(bs.timeline)).toEqual([expect.objectContaining(c.afspraak)])
  const f = bs.timeline.find(isFile)!
  const body = f.content.body as FileContent
  expect(body.name).toBe(c.fileName)
  expect(Buffer.compare(await bert.download(roomId, body), c.file)).toBe(0)
  const notice = bs.timeline.find((i) => i.kind === 'notice')
  expect(notice).toMatchObject({ notice: { kind: c.notice.kind, details: c.notice.details } })
  const as = await anna.open(roomId)
  await until(
    () => texts(as.timeline).length === 2,
    15_000,
    () => 'Anna to receive the reply',
  )
  return roomId
}

function isFile(i: TimelineItem): i is Extract<TimelineItem, { kind: 'message' }> {
  return i.kind === 'message' && i.content.type === 'file'
}
