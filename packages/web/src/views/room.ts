/**
 * One case room: the conversation in real time, the message box with attachments, and
 * beside it the afspraken, the members (admins add and remove) and the terugkoppeling.
 */
import type { PersonEntry } from '@vs/client'
import {
  RoomsClient,
  verifiedNotices,
  type AfspraakContent,
  type RoomSession,
  type TimelineItem,
} from '@vs/client/rooms'
import { h, mount, onClick } from '../dom.js'
import { formatDay, formatDate, t } from '../i18n.js'
import {
  bus,
  connectionStatus,
  deskActor,
  live,
  resubscribeSoon,
  names as loadNames,
  people,
  rememberLabel,
  wasRemoved,
  type Live,
  type Names,
} from '../live.js'
import { paths } from '../router.js'
import { alertBox, errorText, field, handleSubmit, statusLine } from '../ui.js'
import { every, type View, type ViewContext } from '../app.js'
import { badge } from './people.js'
import { noticesPanel } from './notices.js'
import { composer, renderTimeline, required } from './timeline.js'

/** A line that says whether the realtime connection is up. */
export function connectionLine(signal: AbortSignal): HTMLElement {
  const line = h('p', { class: 'connection small', role: 'status', 'data-testid': 'connection' })
  const show = () => {
    const s = connectionStatus()
    line.dataset.status = s
    line.textContent =
      s === 'open' ? '' : s === 'connecting' ? t('connecting') : t('connectionLost')
    line.hidden = s === 'open'
  }
  show()
  bus.addEventListener('status', show, { signal })
  return line
}

/** Keeps a conversation scrolled to the newest item while the reader is at the bottom. */
export function scroller(inner: HTMLElement): { el: HTMLElement; stick: () => void } {
  const el = h('div', { class: 'timeline-wrap', tabindex: '0' }, inner)
  let atBottom = true
  el.addEventListener('scroll', () => {
    atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 80
  })
  const stick = () => {
    if (atBottom) requestAnimationFrame(() => (el.scrollTop = el.scrollHeight))
  }
  requestAnimationFrame(() => (el.scrollTop = el.scrollHeight))
  return { el, stick }
}

export function roomView(roomId: string): View {
  return async (ctx) => {
    const l = await live(ctx.client)
    const back = h('p', {}, h('a', { href: paths.rooms }, t('backToRooms')))
    let session: RoomSession
    let acting: Live = l
    try {
      session = await l.rooms.open(roomId)
      await session.idle()
      if (session.removed && !wasRemoved(roomId)) {
        // Not in it as myself: perhaps through a desk I staff (a melding to Veilig Thuis).
        const summary = (await l.rooms.list()).find((r) => r.id === roomId)
        const deskId = summary?.as.find((id) => id !== l.userId)
        if (deskId) {
          const opened = await (await deskActor(ctx.client, deskId)).open(roomId)
          session = opened.session
          acting = { userId: deskId, host: l.host, rooms: opened.rooms }
        }
      }
    } catch (err) {
      return h(
        'section',
        { 'aria-labelledby': 'room-title' },
        back,
        h('h2', { id: 'room-title', tabindex: '-1' }, t('roomNoLabel')),
        h(
          'p',
          { class: 'notice', role: 'alert' },
          wasRemoved(roomId) ? t('removedBanner') : t('roomNotFound'),
        ),
        h('p', { class: 'muted small' }, errorText(err)),
      )
    }
    const nm = await loadNames(ctx.client, t('anonAsker'))
    const dir = await people(ctx.client).catch(() => [] as PersonEntry[])
    return buildRoom(ctx, acting, session, nm, dir, back)
  }
}

