/** The list of case rooms (pseudonym, unread count) and the form to open a new one. */
import { findIdentifiers, type PersonEntry } from '@vs/client'
import { RoomsClient } from '@vs/client/rooms'
import { h, mount } from '../dom.js'
import { formatDate, t } from '../i18n.js'
import { cachedLabel, labelOf, live, people, rememberLabel, type Live } from '../live.js'
import { paths } from '../router.js'
import { FormError, alertBox, errorText, field, handleSubmit, statusLine } from '../ui.js'
import { every, type View } from '../app.js'
import { badge } from './people.js'
import { guardReport } from './timeline.js'

export type RoomSummary = Awaited<ReturnType<RoomsClient['list']>>[number]

/** Rooms the person is in as themself, of the given kinds, newest first. */
export async function myRooms(l: Live, kinds: readonly string[]): Promise<RoomSummary[]> {
  const all = await l.rooms.list()
  return all.filter((r) => kinds.includes(r.kind) && r.as.includes(l.userId))
}

export const roomsView: View = async (ctx) => {
  const l = await live(ctx.client)
  const alert = alertBox()
  const list = h('ul', { class: 'room-list', 'data-testid': 'room-list' })
  interface Row {
    li: HTMLElement
    label: HTMLElement
    unread: HTMLElement
    lastSeq: number
    readSeq: number
    watched: boolean
  }
  const rows = new Map<string, Row>()

  const showUnread = (e: Row) => {
    const n = Math.max(0, e.lastSeq - e.readSeq)
    e.unread.hidden = n === 0
    e.unread.textContent = t('unreadCount', { n: String(n) })
  }

  function row(r: RoomSummary) {
    let entry = rows.get(r.id)
    if (!entry) {
      const label = h(
        'span',
        { class: 'room-label' },
        cachedLabel(l.userId, r.id) ?? t('roomLoading'),
      )
      const unread = h('span', { class: 'badge unread-badge', hidden: true })
      const li = h(
        'li',
        { class: 'room-row', 'data-testid': 'room-row', 'data-room-id': r.id },
        h(
          'a',
          { href: paths.room(r.id), class: 'room-link' },
          label,
          r.kind === 'melding' ? h('span', { class: 'badge' }, t('kindMelding')) : null,
          unread,
        ),
        h('p', { class: 'muted small' }, t('openedOn', { date: formatDate(r.createdAt) })),
      )
      entry = { li, label, unread, lastSeq: 0, readSeq: 0, watched: false }
      rows.set(r.id, entry)
    }
    entry.lastSeq = Math.max(entry.lastSeq, r.lastSeq)
    entry.readSeq = r.readSeq
    showUnread(entry)
    return entry.li
  }

  /**
   * Opens each room once (decrypting it on this device) for its pseudonym, and follows it
   * live: new messages raise the unread count without waiting for the next poll.
   */
  let watching = false
  async function watchRooms() {
    if (watching) return
    watching = true
    try {
      await watchEach()
    } finally {
      watching = false
    }
  }

  async function watchEach() {
    for (const [id, entry] of rows) {
      if (ctx.signal.aborted) return
      const known = cachedLabel(l.userId, id)
      if (entry.watched && known) continue
      try {
        const label = await labelOf(l, id)
        entry.label.textContent = label ?? t('roomNoLabel')
        if (entry.watched) continue
        entry.watched = true
        const session = await l.rooms.open(id)
        const off = session.onItem((it) => {
          entry.lastSeq = Math.max(entry.lastSeq, it.seq)
          showUnread(entry)
          if (it.kind === 'message' && it.content.type === 'label') {
            const x = RoomsClient.label(session.timeline)
            rememberLabel(l.userId, id, x)
            entry.label.textContent = x ?? t('roomNoLabel')
          }
        })
        ctx.signal.addEventListener('abort', off, { once: true })
      } catch {
        entry.label.textContent = known ?? t('roomNoLabel')
      }
    }
  }

  async function reload() {
    const rooms = await myRooms(l, ['case', 'melding'])
    alert.show(null)
    mount(
      list,
      ...(rooms.length ? rooms.map(row) : [h('li', { class: 'muted empty-note' }, t('noRooms'))]),
    )
    void watchRooms()
  }

  // New rooms (someone added me) have no push: look every few seconds.
  every(5000, ctx.signal, reload, (err) => alert.show(errorText(err)))

  return h(
    'section',
    { 'aria-labelledby': 'rooms-title' },
    h(
      'div',
      { class: 'title-row' },
      h('h2', { id: 'rooms-title', tabindex: '-1' }, t('roomsTitle')),
      h(
        'a',
        { href: paths.newRoom, class: 'button-link', 'data-testid': 'new-room' },
        `+ ${t('newRoom')}`,
      ),
    ),
    h('p', { class: 'muted' }, t('roomsIntro')),
    alert,
    h('div', { class: 'card' }, list),
  )
}

