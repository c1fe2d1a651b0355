/**
 * The inbox: terugkoppeling not yet seen (with "Gezien"), reminders for what stays unseen,
 * and alerts (controle verlopen, beoordeling te laat).
 */
import { verifiedNotices, type VerifiedNotice } from '@vs/client/rooms'
import { h } from '../dom.js'
import { formatDate, formatDay, t } from '../i18n.js'
import { deskActor, inboxChanged, labelOf, live, names as loadNames, type Live } from '../live.js'
import { paths } from '../router.js'
import { alertBox, errorText } from '../ui.js'
import { every, type View, type ViewContext } from '../app.js'
import { noticeCard } from './notices.js'
import { noticeKindText } from './timeline.js'

export interface InboxItem {
  kind: 'notice' | 'ack-reminder' | 'check-overdue' | 'beoordeling-overdue'
  roomId: string
  noticeId: string | null
  noticeKind: string | null
  dates: Record<string, string> | null
  at: string
  as: string
}

export function fetchInbox(l: Live): Promise<InboxItem[]> {
  return l.host.request<InboxItem[]>('GET', '/api/v1/inbox')
}

/** A text with `\u0000` where the link goes. */
function withLink(text: string, link: Node): (string | Node)[] {
  const [before = '', after = ''] = text.split('\u0000')
  return [before, link, after]
}

function keyOf(i: InboxItem): string {
  return `${i.kind === 'ack-reminder' ? 'notice' : i.kind}:${i.noticeId ?? i.roomId}:${i.as}`
}

export const inboxView: View = async (ctx) => {
  const l = await live(ctx.client)
  const nm = await loadNames(ctx.client, t('anonAsker'))
  const alert = alertBox()
  const signals = h('div', { class: 'inbox-list', 'data-testid': 'inbox-signals' })
  const toSee = h('div', { class: 'inbox-list', 'data-testid': 'inbox-notices' })
  const signalsSection = h(
    'section',
    { 'aria-labelledby': 'signals-title', hidden: true },
    h('h3', { id: 'signals-title' }, t('inboxSignals')),
    signals,
  )
  const noticesSection = h(
    'section',
    { 'aria-labelledby': 'to-see-title', hidden: true },
    h('h3', { id: 'to-see-title' }, t('inboxNotices')),
    toSee,
  )
  const empty = h('p', { class: 'ok', hidden: true, 'data-testid': 'inbox-empty' }, t('inboxEmpty'))
  const shown = new Map<string, HTMLElement>()
  const noticeCache = new Map<string, Promise<VerifiedNotice[]>>()

  const roomLink = async (roomId: string) => {
    const label = await labelOf(l, roomId).catch(() => undefined)
    return h('a', { href: paths.room(roomId) }, label ?? t('roomNoLabel'))
  }

  async function noticesOf(roomId: string, as: string): Promise<VerifiedNotice[]> {
    const key = `${roomId}:${as}`
    let p = noticeCache.get(key)
    if (!p) {
      p = (async () => {
        if (as === l.userId) return verifiedNotices(l.host, l.rooms, roomId)
        const d = await deskActor(ctx.client, as)
        const { rooms } = await d.open(roomId)
        return verifiedNotices(l.host, rooms, roomId)
      })()
      p.catch(() => noticeCache.delete(key))
      noticeCache.set(key, p)
    }
    return p
  }

  async function card(i: InboxItem): Promise<HTMLElement> {
    const link = await roomLink(i.roomId)
    if (i.kind === 'check-overdue' || i.kind === 'beoordeling-overdue') {
      const overdue = i.kind === 'check-overdue'
      return h(
        'article',
        { class: 'alert-card', 'data-testid': 'inbox-alert', 'data-kind': i.kind },
        h('h4', {}, '⚠ ', overdue ? t('alertCheckOverdue') : t('alertBeoordeling')),
        h(
          'p',
          {},
          ...withLink(
            overdue
              ? t('alertCheckOverdueText', { room: '\u0000' })
              : t('alertBeoordelingText', { room: '\u0000' }),
            link,
          ),
        ),
        h('p', { class: 'muted small' }, formatDate(i.at)),
        h('a', { href: paths.room(i.roomId), class: 'button-link secondary' }, t('toCase')),
      )
    }
    const context = h(
      'p',
      { class: 'card-context' },
      link,
      i.as !== l.userId
        ? h('span', { class: 'muted small' }, ` · ${t('onBehalfOf', { desk: nm.name(i.as) })}`)
        : null,
      i.kind === 'ack-reminder'
        ? h(
            'span',
            { class: 'badge warn-badge', 'data-testid': 'reminder' },
            `⚠ ${t('alertReminder')}`,
          )
        : null,
    )
    const remove = () => {
      const el = shown.get(keyOf(i))
      shown.delete(keyOf(i))
      el?.remove()
      layout()
    }
    try {
      const list = await noticesOf(i.roomId, i.as)
      const n = list.find((x) => x.id === i.noticeId)
      if (n)
        return noticeCard(n, { names: nm, me: i.as, host: l.host, context, acknowledged: remove })
    } catch {
      // fall through: a plain card from what the server says
    }
    return h(
      'article',
      { class: 'notice-card', 'data-testid': 'notice', 'data-kind': i.noticeKind ?? '' },
      context,
      h('h4', {}, noticeKindText(i.noticeKind ?? '')),
      h(
        'p',
        { class: 'muted small' },
        Object.values(i.dates ?? {})
          .slice(0, 2)
          .map(formatDay)
          .join(' – '),
      ),
    )
  }

  function layout() {
    signalsSection.hidden = signals.childElementCount === 0
    noticesSection.hidden = toSee.childElementCount === 0
    empty.hidden = shown.size > 0
  }

  async function reload() {
    const items = await fetchInbox(l)
    alert.show(null)
    noticeCache.clear()
    const keys = new Set(items.map(keyOf))
    for (const [k, el] of shown)
      if (!keys.has(k)) {
        el.remove()
        shown.delete(k)
      }
    for (const i of items) {
      const k = keyOf(i)
      if (shown.has(k)) continue
      const placeholder = h('div', { class: 'muted small' }, t('loading'))
      shown.set(k, placeholder)
      ;(i.kind === 'check-overdue' || i.kind === 'beoordeling-overdue' ? signals : toSee).append(
        placeholder,
      )
      const el = await card(i).catch((err: unknown) => h('p', { class: 'error' }, errorText(err)))
      if (shown.get(k) === placeholder) {
        placeholder.replaceWith(el)
        shown.set(k, el)
      }
    }
    layout()
    if (!ctx.signal.aborted) inboxChanged()
  }

  every(20_000, ctx.signal, reload, (err) => alert.show(errorText(err)))

  return h(
    'section',
    { 'aria-labelledby': 'inbox-title', class: 'inbox' },
    h('h2', { id: 'inbox-title', tabindex: '-1' }, t('inboxTitle')),
    h('p', { class: 'muted' }, t('inboxIntro')),
    alert,
    empty,
    signalsSection,
    noticesSection,
  )
}

/** The count for the badge in the top bar. */
export async function inboxCount(ctx: Pick<ViewContext, 'client'>): Promise<number> {
  const l = await live(ctx.client)
  return (await fetchInbox(l)).length
}