function buildRoom(
  ctx: ViewContext,
  l: Live,
  session: RoomSession,
  nm: Names,
  dir: PersonEntry[],
  back: HTMLElement,
): HTMLElement {
  const roomId = session.roomId
  const me = l.userId
  const title = h('h2', { id: 'room-title', tabindex: '-1', 'data-testid': 'room-title' })
  const setTitle = () => {
    const label = RoomsClient.label(session.timeline)
    rememberLabel(me, roomId, label)
    title.textContent = label ?? t('roomNoLabel')
  }
  setTitle()
  const sub = h('p', { class: 'muted small' })
  const removedBanner = h(
    'div',
    { class: 'danger', role: 'alert', hidden: true, 'data-testid': 'removed-banner' },
    t('removedBanner'),
  )

  const tl = renderTimeline(session.timeline, { names: nm, me, roomId, rooms: l.rooms })
  const scroll = scroller(tl.el)
  const box = composer({
    id: 'message',
    send: async (text) => {
      resubscribeSoon(l.rooms, session, await l.rooms.sendText(roomId, text))
    },
    attach: async (file) => {
      const bytes = new Uint8Array(await file.arrayBuffer())
      const type = file.type || 'application/octet-stream'
      resubscribeSoon(l.rooms, session, await l.rooms.attach(roomId, bytes, file.name, type))
    },
  })

  const members = membersPanel(l, session, nm, dir)
  const afspraken = afsprakenPanel(l, session, nm)
  const kind = session.state?.kind
  const notices =
    kind === 'case' || kind === 'melding'
      ? noticesPanel({
          live: l,
          roomId,
          names: nm,
          members: () =>
            (session.state?.members ?? []).filter((m) => m.kind === 'user').map((m) => m.userId),
          load: () => verifiedNotices(l.host, l.rooms, roomId),
          // Notices are signed with this device's key: a desk does not post them here.
          canPost: () => !session.removed && !wasRemoved(roomId) && l.userId === l.host.userId(),
        })
      : undefined

  const updateState = () => {
    const n = session.state?.members.length ?? 0
    const created = session.state?.history[0]?.createdAt
    sub.textContent = [
      kind === 'melding' ? t('kindMelding') : null,
      `${n} ${t('membersTitle').toLowerCase()}`,
      created ? t('openedOn', { date: formatDate(created) }) : null,
    ]
      .filter(Boolean)
      .join(' · ')
    const removed = session.removed || wasRemoved(roomId)
    const changed = removedBanner.hidden === removed
    removedBanner.hidden = !removed
    box.disable(removed ? t('removedBanner') : null)
    if (changed && removed) {
      afspraken.render()
      void notices?.reload()
    }
  }
  updateState()

  // Read markers: tell the server what I have seen; show who read what.
  let readTimer: ReturnType<typeof setTimeout> | undefined
  let lastMarked = 0
  const markRead = () => {
    clearTimeout(readTimer)
    readTimer = setTimeout(() => {
      if (ctx.signal.aborted || session.removed || document.hidden) return
      if (session.cursor <= lastMarked) return
      lastMarked = session.cursor
      l.rooms.markRead(roomId, session.cursor).catch(() => (lastMarked = 0))
    }, 300)
  }
  markRead()
  document.addEventListener('visibilitychange', markRead, { signal: ctx.signal })
  const showReads = async () => {
    if (session.removed || ctx.signal.aborted) return
    tl.setReads(await l.rooms.reads(roomId))
  }
  every(3000, ctx.signal, showReads, () => {})
  resubscribeSoon(l.rooms, session)

  const off = session.onItem((it: TimelineItem) => {
    tl.add(it)
    scroll.stick()
    markRead()
    if (it.kind === 'membership') {
      members.render()
      updateState()
    }
    if (it.kind === 'message' && it.content.type === 'afspraak') afspraken.render()
    if (it.kind === 'message' && it.content.type === 'label') setTitle()
    if (it.kind === 'notice') void notices?.reload()
  })
  ctx.signal.addEventListener('abort', () => {
    off()
    clearTimeout(readTimer)
  })
  bus.addEventListener(
    'removed',
    (e) => {
      if ((e as CustomEvent<string>).detail === roomId) {
        updateState()
        members.render()
      }
    },
    { signal: ctx.signal },
  )
  // Acknowledgements arrive without a room event: look again now and then.
  if (notices) every(15_000, ctx.signal, notices.reload, () => {})

  return h(
    'section',
    { 'aria-labelledby': 'room-title', class: 'room', 'data-room-id': roomId },
    back,
    title,
    sub,
    connectionLine(ctx.signal),
    removedBanner,
    h(
      'div',
      { class: 'room-layout' },
      h(
        'div',
        { class: 'room-main card' },
        h('h3', { class: 'visually-hidden' }, t('conversation')),
        scroll.el,
        box.el,
      ),
      h('div', { class: 'room-side' }, members.el, afspraken.el, notices?.el ?? null),
    ),
  )
}

