/**
 * The conversation of a room, shared by case rooms, the asker's thread and the desk's
 * thread: messages with sender and time, attachments that decrypt on download, afspraken
 * and membership changes as quiet lines, "gelezen door" markers, and messages that cannot
 * be opened with the reason why.
 */
import {
  MAX_FILE_BYTES,
  type AfspraakContent,
  type ConsultQuestion,
  type FileContent,
  type RoomsClient,
  type TimelineItem,
} from '@vs/client/rooms'
import { findIdentifiers, redactionPreview, type Finding } from '@vs/client'
import { h, mount, onClick } from '../dom.js'
import { formatDay, formatWhen, pick, t, type StringKey } from '../i18n.js'
import type { Names } from '../live.js'
import { FormError, alertBox, errorText, statusLine } from '../ui.js'

type Item = TimelineItem
type MessageItem = Extract<Item, { kind: 'message' }>

export interface TimelineOptions {
  names: Names
  /** The member id this view acts as (the user, or a desk). */
  me: string
  roomId: string
  rooms: RoomsClient
  /** How my own messages are signed off (default "Jij"; a desk shows its name). */
  selfName?: string
}

export interface TimelineView {
  el: HTMLElement
  /** Renders one more item (live). */
  add(item: Item): void
  /** Places "gelezen door" markers: each member's read position. */
  setReads(reads: readonly { memberId: string; seq: number }[]): void
}

function ageText(q: ConsultQuestion): string {
  switch (q.ageBand) {
    case 'ongeboren':
      return q.weeksPregnant ? t('qWeeks', { n: String(q.weeksPregnant) }) : t('ageUnborn')
    case '0-1':
      return t('age01')
    case '1-2':
      return t('age12')
    case '2-4':
      return t('age24')
    default:
      return String(q.ageBand)
  }
}

/** The structured adviesvraag as a readable card. */
export function questionCard(q: ConsultQuestion, title: string): HTMLElement {
  const row = (label: string, value: string | HTMLElement) =>
    h('div', { class: 'q-row' }, h('dt', {}, label), h('dd', {}, value))
  return h(
    'section',
    { class: 'question-card', 'aria-label': title },
    h('h3', {}, title),
    h(
      'dl',
      {},
      row(t('qAge'), ageText(q)),
      row(t('signals'), h('span', { class: 'pre' }, q.signals)),
      row(t('qRisks'), q.riskFactors.length ? q.riskFactors.join(', ') : t('qNone')),
      row(t('qStap'), q.meldcodeStap),
      row(t('qQuestion'), h('strong', { class: 'pre' }, q.question)),
    ),
  )
}

function sizeText(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} kB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

export const NOTICE_KIND_KEYS: Record<string, StringKey> = {
  'hulp-gestart': 'nHulpGestart',
  'hulp-beeindigd': 'nHulpBeeindigd',
  'monitoring-afspraak': 'nMonitoringAfspraak',
  'monitoring-check': 'nMonitoringCheck',
  veiligheidsbeoordeling: 'nBeoordeling',
}

/** The one detail that says most about a notice, for a line in the conversation. */
export function noticeSummary(d: Record<string, unknown>): string {
  for (const k of ['programma', 'reden', 'hoeVaak', 'uitkomst'])
    if (typeof d[k] === 'string' && d[k]) return d[k] as string
  return ''
}

export function noticeKindText(kind: string): string {
  const key = NOTICE_KIND_KEYS[kind]
  return key ? t(key) : kind
}

/** Saves decrypted bytes as a file through a short-lived blob URL. */
export function saveBytes(bytes: Uint8Array, name: string, mime: string): void {
  const blob = new Blob([bytes as BlobPart], { type: mime || 'application/octet-stream' })
  const url = URL.createObjectURL(blob)
  const a = h('a', { href: url, download: name, hidden: true })
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 30_000)
}

