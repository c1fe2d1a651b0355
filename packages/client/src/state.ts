/**
 * The SDK's persisted state, as typed records in a {@link KeyStore}. Bytes are unpadded
 * base64url; every record is JSON. Per-account records are under `user/<userId>/`, so
 * one store can hold the state of several accounts (a shared computer).
 */
import type { DeskKeyCertJSON, DeviceCertJSON, DeviceRevocationJSON, LogHeadJSON } from '@vs/crypto'
import type { Me } from '@vs/protocol'
import { KeyStoreError } from './errors.js'
import type { KeyStore } from './store/key-store.js'

export interface SessionRecord {
  accessToken: string
  refreshToken: string
  sessionId: string
  userId: string
  user: Me
}

/** This device's own keys and certificate. */
export interface DeviceRecord {
  deviceId: string
  name: string
  signPk: string
  signPriv: string
  boxPk: string
  boxPriv: string
  cert: DeviceCertJSON
}

/** A link this device asked for and is waiting on. */
export interface PendingLinkRecord {
  linkId: string
  code: string
  deviceId: string
  signPk: string
  signPriv: string
  boxPk: string
  boxPriv: string
  createdAt: number
}

/** What I trust about another person's master key (trust on first use). */
export interface PinRecord {
  masterPk: string
  verified: boolean
  verifiedAt?: number
  /** A new key seen after I verified `masterPk`: blocks until I verify again. */
  changedTo?: string
}

/** An alert about my own account found in the key log. */
export interface AlertRecord {
  index: number
  kind: string
  reason: 'unknown-device' | 'unknown-master-key' | 'subject-mismatch' | 'malformed'
  deviceId?: string
  masterPk?: string
}

/** The verified key log position and what it says (master keys, revocations, desks). */
export interface KeyLogRecord {
  logPub: string
  state: LogHeadJSON
  masters: Record<string, string>
  revocations: Record<string, DeviceRevocationJSON[]>
  desks: Record<string, DeskKeyCertJSON[]>
  alerts: AlertRecord[]
  /**
   * Every head this client verified, oldest first (`head_0` … the current one), so a
   * head another member puts in a message can be checked against my own view. Absent in
   * records saved before it existed: those cannot tell an old head from a forked one.
   */
  heads?: string[]
}

export class ClientState {
  readonly store: KeyStore

  constructor(store: KeyStore) {
    this.store = store
  }

  async #get<T>(key: string): Promise<T | undefined> {
    const text = await this.store.get(key)
    if (text === undefined) return undefined
    try {
      return JSON.parse(text) as T
    } catch (cause) {
      throw new KeyStoreError('VS_STORE_CORRUPT', `stored value ${key} is not JSON`, { cause })
    }
  }

  async #set(key: string, value: unknown): Promise<void> {
    await this.store.set(key, JSON.stringify(value))
  }

  session(): Promise<SessionRecord | undefined> {
    return this.#get('session')
  }
  setSession(s: SessionRecord): Promise<void> {
    return this.#set('session', s)
  }
  clearSession(): Promise<void> {
    return this.store.delete('session')
  }

  device(userId: string): Promise<DeviceRecord | undefined> {
    return this.#get(`user/${userId}/device`)
  }
  setDevice(userId: string, d: DeviceRecord): Promise<void> {
    return this.#set(`user/${userId}/device`, d)
  }
  clearDevice(userId: string): Promise<void> {
    return this.store.delete(`user/${userId}/device`)
  }

  /** The 32-byte master key seed, base64url. */
  async masterSeed(userId: string): Promise<string | undefined> {
    return (await this.#get<{ seed: string }>(`user/${userId}/master`))?.seed
  }
  setMasterSeed(userId: string, seed: string): Promise<void> {
    return this.#set(`user/${userId}/master`, { seed })
  }
  clearMasterSeed(userId: string): Promise<void> {
    return this.store.delete(`user/${userId}/master`)
  }

  async knownDevices(userId: string): Promise<string[]> {
    return (await this.#get<string[]>(`user/${userId}/known-devices`)) ?? []
  }
  async addKnownDevices(userId: string, ids: Iterable<string>): Promise<void> {
    const set = new Set(await this.knownDevices(userId))
    for (const id of ids) set.add(id)
    await this.#set(`user/${userId}/known-devices`, [...set])
  }

  pendingLink(userId: string): Promise<PendingLinkRecord | undefined> {
    return this.#get(`user/${userId}/pending-link`)
  }
  setPendingLink(userId: string, p: PendingLinkRecord): Promise<void> {
    return this.#set(`user/${userId}/pending-link`, p)
  }
  clearPendingLink(userId: string): Promise<void> {
    return this.store.delete(`user/${userId}/pending-link`)
  }

  async pendingRecoveryKey(userId: string): Promise<string | undefined> {
    return (await this.#get<{ text: string }>(`user/${userId}/recovery-pending`))?.text
  }
  setPendingRecoveryKey(userId: string, text: string): Promise<void> {
    return this.#set(`user/${userId}/recovery-pending`, { text })
  }
  clearPendingRecoveryKey(userId: string): Promise<void> {
    return this.store.delete(`user/${userId}/recovery-pending`)
  }

  async pins(userId: string): Promise<Record<string, PinRecord>> {
    return (await this.#get<Record<string, PinRecord>>(`user/${userId}/pins`)) ?? {}
  }
  setPins(userId: string, pins: Record<string, PinRecord>): Promise<void> {
    return this.#set(`user/${userId}/pins`, pins)
  }

  keyLog(userId: string): Promise<KeyLogRecord | undefined> {
    return this.#get(`user/${userId}/keylog`)
  }
  setKeyLog(userId: string, r: KeyLogRecord): Promise<void> {
    return this.#set(`user/${userId}/keylog`, r)
  }
}
