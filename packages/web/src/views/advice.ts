/**
 * Adviesvraag: the guided question to Veilig Thuis with the identifier guard run live
 * (what it found is highlighted; sending waits until it is rephrased), the choice of
 * anonymity with what still links, and the list of my questions. Advisors also find
 * their desk here.
 */
import { findIdentifiers, type Finding } from '@vs/client'
import {
  IdentifierFoundError,
  MELDCODE_STAPPEN,
  askAnonymousConsult,
  askConsult,
  fetchTokens,
  type ConsultQuestion,
  type PublicDesk,
} from '@vs/client/rooms'
import { h, mount } from '../dom.js'
import { formatDate, t, type StringKey } from '../i18n.js'
import {
  anonConsults,
  consultPreview,
  desks as loadDesks,
  epochToJson,
  live,
  rememberConsultPreview,
  saveAnonConsult,
  saveTokens,
  storedTokens,
  type Live,
} from '../live.js'
import { paths } from '../router.js'
import { FormError, alertBox, handleSubmit, statusLine } from '../ui.js'
import type { View, ViewContext } from '../app.js'
import { myRooms } from './rooms.js'
import { guardReport } from './timeline.js'

/** Risk factors for vroegsignalering (-9 months to 4 years), as professionals name them. */
export const RISICOFACTOREN = [
  'Partnergeweld',
  'Ouder zelf mishandeld in de jeugd',
  'Eerder kind onder toezicht (OTS) of uit huis geplaatst',
  'Psychiatrie of (postnatale) depressie',
  'Licht verstandelijke beperking (LVB)',
  'Verslaving (roken, alcohol, drugs), ook van de partner',
  'Tienermoeder, ongeplande zwangerschap of alleenstaand',
  'Negatieve gevoelens over het ongeboren kind',
  'Late of geen prenatale zorg, afspraken niet nagekomen',
  'Huisvestingsproblemen of dakloosheid',
  'Schulden, werkloosheid of onverzekerd',
  'Criminaliteit',
  'Geïsoleerd gezin, zwak netwerk',
  'Kind te vroeg geboren of laag geboortegewicht',
  'Kind met chronische ziekte',
  'Kind met moeilijk temperament',
] as const

const AGES: { value: ConsultQuestion['ageBand']; key: StringKey }[] = [
  { value: 'ongeboren', key: 'ageUnborn' },
  { value: '0-1', key: 'age01' },
  { value: '1-2', key: 'age12' },
  { value: '2-4', key: 'age24' },
]

function splitNames(text: string): string[] {
  return text
    .split(/[,;\n]/)
    .map((s) => s.trim())
    .filter((s) => s.length >= 2)
}

export const adviceView: View = async (ctx) => {
  const l = await live(ctx.client)
  const [form, mine, deskLinks] = await Promise.all([
    askForm(ctx, l),
    myQuestions(l),
    advisorDesks(ctx, l),
  ])
  return h(
    'section',
    { 'aria-labelledby': 'advice-title', class: 'advice' },
    h('h2', { id: 'advice-title', tabindex: '-1' }, t('adviceTitle')),
    h('p', { class: 'muted' }, t('adviceIntro')),
    deskLinks,
    form,
    mine,
  )
}

async function advisorDesks(ctx: ViewContext, l: Live): Promise<HTMLElement | null> {
  if (ctx.client.user?.role !== 'advisor' && ctx.client.user?.role !== 'coordinator') return null
  const all = await loadDesks(ctx.client).catch(() => [])
  const mine: { id: string; name: string }[] = []
  for (const d of all) {
    const { advisors } = await ctx.client.deskAdvisors(d.id).catch(() => ({ advisors: [] }))
    if (advisors.some((a) => a.userId === l.userId)) mine.push(d)
  }
  if (mine.length === 0) return null
  return h(
    'div',
    { class: 'card desk-links' },
    h('h3', {}, t('yourDesks')),
    h(
      'ul',
      { class: 'plain' },
      ...mine.map((d) =>
        h(
          'li',
          {},
          h(
            'a',
            { href: paths.desk(d.id), 'data-testid': 'desk-link' },
            `${d.name} → ${t('openDesk')}`,
          ),
        ),
      ),
    ),
  )
}

