/**
 * The Veilig Thuis desk for advisors: the inbox of adviesvragen with waiting time and who
 * took which, claiming, answering in the thread as the desk (with standard advice texts),
 * handing over to a colleague and closing with an outcome.
 */
import { CONSULT_OUTCOMES } from '@vs/client/rooms'
import { h, mount, onClick } from '../dom.js'
import { formatDate, t, type StringKey } from '../i18n.js'
import {
  deskActor,
  desks as loadDesks,
  forgetDeskKeys,
  live,
  names as loadNames,
  NoDeskKeyError,
  type Live,
} from '../live.js'
import { paths } from '../router.js'
import { alertBox, errorText, statusLine } from '../ui.js'
import { every, type View, type ViewContext } from '../app.js'
import { threadBody } from './consult.js'
import { connectionLine } from './room.js'

interface DeskConsult {
  roomId: string
  mode: 'family-anonymous' | 'fully-anonymous'
  asker: { name: string; discipline: string; organisation: string } | null
  discipline: string | null
  createdAt: string
  waitingMinutes: number
  claimedBy: { userId: string; name: string } | null
  closedAt: string | null
  outcome: string | null
}

const STANDARD: StringKey[] = ['std1', 'std2', 'std3', 'std4', 'std5']

function waitingText(min: number): string {
  if (min < 60) return t('minutesShort', { n: String(min) })
  if (min < 24 * 60)
    return t('hoursShort', { h: String(Math.floor(min / 60)), m: String(min % 60) })
  return t('daysShort', { n: String(Math.floor(min / (24 * 60))) })
}

function askerText(c: DeskConsult): string {
  if (c.asker) return t('askerIs', c.asker)
  return c.discipline ? t('anonAskerDiscipline', { discipline: c.discipline }) : t('anonAsker')
}

function consults(l: Live, deskId: string, closed: boolean): Promise<DeskConsult[]> {
  return l.host.request<DeskConsult[]>(
    'GET',
    `/api/v1/desks/${encodeURIComponent(deskId)}/consults${closed ? '?closed=true' : ''}`,
  )
}

/**
 * Shown while the desk needs a new key (an advisor was removed and still holds the current
 * one): one click makes the next key version and seals it to the current advisors' devices.
 */
function rotationPrompt(ctx: ViewContext, deskId: string, renewed: () => void): HTMLElement {
  const alert = alertBox()
  const done = statusLine()
  done.dataset.testid = 'desk-rotation-done'
  const rotate = h(
    'button',
    { type: 'button', 'data-testid': 'rotate-desk-key' },
    t('deskKeyRotate'),
  )
  const prompt = h(
    'div',
    { class: 'card notice', 'data-testid': 'desk-rotation', hidden: true },
    h('p', {}, t('deskKeyStale')),
    rotate,
    alert,
  )
  const finish = (text: string) => {
    forgetDeskKeys(deskId)
    prompt.hidden = true
    prompt.dataset.state = 'current'
    done.textContent = text
    renewed()
  }
  /** Whether the desk still asks for a new key (if that cannot be read: assume so). */
  const stillStale = () =>
    ctx.client.deskAdvisors(deskId).then(
      (a) => a.needsRotation,
      () => true,
    )
  onClick(rotate, async () => {
    rotate.disabled = true
    alert.show(null)
    // A colleague may have renewed it since this page asked: then there is nothing to do
    // (a second new version would only make every advisor's device fetch another key).
    if (!(await stillStale())) return finish(t('deskKeyRotatedByColleague'))
    ctx.client.publishDeskKey(deskId).then(
      (p) =>
        finish(
          t('deskKeyRotated', { version: String(p.version), n: String(p.granted.length) }) +
            (p.skipped.length ? ' ' + t('deskKeySkipped', { n: String(p.skipped.length) }) : ''),
        ),
      async (err: unknown) => {
        // A colleague made the new key first (both read the same version): nothing left.
        if (!(await stillStale())) return finish(t('deskKeyRotatedByColleague'))
        rotate.disabled = false
        alert.show(errorText(err))
      },
    )
  })
  ctx.client.deskAdvisors(deskId).then(
    (a) => {
      prompt.hidden = !a.needsRotation
      prompt.dataset.state = a.needsRotation ? 'stale' : 'current'
    },
    () => {},
  )
  return h('div', {}, prompt, done)
}

