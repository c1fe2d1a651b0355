import { LinkError } from '@vs/client'
import { h, mount, onClick } from '../dom.js'
import { getLang, t } from '../i18n.js'
import { paths } from '../router.js'
import { alertBox, defaultDeviceName, errorText, field, handleSubmit, statusLine } from '../ui.js'
import type { View, ViewContext } from '../app.js'

/**
 * A signed-in browser without device keys: the first device of a new account, or a
 * choice between linking from another device and recovering with the recovery key.
 */
export const setupView: View = async (ctx) => {
  const me = await ctx.client.me()
  const section = h('section', { class: 'setup' })
  if (!me.hasMasterKey) {
    mount(section, firstDevice(ctx))
    return section
  }
  const pending = await ctx.client.currentLinkRequest()
  if (pending) {
    mount(section, linkWaiting(ctx, pending))
    return section
  }
  mount(
    section,
    h('h2', { tabindex: '-1' }, t('setupTitle')),
    h('p', { class: 'lead' }, t('setupChoiceIntro')),
    h('div', { class: 'choices' }, linkChoice(ctx, section), recoverChoice(ctx)),
  )
  return section
}

function nameField(id: string) {
  return field(id, t('deviceName'), {
    value: defaultDeviceName(getLang() === 'nl'),
    maxlength: '100',
    required: true,
  })
}

function firstDevice(ctx: ViewContext): HTMLElement {
  const alert = alertBox()
  const name = nameField('device-name')
  const form = h(
    'form',
    { class: 'card narrow', id: 'first-device' },
    h('h2', { tabindex: '-1' }, t('setupTitle')),
    h('p', {}, t('setupFirstIntro')),
    name.wrap,
    alert,
    h('button', { type: 'submit' }, t('setUpDevice')),
  )
  handleSubmit(form, alert, async () => {
    await ctx.client.setUpFirstDevice(name.input.value.trim() || defaultDeviceName(true))
    ctx.go(paths.recoveryKey)
  })
  return form
}

function linkChoice(ctx: ViewContext, section: HTMLElement): HTMLElement {
  const alert = alertBox()
  const name = nameField('link-device-name')
  const form = h(
    'form',
    { class: 'card', id: 'link-choice', 'aria-labelledby': 'link-choice-title' },
    h('h3', { id: 'link-choice-title' }, t('linkWithOther')),
    h('p', {}, t('linkWithOtherIntro')),
    name.wrap,
    alert,
    h('button', { type: 'submit', id: 'start-link' }, t('startLink')),
  )
  handleSubmit(form, alert, async () => {
    const req = await ctx.client.requestLink()
    sessionStorage.setItem('vs-link-name', name.input.value.trim())
    mount(section, linkWaiting(ctx, req))
  })
  return form
}

function linkWaiting(ctx: ViewContext, req: { linkId: string; code: string }): HTMLElement {
  const alert = alertBox()
  const status = statusLine(t('linkWaiting'))
  status.classList.add('waiting')
  const abort = new AbortController()
  ctx.signal.addEventListener('abort', () => abort.abort(), { once: true })
  const card = h(
    'div',
    { class: 'card narrow', id: 'link-waiting' },
    h('h2', { tabindex: '-1' }, t('linkCodeTitle')),
    h('p', {}, t('linkCodeIntro')),
    h('p', { class: 'link-code mono', id: 'link-code', 'data-testid': 'link-code' }, req.code),
    h('p', { class: 'muted' }, t('linkCodeSecret')),
    status,
    alert,
    onClick(h('button', { type: 'button', class: 'secondary' }, t('stopLink')), () => {
      abort.abort()
      void ctx.client.cancelLinkRequest().then(() => ctx.refresh())
    }),
  )
  const name = sessionStorage.getItem('vs-link-name') || defaultDeviceName(getLang() === 'nl')
  void ctx.client
    .waitForLink(req.linkId, { signal: abort.signal, name })
    .then(() => {
      sessionStorage.removeItem('vs-link-name')
      status.classList.remove('waiting')
      status.textContent = t('linkDone')
      ctx.go(paths.devices)
    })
    .catch((err: unknown) => {
      if (err instanceof LinkError && err.code === 'VS_LINK_ABORTED') return
      status.classList.remove('waiting')
      status.textContent = ''
      alert.show(errorText(err))
      card.append(
        onClick(h('button', { type: 'button' }, t('retry')), () => {
          void ctx.client.cancelLinkRequest().then(() => ctx.refresh())
        }),
      )
    })
  return card
}

function recoverChoice(ctx: ViewContext): HTMLElement {
  const alert = alertBox()
  const name = nameField('recover-device-name')
  const key = h('textarea', {
    id: 'recovery-input',
    rows: '3',
    autocomplete: 'off',
    autocapitalize: 'characters',
    spellcheck: 'false',
    class: 'mono',
    required: true,
  })
  const form = h(
    'form',
    { class: 'card', id: 'recover-choice', 'aria-labelledby': 'recover-choice-title' },
    h('h3', { id: 'recover-choice-title' }, t('recoverWithKey')),
    h('p', {}, t('recoverIntro')),
    h('div', { class: 'field' }, h('label', { for: 'recovery-input' }, t('recoveryKeyLabel')), key),
    name.wrap,
    alert,
    h('button', { type: 'submit' }, t('recover')),
  )
  handleSubmit(form, alert, async () => {
    await ctx.client.recoverDevice(key.value, name.input.value.trim() || defaultDeviceName(true))
    key.value = ''
    ctx.go(paths.devices)
  })
  return form
}
