import type { VsClient } from '@vs/client'

/** What every view gets. */
export interface ViewContext {
  client: VsClient
  /** Navigate to a hash route. */
  go(hash: string): void
  /** Render the current route again (after a change that affects the guards). */
  refresh(): void
  /** Aborted when the person leaves the view: stop timers and polling. */
  signal: AbortSignal
  /** A one-time message to show on the next view (e.g. "session ended"). */
  flash: string | undefined
}

/** A view builds its element; it may keep updating it until `signal` aborts. */
export type View = (ctx: ViewContext) => Promise<HTMLElement>

/** Calls `fn` now and every `ms` until `signal` aborts; errors go to `onError`. */
export function every(
  ms: number,
  signal: AbortSignal,
  fn: () => Promise<void>,
  onError: (err: unknown) => void,
): void {
  let timer: ReturnType<typeof setTimeout> | undefined
  const tick = async () => {
    if (signal.aborted) return
    try {
      await fn()
    } catch (err) {
      onError(err)
    }
    if (!signal.aborted) timer = setTimeout(() => void tick(), ms)
  }
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
  void tick()
}
