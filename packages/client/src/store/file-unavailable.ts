/** The browser build's stand-in for FileKeyStore: there is no file system. */
import { KeyStoreError } from '../errors.js'
import type { KeyStore } from './key-store.js'

export class FileKeyStore implements KeyStore {
  readonly path: string

  constructor(file: string) {
    this.path = file
    throw new KeyStoreError(
      'VS_STORE_UNAVAILABLE',
      'FileKeyStore werkt alleen in Node; gebruik LocalStorageKeyStore. / FileKeyStore needs Node; use LocalStorageKeyStore.',
    )
  }

  async get(): Promise<string | undefined> {
    return undefined
  }

  async set(): Promise<void> {}

  async delete(): Promise<void> {}
}
