/**
 * The asker's side of an adviesvraag: the question and the answers in real time, with the
 * identifier guard on every follow-up. Fully anonymous questions open with the key pair
 * and capability kept on this device only.
 */
import type { RoomSession, RoomsClient, TimelineItem } from '@vs/client/rooms'
import { h, onClick, mount } from '../dom.js'
import { t } from '../i18n.js'
import {
  anonConsults,
  anonRooms,
  forgetAnonConsult,
  live,
  names as loadNames,
  resubscribeSoon,
  type Names,
} from '../live.js'
import { paths } from '../router.js'
import type { View, ViewContext } from '../app.js'
import { connectionLine, scroller } from './room.js'
import { composer, renderTimeline } from './timeline.js'

/** Timeline + message box + live updates, for any consultation thread. */
export function threadBody(
  ctx: ViewContext,
  o: {
    session: RoomSession
    rooms: RoomsClient
    names: Names
    me: string
    /** Who answers (the desk's member id): until they write, a calm "received" line. */
    answerer?: string
    guard: boolean
    markRead: boolean
    replyLabel?: string
    selfName?: string
    canSend?: () => string | null
  },
): { el: HTMLElement; composer: ReturnType<typeof composer> } {
  const { session, rooms } = o
  const roomId = session.roomId
  const tl = renderTimeline(session.timeline, {
    names: o.names,
    me: o.me,
    roomId,
    rooms,
    ...(o.selfName ? { selfName: o.selfName } : {}),
  })
  const scroll = scroller(tl.el)
  const waiting = h(
    'p',
    { class: 'ok small', 'data-testid': 'waiting-for-answer' },
    t('noAnswerYet'),
  )
  const answered = () =>
    o.answerer !== undefined &&
    session.timeline.some((i) => i.kind === 'message' && i.from === o.answerer)
  waiting.hidden = o.answerer === undefined || answered()
  const box = composer({
    id: 'reply',
    guard: o.guard,
    label: o.replyLabel ?? t('replyLabel'),
    send: async (text) => {
      resubscribeSoon(rooms, session, await rooms.sendText(roomId, text))
    },
  })
  resubscribeSoon(rooms, session)
  const check = () => box.disable(session.removed ? t('roomNotFound') : (o.canSend?.() ?? null))
  check()
  let readTimer: ReturnType<typeof setTimeout> | undefined
  const markRead = () => {
    if (!o.markRead) return
    clearTimeout(readTimer)
    readTimer = setTimeout(() => {
      if (!ctx.signal.aborted && !document.hidden)
        rooms.markRead(roomId, session.cursor).catch(() => {})
    }, 300)
  }
  markRead()
  const off = session.onItem((it: TimelineItem) => {
    tl.add(it)
    scroll.stick()
    waiting.hidden = o.answerer === undefined || answered()
    markRead()
  })
  ctx.signal.addEventListener('abort', () => {
    off()
    clearTimeout(readTimer)
  })
  return {
    el: h('div', { class: 'card thread' }, scroll.el, waiting, box.el),
    composer: box,
  }
}

export function consultView(roomId: string): View {
  return async (ctx) => {
    const l = await live(ctx.client)
    const back = h('p', {}, h('a', { href: paths.advice }, t('backToAdvice')))
    let session: RoomSession
    try {
      session = await l.rooms.open(roomId)
      await session.idle()
    } catch {
      return h(
        'section',
        {},
        back,
        h('h2', { tabindex: '-1' }, t('threadTitle')),
        h('p', { class: 'notice', role: 'alert' }, t('roomNotFound')),
      )
    }
    const nm = await loadNames(ctx.client, t('anonAsker'))
    const desk = session.state?.members.find((m) => m.kind === 'desk')
    const body = threadBody(ctx, {
      session,
      rooms: l.rooms,
      names: nm,
      me: l.userId,
      guard: true,
      markRead: true,
      ...(desk ? { answerer: desk.userId } : {}),
    })
    return h(
      'section',
      { 'aria-labelledby': 'thread-title', class: 'consult-thread' },
      back,
      h(
        'div',
        { class: 'title-row' },
        h('h2', { id: 'thread-title', tabindex: '-1' }, t('threadTitle')),
        h('span', { class: 'badge' }, t('modeFamily')),
      ),
      desk ? h('p', { class: 'muted' }, nm.name(desk.userId)) : null,
      connectionLine(ctx.signal),
      body.el,
    )
  }
}

export function anonConsultView(roomId: string): View {
  return async (ctx) => {
    const l = await live(ctx.client)
    const back = h('p', {}, h('a', { href: paths.advice }, t('backToAdvice')))
    const record = anonConsults(l.userId).find((c) => c.saved.roomId === roomId)
    if (!record)
      return h(
        'section',
        {},
        back,
        h('h2', { tabindex: '-1' }, t('threadTitle')),
        h('p', { class: 'notice', role: 'alert' }, t('anonNotFound')),
      )
    const { rooms } = anonRooms(record)
    ctx.signal.addEventListener('abort', () => rooms.close())
    const session = await rooms.open(roomId)
    await session.idle()
    const anonId = record.saved.anonId
    const deskInfo = record.saved.desk
    const nm: Names = {
      me: anonId,
      person: () => undefined,
      name: (id) => (id === anonId ? t('youCap') : id === deskInfo.id ? deskInfo.name : id),
    }
    const body = threadBody(ctx, {
      session,
      rooms,
      names: nm,
      me: anonId,
      answerer: deskInfo.id,
      guard: true,
      markRead: false,
    })
    const forgetBox = h('div', { class: 'forget' })
    const showForget = () =>
      mount(
        forgetBox,
        onClick(h('button', { type: 'button', class: 'link-button' }, t('forgetAnon')), () => {
          const yes = onClick(
            h('button', { type: 'button', class: 'danger-button' }, t('yesRemove')),
            () => {
              forgetAnonConsult(l.userId, roomId)
              ctx.go(paths.advice)
            },
          )
          const no = onClick(
            h('button', { type: 'button', class: 'secondary' }, t('cancel')),
            showForget,
          )
          mount(
            forgetBox,
            h('p', {}, t('forgetAnonConfirm')),
            h('div', { class: 'actions' }, yes, no),
          )
          no.focus()
        }),
      )
    showForget()
    return h(
      'section',
      { 'aria-labelledby': 'thread-title', class: 'consult-thread' },
      back,
      h(
        'div',
        { class: 'title-row' },
        h('h2', { id: 'thread-title', tabindex: '-1' }, t('threadTitle')),
        h('span', { class: 'badge' }, t('modeFull')),
      ),
      h('p', { class: 'muted' }, deskInfo.name),
      h('p', { class: 'muted small' }, t('anonDeviceOnly')),
      body.el,
      forgetBox,
    )
  }
}
