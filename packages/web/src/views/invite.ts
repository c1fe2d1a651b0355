import { ROLES, invitationPath, type Role } from '@vs/client'
import { h, mount } from '../dom.js'
import { t, type StringKey } from '../i18n.js'
import { alertBox, field, handleSubmit } from '../ui.js'
import type { View } from '../app.js'

const ROLE_KEYS: Record<Role, StringKey> = {
  professional: 'roleProfessional',
  advisor: 'roleAdvisor',
  coordinator: 'roleCoordinator',
}

/** A coordinator invites a professional, advisor or coordinator into an organisation. */
export const inviteView: View = async (ctx) => {
  const alert = alertBox()
  const result = h('div', { role: 'status' })
  const orgs = await ctx.client.listOrganisations()
  const name = field('invite-name', t('fullName'), { required: true, maxlength: '200' })
  const email = field('invite-email', t('email'), { type: 'email', required: true })
  const discipline = field('invite-discipline', t('discipline'), {
    required: true,
    maxlength: '100',
    list: 'disciplines',
  })
  const org = h(
    'select',
    { id: 'invite-org', required: true },
    ...orgs.map((o) =>
      h('option', { value: o.id, selected: o.id === ctx.client.user?.organisation.id }, o.name),
    ),
  )
  const role = h(
    'select',
    { id: 'invite-role' },
    ...ROLES.map((r) => h('option', { value: r }, t(ROLE_KEYS[r]))),
  )
  const disciplines = h(
    'datalist',
    { id: 'disciplines' },
    ...[
      'verloskundige',
      'kraamverzorgende',
      'gynaecoloog',
      'jeugdverpleegkundige',
      'jeugdarts',
      'huisarts',
      'kinderarts',
      'gezinscoach',
      'pedagogisch medewerker',
      'politie',
      'Veilig Thuis-adviseur',
    ].map((d) => h('option', { value: d })),
  )
  const form = h(
    'form',
    { class: 'card narrow', id: 'invite-form' },
    h('h2', { tabindex: '-1' }, t('inviteTitle')),
    h('p', { class: 'muted' }, t('inviteIntro')),
    name.wrap,
    email.wrap,
    discipline.wrap,
    disciplines,
    h('div', { class: 'field' }, h('label', { for: 'invite-org' }, t('organisation')), org),
    h('div', { class: 'field' }, h('label', { for: 'invite-role' }, t('role')), role),
    alert,
    h('button', { type: 'submit' }, t('createInvitation')),
    result,
  )
  handleSubmit(form, alert, async () => {
    const who = name.input.value.trim()
    const inv = await ctx.client.createInvitation({
      name: who,
      email: email.input.value.trim(),
      discipline: discipline.input.value.trim(),
      organisationId: org.value,
      role: role.value as Role,
    })
    const link = `${location.origin}${invitationPath(inv.code)}`
    mount(
      result,
      h('p', { class: 'ok' }, t('invitationLink', { name: who })),
      h('p', { class: 'mono link-out', id: 'invitation-link' }, link),
    )
    form.reset()
  })
  return form
}