function membersPanel(
  l: Live,
  session: RoomSession,
  nm: Names,
  dir: PersonEntry[],
): { el: HTMLElement; render: () => void } {
  const list = h('ul', { class: 'member-list', 'data-testid': 'member-list' })
  const addBox = h('div')
  const alert = alertBox()
  const el = h(
    'section',
    { class: 'card side-card', 'aria-labelledby': 'members-title' },
    h('h3', { id: 'members-title' }, t('membersTitle')),
    list,
    alert,
    addBox,
  )
  const me = l.userId
  const canCommit = () => {
    const s = session.state
    if (!s || session.removed || wasRemoved(session.roomId)) return false
    return s.policy.whoCanCommit === 'members' || s.admins.includes(me)
  }

  function row(m: { userId: string; kind: string; role: string }): HTMLElement {
    const p = nm.person(m.userId)
    const li = h('li', { class: 'member', 'data-testid': 'member', 'data-member-id': m.userId })
    const show = () =>
      mount(
        li,
        h(
          'div',
          { class: 'member-main' },
          h(
            'p',
            { class: 'person-name' },
            nm.name(m.userId),
            m.userId === me ? h('span', { class: 'muted' }, ` (${t('you')})`) : null,
          ),
          p ? h('p', { class: 'muted small' }, `${p.discipline} · ${p.organisation.name}`) : null,
          h(
            'p',
            { class: 'member-badges' },
            m.role === 'admin' ? h('span', { class: 'badge' }, t('adminBadge')) : null,
            m.kind === 'desk' ? h('span', { class: 'badge' }, t('deskBadge')) : null,
            p && !p.self ? badge(p.verification) : null,
          ),
        ),
        canCommit() && m.userId !== me
          ? onClick(
              h('button', { type: 'button', class: 'secondary small-button' }, t('removeMember')),
              confirm,
            )
          : null,
      )
    const confirm = () => {
      const name = nm.name(m.userId)
      const yes = onClick(
        h('button', { type: 'button', class: 'danger-button small-button' }, t('yesRemove')),
        () => {
          yes.disabled = true
          l.rooms.removeMembers(session.roomId, [m.userId]).then(
            () => render(),
            (err: unknown) => {
              yes.disabled = false
              alert.show(errorText(err))
            },
          )
        },
      )
      const no = onClick(
        h('button', { type: 'button', class: 'secondary small-button' }, t('cancel')),
        show,
      )
      mount(
        li,
        h(
          'div',
          { class: 'confirm', role: 'group' },
          h('p', {}, t('removeMemberConfirm', { name })),
          h('div', { class: 'actions' }, yes, no),
        ),
      )
      no.focus()
    }
    show()
    return li
  }

  function addForm(): HTMLElement | null {
    if (!canCommit()) return null
    const inRoom = new Set((session.state?.members ?? []).map((m) => m.userId))
    const candidates = dir.filter(
      (p) =>
        !p.self &&
        !inRoom.has(p.userId) &&
        (p.verification === 'verified' || p.verification === 'unverified'),
    )
    if (candidates.length === 0) return h('p', { class: 'muted small' }, t('nobodyToAdd'))
    const formAlert = alertBox()
    const sel = h(
      'select',
      { id: 'add-member', name: 'add-member' },
      h('option', { value: '' }, t('choosePerson')),
      ...candidates.map((p) =>
        h(
          'option',
          { value: p.userId },
          `${p.name} — ${p.discipline}, ${p.organisation.name}${p.verification === 'verified' ? ` ✓ ${t('verified')}` : ''}`,
        ),
      ),
    )
    const admin = h('input', { type: 'checkbox', id: 'add-member-admin' })
    const form = h(
      'form',
      { class: 'add-member', 'data-testid': 'add-member' },
      h('div', { class: 'field' }, h('label', { for: 'add-member' }, t('addWho')), sel),
      h('div', { class: 'check' }, admin, h('label', { for: 'add-member-admin' }, t('asAdmin'))),
      formAlert,
      h('button', { type: 'submit' }, t('addButton')),
    )
    handleSubmit(form, formAlert, async () => {
      const userId = required(sel.value, t('addMember'))
      await l.rooms.addMembers(session.roomId, [
        { userId, role: admin.checked ? 'admin' : 'member' },
      ])
      render()
      await shareContext(l, session)
    })
    return h('details', { class: 'fold' }, h('summary', {}, `+ ${t('addMember')}`), form)
  }

  function render() {
    const members = [...(session.state?.members ?? [])].sort((a, b) =>
      a.userId === me
        ? -1
        : b.userId === me
          ? 1
          : nm.name(a.userId).localeCompare(nm.name(b.userId)),
    )
    mount(list, ...members.map(row))
    mount(addBox, addForm())
  }
  render()
  return { el, render }
}

