/**
 * The one place that imports libsodium. Everything else in the workspace uses the
 * functions re-exported here (ESLint `no-restricted-imports` enforces it), so the
 * set of primitives we rely on stays small and reviewable.
 */
import _sodium from 'libsodium-wrappers-sumo'

let readyPromise: Promise<void> | undefined

/** Resolves once the libsodium WASM module is initialised. Safe to call many times. */
export function cryptoReady(): Promise<void> {
  readyPromise ??= _sodium.ready
  return readyPromise
}

/** The initialised libsodium module; only valid after {@link cryptoReady} resolved. */
export function sodium(): typeof _sodium {
  return _sodium
}
