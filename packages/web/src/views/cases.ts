/**
 * Casussen: every case or melding the person follows, with its state, the timeline of
 * notices, what is overdue and the next check; sortable and filterable. The owner of a
 * due check records it right here.
 */
import { h, mount, onClick } from '../dom.js'
import { formatDay, isoToday, pick, t } from '../i18n.js'
import { cachedLabel, labelOf, live, names as loadNames, type Live, type Names } from '../live.js'
import { paths } from '../router.js'
import { alertBox, errorText, statusLine } from '../ui.js'
import type { View } from '../app.js'
import { checkForm } from './notices.js'
import { noticeKindText } from './timeline.js'

interface CaseOverview {
  roomId: string
  kind: string
  state: string
  stateLabel: { nl: string; en: string }
  createdAt: string
  timeline: { noticeId: string; kind: string; dates: Record<string, string>; seq: number }[]
  overdue: {
    beoordelingDue: string | null
    beoordelingOverdue: boolean
    checksOverdue: { dueOn: string; owner: string }[]
    unacknowledged: number
  }
  nextCheck: { dueOn: string; owner: string } | null
}

const MAIN_DATE = ['start', 'end', 'from', 'done', 'date']

function needsAttention(c: CaseOverview): boolean {
  return c.overdue.beoordelingOverdue || c.overdue.checksOverdue.length > 0
}

export const casesView: View = async (ctx) => {
  const l = await live(ctx.client)
  const nm = await loadNames(ctx.client, t('anonAsker'), t('youObject'))
  const alert = alertBox()
  const list = h('div', { class: 'case-list', 'data-testid': 'case-list' })
  const count = h('p', { class: 'muted small', role: 'status' })
  let cases: CaseOverview[] = []
  const labels = new Map<string, string>()

  const sort = h(
    'select',
    { id: 'case-sort' },
    h('option', { value: 'attention' }, t('sortAttention')),
    h('option', { value: 'newest' }, t('sortNewest')),
    h('option', { value: 'name' }, t('sortName')),
  )
  const stateFilter = h('select', { id: 'case-state' })
  const overdueOnly = h('input', { type: 'checkbox', id: 'case-overdue' })
  for (const el of [sort, stateFilter, overdueOnly]) el.addEventListener('change', () => render())

  const labelFor = (c: CaseOverview) =>
    labels.get(c.roomId) ??
    cachedLabel(l.userId, c.roomId) ??
    t('openedOn', { date: formatDay(c.createdAt.slice(0, 10)) })

  function sorted(): CaseOverview[] {
    const out = cases.filter(
      (c) =>
        (!stateFilter.value || c.state === stateFilter.value) &&
        (!overdueOnly.checked || needsAttention(c)),
    )
    const by = sort.value
    out.sort((a, b) => {
      if (by === 'name') return labelFor(a).localeCompare(labelFor(b))
      if (by === 'newest') return b.createdAt.localeCompare(a.createdAt)
      const rank = (c: CaseOverview) =>
        needsAttention(c) ? 0 : c.overdue.unacknowledged > 0 ? 1 : c.nextCheck ? 2 : 3
      return (
        rank(a) - rank(b) ||
        (a.nextCheck?.dueOn ?? '9999').localeCompare(b.nextCheck?.dueOn ?? '9999') ||
        b.createdAt.localeCompare(a.createdAt)
      )
    })
    return out
  }

  function render() {
    const states = new Map(cases.map((c) => [c.state, pick(c.stateLabel)]))
    const chosen = stateFilter.value
    mount(
      stateFilter,
      h('option', { value: '' }, t('allStates')),
      ...[...states].map(([v, text]) =>
        h('option', { value: v, selected: v === chosen ? true : undefined }, text),
      ),
    )
    const shown = sorted()
    count.textContent = cases.length
      ? t('casesCount', { n: String(shown.length), total: String(cases.length) })
      : ''
    mount(
      list,
      ...(cases.length === 0
        ? [h('p', { class: 'muted card' }, t('noCases'))]
        : shown.length === 0
          ? [h('p', { class: 'muted card' }, t('noMatching'))]
          : shown.map((c) => caseCard(c, l, nm, labelFor(c), () => void reload()))),
    )
  }

  async function reload() {
    try {
      cases = await l.host.request<CaseOverview[]>('GET', '/api/v1/cases')
      alert.show(null)
    } catch (err) {
      alert.show(errorText(err))
      return
    }
    render()
    for (const c of cases) {
      if (labels.has(c.roomId) || ctx.signal.aborted) continue
      const label = await labelOf(l, c.roomId).catch(() => undefined)
      if (label) {
        labels.set(c.roomId, label)
        const el = list.querySelector<HTMLElement>(`[data-room-id="${c.roomId}"] .case-label`)
        if (el) el.textContent = label
      }
    }
  }
  await reload()

  return h(
    'section',
    { 'aria-labelledby': 'cases-title', class: 'cases' },
    h('h2', { id: 'cases-title', tabindex: '-1' }, t('casesTitle')),
    h('p', { class: 'muted' }, t('casesIntro')),
    h(
      'div',
      { class: 'filters card', role: 'group', 'aria-label': t('filterState') },
      h('div', { class: 'field' }, h('label', { for: 'case-sort' }, t('sortBy')), sort),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'case-state' }, t('filterState')),
        stateFilter,
      ),
      h(
        'div',
        { class: 'check' },
        overdueOnly,
        h('label', { for: 'case-overdue' }, t('onlyOverdue')),
      ),
    ),
    alert,
    count,
    list,
  )
}

