/**
 * Terugkoppeling: notice cards (who has seen them, a red mark when the signature does not
 * check out) and the forms to post hulp-gestart, hulp-beëindigd (with the prompt for a
 * monitoring-afspraak), monitoring-afspraak and monitoring-check.
 */
import {
  CHECK_UITKOMSTEN,
  EINDE_REDENEN,
  HULP_PROGRAMMAS,
  acknowledgeNotice,
  checkSchedule,
  postNotice,
  type NoticeInput,
  type VerifiedNotice,
} from '@vs/client/rooms'
import { h, mount, onClick } from '../dom.js'
import { formatDate, formatDay, isoToday, t, type StringKey } from '../i18n.js'
import { inboxChanged, resubscribeSoon, type Live, type Names } from '../live.js'
import { FormError, alertBox, errorText, field, handleSubmit, statusLine } from '../ui.js'
import { noticeKindText, required } from './timeline.js'

const DETAIL_LABELS: Record<string, StringKey> = {
  programma: 'cProgramma',
  organisatie: 'cOrganisatie',
  contact: 'cContact',
  reden: 'cReden',
  toelichting: 'cToelichting',
  wie: 'cOwner',
  hoeVaak: 'cHoeVaak',
  uitkomst: 'cUitkomst',
}

const DATE_LABELS: Record<string, StringKey> = {
  start: 'cStart',
  end: 'cEnd',
  from: 'cFrom',
  until: 'cUntil',
  done: 'cDone',
  due: 'cDue',
  date: 'cDate',
}

/** Many check dates in a few words: the first ones, the last, and how many. */
function checksText(dates: string[]): string {
  if (dates.length <= 4) return dates.map(formatDay).join(', ')
  return `${dates.slice(0, 3).map(formatDay).join(', ')} … ${formatDay(dates[dates.length - 1]!)} (${t('checksCount', { n: String(dates.length) })})`
}

/** The check dates of a monitoring-afspraak, in order. */
export function checkDates(dates: Readonly<Record<string, string>>): string[] {
  return Object.entries(dates)
    .filter(([k]) => k.startsWith('check'))
    .map(([, v]) => v)
    .sort()
}

/** Checks planned in monitoring-afspraken and not yet recorded, earliest first. */
export function openChecks(
  notices: readonly { kind: string; dates: Record<string, string>; owner: string | null }[],
): { due: string; owner: string | null }[] {
  const done = new Set(notices.filter((n) => n.kind === 'monitoring-check').map((n) => n.dates.due))
  const out: { due: string; owner: string | null }[] = []
  for (const n of notices)
    if (n.kind === 'monitoring-afspraak')
      for (const d of checkDates(n.dates)) if (!done.has(d)) out.push({ due: d, owner: n.owner })
  return out.sort((a, b) => a.due.localeCompare(b.due))
}

export interface NoticeCardOptions {
  names: Names
  /** The member id this person acknowledges as (themself, or a desk). */
  me: string
  host: Live['host']
  /** Called after "Gezien". */
  acknowledged?: () => void
  /** A heading line above the card (the room, in the inbox). */
  context?: HTMLElement
}

