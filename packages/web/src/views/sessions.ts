import type { SessionInfo } from '@vs/client'
import { h, mount, onClick } from '../dom.js'
import { formatDate, t } from '../i18n.js'
import { paths } from '../router.js'
import { alertBox, describeUserAgent, errorText } from '../ui.js'
import type { View } from '../app.js'

/** Where I am signed in; end one session or all of them. */
export const sessionsView: View = async (ctx) => {
  const alert = alertBox()
  const list = h('ul', { class: 'sessions', id: 'session-list' })
  const everywhere = h('div', { class: 'card' })

  async function reload() {
    let sessions: SessionInfo[]
    try {
      sessions = await ctx.client.sessions()
    } catch (err) {
      alert.show(errorText(err))
      return
    }
    mount(
      list,
      ...sessions.map((s) =>
        h(
          'li',
          { class: 'session' },
          h(
            'div',
            {},
            h(
              'p',
              { class: 'device-name' },
              describeUserAgent(s.userAgent),
              s.current ? h('span', { class: 'badge' }, t('thisSession')) : null,
            ),
            h(
              'p',
              { class: 'muted small' },
              t('sessionSince', {
                created: formatDate(s.createdAt),
                used: formatDate(s.lastUsedAt),
              }),
            ),
          ),
          s.current
            ? null
            : onClick(h('button', { type: 'button', class: 'secondary' }, t('endSession')), () => {
                void ctx.client.revokeSession(s.id).then(reload, (e) => alert.show(errorText(e)))
              }),
        ),
      ),
    )
  }

  const askEverywhere = () => {
    const yes = onClick(
      h(
        'button',
        { type: 'button', class: 'danger-button', id: 'confirm-everywhere' },
        t('signOutEverywhere'),
      ),
      () => {
        yes.disabled = true
        void ctx.client.signOutEverywhere().then(
          () => ctx.go(paths.signIn),
          (e) => {
            yes.disabled = false
            alert.show(errorText(e))
          },
        )
      },
    )
    const no = onClick(h('button', { type: 'button', class: 'secondary' }, t('cancel')), showButton)
    mount(
      everywhere,
      h('p', {}, t('signOutEverywhereConfirm')),
      h('div', { class: 'actions' }, yes, no),
    )
    no.focus()
  }
  function showButton() {
    mount(
      everywhere,
      onClick(
        h(
          'button',
          { type: 'button', class: 'danger-button', id: 'sign-out-everywhere' },
          t('signOutEverywhere'),
        ),
        askEverywhere,
      ),
    )
  }
  showButton()
  await reload()
  return h(
    'section',
    { 'aria-labelledby': 'sessions-title' },
    h('h2', { id: 'sessions-title', tabindex: '-1' }, t('sessionsTitle')),
    h('p', { class: 'muted' }, t('sessionsIntro')),
    alert,
    h('div', { class: 'card' }, list),
    everywhere,
  )
}