function caseCard(
  c: CaseOverview,
  l: Live,
  nm: Names,
  label: string,
  changed: () => void,
): HTMLElement {
  const today = isoToday()
  const overdueDues = new Set(c.overdue.checksOverdue.map((x) => x.dueOn))
  const open = [
    ...c.overdue.checksOverdue.map((x) => ({ due: x.dueOn, owner: x.owner as string | null })),
    ...(c.nextCheck && !overdueDues.has(c.nextCheck.dueOn)
      ? [{ due: c.nextCheck.dueOn, owner: c.nextCheck.owner as string | null }]
      : []),
  ]
  const formBox = h('div')
  const status = statusLine()
  const recordButton = open.length
    ? onClick(
        h(
          'button',
          {
            type: 'button',
            class: open.some((o) => o.owner === l.userId) ? undefined : 'secondary',
            'data-testid': 'record-check',
          },
          t('postCheck'),
        ),
        () => {
          recordButton!.hidden = true
          status.textContent = ''
          mount(
            formBox,
            checkForm(
              {
                live: l,
                roomId: c.roomId,
                names: nm,
                members: [],
                posted: () => {
                  mount(formBox)
                  status.textContent = t('noticePosted')
                  changed()
                },
                cancel: () => {
                  mount(formBox)
                  recordButton!.hidden = false
                },
              },
              open,
            ),
          )
          formBox.querySelector<HTMLElement>('select')?.focus()
        },
      )
    : null
  const attention = needsAttention(c)
  return h(
    'article',
    {
      class: attention ? 'case-card card attention' : 'case-card card',
      'data-testid': 'case',
      'data-room-id': c.roomId,
      'data-state': c.state,
    },
    h(
      'div',
      { class: 'case-head' },
      h('h3', {}, h('a', { href: paths.room(c.roomId), class: 'case-label' }, label)),
      h(
        'span',
        { class: `badge state-badge state-${c.state}`, 'data-testid': 'case-state' },
        pick(c.stateLabel),
      ),
      c.kind === 'melding' ? h('span', { class: 'badge' }, t('kindMelding')) : null,
    ),
    ...c.overdue.checksOverdue.map((x) =>
      h(
        'p',
        { class: 'overdue', 'data-testid': 'check-overdue' },
        `⚠ ${t('checkOverdueSince', { date: formatDay(x.dueOn), owner: nm.name(x.owner) })}`,
      ),
    ),
    c.overdue.beoordelingOverdue && c.overdue.beoordelingDue
      ? h(
          'p',
          { class: 'overdue' },
          `⚠ ${t('beoordelingOverdue', { date: formatDay(c.overdue.beoordelingDue) })}`,
        )
      : c.overdue.beoordelingDue && !c.timeline.some((n) => n.kind === 'veiligheidsbeoordeling')
        ? h(
            'p',
            { class: 'small' },
            t('beoordelingDue', { date: formatDay(c.overdue.beoordelingDue) }),
          )
        : null,
    c.nextCheck && !overdueDues.has(c.nextCheck.dueOn)
      ? h(
          'p',
          {
            class: c.nextCheck.dueOn <= today ? 'small due-today' : 'small',
            'data-testid': 'next-check',
          },
          `${t('nextCheck', { date: formatDay(c.nextCheck.dueOn), owner: nm.name(c.nextCheck.owner) })}`,
        )
      : null,
    c.overdue.unacknowledged > 0
      ? h(
          'p',
          { class: 'small' },
          h('a', { href: paths.inbox }, t('unackedCount', { n: String(c.overdue.unacknowledged) })),
        )
      : null,
    c.timeline.length
      ? h(
          'ol',
          { class: 'case-timeline', 'aria-label': t('noticesTitle') },
          ...c.timeline.map((n) => {
            const key = MAIN_DATE.find((k) => n.dates[k])
            return h(
              'li',
              { 'data-kind': n.kind },
              h('span', { class: 'tl-kind' }, noticeKindText(n.kind)),
              key ? h('span', { class: 'muted small' }, ` ${formatDay(n.dates[key]!)}`) : null,
            )
          }),
        )
      : null,
    h(
      'div',
      { class: 'actions' },
      recordButton,
      h('a', { href: paths.room(c.roomId), class: 'button-link secondary' }, t('openRoomLink')),
    ),
    status,
    formBox,
  )
}
