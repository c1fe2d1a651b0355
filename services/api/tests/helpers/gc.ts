import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let gcFn: (() => void) | undefined

/** V8's `gc()` in a process started without `--expose-gc`. */
export function gcNow(): () => void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc')
    gcFn = runInNewContext('gc') as () => void
  }
  return gcFn
}

/**
 * Full collections, each after the current job has ended (a WeakRef keeps its target alive
 * until then): what is left in the heap is what something still holds.
 */
export async function collectGarbage(rounds = 3): Promise<void> {
  const gc = gcNow()
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, 10))
    gc()
  }
}
