/**
 * The state of a case, computed from notice kinds and dates only (the server never sees
 * the details): gemeld → beoordeeld → hulp loopt → hulp beëindigd – monitoring →
 * stabiel veilig, or gesloten.
 */
import { addWorkingDays } from './workdays.js'

export type CaseState =
  | 'overleg'
  | 'gemeld'
  | 'beoordeeld'
  | 'hulp-loopt'
  | 'hulp-beeindigd-monitoring'
  | 'stabiel-veilig'
  | 'gesloten'

export const STATE_LABELS: Record<CaseState, { nl: string; en: string }> = {
  overleg: { nl: 'casusoverleg', en: 'case consultation' },
  gemeld: { nl: 'gemeld', en: 'reported' },
  beoordeeld: { nl: 'beoordeeld', en: 'assessed' },
  'hulp-loopt': { nl: 'hulp loopt', en: 'help under way' },
  'hulp-beeindigd-monitoring': { nl: 'hulp beëindigd – monitoring', en: 'help ended – monitoring' },
  'stabiel-veilig': { nl: 'stabiel veilig', en: 'stably safe' },
  gesloten: { nl: 'gesloten', en: 'closed' },
}

export interface NoticeFact {
  id: string
  kind: string
  dates: Record<string, string>
  seq: number
}

export interface CheckFact {
  noticeId: string
  dueOn: string
  doneOn: string | null
}

export function caseState(
  roomKind: 'case' | 'consult' | 'melding',
  notices: readonly NoticeFact[],
  checks: readonly CheckFact[],
  today: string,
  closed: boolean,
): CaseState {
  if (closed) return 'gesloten'
  const started = notices.filter((n) => n.kind === 'hulp-gestart').length
  const ended = notices.filter((n) => n.kind === 'hulp-beeindigd').length
  if (started > ended) return 'hulp-loopt'
  if (ended > 0) {
    const afspraken = notices.filter((n) => n.kind === 'monitoring-afspraak')
    const last = afspraken[afspraken.length - 1]
    if (last && last.seq > lastSeqOf(notices, 'hulp-beeindigd')) {
      const own = checks.filter((c) => c.noticeId === last.id)
      const until = last.dates.until
      if (until && until < today && own.every((c) => c.doneOn !== null)) return 'stabiel-veilig'
    }
    return 'hulp-beeindigd-monitoring'
  }
  if (notices.some((n) => n.kind === 'veiligheidsbeoordeling')) return 'beoordeeld'
  return roomKind === 'melding' ? 'gemeld' : 'overleg'
}

function lastSeqOf(notices: readonly NoticeFact[], kind: string): number {
  let s = -1
  for (const n of notices) if (n.kind === kind) s = Math.max(s, n.seq)
  return s
}

/** Veilig Thuis must assess a melding within 5 working days. */
export function beoordelingDue(createdDay: string): string {
  return addWorkingDays(createdDay, 5)
}

export class TransitionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'TransitionError'
  }
}

const REQUIRED_DATES: Record<string, string[]> = {
  'hulp-gestart': ['start'],
  'hulp-beeindigd': ['end'],
  'monitoring-afspraak': ['from', 'until'],
  'monitoring-check': ['done', 'due'],
  veiligheidsbeoordeling: ['date'],
}

/** Refuses a notice that does not fit the case's history, with a clear Dutch message. */
export function checkTransition(
  kind: string,
  dates: Record<string, string>,
  notices: readonly NoticeFact[],
  openChecks: readonly CheckFact[],
  owner: string | undefined,
): void {
  for (const d of REQUIRED_DATES[kind] ?? []) {
    if (!dates[d])
      throw new TransitionError('VS_NOTICE_DATES', `Datum '${d}' ontbreekt / Date '${d}' missing`)
  }
  const started = notices.filter((n) => n.kind === 'hulp-gestart').length
  const ended = notices.filter((n) => n.kind === 'hulp-beeindigd').length
  switch (kind) {
    case 'hulp-beeindigd':
      if (started <= ended) {
        throw new TransitionError(
          'VS_NOTICE_NO_HELP',
          'Er loopt geen hulp in deze casus: meld eerst hulp-gestart / No help is under way: post hulp-gestart first',
        )
      }
      return
    case 'monitoring-afspraak': {
      if (!owner)
        throw new TransitionError(
          'VS_NOTICE_OWNER',
          'Wie monitort? Kies een eigenaar / Choose who monitors',
        )
      const checks = Object.keys(dates).filter((k) => k.startsWith('check'))
      if (checks.length === 0)
        throw new TransitionError(
          'VS_NOTICE_DATES',
          'Plan minstens één controle / Plan at least one check',
        )
      if (dates.until! < dates.from!)
        throw new TransitionError(
          'VS_NOTICE_DATES',
          "'until' ligt voor 'from' / 'until' is before 'from'",
        )
      return
    }
    case 'monitoring-check':
      if (!openChecks.some((c) => c.dueOn === dates.due)) {
        throw new TransitionError(
          'VS_NOTICE_NO_CHECK',
          `Geen openstaande controle op ${dates.due} / No open check due on ${dates.due}`,
        )
      }
      return
    default:
      return
  }
}