async function myQuestions(l: Live): Promise<HTMLElement> {
  const consults = await myRooms(l, ['consult']).catch(() => [])
  const anon = anonConsults(l.userId)
  const list = h(
    'ul',
    { class: 'room-list', 'data-testid': 'my-questions' },
    ...consults.map((r) => {
      const unread = Math.max(0, r.lastSeq - r.readSeq)
      return h(
        'li',
        { class: 'room-row' },
        h(
          'a',
          { href: paths.consult(r.id), class: 'room-link' },
          h('span', { class: 'room-label' }, consultPreview(l.userId, r.id) ?? t('threadTitle')),
          h('span', { class: 'badge' }, t('modeFamily')),
          unread
            ? h('span', { class: 'badge unread-badge' }, t('unreadCount', { n: String(unread) }))
            : null,
        ),
        h('p', { class: 'muted small' }, t('askedOn', { date: formatDate(r.createdAt) })),
      )
    }),
  )
  const anonList = h(
    'ul',
    { class: 'room-list', 'data-testid': 'my-anon-questions' },
    ...anon.map((a) =>
      h(
        'li',
        { class: 'room-row' },
        h(
          'a',
          { href: paths.anonConsult(a.saved.roomId), class: 'room-link' },
          h('span', { class: 'room-label' }, a.preview || t('threadTitle')),
          h('span', { class: 'badge' }, t('modeFull')),
        ),
        h('p', { class: 'muted small' }, t('askedOn', { date: formatDate(a.askedAt) })),
      ),
    ),
  )
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'my-questions-title' },
    h('h3', { id: 'my-questions-title' }, t('myQuestions')),
    consults.length || anon.length ? null : h('p', { class: 'muted' }, t('noQuestions')),
    consults.length ? list : null,
    anon.length ? h('h4', {}, t('myAnonQuestions')) : null,
    anon.length ? anonList : null,
  )
}

