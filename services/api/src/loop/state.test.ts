import { describe, expect, it } from 'vitest'
import {
  TransitionError,
  beoordelingDue,
  caseState,
  checkTransition,
  type NoticeFact,
} from './state.js'
import { addWorkingDays, isWorkingDay } from './workdays.js'

const n = (seq: number, kind: string, dates: Record<string, string> = {}): NoticeFact => ({
  id: `n${seq}`,
  seq,
  kind,
  dates,
})

describe('case state machine', () => {
  const today = '2026-11-24'
  it.each([
    ['melding without notices', 'melding', [], [], 'gemeld'],
    ['case without notices', 'case', [], [], 'overleg'],
    [
      'assessed',
      'melding',
      [n(1, 'veiligheidsbeoordeling', { date: '2026-11-20' })],
      [],
      'beoordeeld',
    ],
    [
      'help started',
      'melding',
      [n(1, 'veiligheidsbeoordeling'), n(2, 'hulp-gestart')],
      [],
      'hulp-loopt',
    ],
    [
      'help ended',
      'case',
      [n(1, 'hulp-gestart'), n(2, 'hulp-beeindigd')],
      [],
      'hulp-beeindigd-monitoring',
    ],
    [
      'second help running',
      'case',
      [n(1, 'hulp-gestart'), n(2, 'hulp-beeindigd'), n(3, 'hulp-gestart')],
      [],
      'hulp-loopt',
    ],
    [
      'monitoring still running',
      'case',
      [
        n(1, 'hulp-gestart'),
        n(2, 'hulp-beeindigd'),
        n(3, 'monitoring-afspraak', { from: '2026-11-01', until: '2027-05-01' }),
      ],
      [{ noticeId: 'n3', dueOn: '2026-12-01', doneOn: null }],
      'hulp-beeindigd-monitoring',
    ],
    [
      'monitoring over, all checks done',
      'case',
      [
        n(1, 'hulp-gestart'),
        n(2, 'hulp-beeindigd'),
        n(3, 'monitoring-afspraak', { from: '2026-01-01', until: '2026-06-01' }),
      ],
      [{ noticeId: 'n3', dueOn: '2026-03-01', doneOn: '2026-03-02' }],
      'stabiel-veilig',
    ],
    [
      'monitoring over but a check open',
      'case',
      [
        n(1, 'hulp-gestart'),
        n(2, 'hulp-beeindigd'),
        n(3, 'monitoring-afspraak', { from: '2026-01-01', until: '2026-06-01' }),
      ],
      [{ noticeId: 'n3', dueOn: '2026-03-01', doneOn: null }],
      'hulp-beeindigd-monitoring',
    ],
  ] as const)('%s → %s', (_name, kind, notices, checks, expected) => {
    expect(caseState(kind, notices, checks, today, false)).toBe(expected)
  })

  it('is gesloten when the room is closed, whatever else', () => {
    expect(caseState('case', [n(1, 'hulp-gestart')], [], today, true)).toBe('gesloten')
  })

  it('refuses hulp-beeindigd before any hulp-gestart, with a clear Dutch message', () => {
    let err: unknown
    try {
      checkTransition('hulp-beeindigd', { end: '2026-11-24' }, [], [], undefined)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(TransitionError)
    expect((err as TransitionError).code).toBe('VS_NOTICE_NO_HELP')
    expect((err as Error).message).toMatch(/Er loopt geen hulp/)
  })

  it('refuses a second hulp-beeindigd for one hulp-gestart', () => {
    expect(() =>
      checkTransition(
        'hulp-beeindigd',
        { end: '2026-11-24' },
        [n(1, 'hulp-gestart'), n(2, 'hulp-beeindigd')],
        [],
        undefined,
      ),
    ).toThrow(TransitionError)
    expect(() =>
      checkTransition(
        'hulp-beeindigd',
        { end: '2026-11-24' },
        [n(1, 'hulp-gestart')],
        [],
        undefined,
      ),
    ).not.toThrow()
  })

  it('requires the dates each kind needs', () => {
    expect(() => checkTransition('hulp-gestart', {}, [], [], undefined)).toThrow(/start/)
    expect(() => checkTransition('veiligheidsbeoordeling', {}, [], [], undefined)).toThrow(/date/)
  })

  it('needs an owner and at least one check for a monitoring-afspraak', () => {
    expect(() =>
      checkTransition(
        'monitoring-afspraak',
        { from: '2026-11-24', until: '2027-05-24', check01: '2026-12-24' },
        [],
        [],
        undefined,
      ),
    ).toThrow(/eigenaar/)
    expect(() =>
      checkTransition(
        'monitoring-afspraak',
        { from: '2026-11-24', until: '2027-05-24' },
        [],
        [],
        'u1',
      ),
    ).toThrow(/controle/)
    expect(() =>
      checkTransition(
        'monitoring-afspraak',
        { from: '2027-11-24', until: '2027-05-24', check01: '2027-12-01' },
        [],
        [],
        'u1',
      ),
    ).toThrow(/until/)
  })

  it('accepts a monitoring-check only for an open check on that date', () => {
    const open = [{ noticeId: 'n3', dueOn: '2026-12-01', doneOn: null }]
    expect(() =>
      checkTransition(
        'monitoring-check',
        { done: '2026-12-01', due: '2026-12-01' },
        [],
        open,
        undefined,
      ),
    ).not.toThrow()
    expect(() =>
      checkTransition(
        'monitoring-check',
        { done: '2026-12-01', due: '2026-12-02' },
        [],
        open,
        undefined,
      ),
    ).toThrow(/Geen openstaande controle/)
  })
})

describe('Dutch working days', () => {
  it('skips weekends and public holidays', () => {
    expect(isWorkingDay('2026-11-24')).toBe(true)
    expect(isWorkingDay('2026-11-28')).toBe(false) // zaterdag
    expect(isWorkingDay('2026-12-25')).toBe(false) // Eerste Kerstdag
    expect(isWorkingDay('2026-04-27')).toBe(false) // Koningsdag
    expect(isWorkingDay('2026-05-14')).toBe(false) // Hemelvaartsdag
    expect(addWorkingDays('2026-12-23', 2)).toBe('2026-12-28')
  })

  it('puts the veiligheidsbeoordeling 5 working days after the melding', () => {
    expect(beoordelingDue('2026-11-24')).toBe('2026-12-01')
    expect(beoordelingDue('2026-12-22')).toBe('2026-12-30') // over Kerst
  })
})
