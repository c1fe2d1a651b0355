import { KeyStoreError } from '../errors.js'
import type { KeyStore } from './key-store.js'

/** The subset of the Web Storage API the store needs. */
export interface StorageLike {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

/**
 * A browser store on `localStorage` (or any Web Storage), every key under `prefix`.
 * localStorage is per origin and per browser profile, so two profiles are two devices.
 */
export class LocalStorageKeyStore implements KeyStore {
  readonly #storage: StorageLike
  readonly #prefix: string

  constructor(options: { prefix?: string; storage?: StorageLike } = {}) {
    const storage = options.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage
    if (!storage) {
      throw new KeyStoreError(
        'VS_STORE_UNAVAILABLE',
        'Deze browser kan geen sleutels bewaren (localStorage ontbreekt). / This browser cannot keep keys (no localStorage).',
      )
    }
    this.#storage = storage
    this.#prefix = options.prefix ?? 'vs:'
  }

  async get(key: string): Promise<string | undefined> {
    return this.#storage.getItem(this.#prefix + key) ?? undefined
  }

  async set(key: string, value: string): Promise<void> {
    try {
      this.#storage.setItem(this.#prefix + key, value)
    } catch (cause) {
      throw new KeyStoreError(
        'VS_STORE_UNAVAILABLE',
        'Sleutels bewaren lukt niet (opslag vol of geblokkeerd). / Cannot save keys (storage full or blocked).',
        { cause },
      )
    }
  }

  async delete(key: string): Promise<void> {
    this.#storage.removeItem(this.#prefix + key)
  }
}
