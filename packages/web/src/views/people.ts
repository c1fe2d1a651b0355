import QRCode from 'qrcode'
import type { PersonEntry, SafetyNumberView, VerificationState } from '@vs/client'
import { h, mount, onClick } from '../dom.js'
import { t } from '../i18n.js'
import { paths } from '../router.js'
import { alertBox, errorText } from '../ui.js'
import type { View, ViewContext } from '../app.js'

export function badge(v: PersonEntry['verification']): HTMLElement {
  switch (v) {
    case 'not-in-log':
      return h('span', { class: 'badge danger-badge' }, `⚠ ${t('keyNotInLog')}`)
    case 'verified':
      return h('span', { class: 'badge ok-badge' }, `✓ ${t('verified')}`)
    case 'changed':
      return h('span', { class: 'badge danger-badge' }, `⚠ ${t('keyChanged')}`)
    case 'no-key':
      return h('span', { class: 'badge muted-badge' }, t('noKey'))
    default:
      return h('span', { class: 'badge' }, t('unverified'))
  }
}

/** The region's directory with each person's verification. */
export const peopleView: View = async (ctx) => {
  const alert = alertBox()
  const list = h('ul', { class: 'people', id: 'people-list' })
  const warning = h('div')
  const section = h(
    'section',
    { 'aria-labelledby': 'people-title' },
    h('h2', { id: 'people-title', tabindex: '-1' }, t('peopleTitle')),
    h('p', { class: 'muted' }, t('peopleIntro')),
    warning,
    alert,
    list,
  )
  let people: PersonEntry[]
  try {
    people = await ctx.client.directory()
  } catch (err) {
    alert.show(errorText(err))
    if (alert.textContent) alert.classList.add('danger')
    return section
  }
  const changed = people.filter((p) => p.verification === 'changed')
  const notInLog = people.filter((p) => p.verification === 'not-in-log')
  mount(
    warning,
    changed.length
      ? h(
          'div',
          { class: 'danger', role: 'alert' },
          t('keyChangedList', { names: changed.map((p) => p.name).join(', ') }),
        )
      : null,
    notInLog.length
      ? h(
          'div',
          { class: 'danger', role: 'alert' },
          t('keyNotInLogList', { names: notInLog.map((p) => p.name).join(', ') }),
        )
      : null,
  )
  mount(
    list,
    ...people.map((p) =>
      h(
        'li',
        {
          class:
            p.verification === 'changed' || p.verification === 'not-in-log'
              ? 'person changed'
              : 'person',
        },
        h(
          'div',
          {},
          h(
            'p',
            { class: 'person-name' },
            p.name,
            p.self ? h('span', { class: 'muted' }, ` (${t('you')})`) : null,
          ),
          h('p', { class: 'muted small' }, `${p.discipline} · ${p.organisation.name}`),
        ),
        h(
          'div',
          { class: 'person-side' },
          p.self ? null : badge(p.verification),
          p.self || p.verification === 'no-key' || p.verification === 'not-in-log'
            ? null
            : h(
                'a',
                { href: paths.person(p.userId), class: 'button-link secondary' },
                t('showSafetyNumber'),
              ),
        ),
      ),
    ),
  )
  return section
}

/** One person's safety number, with the QR code and the verify button. */
export function personView(userId: string): View {
  return async (ctx: ViewContext) => {
    const alert = alertBox()
    const section = h('section', { 'aria-labelledby': 'person-title', class: 'person-detail' })
    const people = await ctx.client.directory().catch(() => [] as PersonEntry[])
    const person = people.find((p) => p.userId === userId)
    const name = person?.name ?? userId
    let sn: SafetyNumberView
    try {
      sn = await ctx.client.safetyNumber(userId)
    } catch (err) {
      mount(
        section,
        h('p', {}, h('a', { href: paths.people }, t('backToPeople'))),
        h('h2', { id: 'person-title', tabindex: '-1' }, t('safetyTitle', { name })),
        h('p', { class: 'danger', role: 'alert' }, errorText(err)),
      )
      return section
    }
    const qr = await QRCode.toDataURL(sn.qrText, { margin: 1, width: 200 })
    const render = (verification: VerificationState) => {
      const verifyButton =
        verification === 'verified'
          ? onClick(
              h('button', { type: 'button', class: 'secondary' }, t('unmarkVerified')),
              () => {
                void ctx.client.unmarkVerified(userId).then(
                  () => rerender('unverified'),
                  (e) => alert.show(errorText(e)),
                )
              },
            )
          : onClick(h('button', { type: 'button', id: 'mark-verified' }, t('markVerified')), () => {
              void ctx.client.markVerified(userId, sn.digits).then(
                () => rerender('verified'),
                (e) => alert.show(errorText(e)),
              )
            })
      mount(
        section,
        h('p', {}, h('a', { href: paths.people }, t('backToPeople'))),
        h('h2', { id: 'person-title', tabindex: '-1' }, t('safetyTitle', { name })),
        person
          ? h('p', { class: 'muted' }, `${person.discipline} · ${person.organisation.name}`)
          : null,
        verification === 'changed'
          ? h('div', { class: 'danger', role: 'alert' }, t('keyChangedWarning', { name }))
          : null,
        h(
          'div',
          { class: 'card' },
          h('p', {}, t('safetyIntro', { name })),
          h(
            'div',
            { class: 'safety' },
            h(
              'ol',
              {
                class: 'safety-number mono',
                id: 'safety-number',
                'data-testid': 'safety-number',
                'aria-label': t('safetyNumber'),
              },
              ...sn.groups.map((g) => h('li', {}, g)),
            ),
            h('img', { src: qr, alt: t('safetyQrAlt'), width: '200', height: '200', class: 'qr' }),
          ),
          h(
            'p',
            { class: 'verification' },
            badge(verification),
            verification === 'verified' ? ` ${t('verifiedOn', { name })}` : null,
          ),
          alert,
          h('div', { class: 'actions' }, verifyButton),
        ),
      )
    }
    const rerender = (v: VerificationState) => {
      render(v)
      section.querySelector<HTMLButtonElement>('.actions button')?.focus()
    }
    render(sn.verification)
    return section
  }
}