async function deskName(ctx: ViewContext, deskId: string): Promise<string> {
  const all = await loadDesks(ctx.client).catch(() => [])
  return all.find((d) => d.id === deskId)?.name ?? t('desk')
}

export function deskView(deskId: string): View {
  return async (ctx) => {
    const l = await live(ctx.client)
    const name = await deskName(ctx, deskId)
    const alert = alertBox()
    const keyNote = h('p', { class: 'notice', hidden: true }, t('noDeskKey'))
    // Whether this device holds the desk's key (again after a renewal).
    const checkKey = () =>
      deskActor(ctx.client, deskId).then(
        () => (keyNote.hidden = true),
        (err: unknown) => {
          keyNote.hidden = !(err instanceof NoDeskKeyError)
          if (!(err instanceof NoDeskKeyError)) alert.show(errorText(err))
        },
      )
    void checkKey()
    const showClosed = h('input', { type: 'checkbox', id: 'show-closed' })
    const list = h('ul', { class: 'consult-list', 'data-testid': 'desk-inbox' })

    const row = (c: DeskConsult) => {
      const mine = c.claimedBy?.userId === l.userId
      const rowAlert = alertBox()
      const claim = onClick(
        h('button', { type: 'button', 'data-testid': 'claim' }, t('claim')),
        () => {
          claim.disabled = true
          l.host.request('POST', `/api/v1/consults/${encodeURIComponent(c.roomId)}/claim`, {}).then(
            () => ctx.go(paths.deskConsult(deskId, c.roomId)),
            (err: unknown) => {
              claim.disabled = false
              rowAlert.show(errorText(err))
              void reload()
            },
          )
        },
      )
      return h(
        'li',
        {
          class: c.closedAt
            ? 'consult-row closed'
            : c.claimedBy
              ? 'consult-row claimed'
              : 'consult-row',
          'data-testid': 'desk-consult',
          'data-room-id': c.roomId,
        },
        h(
          'div',
          { class: 'consult-main' },
          h('p', { class: 'person-name' }, askerText(c)),
          h(
            'p',
            { class: 'muted small' },
            c.mode === 'fully-anonymous' ? t('modeFull') : t('modeFamily'),
            ' · ',
            formatDate(c.createdAt),
          ),
          h(
            'p',
            { class: 'small' },
            c.closedAt
              ? h('span', { class: 'badge' }, t('closedWith', { outcome: c.outcome ?? '' }))
              : h(
                  'span',
                  { class: 'badge waiting-badge' },
                  t('waiting', { time: waitingText(c.waitingMinutes) }),
                ),
            ' ',
            c.claimedBy
              ? h(
                  'span',
                  { class: 'claimed', 'data-testid': 'claimed-by' },
                  mine ? t('claimedByYou') : t('claimedBy', { name: c.claimedBy.name }),
                )
              : c.closedAt
                ? null
                : h('span', { class: 'muted' }, t('notClaimed')),
          ),
          rowAlert,
        ),
        h(
          'div',
          { class: 'actions' },
          !c.claimedBy && !c.closedAt ? claim : null,
          h(
            'a',
            {
              href: paths.deskConsult(deskId, c.roomId),
              class: 'button-link secondary',
            },
            mine && !c.closedAt ? t('openThread') : t('viewThread'),
          ),
        ),
      )
    }

    async function reload() {
      const items = await consults(l, deskId, showClosed.checked)
      alert.show(null)
      mount(
        list,
        ...(items.length
          ? items.map(row)
          : [h('li', { class: 'muted empty-note' }, t('deskEmpty'))]),
      )
    }
    showClosed.addEventListener(
      'change',
      () => void reload().catch((e: unknown) => alert.show(errorText(e))),
    )
    every(10_000, ctx.signal, reload, (err) => alert.show(errorText(err)))

    return h(
      'section',
      { 'aria-labelledby': 'desk-title', class: 'desk' },
      h('h2', { id: 'desk-title', tabindex: '-1' }, name),
      h('p', { class: 'muted' }, t('deskIntro')),
      keyNote,
      rotationPrompt(ctx, deskId, () => void checkKey()),
      alert,
      h('div', { class: 'check' }, showClosed, h('label', { for: 'show-closed' }, t('showClosed'))),
      h('div', { class: 'card' }, list),
    )
  }
}

