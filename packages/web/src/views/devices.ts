import { KeyLogIntegrityError } from '@vs/client'
import type { DeviceSummary, KeyLogAlertInfo } from '@vs/client'
import { h, mount, onClick } from '../dom.js'
import { formatDate, t } from '../i18n.js'
import { paths } from '../router.js'
import { alertBox, errorText, field, handleSubmit, statusLine } from '../ui.js'
import { every, type View, type ViewContext } from '../app.js'

/** My devices, alerts from the key log, and approving a new device with its code. */
export const devicesView: View = async (ctx) => {
  const alerts = h('div', { id: 'keylog-alerts' })
  const listAlert = alertBox()
  const list = h('ul', { class: 'devices', id: 'device-list', 'data-testid': 'device-list' })
  const section = h(
    'section',
    { 'aria-labelledby': 'devices-title' },
    h('h2', { id: 'devices-title', tabindex: '-1' }, t('devicesTitle')),
    alerts,
    h('div', { class: 'card' }, h('p', { class: 'muted' }, t('devicesIntro')), listAlert, list),
    linkNewDevice(ctx, () => void reload()),
    h('p', {}, h('a', { href: paths.sessions }, `${t('showSessions')} →`)),
  )

  async function reload(): Promise<void> {
    try {
      const devices = await ctx.client.devices()
      mount(list, ...devices.map((d) => deviceRow(ctx, d, () => void reload())))
      list.dataset.count = String(devices.filter((d) => !d.revokedAt).length)
      listAlert.show(null)
    } catch (err) {
      listAlert.show(errorText(err))
    }
  }

  async function checkLog(): Promise<void> {
    try {
      await ctx.client.syncKeyLog()
      const open = await ctx.client.keyLogAlerts()
      const devices = open.length ? await ctx.client.devices() : []
      mount(alerts, ...open.map((a) => alertCard(ctx, a, devices, () => void checkLog())))
    } catch (err) {
      mount(alerts, integrityAlert(err))
    }
    alerts.dataset.checked = 'true'
  }

  await reload()
  void checkLog()
  return section
}

function integrityAlert(err: unknown): HTMLElement {
  const loud = err instanceof KeyLogIntegrityError
  return h('div', { class: loud ? 'danger' : 'notice', role: 'alert' }, errorText(err))
}

function alertCard(
  ctx: ViewContext,
  a: KeyLogAlertInfo,
  devices: DeviceSummary[],
  done: () => void,
): HTMLElement {
  const box = alertBox()
  if (a.reason === 'unknown-device' && a.deviceId) {
    const deviceId = a.deviceId
    const known = devices.find((d) => d.deviceId === deviceId)
    const name = known ? known.name : deviceId
    return h(
      'div',
      { class: 'danger', role: 'alert' },
      h('p', {}, t('alertUnknownDevice', { name })),
      h(
        'div',
        { class: 'actions' },
        onClick(h('button', { type: 'button', class: 'secondary' }, t('itWasMe')), () => {
          void ctx.client.trustOwnDevice(deviceId).then(done, (e) => box.show(errorText(e)))
        }),
        known && !known.revokedAt
          ? onClick(
              h('button', { type: 'button', class: 'danger-button' }, t('notMeRemove')),
              () => {
                void ctx.client
                  .removeDevice(deviceId)
                  .then(() => ctx.client.trustOwnDevice(deviceId))
                  .then(
                    () => ctx.refresh(),
                    (e) => box.show(errorText(e)),
                  )
              },
            )
          : null,
      ),
      box,
    )
  }
  return h(
    'div',
    { class: 'danger', role: 'alert' },
    h('p', {}, t(a.reason === 'unknown-master-key' ? 'alertUnknownMaster' : 'alertOther')),
  )
}

