/**
 * The backup procedure of docs/operations.md, end to end: pg_dump of a live database, restore
 * into a new one, a new API process on it with the same KEYS_DIR. The restored service serves
 * the same rooms: the same ciphertext bytes, sessions still valid, the audit chain intact, and
 * members' clients decrypt everything; the dump itself holds no message, label or file content
 * (the server never had anything to decrypt).
 *
 * PostgreSQL: DATABASE_URL when set, else postgres://postgres@127.0.0.1:5432/postgres.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cryptoReady } from '@vs/crypto'
import type { RoomSummary } from '@vs/protocol'
import { RoomsClient, type TimelineItem } from '@vs/client/rooms'
import { createEmptyPostgresDb, freePort, http, runScript } from '@vs/api/testing'
import { ApiNode, enrolAll, makeKeys, until, type Member } from './cluster.js'

const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

function texts(items: readonly TimelineItem[]): string[] {
  return items.flatMap((i) =>
    i.kind === 'message' && i.content.type === 'text'
      ? [(i.content.body as { text: string }).text]
      : [],
  )
}

/** pg_dump/pg_restore take libpq URLs; the password (if any) stays in the URL. */
function pg(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

describe('backup and restore', () => {
  const dbs: (() => Promise<void>)[] = []
  const clients: RoomsClient[] = []
  let work: string
  let node: ApiNode | undefined

  beforeAll(async () => {
    await cryptoReady()
    work = await mkdtemp(path.join(tmpdir(), 'vs-backup-'))
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await node?.stop()
    for (const drop of dbs) await drop()
    await rm(work, { recursive: true, force: true })
  })

  it('restores a pg_dump into a database that serves the same rooms, ciphertext only', async () => {
    const keysDir = path.join(work, 'keys')
    makeKeys(keysDir)
    const original = await createEmptyPostgresDb(serverUrl)
    dbs.push(original.drop)
    const port = await freePort()
    const publicUrl = `http://127.0.0.1:${port}`
    const env = (databaseUrl: string) => ({
      DATABASE_URL: databaseUrl,
      KEYS_DIR: keysDir,
      PUBLIC_URL: publicUrl,
      LOG_LEVEL: 'warn',
    })
    node = new ApiNode('original', port, env(original.url))
    await node.start()
    const [anna, bert] = (await enrolAll(env(original.url), publicUrl, ['Anna', 'Bert'])) as [
      Member,
      Member,
    ]
    const a = new RoomsClient(anna.host)
    clients.push(a)
    const secrets = ['Zorgen over moeder na de bevalling', 'Huisbezoek donderdag 10:00']
    const label = 'Gezin Zonnebloem'
    const roomId = await a.create({ kind: 'case', label, members: [{ userId: bert.userId }] })
    for (const s of secrets) await a.sendText(roomId, s)
    const file = new TextEncoder().encode('Verslag: BSN 123456782, Dorpsstraat 1 Enschede')
    await a.attach(roomId, file, 'verslag.txt', 'text/plain')
    const eventsBefore = await http<{ events: unknown[] }>(
      publicUrl,
      'GET',
      `/api/v1/rooms/${roomId}/events`,
      undefined,
      anna.host.token,
    )
    a.close()
    const listRooms = (m: Member) =>
      http<RoomSummary[]>(publicUrl, 'GET', '/api/v1/rooms', undefined, m.host.token)
    const roomsBefore = await listRooms(bert)

    // Backup while the service runs (pg_dump takes a consistent snapshot), then lose it all.
    const dump = path.join(work, 'veilig.dump')
    pg('pg_dump', ['--format=custom', '--compress=0', `--file=${dump}`, original.url])
    expect(await node.stop()).toBe(0)
    node = undefined

    // Nothing in the dump can be read: no message, label, file name or file content.
    const bytes = await readFile(dump)
    for (const plain of [...secrets, label, 'verslag.txt', 'BSN 123456782', 'Dorpsstraat']) {
      expect(bytes.includes(Buffer.from(plain)), plain).toBe(false)
    }

    // Restore into a new database and start a new process on it with the same keys.
    const restored = await createEmptyPostgresDb(serverUrl)
    dbs.push(restored.drop)
    pg('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${restored.url}`, dump])
    node = new ApiNode('restored', port, env(restored.url))
    await node.start()

    // Same ciphertext, and the sessions made before the backup still work (same keys).
    const eventsAfter = await http<{ events: unknown[] }>(
      publicUrl,
      'GET',
      `/api/v1/rooms/${roomId}/events`,
      undefined,
      anna.host.token,
    )
    expect(eventsAfter).toEqual(eventsBefore)
    expect(await listRooms(bert)).toEqual(roomsBefore)
    expect(roomsBefore.map((r) => r.id)).toContain(roomId)

    // Bert's client, which never saw the room, decrypts all of it from the restored server.
    const b = new RoomsClient(bert.host)
    clients.push(b)
    const bs = await b.open(roomId)
    expect(texts(bs.timeline)).toEqual(secrets)
    expect(RoomsClient.label(bs.timeline)).toBe(label)
    const f = bs.timeline.find((i) => i.kind === 'message' && i.content.type === 'file')
    const got = await b.download(
      roomId,
      (f as Extract<TimelineItem, { kind: 'message' }>).content.body as never,
    )
    expect(Buffer.compare(got, file)).toBe(0)
    // The conversation goes on from where it was.
    const seq = await b.sendText(roomId, 'na het herstel')
    expect(seq).toBe(eventsBefore.events.length + 1)
    await until('the new message is in the timeline', () => texts(bs.timeline).length === 3)

    // The audit chain (NEN 7513) survived the restore intact, signed checkpoints included.
    const audit = runScript('cli.ts', ['audit', 'verify'], env(restored.url))
    expect(await audit.exited, audit.output()).toBe(0)
    expect(audit.output()).toMatch(/Audit chain intact/)
  }, 60_000)
})