export function renderTimeline(items: readonly Item[], opts: TimelineOptions): TimelineView {
  const { names, me } = opts
  const list = h('ol', {
    class: 'timeline',
    role: 'log',
    'aria-live': 'polite',
    'aria-label': t('conversation'),
    'data-testid': 'timeline',
  })
  const empty = h('li', { class: 'event muted empty-note' }, t('emptyRoom'))
  const messages: { seq: number; from: string; li: HTMLElement; reads: HTMLElement }[] = []
  // Messages sent before I was added, which I can never read: one quiet line.
  let myAddSeq = 0
  for (const it of items)
    if (it.kind === 'membership' && it.action === 'add' && it.subjects.includes(me))
      myAddSeq = Math.max(myAddSeq, it.seq)
  let beforeJoin: { li: HTMLElement; n: number } | undefined
  // Shared again for new members: shown only when something changed.
  let lastLabel: string | undefined
  const afspraken = new Map<string, string>()

  const who = (id: string) => (id === me ? (opts.selfName ?? t('youCap')) : names.name(id))
  const by = (id: string) => (id === me ? t('youObject') : names.name(id))

  const event = (text: string, cls = '') =>
    h('li', { class: `event ${cls}`.trim() }, h('span', {}, text))

  function messageLi(it: MessageItem, body: HTMLElement | string): HTMLElement {
    const mine = it.from === me
    const reads = h('p', { class: 'read-by', hidden: true })
    const li = h(
      'li',
      {
        class: mine ? 'msg mine' : 'msg',
        'data-seq': String(it.seq),
        'data-testid': 'message',
      },
      h(
        'p',
        { class: 'msg-head' },
        h('span', { class: 'sender' }, who(it.from)),
        h('time', { datetime: new Date(it.sentAt).toISOString() }, formatWhen(it.sentAt)),
      ),
      typeof body === 'string' ? h('p', { class: 'msg-body' }, body) : body,
      it.gaps > 0
        ? h('p', { class: 'error small' }, t('gapWarning', { n: String(it.gaps) }))
        : null,
      reads,
    )
    messages.push({ seq: it.seq, from: it.from, li, reads })
    return li
  }

  function fileBox(it: MessageItem, f: FileContent): HTMLElement {
    const status = statusLine()
    const button = onClick(
      h('button', { type: 'button', class: 'secondary small-button' }, t('download')),
      () => {
        button.disabled = true
        status.textContent = t('downloading')
        opts.rooms.download(opts.roomId, f).then(
          (bytes) => {
            saveBytes(bytes, f.name, f.mime)
            status.textContent = ''
            button.disabled = false
          },
          (err: unknown) => {
            status.textContent = errorText(err)
            button.disabled = false
          },
        )
      },
    )
    return h(
      'div',
      { class: 'file-box' },
      h(
        'span',
        { class: 'file-icon', 'aria-hidden': 'true' },
        (/\.([a-z0-9]{1,4})$/i.exec(f.name)?.[1] ?? 'file').toUpperCase(),
      ),
      h(
        'span',
        { class: 'file-meta' },
        h('span', { class: 'file-name' }, f.name),
        h('span', { class: 'muted small' }, sizeText(f.size)),
      ),
      button,
      status,
    )
  }

  function render(it: Item): HTMLElement | null {
    switch (it.kind) {
      case 'message': {
        const c = it.content
        switch (c.type) {
          case 'text':
            return messageLi(it, (c.body as { text: string }).text)
          case 'file':
            return messageLi(it, fileBox(it, c.body as FileContent))
          case 'label': {
            const label = (c.body as { label: string }).label
            if (label === lastLabel) return null
            lastLabel = label
            return event(t('evLabel', { who: by(it.from), label }))
          }
          case 'afspraak': {
            const a = c.body as AfspraakContent
            const json = JSON.stringify([a.what, a.who, a.due, a.done ?? false])
            if (afspraken.get(a.id) === json) return null
            afspraken.set(a.id, json)
            const what = `${a.what} — ${a.who}${a.due ? `, ${t('dueOn', { date: formatDay(a.due) })}` : ''}${a.done ? ` (${t('afspraakDone')})` : ''}`
            return event(t('evAfspraak', { who: by(it.from), what }))
          }
          case 'adviesvraag':
            return messageLi(
              it,
              questionCard(
                c.body as unknown as ConsultQuestion,
                it.from === me ? t('yourQuestion') : t('theQuestion'),
              ),
            )
          default:
            return null
        }
      }
      case 'notice':
        return event(
          t('evNotice', {
            who: by(it.from),
            kind: [noticeKindText(it.notice.kind), noticeSummary(it.notice.details)]
              .filter(Boolean)
              .join(': '),
          }),
          'notice-event',
        )
      case 'membership': {
        const subjects = it.subjects.map(by).join(', ')
        switch (it.action) {
          case 'create':
            return event(t('evOpened', { who: by(it.from) }))
          case 'add':
            return it.subjects.length === 1 && it.subjects[0] === me
              ? event(t('evYouAdded', { who: by(it.from) }))
              : event(t('evAdded', { who: by(it.from), names: subjects }))
          case 'remove':
            return it.subjects.length === 1 && it.subjects[0] === me
              ? event(t('evYouRemoved', { who: by(it.from) }))
              : event(t('evRemoved', { who: by(it.from), names: subjects }))
          case 'add-device':
            return event(t('evDevice', { who: by(it.from) }))
          case 'remove-device':
            return event(t('evDeviceRemoved', { who: by(it.from) }))
          case 'set-role':
            return event(t('evRoles', { who: by(it.from) }))
          default:
            return event(t('evRotate'))
        }
      }
      case 'undecryptable': {
        if (it.code === 'missing-key' && it.seq < myAddSeq) {
          if (beforeJoin) {
            beforeJoin.n++
            beforeJoin.li.textContent = t('beforeJoined', { n: String(beforeJoin.n) })
            return null
          }
          const li = h(
            'li',
            { class: 'event locked', 'data-testid': 'undecryptable' },
            t('beforeJoined', { n: '1' }),
          )
          beforeJoin = { li, n: 1 }
          return li
        }
        return h('li', { class: 'event locked', 'data-testid': 'undecryptable' }, pick(it.reason))
      }
      default:
        return null
    }
  }

  function add(it: Item): void {
    const li = render(it)
    if (!li) return
    empty.remove()
    list.append(li)
  }

  for (const it of items) add(it)
  if (!list.firstChild) list.append(empty)

  return {
    el: list,
    add,
    setReads(reads) {
      const at = new Map<HTMLElement, string[]>()
      for (const r of reads) {
        if (r.memberId === me) continue
        let target: (typeof messages)[number] | undefined
        // Under the last message of someone else that this member has read.
        for (const m of messages) if (m.seq <= r.seq && m.from !== r.memberId) target = m
        if (!target) continue
        const list = at.get(target.reads) ?? []
        list.push(names.name(r.memberId))
        at.set(target.reads, list)
      }
      for (const m of messages) {
        const who = at.get(m.reads)
        m.reads.hidden = !who
        m.reads.textContent = who ? `✓ ${t('readBy', { names: who.join(', ') })}` : ''
      }
    },
  }
}