/** One notice: what, when, details, who has seen it; red when it does not verify. */
export function noticeCard(n: VerifiedNotice, opts: NoticeCardOptions): HTMLElement {
  const { names } = opts
  const alert = alertBox()
  const d = n.details ?? {}
  const detailRows = Object.entries(d)
    .filter(([k, v]) => typeof v === 'string' && v !== '' && !(k === 'wie' && n.owner))
    .map(([k, v]) =>
      h(
        'div',
        { class: 'q-row' },
        h('dt', {}, DETAIL_LABELS[k] ? t(DETAIL_LABELS[k]) : k),
        h('dd', {}, String(v)),
      ),
    )
  const dateRows = Object.entries(n.dates)
    .filter(([k]) => DATE_LABELS[k])
    .map(([k, v]) =>
      h('div', { class: 'q-row' }, h('dt', {}, t(DATE_LABELS[k]!)), h('dd', {}, formatDay(v))),
    )
  const checks = checkDates(n.dates)
  const byName = (a: string, b: string) => a.localeCompare(b)
  const acked = n.acknowledgedBy.map((id) => names.name(id)).sort(byName)
  const pending = n.pending.map((id) => names.name(id)).sort(byName)
  const mine = n.pending.includes(opts.me)
  const ackButton = mine
    ? onClick(
        h(
          'button',
          {
            type: 'button',
            class: 'ack-button',
            'data-testid': 'ack',
            'aria-label': `${t('ack')}: ${noticeKindText(n.kind)}`,
          },
          t('ack'),
        ),
        () => {
          ackButton!.disabled = true
          acknowledgeNotice(opts.host, n.id, opts.me !== opts.host.userId() ? opts.me : undefined)
            .then(() => {
              inboxChanged()
              opts.acknowledged?.()
            })
            .catch((err: unknown) => {
              ackButton!.disabled = false
              alert.show(errorText(err))
            })
        },
      )
    : null
  return h(
    'article',
    {
      class: n.verified ? 'notice-card' : 'notice-card unverified',
      'data-testid': 'notice',
      'data-kind': n.kind,
      'data-verified': String(n.verified),
    },
    opts.context ?? null,
    h(
      'h4',
      {},
      n.verified ? null : h('span', { class: 'red-mark', 'aria-hidden': 'true' }, '⚠ '),
      noticeKindText(n.kind),
    ),
    n.verified
      ? null
      : h(
          'p',
          { class: 'danger small', role: 'alert', 'data-testid': 'not-verified' },
          t('notVerified'),
        ),
    h(
      'dl',
      { class: 'notice-details' },
      ...dateRows,
      ...detailRows,
      n.owner
        ? h('div', { class: 'q-row' }, h('dt', {}, t('cOwner')), h('dd', {}, names.name(n.owner)))
        : null,
      checks.length
        ? h(
            'div',
            { class: 'q-row' },
            h('dt', {}, t('checksLabel')),
            h('dd', {}, checksText(checks)),
          )
        : null,
    ),
    h(
      'p',
      { class: 'muted small' },
      t('postedBy', { name: names.name(n.signer), date: formatDate(n.postedAt) }),
      n.verified ? h('span', { class: 'badge ok-badge' }, `✓ ${t('verifiedNotice')}`) : null,
    ),
    h(
      'p',
      { class: 'small acks' },
      acked.length ? t('ackedBy', { names: acked.join(', ') }) : null,
      acked.length && pending.length ? h('br') : null,
      pending.length
        ? h('span', { class: 'pending' }, t('notAckedBy', { names: pending.join(', ') }))
        : null,
    ),
    ackButton ? h('div', { class: 'actions' }, ackButton) : null,
    alert,
  )
}

// ---------------------------------------------------------------- forms

function select(
  id: string,
  label: string,
  options: readonly { value: string; text: string }[],
  value?: string,
): { wrap: HTMLElement; input: HTMLSelectElement } {
  const input = h(
    'select',
    { id, name: id },
    ...options.map((o) =>
      h('option', { value: o.value, selected: o.value === value ? true : undefined }, o.text),
    ),
  )
  return { wrap: h('div', { class: 'field' }, h('label', { for: id }, label), input), input }
}

function textarea(id: string, label: string): { wrap: HTMLElement; input: HTMLTextAreaElement } {
  const input = h('textarea', { id, name: id, rows: '2', maxlength: '2000' })
  return { wrap: h('div', { class: 'field' }, h('label', { for: id }, label), input), input }
}

function dateField(id: string, label: string, value: string) {
  return field(id, label, { type: 'date', value, required: true })
}

function needDate(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new FormError(t('dateRequired'))
  return v
}

export interface NoticeFormContext {
  live: Live
  roomId: string
  names: Names
  /** Members who can own monitoring checks (user ids). */
  members: string[]
  /** After a successful post. */
  posted: () => void
  /** The form was closed without posting. */
  cancel: () => void
}

function shell(
  title: string,
  body: HTMLElement[],
  submitText: string,
  cancel: () => void,
  action: (status: HTMLElement) => Promise<void>,
  testId: string,
  cancelText = t('cancel'),
): HTMLFormElement {
  const alert = alertBox()
  const status = statusLine()
  const form = h(
    'form',
    { class: 'notice-form', 'data-testid': testId },
    h('h4', {}, title),
    ...body,
    alert,
    status,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, submitText),
      onClick(h('button', { type: 'button', class: 'secondary' }, cancelText), cancel),
    ),
  )
  handleSubmit(form, alert, () => action(status))
  return form
}

async function post(c: NoticeFormContext, n: NoticeInput): Promise<void> {
  const { seq } = await postNotice(c.live.host, c.live.rooms, c.roomId, n)
  resubscribeSoon(c.live.rooms, await c.live.rooms.open(c.roomId), seq)
  inboxChanged()
}

