/**
 * Where the SDK keeps what must survive a restart: the session tokens, this device's
 * keys, the account master secret, pinned keys of other people and the verified key
 * log position. Values are strings (JSON with base64url bytes).
 *
 * Threat: whoever can read the store holds this device's keys and the master secret.
 * Pick a store that matches the platform's protection: a file readable only by the
 * owner (FileKeyStore, mode 0600) in Node, the origin's localStorage in a browser (safe
 * as long as no foreign script runs on the origin: the web client's strict CSP).
 */
export interface KeyStore {
  /** The value under `key`, or undefined. */
  get(key: string): Promise<string | undefined>
  /** Stores `value` under `key`, durably before the promise resolves. */
  set(key: string, value: string): Promise<void>
  /** Removes `key` (no error if absent). */
  delete(key: string): Promise<void>
}

/** A store that lives as long as the process: for tests and throw-away clients. */
export class MemoryKeyStore implements KeyStore {
  readonly #values = new Map<string, string>()

  async get(key: string): Promise<string | undefined> {
    return this.#values.get(key)
  }

  async set(key: string, value: string): Promise<void> {
    this.#values.set(key, value)
  }

  async delete(key: string): Promise<void> {
    this.#values.delete(key)
  }

  /** The keys currently stored (for tests). */
  keys(): string[] {
    return [...this.#values.keys()]
  }
}
