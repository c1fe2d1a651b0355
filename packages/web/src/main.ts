import { h, mount } from './dom.js'
import { t } from './i18n.js'

function signInView(): HTMLElement {
  const form = h(
    'form',
    { class: 'card', id: 'sign-in' },
    h('h2', {}, t('signInTitle')),
    h('label', { for: 'email' }, t('email')),
    h('input', { id: 'email', type: 'email', autocomplete: 'username' }),
    h('label', { for: 'password' }, t('password')),
    h('input', { id: 'password', type: 'password', autocomplete: 'current-password' }),
    h('label', { for: 'totp' }, t('totp')),
    h('input', { id: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code' }),
    h('button', { type: 'submit', disabled: true }, t('signIn')),
    h('p', { class: 'notice', role: 'status' }, t('signInUnavailable')),
  )
  form.addEventListener('submit', (e) => e.preventDefault())
  return form
}

const root = document.getElementById('app')
if (root) mount(root, signInView())