const JOINABLE: PersonEntry['verification'][] = ['verified', 'unverified']

export const newRoomView: View = async (ctx) => {
  const l = await live(ctx.client)
  const alert = alertBox()
  const status = statusLine()
  let dir: PersonEntry[] = []
  try {
    dir = (await people(ctx.client, true)).filter((p) => !p.self)
  } catch (err) {
    alert.show(errorText(err))
  }
  const label = field(
    'room-label',
    t('roomLabel'),
    { maxlength: '80', required: true, autocomplete: 'off' },
    t('roomLabelHint'),
  )
  const labelGuard = h('div', { class: 'guard-box', hidden: true, role: 'alert' })
  label.input.addEventListener('input', () => {
    const findings = findIdentifiers(label.input.value)
    const report = guardReport([{ label: t('roomLabel'), text: label.input.value, findings }])
    mount(labelGuard, report ? h('p', {}, t('labelHasIdentifier')) : null, report)
    labelGuard.hidden = !report
  })
  const filter = h('input', {
    id: 'people-filter',
    type: 'search',
    autocomplete: 'off',
  })
  const list = h('ul', { class: 'pick-list', 'data-testid': 'pick-list' })
  const picks = new Map<
    string,
    { member: HTMLInputElement; admin: HTMLInputElement; li: HTMLElement }
  >()
  for (const p of dir) {
    const ok = JOINABLE.includes(p.verification)
    const member = h('input', {
      type: 'checkbox',
      id: `pick-${p.userId}`,
      disabled: ok ? undefined : true,
      'aria-describedby': `pick-${p.userId}-desc`,
    })
    const admin = h('input', {
      type: 'checkbox',
      id: `admin-${p.userId}`,
      disabled: true,
      'aria-label': `${t('adminCheck')}: ${p.name}`,
    })
    member.addEventListener('change', () => {
      admin.disabled = !member.checked
      if (!member.checked) admin.checked = false
      li.classList.toggle('picked', member.checked)
    })
    const li = h(
      'li',
      { class: ok ? 'pick' : 'pick disabled', 'data-testid': 'pick', 'data-name': p.name },
      h(
        'div',
        { class: 'pick-main' },
        member,
        h(
          'label',
          { for: `pick-${p.userId}` },
          h('span', { class: 'person-name' }, p.name),
          h(
            'span',
            { class: 'muted small', id: `pick-${p.userId}-desc` },
            ` ${p.discipline} · ${p.organisation.name}`,
            ok ? '' : ` — ${t('cannotJoinNoKey')}`,
          ),
        ),
      ),
      h(
        'div',
        { class: 'pick-side' },
        badge(p.verification),
        h(
          'span',
          { class: 'admin-pick' },
          admin,
          h('label', { for: `admin-${p.userId}` }, t('adminCheck')),
        ),
      ),
    )
    picks.set(p.userId, { member, admin, li })
    list.append(li)
  }
  filter.addEventListener('input', () => {
    const q = filter.value.trim().toLowerCase()
    for (const p of dir) {
      const e = picks.get(p.userId)!
      const text = `${p.name} ${p.discipline} ${p.organisation.name}`.toLowerCase()
      e.li.hidden = q !== '' && !text.includes(q) && !e.member.checked
    }
  })

  const form = h(
    'form',
    { class: 'card', 'data-testid': 'new-room-form' },
    label.wrap,
    labelGuard,
    h(
      'fieldset',
      { class: 'field' },
      h('legend', {}, t('pickMembers')),
      h('p', { class: 'hint' }, t('pickMembersHint')),
      h('label', { for: 'people-filter', class: 'visually-hidden' }, t('filterPeople')),
      filter,
      list,
      h('p', { class: 'hint' }, t('adminHint')),
    ),
    alert,
    status,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, t('openRoom')),
      h('a', { href: paths.rooms, class: 'button-link secondary' }, t('cancel')),
    ),
  )
  filter.setAttribute('placeholder', t('filterPeople'))
  handleSubmit(form, alert, async () => {
    const name = label.input.value.trim()
    if (!name) throw new FormError(t('labelRequired'))
    if (findIdentifiers(name).length) throw new FormError(t('labelHasIdentifier'))
    const members = [...picks.entries()]
      .filter(([, e]) => e.member.checked)
      .map(([userId, e]) => ({
        userId,
        role: e.admin.checked ? ('admin' as const) : ('member' as const),
      }))
    if (members.length === 0) throw new FormError(t('noMembersChosen'))
    status.textContent = t('creatingRoom')
    try {
      const roomId = await l.rooms.create({ kind: 'case', label: name, members })
      ctx.go(paths.room(roomId))
    } finally {
      status.textContent = ''
    }
  })

  return h(
    'section',
    { 'aria-labelledby': 'new-room-title' },
    h('p', {}, h('a', { href: paths.rooms }, t('backToRooms'))),
    h('h2', { id: 'new-room-title', tabindex: '-1' }, t('newRoom')),
    form,
  )
}