/** Findings of the identifier guard, highlighted in the text they were found in. */
export function guardReport(
  fields: readonly { label: string; text: string; findings: readonly Finding[] }[],
): HTMLElement | null {
  const withFindings = fields.filter((f) => f.findings.length > 0)
  if (withFindings.length === 0) return null
  return h(
    'div',
    {},
    ...withFindings.map((f) => {
      const seen = new Set<string>()
      const messages = f.findings.filter((x) => {
        const k = `${x.kind}:${x.match}`
        if (seen.has(k)) return false
        seen.add(k)
        return true
      })
      return h(
        'div',
        { class: 'guard-field' },
        h('p', { class: 'guard-field-name' }, t('guardIn', { field: f.label })),
        h(
          'p',
          { class: 'guard-preview pre', 'data-testid': 'guard-preview' },
          ...redactionPreview(f.text, f.findings).map((s) =>
            s.type === 'text'
              ? s.text
              : h('mark', { class: 'finding', title: pick(s.finding.message) }, s.text),
          ),
        ),
        h(
          'ul',
          { class: 'guard-messages' },
          ...messages.map((x) =>
            h('li', {}, h('mark', { class: 'finding' }, x.match), ` ${pick(x.message)}`),
          ),
        ),
      )
    }),
  )
}

export interface ComposerOptions {
  /** Sends the text; resolves once the server stored it. */
  send(text: string): Promise<void>
  /** Attach a file (case rooms). */
  attach?: (file: File) => Promise<void>
  /** Run the identifier guard on what is typed (consultations). */
  guard?: boolean
  label?: string
  id: string
}