async function askForm(ctx: ViewContext, l: Live): Promise<HTMLElement> {
  const alert = alertBox()
  const status = statusLine()
  const deskList = (await loadDesks(ctx.client).catch(() => [])).filter(
    (d) => d.purpose === 'advies' && d.keyVersion > 0,
  )
  if (deskList.length === 0) return h('p', { class: 'notice' }, t('noDesk'))

  const desk = h(
    'select',
    { id: 'advice-desk', name: 'desk' },
    ...deskList.map((d) => h('option', { value: d.id }, d.name)),
  )
  const deskField = h(
    'div',
    { class: 'field', hidden: deskList.length === 1 ? true : undefined },
    h('label', { for: 'advice-desk' }, t('desk')),
    desk,
  )

  // leeftijd
  const weeks = h('input', {
    id: 'advice-weeks',
    type: 'number',
    min: '1',
    max: '42',
    inputmode: 'numeric',
    class: 'short-input',
  })
  const weeksField = h(
    'div',
    { class: 'field', hidden: true },
    h('label', { for: 'advice-weeks' }, t('weeksPregnant')),
    weeks,
  )
  const ageRadios = AGES.map((a, i) =>
    h('input', {
      type: 'radio',
      name: 'age',
      id: `age-${i}`,
      value: a.value,
      required: true,
    }),
  )
  const age = h(
    'fieldset',
    { class: 'field radios inline-radios' },
    h('legend', {}, t('ageLegend')),
    ...AGES.map((a, i) =>
      h('span', { class: 'check' }, ageRadios[i]!, h('label', { for: `age-${i}` }, t(a.key))),
    ),
  )
  for (const r of ageRadios)
    r.addEventListener('change', () => (weeksField.hidden = ageRadios[0]!.checked !== true))

  const area = (id: string, label: string, hint?: string, rows = '4') => {
    const input = h('textarea', {
      id,
      name: id,
      rows,
      maxlength: '4000',
      'aria-describedby': hint ? `${id}-hint` : undefined,
    })
    return {
      input,
      wrap: h(
        'div',
        { class: 'field' },
        h('label', { for: id }, label),
        hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
        input,
      ),
    }
  }
  const signals = area('advice-signals', t('signals'), t('signalsHint'))
  const risks = RISICOFACTOREN.map((r, i) => ({
    value: r,
    input: h('input', { type: 'checkbox', id: `risk-${i}`, value: r }),
  }))
  const riskSet = h(
    'fieldset',
    { class: 'field' },
    h('legend', {}, t('riskLegend')),
    h('p', { class: 'hint' }, t('riskHint')),
    h(
      'div',
      { class: 'risk-grid' },
      ...risks.map((r, i) =>
        h('div', { class: 'check' }, r.input, h('label', { for: `risk-${i}` }, r.value)),
      ),
    ),
  )
  const stap = h(
    'select',
    { id: 'advice-stap', name: 'stap' },
    ...MELDCODE_STAPPEN.map((s, i) =>
      h('option', { value: s, selected: i === 1 ? true : undefined }, s),
    ),
  )
  const stapField = h(
    'div',
    { class: 'field' },
    h('label', { for: 'advice-stap' }, t('meldcodeStap')),
    stap,
  )
  const question = area('advice-question', t('question'), undefined, '3')
  const names = h('input', {
    id: 'advice-names',
    name: 'names',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-describedby': 'advice-names-hint',
  })
  const namesField = h(
    'div',
    { class: 'field' },
    h('label', { for: 'advice-names' }, t('blockedNames')),
    h('p', { class: 'hint', id: 'advice-names-hint' }, t('blockedNamesHint')),
    names,
  )

  // the guard, live
  const guardBox = h('div', { class: 'guard-box', 'aria-live': 'polite', 'data-testid': 'guard' })
  const send = h('button', { type: 'submit', 'data-testid': 'send-question' }, t('sendQuestion'))
  let findings: Finding[] = []
  const runGuard = () => {
    const blockedNames = splitNames(names.value)
    const fields = [
      { label: t('signals'), text: signals.input.value },
      { label: t('question'), text: question.input.value },
    ].map((f) => ({ ...f, findings: findIdentifiers(f.text, { blockedNames }) }))
    findings = fields.flatMap((f) => f.findings)
    const report = guardReport(fields)
    guardBox.classList.toggle('found', findings.length > 0)
    guardBox.setAttribute('role', findings.length ? 'alert' : 'status')
    mount(
      guardBox,
      h('h3', {}, findings.length ? '⚠ ' : '✓ ', t('guardTitle')),
      h(
        'p',
        { 'data-testid': 'guard-summary' },
        findings.length ? t('guardFound', { n: String(findings.length) }) : t('guardClean'),
      ),
      report,
    )
    send.disabled = findings.length > 0
  }
  let guardTimer: ReturnType<typeof setTimeout> | undefined
  for (const el of [signals.input, question.input, names])
    el.addEventListener('input', () => {
      clearTimeout(guardTimer)
      guardTimer = setTimeout(runGuard, 120)
    })
  runGuard()

  // anonymity
  const discipline = ctx.client.user?.discipline ?? ''
  const modeFamily = h('input', {
    type: 'radio',
    name: 'mode',
    id: 'mode-family',
    value: 'family',
    checked: true,
  })
  const modeFull = h('input', { type: 'radio', name: 'mode', id: 'mode-full', value: 'full' })
  const sendDiscipline = h('input', { type: 'checkbox', id: 'send-discipline', checked: true })
  const links = h(
    'div',
    { class: 'anon-links', hidden: true, 'data-testid': 'anon-links' },
    h('p', {}, h('strong', {}, t('anonLinks'))),
    h(
      'ul',
      {},
      h('li', {}, t('anonLinkTime')),
      h('li', {}, t('anonLinkNetwork')),
      h('li', {}, t('anonLinkGroup')),
    ),
    h('p', {}, t('anonDeviceOnly')),
  )
  const onMode = () => {
    links.hidden = !modeFull.checked
    sendDiscipline.checked = !modeFull.checked
  }
  modeFamily.addEventListener('change', onMode)
  modeFull.addEventListener('change', onMode)
  const anonymity = h(
    'fieldset',
    { class: 'field radios' },
    h('legend', {}, t('anonLegend')),
    h(
      'div',
      { class: 'choice' },
      modeFamily,
      h(
        'label',
        { for: 'mode-family' },
        h('strong', {}, t('anonFamily')),
        h('span', { class: 'choice-hint' }, t('anonFamilyHint')),
      ),
    ),
    h(
      'div',
      { class: 'choice' },
      modeFull,
      h(
        'label',
        { for: 'mode-full' },
        h('strong', {}, t('anonFull')),
        h('span', { class: 'choice-hint' }, t('anonFullHint')),
      ),
    ),
    links,
    discipline
      ? h(
          'div',
          { class: 'check' },
          sendDiscipline,
          h('label', { for: 'send-discipline' }, t('sendDiscipline', { discipline })),
        )
      : null,
  )

  const form = h(
    'form',
    { class: 'card advice-form', 'data-testid': 'advice-form', novalidate: true },
    deskField,
    age,
    weeksField,
    namesField,
    signals.wrap,
    riskSet,
    stapField,
    question.wrap,
    guardBox,
    anonymity,
    alert,
    status,
    h('div', { class: 'actions' }, send),
  )

  handleSubmit(form, alert, async () => {
    runGuard()
    if (findings.length) throw new FormError(t('guardFound', { n: String(findings.length) }))
    const ageBand = AGES.find((_, i) => ageRadios[i]!.checked)?.value
    if (!ageBand) throw new FormError(t('fieldRequired', { field: t('ageLegend') }))
    const q: ConsultQuestion = {
      ageBand,
      signals: signals.input.value.trim(),
      riskFactors: risks.filter((r) => r.input.checked).map((r) => r.value),
      meldcodeStap: stap.value,
      question: question.input.value.trim(),
    }
    if (ageBand === 'ongeboren') {
      const n = Number(weeks.value)
      if (!Number.isInteger(n) || n < 1 || n > 42) throw new FormError(t('weeksInvalid'))
      q.weeksPregnant = n
    }
    if (!q.signals) throw new FormError(t('signalsRequired'))
    if (!q.question) throw new FormError(t('questionRequired'))
    const blockedNames = splitNames(names.value)
    const opts = {
      blockedNames,
      ...(sendDiscipline.checked && discipline ? { discipline } : {}),
    }
    const preview = q.question.slice(0, 90)
    try {
      if (modeFull.checked) {
        const res = await fetch('/api/v1/anon/desks')
        const publicDesks = (await res.json()) as PublicDesk[]
        const pub = publicDesks.find((d) => d.id === desk.value)
        if (!pub) throw new FormError(t('noDesk'))
        // The list comes without an account, so nothing vouches for its key but our key log.
        await ctx.client.checkPublicDesk(pub)
        status.textContent = t('fetchingTokens')
        let tokens = storedTokens(l.userId)
        if (tokens.length === 0) tokens = await fetchTokens(l.host, 3)
        const token = tokens.shift()!
        saveTokens(l.userId, tokens)
        status.textContent = t('sendingQuestion')
        const anon = await askAnonymousConsult(location.origin, token, pub, q, opts)
        const session = await anon.rooms.open(anon.roomId)
        const secret = session.receiver.epochSecret(0)
        const commitHash = session.state?.history[0]?.commitHash
        anon.rooms.close()
        if (!secret || !commitHash) throw new Error('no epoch secret')
        saveAnonConsult(l.userId, {
          saved: anon.saved,
          epochs: [epochToJson({ epoch: 0, commitHash, secret })],
          askedAt: new Date().toISOString(),
          preview,
        })
        ctx.go(paths.anonConsult(anon.roomId))
      } else {
        status.textContent = t('sendingQuestion')
        const roomId = await askConsult(l.rooms, desk.value, q, opts)
        rememberConsultPreview(l.userId, roomId, preview)
        ctx.go(paths.consult(roomId))
      }
    } catch (err) {
      if (err instanceof IdentifierFoundError) {
        runGuard()
        throw new FormError(t('guardFound', { n: String(err.findings.length) }))
      }
      throw err
    } finally {
      status.textContent = ''
    }
  })
  return form
}
