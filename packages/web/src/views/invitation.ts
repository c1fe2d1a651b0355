import QRCode from 'qrcode'
import type { InvitationInfo, Role } from '@vs/client'
import { h, mount } from '../dom.js'
import { getLang, t, type StringKey } from '../i18n.js'
import { paths } from '../router.js'
import {
  FormError,
  alertBox,
  defaultDeviceName,
  errorText,
  field,
  handleSubmit,
  statusLine,
} from '../ui.js'
import type { ViewContext } from '../app.js'

const ROLE_KEYS: Record<Role, StringKey> = {
  professional: 'roleProfessional',
  advisor: 'roleAdvisor',
  coordinator: 'roleCoordinator',
}

/** Redeeming an invitation: who it is for, a password, TOTP enrolment, the first device. */
export function invitationView(code: string) {
  return async (ctx: ViewContext): Promise<HTMLElement> => {
    const card = h('section', { class: 'card narrow', 'aria-labelledby': 'inv-title' })
    let info: InvitationInfo
    try {
      info = await ctx.client.invitationInfo(code)
    } catch (err) {
      mount(
        card,
        h('h2', { id: 'inv-title', tabindex: '-1' }, t('invitationTitle')),
        h('p', { class: 'error', role: 'alert' }, errorText(err)),
        h('p', {}, h('a', { href: paths.signIn }, t('signInTitle'))),
      )
      return card
    }
    passwordStep(ctx, card, code, info)
    return card
  }
}

function passwordStep(ctx: ViewContext, card: HTMLElement, code: string, info: InvitationInfo) {
  const alert = alertBox()
  const pw = field(
    'new-password',
    t('passwordNew'),
    { type: 'password', autocomplete: 'new-password', minlength: '12', required: true },
    t('passwordRule'),
  )
  const again = field('new-password-again', t('passwordAgain'), {
    type: 'password',
    autocomplete: 'new-password',
    required: true,
  })
  const form = h(
    'form',
    { id: 'choose-password', novalidate: true },
    h('h3', {}, t('choosePassword')),
    // A hidden username field lets password managers store the right account.
    h('input', {
      type: 'email',
      autocomplete: 'username',
      value: info.email,
      hidden: true,
      readonly: true,
      'aria-hidden': 'true',
      tabindex: '-1',
    }),
    pw.wrap,
    again.wrap,
    alert,
    h('button', { type: 'submit' }, t('continue')),
  )
  handleSubmit(form, alert, async () => {
    const password = pw.input.value
    if (password.length < 12) throw new FormError(t('passwordTooShort'))
    if (password !== again.input.value) throw new FormError(t('passwordMismatch'))
    const enrol = await ctx.client.acceptInvitation(code, password)
    await totpStep(ctx, card, code, password, enrol)
  })
  mount(
    card,
    h('h2', { id: 'inv-title', tabindex: '-1' }, t('invitationTitle')),
    h(
      'p',
      { class: 'lead' },
      t('invitationFor', {
        name: info.name,
        discipline: info.discipline,
        organisation: info.organisation.name,
      }),
    ),
    h('p', { class: 'muted' }, t('invitationRole', { role: t(ROLE_KEYS[info.role]) })),
    form,
  )
}

async function totpStep(
  ctx: ViewContext,
  card: HTMLElement,
  code: string,
  password: string,
  enrol: { totpSecret: string; otpauthUri: string },
) {
  const qr = await QRCode.toDataURL(enrol.otpauthUri, { margin: 1, width: 220 })
  const alert = alertBox()
  const status = statusLine()
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
  const secret = enrol.totpSecret.replace(/(.{4})/g, '$1 ').trim()
  const form = h(
    'form',
    { id: 'confirm-totp', novalidate: true },
    totp.wrap,
    alert,
    status,
    h('button', { type: 'submit' }, t('confirmAccount')),
  )
  let confirmed = false
  handleSubmit(form, alert, async () => {
    if (!confirmed) {
      const value = totp.input.value.replace(/\s/g, '')
      if (!/^\d{6}$/.test(value)) throw new FormError(t('totpFormat'))
      await ctx.client.confirmInvitation(code, password, value)
      confirmed = true
      totp.input.disabled = true
    }
    status.textContent = t('settingUpDevice')
    await ctx.client.setUpFirstDevice(defaultDeviceName(getLang() === 'nl'))
    ctx.go(paths.recoveryKey)
  })
  mount(
    card,
    h('h2', { id: 'inv-title', tabindex: '-1' }, t('totpTitle')),
    h('p', {}, t('totpIntro')),
    h(
      'div',
      { class: 'totp-enrol' },
      h('img', { src: qr, alt: t('totpQrAlt'), width: '220', height: '220', class: 'qr' }),
      h(
        'div',
        {},
        h('p', { class: 'muted' }, t('totpManual')),
        h(
          'code',
          { id: 'totp-secret', 'data-testid': 'totp-secret', 'data-secret': enrol.totpSecret },
          secret,
        ),
      ),
    ),
    form,
  )
  totp.input.focus()
}