export interface Composer {
  el: HTMLElement
  input: HTMLTextAreaElement
  disable(reason: string | null): void
}

/** The message box under a conversation. */
export function composer(opts: ComposerOptions): Composer {
  const alert = alertBox()
  const status = statusLine()
  const note = h('p', { class: 'composer-note', hidden: true })
  const guardBox = h('div', { class: 'guard-box', hidden: true, role: 'alert' })
  const hintId = `${opts.id}-hint`
  const input = h('textarea', {
    id: opts.id,
    name: 'message',
    rows: '3',
    maxlength: '20000',
    'aria-describedby': hintId,
    class: 'message-input',
  })
  const sendButton = h('button', { type: 'submit' }, t('send'))
  let findings: Finding[] = []
  const check = () => {
    if (!opts.guard) return
    findings = findIdentifiers(input.value)
    const report = guardReport([
      { label: opts.label ?? t('messageLabel'), text: input.value, findings },
    ])
    mount(
      guardBox,
      report ? h('p', {}, t('guardFound', { n: String(findings.length) })) : null,
      report,
    )
    guardBox.hidden = !report
    sendButton.disabled = findings.length > 0
  }
  input.addEventListener('input', check)
  const form = h(
    'form',
    { class: 'composer', 'data-testid': 'composer' },
    h('label', { for: opts.id }, opts.label ?? t('messageLabel')),
    h('p', { class: 'hint', id: hintId }, t('messageHint')),
    input,
    note,
    guardBox,
    alert,
    status,
  )
  const actions = h('div', { class: 'actions' }, sendButton)
  if (opts.attach) {
    const fileId = `${opts.id}-file`
    const file = h('input', { type: 'file', id: fileId, class: 'visually-hidden' })
    const label = h(
      'label',
      { for: fileId, class: 'button-link secondary file-label' },
      t('attach'),
    )
    file.addEventListener('change', () => {
      const f = file.files?.[0]
      file.value = ''
      if (!f || !opts.attach) return
      alert.show(null)
      if (f.size === 0 || f.size > MAX_FILE_BYTES) {
        alert.show(t('fileTooBig'))
        return
      }
      status.textContent = t('attaching')
      opts.attach(f).then(
        () => (status.textContent = ''),
        (err: unknown) => {
          status.textContent = ''
          alert.show(errorText(err))
        },
      )
    })
    actions.append(file, label)
  }
  form.append(actions)
  let sending = false
  const submit = async () => {
    const text = input.value.trim()
    if (!text || sending || sendButton.disabled) return
    check()
    if (findings.length) return
    sending = true
    alert.show(null)
    try {
      await opts.send(text)
      input.value = ''
      check()
    } catch (err) {
      alert.show(errorText(err))
    } finally {
      sending = false
      input.focus()
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    void submit()
  })
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      void submit()
    }
  })
  return {
    el: form,
    input,
    disable(reason) {
      input.disabled = reason !== null
      sendButton.disabled = reason !== null
      for (const el of form.querySelectorAll('input')) el.disabled = reason !== null
      note.textContent = reason ?? ''
      note.hidden = reason === null
      form.classList.toggle('disabled', reason !== null)
    },
  }
}

/** Throws a FormError naming a required field when it is empty. */
export function required(value: string, label: string): string {
  const v = value.trim()
  if (!v) throw new FormError(t('fieldRequired', { field: label }))
  return v
}
