import { h } from '../dom.js'
import { t } from '../i18n.js'
import { paths } from '../router.js'
import { FormError, alertBox, field, handleSubmit } from '../ui.js'
import type { View } from '../app.js'

export const signInView: View = async (ctx) => {
  const alert = alertBox()
  if (ctx.flash) alert.show(ctx.flash)
  const email = field('email', t('email'), {
    type: 'email',
    autocomplete: 'username',
    required: true,
  })
  const password = field('password', t('password'), {
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  })
  const totp = field(
    'totp',
    t('totp'),
    {
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '\\d{6}',
      maxlength: '6',
      required: true,
      class: 'code-input',
    },
    t('totpHint'),
  )
  const form = h(
    'form',
    { class: 'card narrow', id: 'sign-in', novalidate: true },
    h('h2', { tabindex: '-1' }, t('signInTitle')),
    h('p', { class: 'muted' }, t('signInIntro')),
    email.wrap,
    password.wrap,
    totp.wrap,
    alert,
    h('button', { type: 'submit' }, t('signIn')),
    h('p', { class: 'muted small' }, t('signInInvitationHint')),
  )
  handleSubmit(form, alert, async () => {
    const code = totp.input.value.replace(/\s/g, '')
    if (!/^\d{6}$/.test(code)) throw new FormError(t('totpFormat'))
    await ctx.client.signIn({
      email: email.input.value.trim(),
      password: password.input.value,
      totp: code,
    })
    password.input.value = ''
    ctx.go(paths.devices)
  })
  return form
}