export function hulpGestartForm(c: NoticeFormContext): HTMLFormElement {
  const prog = select(
    'n-programma',
    t('programma'),
    HULP_PROGRAMMAS.map((p) => ({ value: p, text: p })),
  )
  const other = field('n-programma-anders', t('programmaOther'), { maxlength: '200' })
  other.wrap.hidden = true
  prog.input.addEventListener('change', () => (other.wrap.hidden = prog.input.value !== 'anders'))
  const org = field('n-organisatie', t('organisatie'), { maxlength: '200', required: true })
  const start = dateField('n-start', t('startdatum'), isoToday())
  const contact = field('n-contact', t('contact'), { maxlength: '200' }, t('contactHint'))
  return shell(
    t('nHulpGestart'),
    [prog.wrap, other.wrap, org.wrap, start.wrap, contact.wrap],
    t('postNotice'),
    c.cancel,
    async () => {
      const programma =
        prog.input.value === 'anders'
          ? required(other.input.value, t('programmaOther'))
          : prog.input.value
      await post(c, {
        kind: 'hulp-gestart',
        dates: { start: needDate(start.input.value) },
        details: {
          programma,
          organisatie: required(org.input.value, t('organisatie')),
          contact: contact.input.value.trim(),
        },
      })
      c.posted()
    },
    'form-hulp-gestart',
  )
}

export function hulpBeeindigdForm(
  c: NoticeFormContext,
  prompt: (endDate: string) => void,
): HTMLFormElement {
  const end = dateField('n-end', t('einddatum'), isoToday())
  const reden = select(
    'n-reden',
    t('reden'),
    EINDE_REDENEN.map((r) => ({ value: r, text: r })),
  )
  const note = textarea('n-toelichting', `${t('toelichting')} ${t('optional')}`)
  return shell(
    t('nHulpBeeindigd'),
    [end.wrap, reden.wrap, note.wrap],
    t('postNotice'),
    c.cancel,
    async () => {
      const endDate = needDate(end.input.value)
      await post(c, {
        kind: 'hulp-beeindigd',
        dates: { end: endDate },
        details: { reden: reden.input.value, toelichting: note.input.value.trim() },
      })
      prompt(endDate)
    },
    'form-hulp-beeindigd',
  )
}

const EVERY: { days: number; key: StringKey }[] = [
  { days: 7, key: 'every7' },
  { days: 14, key: 'every14' },
  { days: 30, key: 'every30' },
  { days: 91, key: 'every91' },
]

function addMonths(day: string, months: number): string {
  const d = new Date(`${day}T12:00:00Z`)
  d.setUTCMonth(d.getUTCMonth() + months)
  return d.toISOString().slice(0, 10)
}

export function monitoringForm(c: NoticeFormContext, from: string, lead?: string): HTMLFormElement {
  const who = select(
    'n-wie',
    t('monitoringWho'),
    c.members.map((id) => ({ value: id, text: c.names.name(id) })),
  )
  const every = select(
    'n-every',
    t('monitoringEvery'),
    EVERY.map((e) => ({ value: String(e.days), text: t(e.key) })),
    '30',
  )
  const start = dateField('n-from', t('monitoringFrom'), from)
  const until = dateField('n-until', t('monitoringUntil'), addMonths(from, 6))
  const preview = h('p', { class: 'muted small', 'aria-live': 'polite' })
  const schedule = () => {
    const f = start.input.value
    const u = until.input.value
    if (!/^\d{4}-\d{2}-\d{2}$/.test(f) || !/^\d{4}-\d{2}-\d{2}$/.test(u)) return undefined
    return checkSchedule(f, u, Number(every.input.value))
  }
  const show = () => {
    const s = schedule()
    const dates = s ? checkDates(s) : []
    preview.textContent = dates.length
      ? t('monitoringPreview', { dates: dates.map(formatDay).join(', ') })
      : t('monitoringNone')
  }
  for (const el of [every.input, start.input, until.input]) el.addEventListener('change', show)
  show()
  return shell(
    t('nMonitoringAfspraak'),
    [
      ...(lead ? [h('p', { class: 'prompt', role: 'status' }, lead)] : []),
      who.wrap,
      every.wrap,
      start.wrap,
      until.wrap,
      preview,
    ],
    t('postNotice'),
    c.cancel,
    async () => {
      const s = schedule()
      if (!s || checkDates(s).length === 0) throw new FormError(t('monitoringNone'))
      const label = EVERY.find((e) => String(e.days) === every.input.value)
      await post(c, {
        kind: 'monitoring-afspraak',
        dates: s,
        details: {
          wie: c.names.name(who.input.value),
          hoeVaak: label ? t(label.key) : `${every.input.value}`,
        },
        owner: who.input.value,
      })
      c.posted()
    },
    'form-monitoring',
    lead ? t('later') : t('cancel'),
  )
}

