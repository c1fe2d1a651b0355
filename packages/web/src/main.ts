/**
 * The web client: a hash router over a few views, on the SDK. Keys and tokens live in
 * this origin's localStorage (the API serves us under a strict CSP, so no foreign
 * script runs here to read them).
 */
import { LocalStorageKeyStore, startOpenPool, VsClient } from '@vs/client'
import { h, mount, onClick } from './dom.js'
import { getLang, initLang, setLang, t, type Lang, type StringKey } from './i18n.js'
import { parseRoute, paths, type Route } from './router.js'
import { errorText } from './ui.js'
import type { View, ViewContext } from './app.js'
import { signInView } from './views/sign-in.js'
import { invitationView } from './views/invitation.js'
import { recoveryKeyView } from './views/recovery-key.js'
import { setupView } from './views/setup.js'
import { devicesView } from './views/devices.js'
import { peopleView, personView } from './views/people.js'
import { sessionsView } from './views/sessions.js'
import { inviteView } from './views/invite.js'
import { newRoomView, roomsView } from './views/rooms.js'
import { roomView } from './views/room.js'
import { adviceView } from './views/advice.js'
import { anonConsultView, consultView } from './views/consult.js'
import { deskConsultView, deskView } from './views/desk.js'
import { inboxCount, inboxView } from './views/inbox.js'
import { casesView } from './views/cases.js'
import { bus, endLive } from './live.js'

const root = document.getElementById('app')!
const nav = document.getElementById('nav')!
const account = document.getElementById('account')!
const langBox = document.getElementById('lang')!

let flash: string | undefined
let current: AbortController | undefined
let renderSeq = 0

initLang()
const client = await VsClient.open({
  baseUrl: location.origin,
  store: new LocalStorageKeyStore(),
  onSessionEnded: () => {
    endLive()
    flash = t('sessionEnded')
    go(paths.signIn)
  },
})

function go(hash: string): void {
  if (location.hash === hash) void render()
  else location.hash = hash
}

/** Where a signed-in person must go first, if anywhere. */
async function guard(route: Route): Promise<string | undefined> {
  if (route.name === 'invitation') return undefined
  if (!client.signedIn) return route.name === 'sign-in' ? undefined : paths.signIn
  if (await client.pendingRecoveryKey()) {
    return route.name === 'recovery-key' ? undefined : paths.recoveryKey
  }
  const device = await client.localDevice()
  if (!device) return route.name === 'setup' ? undefined : paths.setup
  if (['sign-in', 'setup', 'recovery-key', 'home'].includes(route.name)) return paths.devices
  if (route.name === 'invite' && client.user?.role !== 'coordinator') return paths.devices
  return undefined
}

function viewFor(route: Route): View {
  switch (route.name) {
    case 'sign-in':
      return signInView
    case 'invitation':
      return invitationView(route.code)
    case 'recovery-key':
      return recoveryKeyView
    case 'setup':
      return setupView
    case 'people':
      return peopleView
    case 'person':
      return personView(route.userId)
    case 'sessions':
      return sessionsView
    case 'invite':
      return inviteView
    case 'rooms':
      return roomsView
    case 'new-room':
      return newRoomView
    case 'room':
      return roomView(route.roomId)
    case 'advice':
      return adviceView
    case 'consult':
      return consultView(route.roomId)
    case 'anon-consult':
      return anonConsultView(route.roomId)
    case 'desk':
      return deskView(route.deskId)
    case 'desk-consult':
      return deskConsultView(route.deskId, route.roomId)
    case 'inbox':
      return inboxView
    case 'cases':
      return casesView
    default:
      return devicesView
  }
}

async function render(): Promise<void> {
  const seq = ++renderSeq
  current?.abort()
  const controller = new AbortController()
  current = controller
  const route = parseRoute(location.hash)
  try {
    const redirect = await guard(route)
    if (seq !== renderSeq) return
    if (redirect) {
      go(redirect)
      return
    }
    const ctx: ViewContext = {
      client,
      go,
      refresh: () => void render(),
      signal: controller.signal,
      flash,
    }
    flash = undefined
    renderChrome(route)
    const node = await viewFor(route)(ctx)
    if (seq !== renderSeq) return
    root.classList.toggle('wide', WIDE.includes(route.name))
    mount(root, node)
    const heading = root.querySelector<HTMLElement>('h2')
    heading?.focus({ preventScroll: false })
  } catch (err) {
    if (seq !== renderSeq) return
    mount(
      root,
      h(
        'div',
        { class: 'card narrow' },
        h('p', { class: 'error', role: 'alert' }, errorText(err)),
        onClick(h('button', { type: 'button' }, t('retry')), () => void render()),
      ),
    )
  }
}

