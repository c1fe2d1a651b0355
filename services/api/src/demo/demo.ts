/**
 * `pnpm demo`: seeds region Twente and walks one family through the product over the
 * real server and real WebSockets: an MDA case room, an adviesvraag (with the family
 * anonymous, and fully anonymous), a melding, and the loop back — veiligheidsbeoordeling,
 * hulp-gestart, hulp-beëindigd with a monitoring-afspraak, and a monitoring check.
 *
 * Prints a readable transcript, or with --json one JSON object per line for every event
 * sent or received: {"kind","room","from","to","plaintext","seq"}. At the end it scans
 * every table for the plaintexts it sent and reports that none is there.
 */
import { sql } from 'kysely'
import { TOTP, Secret } from 'otpauth'
import { randomId } from '@vs/crypto'
import { MemoryKeyStore, VsClient } from '@vs/client'
import {
  RoomsClient,
  acknowledgeNotice,
  askAnonymousConsult,
  askConsult,
  checkSchedule,
  fetchTokens,
  postNotice,
  type PublicDesk,
  type RoomSession,
  type TimelineItem,
} from '@vs/client/rooms'
import type { OrgKind, Role } from '@vs/protocol'
import { ConfigError, envToCfg, readEnv } from '../config.js'
import { StartupError, startServer, type RunningServer } from '../server.js'
import { bootstrapInvitation } from '../identity/bootstrap.js'

const HELP = `Veilig Samenwerken demo

Usage: pnpm demo [--json] [--help]

Seeds region Twente (organisations, a coordinator, a verloskundige, a kraamverzorgende,
a JGZ-verpleegkundige, a huisarts and a Veilig Thuis advisor), then walks one family
through a case room, an adviesvraag (family anonymous and fully anonymous), a melding,
hulp-gestart, hulp-beëindigd with monitoring and a monitoring check, through the real
server over WebSockets. Uses DATABASE_URL, or the embedded database in DATA_DIR (stop
\`pnpm start\` first: an embedded database has one user at a time). Runs again on the
same database: every run adds new people.

  --json   one JSON object per line for every event sent or received
`

interface Actor {
  name: string
  role: string
  client: VsClient
  rooms: RoomsClient
  userId: string
}

type Line = { kind: string; room: string; from: string; to: string; plaintext: string; seq: number }

function plaintextOf(i: TimelineItem): string | undefined {
  if (i.kind === 'message') {
    const b = i.content.body as Record<string, unknown>
    if (typeof b.text === 'string') return b.text
    if (typeof b.label === 'string') return b.label
    if (typeof b.question === 'string') return b.question
    if (typeof b.what === 'string') return `${String(b.what)} — ${String(b.who)} — ${String(b.due)}`
    return JSON.stringify(b)
  }
  if (i.kind === 'notice') return `${i.notice.kind} ${JSON.stringify(i.notice.details)}`
  return undefined
}

