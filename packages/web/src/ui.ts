/** Shared UI pieces: labelled fields, forms with busy state and error messages. */
import { VsClientError } from '@vs/client'
import { h } from './dom.js'
import { localize, t } from './i18n.js'

/** A message for the person filling in a form (already in their language). */
export class FormError extends Error {
  readonly code = 'VS_FORM_INPUT'
}

/** A person-readable message for anything thrown. */
export function errorText(err: unknown): string {
  if (err instanceof FormError) return err.message
  if (err instanceof VsClientError) return localize(err.message)
  return t('unexpected')
}

/** An empty `role="alert"` box; `show` puts a message in it (screen readers announce it). */
export function alertBox(): HTMLParagraphElement & { show(msg: string | null): void } {
  const p = h('p', { class: 'error', role: 'alert', hidden: true }) as HTMLParagraphElement & {
    show(msg: string | null): void
  }
  p.show = (msg) => {
    p.textContent = msg ?? ''
    p.hidden = !msg
  }
  return p
}

/** A polite `role="status"` line for progress. */
export function statusLine(text = ''): HTMLParagraphElement {
  return h('p', { class: 'muted', role: 'status' }, text)
}

/** A label and an input, wired together. */
export function field(
  id: string,
  label: string,
  attrs: Record<string, string | boolean | undefined> = {},
  hint?: string,
): { wrap: HTMLDivElement; input: HTMLInputElement } {
  const hintId = hint ? `${id}-hint` : undefined
  const input = h('input', { id, name: id, 'aria-describedby': hintId, ...attrs })
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input,
  )
  return { wrap, input }
}

/**
 * Wires a form: on submit, disables its buttons, runs `action`, and shows what went
 * wrong in `alert` (focus moves to the first field again on error).
 */
export function handleSubmit(
  form: HTMLFormElement,
  alert: ReturnType<typeof alertBox>,
  action: () => Promise<void>,
): void {
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    void run()
  })
  async function run() {
    const buttons = [...form.querySelectorAll('button')]
    buttons.forEach((b) => (b.disabled = true))
    form.setAttribute('aria-busy', 'true')
    alert.show(null)
    try {
      await action()
    } catch (err) {
      alert.show(errorText(err))
    } finally {
      buttons.forEach((b) => (b.disabled = false))
      form.removeAttribute('aria-busy')
    }
  }
}

/** A sensible default name for this device, e.g. "Chrome op Linux". */
export function defaultDeviceName(nl: boolean): string {
  const ua = navigator.userAgent
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrome\/|Chromium\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser'
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS X/.test(ua)
        ? 'macOS'
        : /Android/.test(ua)
          ? 'Android'
          : /Linux/.test(ua)
            ? 'Linux'
            : ''
  return os ? `${browser} ${nl ? 'op' : 'on'} ${os}` : browser
}

/** A short description of a session's user agent. */
export function describeUserAgent(ua: string): string {
  if (!ua) return t('unknownBrowser')
  const m = /(Edg|Firefox|Chrome|Chromium|Safari)\/[\d.]+/.exec(ua)
  const os = /(Windows|iPhone|iPad|Mac OS X|Android|Linux)/.exec(ua)
  if (!m) return ua.slice(0, 60)
  return `${m[1] === 'Edg' ? 'Edge' : m[1]}${os ? ` · ${os[1]}` : ''}`
}