const NAV: { route: Route['name']; href: string; label: StringKey }[] = [
  { route: 'rooms', href: paths.rooms, label: 'navRooms' },
  { route: 'advice', href: paths.advice, label: 'navAdvice' },
  { route: 'inbox', href: paths.inbox, label: 'navInbox' },
  { route: 'cases', href: paths.cases, label: 'navCases' },
  { route: 'people', href: paths.people, label: 'navPeople' },
  { route: 'devices', href: paths.devices, label: 'navDevices' },
  { route: 'invite', href: paths.invite, label: 'navInvite' },
]

/** Views that use the full width (conversations with side panels). */
const WIDE: Route['name'][] = ['room', 'desk-consult', 'cases']

/** Which top-bar item a route belongs to. */
const SECTION: Partial<Record<Route['name'], Route['name']>> = {
  person: 'people',
  sessions: 'devices',
  'new-room': 'rooms',
  room: 'rooms',
  consult: 'advice',
  'anon-consult': 'advice',
  desk: 'advice',
  'desk-consult': 'advice',
}

const inboxBadge = document.createElement('span')
inboxBadge.className = 'nav-badge'
inboxBadge.hidden = true
inboxBadge.setAttribute('data-testid', 'inbox-badge')
let badgeTimer: ReturnType<typeof setTimeout> | undefined

/** Counts the inbox for the badge: now, on every change, and every 20 seconds. */
function recountInbox(): void {
  clearTimeout(badgeTimer)
  if (!client.signedIn) return
  void (async () => {
    try {
      if (await client.localDevice()) {
        const n = await inboxCount({ client })
        inboxBadge.textContent = String(n)
        inboxBadge.hidden = n === 0
        inboxBadge.setAttribute('aria-label', t('inboxBadge', { n: String(n) }))
      }
    } catch {
      // the badge waits for the next round
    }
    badgeTimer = setTimeout(recountInbox, 20_000)
  })()
}
bus.addEventListener('inbox', recountInbox)

function renderChrome(route: Route): void {
  document.title = 'Veilig Samenwerken'
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n as StringKey)
  }
  nav.setAttribute('aria-label', t('navLabel'))
  const inApp =
    client.signedIn && !['sign-in', 'invitation', 'setup', 'recovery-key'].includes(route.name)
  const active = SECTION[route.name] ?? route.name
  mount(
    nav,
    ...(inApp
      ? NAV.filter((n) => n.route !== 'invite' || client.user?.role === 'coordinator').map((n) =>
          h(
            'a',
            {
              href: n.href,
              'aria-current': n.route === active ? 'page' : undefined,
              'data-nav': n.route,
            },
            t(n.label),
            n.route === 'inbox' ? inboxBadge : null,
          ),
        )
      : []),
  )
  if (inApp) recountInbox()
  mount(
    account,
    ...(client.signedIn
      ? [
          h('span', { class: 'who' }, client.user?.name ?? ''),
          onClick(
            h('button', { type: 'button', class: 'link-button', id: 'sign-out' }, t('signOut')),
            () => {
              endLive()
              void client.signOut().finally(() => go(paths.signIn))
            },
          ),
        ]
      : []),
  )
  const langButton = (l: Lang, label: string, full: string) =>
    onClick(
      h(
        'button',
        {
          type: 'button',
          class: 'link-button',
          lang: l,
          'aria-pressed': getLang() === l ? 'true' : 'false',
          'aria-label': full,
        },
        label,
      ),
      () => {
        if (getLang() === l) return
        setLang(l)
        // Half-way through an invitation a re-render would lose the steps taken.
        if (parseRoute(location.hash).name === 'invitation') renderChrome(route)
        else void render()
      },
    )
  mount(
    langBox,
    h(
      'div',
      { role: 'group', 'aria-label': t('language') },
      langButton('nl', 'NL', 'Nederlands'),
      langButton('en', 'EN', 'English'),
    ),
  )
}

document.getElementById('skip-link')?.addEventListener('click', (e) => {
  e.preventDefault()
  root.focus()
})
window.addEventListener('hashchange', () => void render())
// Long room histories are verified and decrypted by a pool of workers (one per core).
if (typeof Worker !== 'undefined')
  startOpenPool({ createWorker: () => new Worker('/open-worker.js') })
void render()
