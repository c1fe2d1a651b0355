/** A tiny element builder: text is always set as text, never parsed as HTML. */
type Attrs = Record<string, string | boolean | undefined>
type Child = Node | string | null | undefined | false

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    el.append(typeof c === 'string' ? document.createTextNode(c) : c)
  }
  return el
}

/** Replaces the children of `root`; null, undefined and false are skipped. */
export function mount(root: HTMLElement, ...children: Child[]): void {
  root.replaceChildren(
    ...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false),
  )
}

/** Adds a click handler and returns the element (for use inside `h(...)` trees). */
export function onClick<E extends HTMLElement>(el: E, handler: (e: MouseEvent) => void): E {
  el.addEventListener('click', handler)
  return el
}