export async function runDemo(opts: {
  json: boolean
  out?: (s: string) => void
  server?: RunningServer
}): Promise<{ sent: Line[]; received: Line[]; leaked: string[] }> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s + '\n'))
  const server =
    opts.server ??
    (await startServer({
      ...envToCfg({ ...readEnv(), PORT: '0', HOST: '127.0.0.1' }),
      logLevel: 'warn',
    }))
  const ctx = server.ctx
  const run = randomId()
    .slice(0, 6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')
  const names = new Map<string, string>()
  const roomNames = new Map<string, string>()
  const sent: Line[] = []
  const received: Line[] = []
  const say = (s: string) => {
    if (!opts.json) out(s)
  }

  async function person(
    name: string,
    discipline: string,
    organisation: string,
    kind: OrgKind,
    role: Role,
  ): Promise<Actor> {
    const email = `${name.toLowerCase().replace(/[^a-z]+/g, '.')}.${run}@demo.twente.nl`
    const inv = await bootstrapInvitation(ctx, {
      region: 'Twente',
      organisation,
      kind,
      name,
      email,
      discipline,
      role,
    })
    const client = await VsClient.open({ baseUrl: server.url, store: new MemoryKeyStore() })
    const password = `demo-wachtwoord-${run}-${randomId()}`
    const { totpSecret } = await client.acceptInvitation(inv.code, password)
    const totp = new TOTP({
      secret: Secret.fromBase32(totpSecret),
      digits: 6,
      period: 30,
      algorithm: 'SHA1',
    }).generate()
    const me = await client.confirmInvitation(inv.code, password, totp)
    await client.setUpFirstDevice(`${name} — demo`)
    const rooms = new RoomsClient(await client.roomsHost())
    names.set(me.userId, `${name} (${discipline})`)
    return { name, role: discipline, client, rooms, userId: me.userId }
  }

  function watch(actor: Actor, session: RoomSession, roomId: string): void {
    session.onItem((i) => {
      const text = plaintextOf(i)
      if (text === undefined || i.kind === 'undecryptable' || i.kind === 'membership') return
      if (i.from === actor.userId || (i.from !== undefined && actorAs.get(actor)?.includes(i.from)))
        return
      const line = {
        kind: i.kind === 'notice' ? 'notice' : i.content.type,
        room: roomId,
        from: names.get(i.from) ?? i.from,
        to: `${actor.name} (${actor.role})`,
        plaintext: text,
        seq: i.seq,
      }
      received.push(line)
      if (opts.json) out(JSON.stringify({ ...line, direction: 'received' }))
      else
        say(
          `    ↳ ${line.to} ontving #${i.seq}: "${text.length > 48 ? text.slice(0, 47) + '…' : text}"`,
        )
    })
  }
  const actorAs = new Map<Actor, string[]>()

  async function send(
    actor: Actor,
    rooms: RoomsClient,
    roomId: string,
    text: string,
    from = actor.name,
  ): Promise<void> {
    const seq = await rooms.sendText(roomId, text)
    const line = {
      kind: 'text',
      room: roomId,
      from,
      to: roomNames.get(roomId) ?? roomId,
      plaintext: text,
      seq,
    }
    sent.push(line)
    if (opts.json) out(JSON.stringify({ ...line, direction: 'sent' }))
    else say(`  [${roomNames.get(roomId)} #${seq}] ${from}: ${text}`)
  }

  say('Veilig Samenwerken — demo (regio Twente)\n')
  say(`Server: ${server.url}, database: ${ctx.db.description}\n`)
  const coord = await person(
    'Carin Coördinator',
    'coördinator',
    'Veilig Thuis Twente',
    'veilig-thuis',
    'coordinator',
  )
  const advisor = await person(
    'Victor Veilig-Thuis',
    'Veilig Thuis-adviseur',
    'Veilig Thuis Twente',
    'veilig-thuis',
    'advisor',
  )
  const vera = await person(
    'Vera Verloskundige',
    'verloskundige',
    'Verloskundigenpraktijk Enschede',
    'verloskunde',
    'professional',
  )
  const karin = await person(
    'Karin Kraamzorg',
    'kraamverzorgende',
    'Kraamzorg Twente',
    'kraamzorg',
    'professional',
  )
  const jan = await person('Jan JGZ', 'JGZ-verpleegkundige', 'GGD Twente', 'jgz', 'professional')
  const hanna = await person(
    'Hanna Huisarts',
    'huisarts',
    'Huisartsenpraktijk Hengelo',
    'huisarts',
    'professional',
  )
  say(
    `Mensen aangemaakt: ${[coord, advisor, vera, karin, jan, hanna].map((a) => `${a.name} (${a.role})`).join(', ')}\n`,
  )

  const orgId = (await coord.client.me()).organisation.id
  const adviesDesk = await coord.client.createDesk(orgId, {
    name: `Veilig Thuis Twente — advies ${run}`,
    purpose: 'advies',
  })
  const meldDesk = await coord.client.createDesk(orgId, {
    name: `Veilig Thuis Twente — meldingen ${run}`,
    purpose: 'meldingen',
  })
  for (const d of [adviesDesk, meldDesk]) {
    await coord.client.addAdvisor(d.id, advisor.userId)
    await coord.client.publishDeskKey(d.id)
  }
  const asDesk = async (deskId: string, label: string): Promise<RoomsClient> => {
    const keys = (await advisor.client.deskKeys(deskId)).sort((a, b) => b.version - a.version)[0]!
    names.set(deskId, label)
    actorAs.set(advisor, [...(actorAs.get(advisor) ?? []), deskId])
    return new RoomsClient(await advisor.client.roomsHost(), {
      as: {
        memberId: deskId,
        deviceId: `v${keys.version}`,
        signSk: keys.sign.privateKey,
        boxKeyPair: keys.box,
      },
    })
  }
  const adviesRooms = await asDesk(adviesDesk.id, 'Veilig Thuis Twente — advies')
  const meldRooms = await asDesk(meldDesk.id, 'Veilig Thuis Twente — meldingen')

  // 1. Adviesvraag, family anonymous.
  say('1. Adviesvraag (gezin anoniem)')
  const q = {
    ageBand: 'ongeboren' as const,
    weeksPregnant: 24,
    signals: 'Zwangere vrouw vertelt over harde ruzies thuis; ze oogt angstig bij controles.',
    riskFactors: ['Partnergeweld', 'geïsoleerd gezin'],
    meldcodeStap: 'Stap 2 — collega en/of Veilig Thuis raadplegen',
    question: 'Moet ik dit melden, of kan ik eerst zelf hulp organiseren?',
  }
  const consultId = await askConsult(vera.rooms, adviesDesk.id, q, { discipline: 'verloskundige' })
  roomNames.set(consultId, 'adviesvraag')
  sent.push({
    kind: 'adviesvraag',
    room: consultId,
    from: vera.name,
    to: 'adviesvraag',
    plaintext: q.question,
    seq: 2,
  })
  if (opts.json)
    out(
      JSON.stringify({
        kind: 'adviesvraag',
        room: consultId,
        from: vera.name,
        to: 'Veilig Thuis Twente — advies',
        plaintext: q.question,
        seq: 2,
        direction: 'sent',
      }),
    )
  else say(`  [adviesvraag] ${vera.name}: ${q.question}`)
  watch(vera, await vera.rooms.open(consultId), consultId)
  await advisor.client
    .roomsHost()
    .then((h) => h.request('POST', `/api/v1/consults/${consultId}/claim`, {}))
  watch(advisor, await adviesRooms.open(consultId), consultId)
  await send(
    advisor,
    adviesRooms,
    consultId,
    'Goed dat je belt. Bespreek het met je collega en vraag of ze hulp wil; bij acuut gevaar: melden.',
    'Veilig Thuis Twente — advies',
  )
  await (
    await advisor.client.roomsHost()
  ).request('POST', `/api/v1/consults/${consultId}/close`, { outcome: 'advies gegeven' })

  // 2. Adviesvraag, also the asker anonymous.
  say('\n2. Adviesvraag (ook de vrager anoniem, met een blind ondertekend token)')
  const tokens = await fetchTokens(await karin.client.roomsHost(), 1)
  const publicDesks = await (
    await karin.client.roomsHost()
  ).request<PublicDesk[]>('GET', '/api/v1/anon/desks')
  const pd = publicDesks.find((d) => d.id === adviesDesk.id)!
  const anon = await askAnonymousConsult(
    server.url,
    tokens[0]!,
    pd,
    { ...q, question: 'Een kraamvrouw heeft blauwe plekken; hoe breng ik dit ter sprake?' },
    { discipline: 'kraamverzorgende' },
  )
  roomNames.set(anon.roomId, 'anonieme adviesvraag')
  names.set(anon.host.userId(), 'anonieme kraamverzorgende')
  sent.push({
    kind: 'adviesvraag',
    room: anon.roomId,
    from: 'anoniem',
    to: 'anonieme adviesvraag',
    plaintext: 'Een kraamvrouw heeft blauwe plekken; hoe breng ik dit ter sprake?',
    seq: 2,
  })
  say(
    `  [anonieme adviesvraag] (kraamverzorgende, anoniem): Een kraamvrouw heeft blauwe plekken; hoe breng ik dit ter sprake?`,
  )
  await (
    await advisor.client.roomsHost()
  ).request('POST', `/api/v1/consults/${anon.roomId}/claim`, {})
  const anonActor: Actor = {
    name: 'anonieme kraamverzorgende',
    role: 'anoniem',
    client: karin.client,
    rooms: anon.rooms,
    userId: anon.host.userId(),
  }
  watch(anonActor, await anon.rooms.open(anon.roomId), anon.roomId)
  await adviesRooms.open(anon.roomId)
  await send(
    advisor,
    adviesRooms,
    anon.roomId,
    'Vraag open hoe het thuis gaat, zonder te oordelen; noteer wat je ziet.',
    'Veilig Thuis Twente — advies',
  )

  // 3. The MDA case room.
  say('\n3. Casusoverleg (MDA) — kamer "Gezin Zonnebloem"')
  const caseId = await vera.rooms.create({
    kind: 'case',
    label: 'Gezin Zonnebloem',
    members: [
      { userId: karin.userId },
      { userId: jan.userId },
      { userId: hanna.userId },
      { userId: advisor.userId },
    ],
  })
  roomNames.set(caseId, 'Gezin Zonnebloem')
  for (const a of [karin, jan, hanna, advisor]) watch(a, await a.rooms.open(caseId), caseId)
  watch(vera, await vera.rooms.open(caseId), caseId)
  await send(
    vera,
    vera.rooms,
    caseId,
    'Moeder (24 weken) vertelt over spanningen thuis; partner was bij de laatste controle erg dominant.',
  )
  await send(
    hanna,
    hanna.rooms,
    caseId,
    'Ik ken het gezin; vader heeft een verslavingsverleden. Ik plan een gesprek.',
  )
  await send(
    jan,
    jan.rooms,
    caseId,
    'JGZ kan prenataal huisbezoek doen en Stevig Ouderschap aanbieden.',
  )
  await send(
    karin,
    karin.rooms,
    caseId,
    'Wij starten over 16 weken met de kraamzorg en letten op de signalen.',
  )
  await vera.rooms.addAfspraak(caseId, {
    what: 'Prenataal huisbezoek',
    who: 'Jan JGZ',
    due: '2026-12-08',
  })
  sent.push({
    kind: 'afspraak',
    room: caseId,
    from: vera.name,
    to: 'Gezin Zonnebloem',
    plaintext: 'Prenataal huisbezoek — Jan JGZ — 2026-12-08',
    seq: 0,
  })
  say(`  [Gezin Zonnebloem] afspraak: Prenataal huisbezoek — Jan JGZ — vóór 2026-12-08`)

  // 4. Melding and the loop back.
  say('\n4. Melding bij Veilig Thuis en terugkoppeling')
  const meldingId = await hanna.rooms.create({
    kind: 'melding',
    members: [{ userId: meldDesk.id, kind: 'desk' }],
  })
  roomNames.set(meldingId, 'melding')
  watch(hanna, await hanna.rooms.open(meldingId), meldingId)
  await send(
    hanna,
    hanna.rooms,
    meldingId,
    'Melding: gezin Zonnebloem (gegevens in deze versleutelde kamer), zorgen om partnergeweld tijdens zwangerschap.',
  )
  await meldRooms.open(meldingId)
  const advisorHost = await advisor.client.roomsHost()
  const beoordeling = await postNotice(advisorHost, advisor.rooms, caseId, {
    kind: 'veiligheidsbeoordeling',
    dates: { date: new Date().toISOString().slice(0, 10) },
    details: {
      uitkomst: 'overdracht aan MDA',
      toelichting: 'Vrijwillige hulp, met veiligheidsvoorwaarden.',
    },
  })
  say(`  [Gezin Zonnebloem] Veilig Thuis: veiligheidsbeoordeling (overdracht aan MDA)`)
  const today = new Date().toISOString().slice(0, 10)
  const gestart = await postNotice(advisorHost, advisor.rooms, caseId, {
    kind: 'hulp-gestart',
    dates: { start: today },
    details: { programma: 'Stevig Ouderschap', organisatie: 'GGD Twente', contact: 'Jan JGZ' },
  })
  say(`  [Gezin Zonnebloem] Veilig Thuis: hulp-gestart — Stevig Ouderschap (GGD Twente)`)
  const geeindigd = await postNotice(advisorHost, advisor.rooms, caseId, {
    kind: 'hulp-beeindigd',
    dates: { end: today },
    details: { reden: 'doel bereikt' },
  })
  say(`  [Gezin Zonnebloem] Veilig Thuis: hulp-beëindigd — doel bereikt`)
  const plan = checkSchedule(
    today,
    new Date(Date.now() + 180 * 864e5).toISOString().slice(0, 10),
    60,
  )
  const afspraak = await postNotice(advisorHost, advisor.rooms, caseId, {
    kind: 'monitoring-afspraak',
    dates: plan,
    details: { wie: 'Jan JGZ', hoeVaak: 'elke 2 maanden', totWanneer: plan.until },
    owner: jan.userId,
  })
  say(
    `  [Gezin Zonnebloem] Veilig Thuis: monitoring-afspraak — Jan JGZ, elke 2 maanden tot ${plan.until}`,
  )
  for (const a of [vera, karin, jan, hanna]) {
    const h = await a.client.roomsHost()
    for (const n of [beoordeling, gestart, geeindigd, afspraak])
      await acknowledgeNotice(h, n.noticeId)
  }
  say('  Alle volgers hebben de meldingen gezien (bevestigd).')
  await postNotice(await jan.client.roomsHost(), jan.rooms, caseId, {
    kind: 'monitoring-check',
    dates: { done: plan.check01!, due: plan.check01! },
    details: { uitkomst: 'stabiel veilig' },
  })
  say(`  [Gezin Zonnebloem] Jan JGZ: monitoring-check ${plan.check01} — stabiel veilig`)
  const cases = await (
    await jan.client.roomsHost()
  ).request<{ roomId: string; stateLabel: { nl: string }; nextCheck: { dueOn: string } | null }[]>(
    'GET',
    '/api/v1/cases',
  )
  const c = cases.find((x) => x.roomId === caseId)
  say(
    `  Casusoverzicht voor Jan: ${c?.stateLabel.nl}; volgende controle ${c?.nextCheck?.dueOn ?? '—'}`,
  )

  // Let the last deliveries arrive.
  await new Promise((r) => setTimeout(r, 500))
  for (const a of [vera, karin, jan, hanna, advisor, anonActor]) a.rooms.close()
  adviesRooms.close()
  meldRooms.close()

  // Nothing readable in the database.
  const leaked: string[] = []
  const tables = await sql<{
    table_name: string
  }>`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(
    ctx.db.db,
  )
  const dump: string[] = []
  for (const { table_name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table_name)}`.execute(
      ctx.db.db,
    )
    for (const r of rows.rows)
      dump.push(
        JSON.stringify(r, (_k, v: unknown) =>
          v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
        ),
      )
  }
  const all = dump.join('\n')
  for (const s of sent) if (all.includes(s.plaintext.slice(0, 40))) leaked.push(s.plaintext)
  if (!opts.json) {
    say(`\n${sent.length} berichten verstuurd, ${received.length} keer ontvangen en ontsleuteld.`)
    say(
      leaked.length === 0
        ? `Geen enkel bericht staat leesbaar in de database (${tables.rows.length} tabellen doorzocht). ✓`
        : `LEK: ${leaked.length} berichten leesbaar in de database!`,
    )
  } else {
    out(
      JSON.stringify({
        kind: 'summary',
        sent: sent.length,
        received: received.length,
        leaked: leaked.length,
      }),
    )
  }
  if (!opts.server) await server.close()
  return { sent, received, leaked }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(HELP)
    return
  }
  const unknown = process.argv.slice(2).filter((a) => a !== '--json')
  if (unknown.length)
    throw new ConfigError('arguments', `unknown option ${unknown.join(' ')} (see --help)`)
  const started = Date.now()
  const r = await runDemo({ json: process.argv.includes('--json') })
  if (!process.argv.includes('--json'))
    process.stdout.write(`Klaar in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`)
  // Sockets of the demo's clients may still be closing; the work is done.
  process.exit(r.leaked.length ? 2 : 0)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  main().catch((err: unknown) => {
    const msg =
      err instanceof ConfigError || err instanceof StartupError
        ? err.message
        : ((err as Error).stack ?? String(err))
    process.stderr.write(`vs-demo: ${msg}\n`)
    process.exit(1)
  })
}