/**
 * New members get no keys from before they joined, so after adding someone the room's
 * pseudonym and current afspraken are sent again (members who saw them already see no
 * repeat: the timeline skips unchanged ones).
 */
async function shareContext(l: Live, session: RoomSession): Promise<void> {
  const label = RoomsClient.label(session.timeline)
  if (label) await l.rooms.send(session.roomId, { type: 'label', body: { label } })
  for (const a of RoomsClient.afspraken(session.timeline))
    await l.rooms.addAfspraak(session.roomId, a)
}

function afsprakenPanel(
  l: Live,
  session: RoomSession,
  nm: Names,
): { el: HTMLElement; render: () => void } {
  const list = h('ul', { class: 'afspraken', 'data-testid': 'afspraken' })
  const alert = alertBox()
  const status = statusLine()
  const what = field('afspraak-what', t('afspraakWhat'), { maxlength: '500', required: true })
  const who = field('afspraak-who', t('afspraakWho'), {
    maxlength: '200',
    required: true,
    list: 'afspraak-who-list',
  })
  const whoList = h('datalist', { id: 'afspraak-who-list' })
  const due = field('afspraak-due', `${t('afspraakDue')} ${t('optional')}`, { type: 'date' })
  const form = h(
    'form',
    { class: 'afspraak-form', 'data-testid': 'afspraak-form' },
    what.wrap,
    who.wrap,
    whoList,
    due.wrap,
    alert,
    status,
    h('button', { type: 'submit' }, t('recordButton')),
  )
  const fold = h('details', { class: 'fold' }, h('summary', {}, `+ ${t('addAfspraak')}`), form)
  handleSubmit(form, alert, async () => {
    await l.rooms.addAfspraak(session.roomId, {
      what: required(what.input.value, t('afspraakWhat')),
      who: required(who.input.value, t('afspraakWho')),
      due: due.input.value || null,
    })
    what.input.value = ''
    who.input.value = ''
    due.input.value = ''
  })

  function item(a: AfspraakContent): HTMLElement {
    const toggle = onClick(
      h(
        'button',
        { type: 'button', class: 'link-button small' },
        a.done ? t('markOpen') : t('markDone'),
      ),
      () => {
        toggle.disabled = true
        l.rooms.addAfspraak(session.roomId, { ...a, done: !a.done }).catch((err: unknown) => {
          toggle.disabled = false
          alert.show(errorText(err))
        })
      },
    )
    return h(
      'li',
      { class: a.done ? 'afspraak done' : 'afspraak', 'data-testid': 'afspraak' },
      h('p', { class: 'afspraak-what' }, a.done ? '✓ ' : '', a.what),
      h(
        'p',
        { class: 'muted small' },
        a.who,
        a.due ? ` · ${t('dueOn', { date: formatDay(a.due) })}` : '',
      ),
      session.removed || wasRemoved(session.roomId) ? null : toggle,
    )
  }

  function render() {
    const all = RoomsClient.afspraken(session.timeline)
    mount(list, ...(all.length ? all.map(item) : [h('li', { class: 'muted' }, t('noAfspraken'))]))
    mount(
      whoList,
      ...(session.state?.members ?? []).map((m) => h('option', { value: nm.name(m.userId) })),
    )
    fold.hidden = session.removed || wasRemoved(session.roomId)
  }
  render()
  return {
    el: h(
      'section',
      { class: 'card side-card', 'aria-labelledby': 'afspraken-title' },
      h('h3', { id: 'afspraken-title' }, t('afsprakenTitle')),
      list,
      fold,
    ),
    render,
  }
}
