/**
 * A Node store: one JSON file, created with mode 0600 (owner only) and replaced
 * atomically (write a temporary file, fsync, rename) so a crash never leaves half a file.
 */
import { open, readFile, rename, chmod, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { KeyStoreError } from '../errors.js'
import type { KeyStore } from './key-store.js'

export class FileKeyStore implements KeyStore {
  readonly path: string
  #values: Map<string, string> | undefined
  #queue: Promise<void> = Promise.resolve()

  /** `file` is created on the first write; its folder is created if missing (mode 0700). */
  constructor(file: string) {
    this.path = path.resolve(file)
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#load()).get(key)
  }

  async set(key: string, value: string): Promise<void> {
    await this.#write((m) => m.set(key, value))
  }

  async delete(key: string): Promise<void> {
    await this.#write((m) => m.delete(key))
  }

  async #load(): Promise<Map<string, string>> {
    if (this.#values) return this.#values
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#values = new Map()
        return this.#values
      }
      throw new KeyStoreError('VS_STORE_UNAVAILABLE', `cannot read ${this.path}`, { cause: err })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (cause) {
      throw new KeyStoreError('VS_STORE_CORRUPT', `${this.path} is not JSON`, { cause })
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new KeyStoreError('VS_STORE_CORRUPT', `${this.path} is not a key store`)
    }
    const values = new Map<string, string>()
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v === 'string') values.set(k, v)
    }
    this.#values = values
    return values
  }

  /** Writes are serialised, so two concurrent `set`s never lose each other's value. */
  #write(change: (m: Map<string, string>) => void): Promise<void> {
    const run = this.#queue.then(async () => {
      const values = await this.#load()
      change(values)
      await mkdir(path.dirname(this.path), { recursive: true, mode: 0o700 })
      const tmp = `${this.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
      const fh = await open(tmp, 'w', 0o600)
      try {
        await fh.writeFile(JSON.stringify(Object.fromEntries(values), null, 1))
        await fh.sync()
      } finally {
        await fh.close()
      }
      await chmod(tmp, 0o600)
      await rename(tmp, this.path)
    })
    this.#queue = run.catch(() => {})
    return run.catch((cause: unknown) => {
      if (cause instanceof KeyStoreError) throw cause
      throw new KeyStoreError('VS_STORE_UNAVAILABLE', `cannot write ${this.path}`, { cause })
    })
  }
}