function deviceRow(ctx: ViewContext, d: DeviceSummary, changed: () => void): HTMLElement {
  const box = alertBox()
  const li = h('li', {
    class: d.revokedAt ? 'device revoked' : 'device',
    'data-testid': 'device-row',
    'data-device-id': d.deviceId,
  })
  const show = () =>
    mount(
      li,
      h(
        'div',
        { class: 'device-main' },
        h(
          'p',
          { class: 'device-name' },
          d.name,
          d.current ? h('span', { class: 'badge' }, t('thisDevice')) : null,
        ),
        h(
          'p',
          { class: 'muted small' },
          d.revokedAt
            ? t('removedOn', { date: formatDate(d.revokedAt) })
            : t('addedOn', { date: formatDate(d.createdAt) }),
        ),
        !d.certified && !d.revokedAt ? h('p', { class: 'error small' }, t('notCertified')) : null,
      ),
      d.revokedAt
        ? null
        : h(
            'div',
            { class: 'actions' },
            onClick(h('button', { type: 'button', class: 'secondary' }, t('rename')), renaming),
            onClick(h('button', { type: 'button', class: 'secondary' }, t('remove')), confirming),
          ),
      box,
    )
  const renaming = () => {
    const alert = alertBox()
    const name = field(`rename-${d.deviceId}`, t('deviceName'), {
      value: d.name,
      maxlength: '100',
      required: true,
    })
    const form = h(
      'form',
      { class: 'inline-form' },
      name.wrap,
      alert,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit' }, t('save')),
        onClick(h('button', { type: 'button', class: 'secondary' }, t('cancel')), show),
      ),
    )
    handleSubmit(form, alert, async () => {
      await ctx.client.renameDevice(d.deviceId, name.input.value.trim())
      changed()
    })
    mount(li, form)
    name.input.focus()
    name.input.select()
  }
  const confirming = () => {
    const yes = onClick(
      h('button', { type: 'button', class: 'danger-button' }, t('yesRemove')),
      () => {
        yes.disabled = true
        void ctx.client.removeDevice(d.deviceId).then(
          () => (d.current ? ctx.refresh() : changed()),
          (e) => {
            yes.disabled = false
            box.show(errorText(e))
          },
        )
      },
    )
    const no = onClick(h('button', { type: 'button', class: 'secondary' }, t('cancel')), show)
    mount(
      li,
      h(
        'div',
        { class: 'confirm', role: 'group' },
        h('p', {}, t('removeConfirm', { name: d.name })),
        d.current ? h('p', { class: 'error' }, t('removeThisConfirm')) : null,
        h('div', { class: 'actions' }, yes, no),
        box,
      ),
    )
    no.focus()
  }
  show()
  return li
}

/** Pending link requests, refreshed every few seconds, each with a field for its code. */
function linkNewDevice(ctx: ViewContext, linked: () => void): HTMLElement {
  const empty = h('p', { class: 'muted', id: 'no-pending-links' }, t('noPendingLinks'))
  const list = h('div', { id: 'pending-links' })
  const done = statusLine()
  const problem = alertBox()
  const shown = new Map<string, HTMLElement>()
  every(
    2500,
    ctx.signal,
    async () => {
      const pending = await ctx.client.pendingLinks()
      problem.show(null)
      for (const [id, el] of shown) {
        if (!pending.some((p) => p.linkId === id)) {
          el.remove()
          shown.delete(id)
        }
      }
      for (const p of pending) {
        if (shown.has(p.linkId)) continue
        const form = pendingForm(ctx, p, () => {
          form.remove()
          shown.delete(p.linkId)
          done.textContent = t('linkApproved')
          empty.hidden = shown.size > 0
          linked()
        })
        shown.set(p.linkId, form)
        list.append(form)
      }
      empty.hidden = shown.size > 0
    },
    (err) => problem.show(errorText(err)),
  )
  return h(
    'section',
    { class: 'card', id: 'link-new', 'aria-labelledby': 'link-new-title' },
    h('h3', { id: 'link-new-title' }, t('linkNewTitle')),
    h('p', {}, t('linkNewIntro')),
    empty,
    list,
    problem,
    done,
  )
}

function pendingForm(
  ctx: ViewContext,
  p: { linkId: string; createdAt: string },
  approved: () => void,
): HTMLFormElement {
  const alert = alertBox()
  const id = `link-code-${p.linkId}`
  const input = h('input', {
    id,
    name: 'code',
    class: 'code-input mono',
    autocomplete: 'off',
    autocapitalize: 'characters',
    spellcheck: 'false',
    placeholder: 'XXXXX-XXXXX',
    maxlength: '13',
    required: true,
    'data-testid': 'link-code-input',
  })
  const form = h(
    'form',
    { class: 'pending-link', 'data-link-id': p.linkId },
    h('p', {}, t('pendingLinkAt', { time: formatDate(p.createdAt) })),
    h('div', { class: 'field' }, h('label', { for: id }, t('linkCodeInput')), input),
    alert,
    h('button', { type: 'submit', 'data-testid': 'approve-link' }, t('approveLink')),
  )
  handleSubmit(form, alert, async () => {
    await ctx.client.approveLink(p.linkId, input.value)
    approved()
  })
  return form
}