export function deskConsultView(deskId: string, roomId: string): View {
  return async (ctx) => {
    const l = await live(ctx.client)
    const name = await deskName(ctx, deskId)
    const back = h('p', {}, h('a', { href: paths.desk(deskId) }, t('backToDesk')))
    let actor
    try {
      actor = await deskActor(ctx.client, deskId)
    } catch (err) {
      return h(
        'section',
        {},
        back,
        h('h2', { tabindex: '-1' }, t('threadTitle')),
        h(
          'p',
          { class: 'notice', role: 'alert' },
          err instanceof NoDeskKeyError ? t('noDeskKey') : errorText(err),
        ),
      )
    }
    const { rooms, session } = await actor.open(roomId)
    await session.idle()
    const nm = await loadNames(ctx.client, t('anonAsker'))
    const findInfo = async () => (await consults(l, deskId, true)).find((c) => c.roomId === roomId)
    let info = await findInfo()
    const { advisors } = await ctx.client
      .deskAdvisors(deskId)
      .catch(() => ({ advisors: [] as { userId: string; name: string }[] }))

    const mineNow = () => info?.claimedBy?.userId === l.userId && !info?.closedAt
    const body = threadBody(ctx, {
      session,
      rooms,
      names: { ...nm, me: deskId, name: (id) => (id === deskId ? name : nm.name(id)) },
      me: deskId,
      selfName: name,
      guard: false,
      markRead: true,
      replyLabel: t('answerAs', { desk: name }),
    })
    const statusBox = h('div', {
      class: 'claim-status',
      role: 'status',
      'data-testid': 'claim-status',
    })
    const tools = h('div', { class: 'desk-side card' })
    const layout = h('div', { class: 'desk-layout' }, body.el, tools)
    const alert = alertBox()
    const done = statusLine()

    function standardPicker(): HTMLElement {
      const sel = h(
        'select',
        { id: 'standard-advice' },
        h('option', { value: '' }, t('chooseStandard')),
        ...STANDARD.map((k) => h('option', { value: k }, t(k).slice(0, 70) + '…')),
      )
      const insert = onClick(
        h('button', { type: 'button', class: 'secondary' }, t('insert')),
        () => {
          if (!sel.value) return
          const input = body.composer.input
          const text = t(sel.value as StringKey)
          input.value = input.value.trim() ? `${input.value.trim()}\n\n${text}` : text
          input.dispatchEvent(new Event('input'))
          input.focus()
          sel.value = ''
        },
      )
      return h(
        'div',
        { class: 'tool' },
        h('label', { for: 'standard-advice' }, t('standardAdvice')),
        h('div', { class: 'inline' }, sel, insert),
      )
    }

    function handOverTool(): HTMLElement {
      const others = advisors.filter((a) => a.userId !== l.userId)
      if (others.length === 0) return h('p', { class: 'muted small' }, t('noColleagues'))
      const sel = h(
        'select',
        { id: 'hand-over' },
        ...others.map((a) => h('option', { value: a.userId }, a.name)),
      )
      const go = onClick(h('button', { type: 'button', class: 'secondary' }, t('handOver')), () => {
        go.disabled = true
        l.host
          .request('POST', `/api/v1/consults/${encodeURIComponent(roomId)}/handover`, {
            to: sel.value,
          })
          .then(async () => {
            const to = others.find((a) => a.userId === sel.value)?.name ?? ''
            done.textContent = t('handedOver', { name: to })
            info = await findInfo()
            render()
          })
          .catch((err: unknown) => {
            go.disabled = false
            alert.show(errorText(err))
          })
      })
      return h(
        'div',
        { class: 'tool' },
        h('label', { for: 'hand-over' }, t('handOverTo')),
        h('div', { class: 'inline' }, sel, go),
      )
    }

    function closeTool(): HTMLElement {
      const sel = h(
        'select',
        { id: 'close-outcome' },
        ...CONSULT_OUTCOMES.map((o) => h('option', { value: o }, o)),
      )
      const go = onClick(
        h('button', { type: 'button', 'data-testid': 'close-consult' }, t('closeConsult')),
        () => {
          go.disabled = true
          l.host
            .request('POST', `/api/v1/consults/${encodeURIComponent(roomId)}/close`, {
              outcome: sel.value,
            })
            .then(() => ctx.go(paths.desk(deskId)))
            .catch((err: unknown) => {
              go.disabled = false
              alert.show(errorText(err))
            })
        },
      )
      return h(
        'div',
        { class: 'tool' },
        h('label', { for: 'close-outcome' }, t('closeOutcome')),
        h('div', { class: 'inline' }, sel, go),
      )
    }

    function render() {
      const c = info
      const claim = onClick(
        h('button', { type: 'button', 'data-testid': 'claim' }, t('claim')),
        () => {
          claim.disabled = true
          l.host
            .request('POST', `/api/v1/consults/${encodeURIComponent(roomId)}/claim`, {})
            .then(async () => {
              info = await findInfo()
              render()
              body.composer.input.focus()
            })
            .catch(async (err: unknown) => {
              alert.show(errorText(err))
              info = await findInfo()
              render()
            })
        },
      )
      mount(
        statusBox,
        c?.closedAt
          ? h('p', { class: 'badge' }, t('closedWith', { outcome: c.outcome ?? '' }))
          : c?.claimedBy
            ? h(
                'p',
                { class: mineNow() ? 'ok' : 'notice' },
                mineNow() ? t('claimedByYou') : t('takenBy', { name: c.claimedBy.name }),
              )
            : h('div', { class: 'notice' }, h('p', {}, t('claimToAnswer')), claim),
      )
      mount(tools, ...(mineNow() ? [standardPicker(), handOverTool(), closeTool()] : []))
      tools.hidden = !mineNow()
      layout.classList.toggle('single', !mineNow())
      body.composer.disable(
        mineNow()
          ? null
          : c?.closedAt
            ? t('closedWith', { outcome: c.outcome ?? '' })
            : c?.claimedBy
              ? t('takenBy', { name: c.claimedBy.name })
              : t('claimToAnswer'),
      )
    }
    render()
    every(
      10_000,
      ctx.signal,
      async () => {
        const next = await findInfo()
        if (
          JSON.stringify(next?.claimedBy) !== JSON.stringify(info?.claimedBy) ||
          next?.closedAt !== info?.closedAt
        ) {
          info = next
          render()
        }
      },
      () => {},
    )

    return h(
      'section',
      { 'aria-labelledby': 'desk-thread-title', class: 'desk-thread' },
      back,
      h(
        'div',
        { class: 'title-row' },
        h('h2', { id: 'desk-thread-title', tabindex: '-1' }, t('threadTitle')),
        info
          ? h(
              'span',
              { class: 'badge' },
              info.mode === 'fully-anonymous' ? t('modeFull') : t('modeFamily'),
            )
          : null,
      ),
      info
        ? h(
            'p',
            { class: 'muted', 'data-testid': 'asker' },
            askerText(info),
            ' · ',
            info.closedAt
              ? formatDate(info.createdAt)
              : t('waiting', { time: waitingText(info.waitingMinutes) }),
          )
        : null,
      connectionLine(ctx.signal),
      statusBox,
      alert,
      done,
      layout,
    )
  }
}
