import { h, onClick } from '../dom.js'
import { t } from '../i18n.js'
import { paths } from '../router.js'
import { alertBox, handleSubmit } from '../ui.js'
import type { View } from '../app.js'

/** The recovery key, shown once, until the person confirms they stored it. */
export const recoveryKeyView: View = async (ctx) => {
  const key = await ctx.client.pendingRecoveryKey()
  if (!key) {
    ctx.go(paths.devices)
    return h('div')
  }
  const alert = alertBox()
  const check = h('input', { type: 'checkbox', id: 'recovery-saved', required: true })
  const next = h('button', { type: 'submit', disabled: true }, t('continue'))
  check.addEventListener('change', () => (next.disabled = !check.checked))
  const copied = h('span', { class: 'muted', role: 'status' })
  const form = h(
    'form',
    { class: 'card narrow', id: 'recovery-key-form' },
    h('h2', { tabindex: '-1' }, t('recoveryTitle')),
    h('p', {}, t('recoveryIntro')),
    h('p', { class: 'recovery-key mono', id: 'recovery-key', 'data-testid': 'recovery-key' }, key),
    h('p', { class: 'muted' }, t('recoveryKeep')),
    h(
      'div',
      { class: 'actions' },
      onClick(h('button', { type: 'button', class: 'secondary' }, t('copy')), () => {
        void navigator.clipboard?.writeText(key).then(() => (copied.textContent = t('copied')))
      }),
      onClick(h('button', { type: 'button', class: 'secondary' }, t('print')), () =>
        window.print(),
      ),
      copied,
    ),
    h('div', { class: 'check' }, check, h('label', { for: 'recovery-saved' }, t('recoverySaved'))),
    alert,
    next,
  )
  handleSubmit(form, alert, async () => {
    if (!check.checked) return
    await ctx.client.acknowledgeRecoveryKey()
    ctx.go(paths.devices)
  })
  return form
}