export function checkForm(
  c: NoticeFormContext,
  open: readonly { due: string; owner: string | null }[],
): HTMLFormElement {
  const today = isoToday()
  const which = select(
    'n-due',
    t('checkWhich'),
    open.map((o) => ({
      value: o.due,
      text: `${formatDay(o.due)}${o.owner ? ` — ${c.names.name(o.owner)}` : ''}${o.due < today ? ` (${t('checkOverdueMark')})` : ''}`,
    })),
  )
  const done = dateField('n-done', t('checkDoneOn'), today)
  const outcome = h(
    'fieldset',
    { class: 'field radios' },
    h('legend', {}, t('checkOutcome')),
    ...CHECK_UITKOMSTEN.map((u, i) =>
      h(
        'div',
        { class: 'check' },
        h('input', {
          type: 'radio',
          name: 'n-uitkomst',
          id: `n-uitkomst-${i}`,
          value: u,
          checked: i === 0 ? true : undefined,
        }),
        h('label', { for: `n-uitkomst-${i}` }, u),
      ),
    ),
  )
  const note = textarea('n-check-toelichting', `${t('toelichting')} ${t('optional')}`)
  return shell(
    t('postCheck'),
    [which.wrap, done.wrap, outcome, note.wrap],
    t('postNotice'),
    c.cancel,
    async () => {
      const chosen = outcome.querySelector<HTMLInputElement>('input:checked')?.value ?? ''
      await post(c, {
        kind: 'monitoring-check',
        dates: { done: needDate(done.input.value), due: which.input.value },
        details: { uitkomst: chosen, toelichting: note.input.value.trim() },
      })
      c.posted()
    },
    'form-check',
  )
}

/** The room's terugkoppeling panel: the notices and the buttons to post new ones. */
export function noticesPanel(opts: {
  live: Live
  roomId: string
  names: Names
  members: () => string[]
  load: () => Promise<VerifiedNotice[]>
  canPost: () => boolean
}): { el: HTMLElement; reload: () => Promise<void> } {
  const list = h('div', { class: 'notice-list', 'data-testid': 'notice-list' })
  const actions = h('div', { class: 'actions notice-actions' })
  const formBox = h('div', { class: 'notice-form-box' })
  const alert = alertBox()
  const done = statusLine()
  let notices: VerifiedNotice[] = []
  let formOpen = false

  const ctx = (): NoticeFormContext => ({
    live: opts.live,
    roomId: opts.roomId,
    names: opts.names,
    members: opts.members(),
    posted: () => {
      closeForm()
      done.textContent = t('noticePosted')
      void reload()
    },
    cancel: closeForm,
  })

  function closeForm() {
    formOpen = false
    mount(formBox)
    renderActions()
  }

  function openForm(form: HTMLFormElement) {
    formOpen = true
    done.textContent = ''
    mount(formBox, form)
    renderActions()
    form.querySelector<HTMLElement>('input, select, textarea')?.focus()
  }

  function renderActions() {
    if (formOpen || !opts.canPost()) {
      mount(actions)
      return
    }
    const started = notices.filter((n) => n.kind === 'hulp-gestart').length
    const ended = notices.filter((n) => n.kind === 'hulp-beeindigd').length
    const open = openChecks(notices)
    const button = (key: StringKey, testId: string, make: () => HTMLFormElement) =>
      onClick(
        h('button', { type: 'button', class: 'secondary', 'data-testid': testId }, `+ ${t(key)}`),
        () => openForm(make()),
      )
    mount(
      actions,
      started <= ended
        ? button('postHulpGestart', 'post-hulp-gestart', () => hulpGestartForm(ctx()))
        : null,
      started > ended
        ? button('postHulpBeeindigd', 'post-hulp-beeindigd', () =>
            hulpBeeindigdForm(ctx(), (endDate) => {
              void reload()
              openForm(monitoringForm(ctx(), endDate, t('monitoringPrompt')))
            }),
          )
        : null,
      ended > 0
        ? button('postMonitoring', 'post-monitoring', () => {
            const lastEnd = [...notices].reverse().find((n) => n.kind === 'hulp-beeindigd')
            return monitoringForm(ctx(), lastEnd?.dates.end ?? isoToday())
          })
        : null,
      open.length ? button('postCheck', 'post-check', () => checkForm(ctx(), open)) : null,
    )
  }

  async function reload(): Promise<void> {
    try {
      notices = await opts.load()
      alert.show(null)
    } catch (err) {
      alert.show(errorText(err))
      return
    }
    mount(
      list,
      ...(notices.length
        ? [...notices].reverse().map((n) =>
            noticeCard(n, {
              names: opts.names,
              me: opts.live.userId,
              host: opts.live.host,
              acknowledged: () => void reload(),
            }),
          )
        : [h('p', { class: 'muted' }, t('noNotices'))]),
    )
    renderActions()
  }

  const el = h(
    'section',
    { class: 'card side-card', 'aria-labelledby': 'notices-title', 'data-testid': 'notices-panel' },
    h('h3', { id: 'notices-title' }, t('noticesTitle')),
    actions,
    formBox,
    done,
    alert,
    list,
  )
  return { el, reload }
}
