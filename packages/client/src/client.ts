/**
 * `VsClient`: one SDK for Node and browsers. It signs people in, keeps this device's
 * keys, links and recovers devices, watches the key log, pins other people's keys and
 * shows safety numbers, and does the coordinator's work on organisations and desks.
 *
 * Trust model (see DESIGN.md): the server is not trusted with keys. A device counts only
 * if the account master key certified it; a master key counts only if the signed,
 * append-only key log records it; a person's key is pinned on first use, and once you
 * verified it (safety number) a change stops everything until you verify again.
 */
import {
  KeyLogError,
  KeyLogVerifier,
  RecoveryKeyError,
  auditOwnDevices,
  auditOwnMasterKey,
  appendEntries,
  bytesEqual,
  certifyDeskKey,
  certifyDevice,
  compareSafetyQr,
  cryptoReady,
  decodeDeskKeyCert,
  decodeDeviceRevocation,
  decodeMasterKeyRecord,
  deriveBackupKey,
  deskKeyCertFromJSON,
  deskKeyCertToJSON,
  deviceCertFromJSON,
  deviceCertToJSON,
  deviceRevocationFromJSON,
  deviceRevocationToJSON,
  formatRecoveryKey,
  fromB64,
  generateBoxKeyPair,
  generateRecoveryKey,
  generateSigningKeyPair,
  keyLogEntryFromJSON,
  parseRecoveryKey,
  randomId,
  revokeDevice,
  safetyNumber,
  signedHeadFromJSON,
  signingKeyPairFromSeed,
  toB64,
  unwrapSecret,
  verifyDeskKeyCert,
  verifyDeviceCert,
  wrapSecret,
  type BoxKeyPair,
  type DeskKeyCert,
  type DeviceCert,
  type KeyLogEntry,
  type SigningKeyPair,
} from '@vs/crypto'
import type {
  CreateInvitation,
  Desk,
  DeviceInfo,
  DeviceLinkPending,
  DeviceLinkState,
  DirectoryEntry,
  InvitationAccepted,
  InvitationCreated,
  InvitationInfo,
  KeyLogPage,
  Me,
  OrgKind,
  Organisation,
  Session,
  SessionInfo,
  UserKeys,
} from '@vs/protocol'
import {
  ApiRequestError,
  DeviceError,
  KeyChangedError,
  KeyError,
  KeyLogIntegrityError,
  LinkError,
  NotSignedInError,
  type KeyLogIntegrityErrorCode,
} from './errors.js'
import { HttpClient, type SessionTokens } from './http.js'
import {
  checkLinkMac,
  newLinkCode,
  linkMac,
  openMasterFromLink,
  parseLinkCode,
  sealMasterForLink,
} from './link-code.js'
import { openDeskGrant, sealDeskGrant } from './desk-grant.js'
import {
  ClientState,
  type AlertRecord,
  type DeviceRecord,
  type KeyLogRecord,
  type PinRecord,
  type SessionRecord,
} from './state.js'
import type { KeyStore } from './store/key-store.js'
import type { DeviceSecrets, RoomsHost } from './rooms/host.js'
import type { DeviceKeys } from '@vs/crypto'
import type {
  CheckedUserKeys,
  DeskKeyPair,
  DeviceSummary,
  FirstDevice,
  KeyLogAlertInfo,
  LinkRequest,
  LocalDevice,
  PendingLink,
  PersonEntry,
  PublishedDeskKey,
  SafetyNumberView,
  VerificationState,
} from './types.js'

/** How long a device certificate is valid. */
export const DEVICE_CERT_VALIDITY_MS = 365 * 24 * 3600 * 1000
/** Prefix of the text form of a safety number QR code. */
export const SAFETY_QR_PREFIX = 'VS-SN1:'
const KEYLOG_PAGE_LIMIT = 1000

/** Options of {@link VsClient.open}. */
export interface VsClientOptions {
  /** Origin of the API (`https://vs.example`); `''` in a browser served by the API itself. */
  baseUrl: string
  /** Where tokens and keys persist: LocalStorageKeyStore, FileKeyStore or MemoryKeyStore. */
  store: KeyStore
  /** A fetch implementation (default: the global one). */
  fetch?: typeof globalThis.fetch
  /** Clock in ms (tests). */
  now?: () => number
  /** Called when the session ends on its own (revoked elsewhere, refresh refused). */
  onSessionEnded?: () => void
  /** How often {@link VsClient.waitForLink} asks the server (default 1000 ms). */
  linkPollIntervalMs?: number
}

/** Options of {@link VsClient.waitForLink}. */
export interface WaitForLinkOptions {
  /** Stop waiting (throws {@link LinkError} `VS_LINK_ABORTED`). */
  signal?: AbortSignal
  /** Give up after this long (default 15 minutes, the server's link lifetime). */
  timeoutMs?: number
  /** Name for this device once linked. */
  name?: string
}

function masterPkOf(seed: Uint8Array): Uint8Array {
  return signingKeyPairFromSeed(seed).publicKey
}

function keyLogCode(err: KeyLogError): KeyLogIntegrityErrorCode {
  switch (err.code) {
    case 'bad-signature':
      return 'VS_KEYLOG_BAD_SIGNATURE'
    case 'rollback':
      return 'VS_KEYLOG_ROLLBACK'
    case 'fork':
      return 'VS_KEYLOG_FORK'
    case 'gap':
      return 'VS_KEYLOG_GAP'
    default:
      return 'VS_KEYLOG_MALFORMED'
  }
}

const KEYLOG_BROKEN =
  'De sleutellijst van de server klopt niet met wat dit apparaat eerder zag. Vertrouw de sleutels van anderen niet en meld dit bij je coördinator. / The server’s key log does not match what this device saw before. Do not trust other people’s keys and tell your coordinator.'

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The SDK. Create one with {@link VsClient.open}; it restores a saved session from the
 * store. Methods that need a session throw {@link NotSignedInError}; methods that need
 * this device's keys throw {@link DeviceError} `VS_NO_DEVICE`.
 */
export class VsClient {
  readonly #http: HttpClient
  readonly #state: ClientState
  readonly #baseUrl: string
  readonly #now: () => number
  readonly #onSessionEnded: (() => void) | undefined
  readonly #pollMs: number
  #session: SessionRecord | undefined
  #syncing: Promise<KeyLogAlertInfo[]> | undefined
  /** The latest verified key-log head and every head verified so far (see `checkLogHead`). */
  #logHead: Uint8Array | undefined
  #knownHeads: Set<string> | undefined
  #unknownHeads = new Set<string>()
  #lock: Promise<unknown> = Promise.resolve()

  private constructor(opts: VsClientOptions) {
    this.#state = new ClientState(opts.store)
    this.#baseUrl = opts.baseUrl.replace(/\/+$/, '')
    this.#now = opts.now ?? (() => Date.now())
    this.#onSessionEnded = opts.onSessionEnded
    this.#pollMs = opts.linkPollIntervalMs ?? 1000
    this.#http = new HttpClient(
      opts.baseUrl,
      {
        current: () => this.#session,
        reload: async () => {
          const s = await this.#state.session()
          if (s && s.userId === this.#session?.userId) this.#session = s
          return s && s.userId === this.#session?.userId ? s : undefined
        },
        update: async (t: SessionTokens) => {
          if (!this.#session) return
          this.#session = { ...this.#session, ...t }
          await this.#state.setSession(this.#session)
        },
        end: async () => {
          const had = this.#session !== undefined
          this.#session = undefined
          await this.#state.clearSession()
          if (had) this.#onSessionEnded?.()
        },
      },
      opts.fetch,
    )
  }

  /** Loads libsodium and the saved session (if any) and returns a ready client. */
  static async open(opts: VsClientOptions): Promise<VsClient> {
    await cryptoReady()
    const c = new VsClient(opts)
    c.#session = await c.#state.session()
    return c
  }

  // ---------------------------------------------------------------- session

  /** The signed-in person (as of sign-in or the last {@link VsClient.me}), if any. */
  get user(): Me | undefined {
    return this.#session?.user
  }

  /** True while a session is saved. */
  get signedIn(): boolean {
    return this.#session !== undefined
  }

  #userId(): string {
    if (!this.#session) {
      throw new NotSignedInError(
        'VS_NOT_SIGNED_IN',
        'Je bent niet aangemeld. / You are not signed in.',
      )
    }
    return this.#session.userId
  }

  async #startSession(s: Session): Promise<Me> {
    this.#logHead = undefined
    this.#knownHeads = undefined
    this.#unknownHeads.clear()
    this.#session = {
      accessToken: s.accessToken,
      refreshToken: s.refreshToken,
      sessionId: s.sessionId,
      userId: s.user.userId,
      user: s.user,
    }
    await this.#state.setSession(this.#session)
    return s.user
  }

  /** What an invitation is for (name, organisation, role); no session needed. */
  invitationInfo(code: string): Promise<InvitationInfo> {
    return this.#http.request('GET', `/api/v1/invitations/${encodeURIComponent(code)}`, {
      auth: false,
    })
  }

  /**
   * Step 1 of redeeming an invitation: choose a password (at least 12 characters).
   * Returns the TOTP secret to enrol in an authenticator app (show `otpauthUri` as a QR code).
   */
  acceptInvitation(code: string, password: string): Promise<InvitationAccepted> {
    return this.#http.request('POST', `/api/v1/invitations/${encodeURIComponent(code)}/accept`, {
      auth: false,
      body: { password },
    })
  }

  /** Step 2: the same password and a current TOTP code; creates the account and signs in. */
  async confirmInvitation(code: string, password: string, totp: string): Promise<Me> {
    const s = await this.#http.request<Session>(
      'POST',
      `/api/v1/invitations/${encodeURIComponent(code)}/confirm`,
      { auth: false, body: { password, totp } },
    )
    return this.#startSession(s)
  }

  /** Signs in with e-mail, password and a TOTP code (two factors, always). */
  async signIn(input: { email: string; password: string; totp: string }): Promise<Me> {
    const s = await this.#http.request<Session>('POST', '/api/v1/auth/sign-in', {
      auth: false,
      body: input,
    })
    return this.#startSession(s)
  }

  /** Ends this session. This device's keys stay, so signing in again needs no new link. */
  async signOut(): Promise<void> {
    try {
      await this.#http.request('POST', '/api/v1/auth/sign-out')
    } catch (err) {
      if (!(err instanceof ApiRequestError && err.status === 401)) {
        await this.#forgetSession()
        throw err
      }
    }
    await this.#forgetSession()
  }

  /** Ends every session of my account, on every device (this one included). */
  async signOutEverywhere(): Promise<void> {
    await this.#http.request('POST', '/api/v1/auth/sign-out-everywhere')
    await this.#forgetSession()
  }

  async #forgetSession(): Promise<void> {
    this.#session = undefined
    await this.#state.clearSession()
  }

  /** My open sessions (`current` marks this one). */
  sessions(): Promise<SessionInfo[]> {
    return this.#http.request('GET', '/api/v1/auth/sessions')
  }

  /** Ends one of my sessions. */
  async revokeSession(sessionId: string): Promise<void> {
    await this.#http.request('DELETE', `/api/v1/auth/sessions/${encodeURIComponent(sessionId)}`)
  }

  /** The signed-in person, fresh from the server. */
  async me(): Promise<Me> {
    const me = await this.#http.request<Me>('GET', '/api/v1/me')
    if (this.#session && this.#session.userId === me.userId) {
      this.#session = { ...this.#session, user: me }
      await this.#state.setSession(this.#session)
    }
    return me
  }

  // ---------------------------------------------------------------- this device

  /** This device's id and name, if this client holds device keys for the signed-in account. */
  /**
   * This client as the rooms layer's host: authenticated requests, this device's keys,
   * and other members' devices checked against pinned master keys and the key log.
   * Desk members resolve to the desk's key versions ("devices" `v<n>`).
   */
  async roomsHost(): Promise<RoomsHost> {
    const userId = this.#userId()
    const { device } = await this.#requireDevice(userId)
    const saved = await this.#state.keyLog(userId)
    if (saved && !this.#logHead) this.#logHead = fromB64(saved.state.head)
    const http = this.#http
    const dev: DeviceSecrets = {
      deviceId: device.deviceId,
      signPk: fromB64(device.signPk),
      signSk: fromB64(device.signPriv),
      boxPk: fromB64(device.boxPk),
      boxSk: fromB64(device.boxPriv),
    }
    const baseUrl = this.#baseUrl
    return {
      baseUrl,
      userId: () => userId,
      device: () => dev,
      request: <T>(method: string, path: string, body?: unknown) =>
        http.request<T>(method, path, body === undefined ? {} : { body }),
      accessToken: async () => {
        // A cheap authenticated call refreshes an expired token first.
        await http.request('GET', '/api/v1/me')
        const t = this.#session?.accessToken
        if (!t)
          throw new NotSignedInError(
            'VS_NOT_SIGNED_IN',
            'Je bent niet aangemeld. / You are not signed in.',
          )
        return t
      },
      logHead: () => this.#logHead ?? new Uint8Array(32),
      checkLogHead: (head: Uint8Array) => this.#checkLogHead(head),
      memberDevices: async (memberId: string, kind: 'user' | 'desk') => {
        const out = new Map<string, DeviceKeys>()
        if (kind === 'desk') {
          const versions = await http.request<{ version: number; signPk: string; boxPk: string }[]>(
            'GET',
            `/api/v1/desks/${encodeURIComponent(memberId)}/keys`,
          )
          // Only key versions the key log certifies, with exactly these keys: a desk key
          // the server swapped or added on its own is not the desk.
          const certified = await this.#certifiedDeskKeys(memberId, versions.length)
          // Nor may it leave out the newest version the log certifies: new rooms would be
          // sealed to an older key, one that an advisor removed since may still hold.
          const newest = Math.max(0, ...certified.map((c) => c.version))
          if (newest > 0 && !versions.some((v) => v.version === newest)) {
            throw new KeyLogIntegrityError(
              'VS_KEYLOG_MISMATCH',
              `De server laat de nieuwste desksleutel (versie ${newest}) weg. Stuur niets naar deze desk en meld dit bij je coördinator. / The server leaves out the desk's newest key (version ${newest}).`,
            )
          }
          for (const v of versions) {
            const cert = certified.find((c) => c.version === v.version)
            if (
              cert &&
              bytesEqual(cert.signPk, fromB64(v.signPk)) &&
              bytesEqual(cert.boxPk, fromB64(v.boxPk))
            )
              out.set(`v${v.version}`, { signPk: cert.signPk, boxPk: cert.boxPk })
          }
          return out
        }
        if (memberId.startsWith('anon_')) {
          const a = await http.request<{ deviceId: string; signPk: string; boxPk: string }>(
            'GET',
            `/api/v1/anon-members/${encodeURIComponent(memberId)}`,
          )
          out.set(a.deviceId, { signPk: fromB64(a.signPk), boxPk: fromB64(a.boxPk) })
          return out
        }
        const keys = await this.userKeys(memberId)
        for (const c of keys.devices) out.set(c.deviceId, { signPk: c.signPk, boxPk: c.boxPk })
        return out
      },
    }
  }

  /**
   * Checks a desk's key as the public desk list shows it (`GET /api/v1/anon/desks`, read
   * without an account) against this client's verified key log, before a fully anonymous
   * adviesvraag is sealed to it: it must be the newest version the log certifies, with
   * exactly these keys. Throws {@link KeyLogIntegrityError} otherwise: a key the server
   * made up would let it read the question, and an older version one a removed advisor may
   * still hold. Reads only the log and the directory, nothing about this desk in particular.
   */
  async checkPublicDesk(desk: {
    id: string
    keyVersion: number
    signPk: string
    boxPk: string
  }): Promise<void> {
    const certified = await this.#certifiedDeskKeys(desk.id, desk.keyVersion)
    const newest = certified.reduce<DeskKeyCert | undefined>(
      (a, c) => (a === undefined || c.version > a.version ? c : a),
      undefined,
    )
    if (
      newest === undefined ||
      newest.version !== desk.keyVersion ||
      !bytesEqual(newest.signPk, fromB64(desk.signPk)) ||
      !bytesEqual(newest.boxPk, fromB64(desk.boxPk))
    ) {
      throw new KeyLogIntegrityError(
        'VS_KEYLOG_MISMATCH',
        'De desksleutel die de server toont is niet de nieuwste uit de sleutellijst. Stel je vraag niet en meld dit bij je coördinator. / The desk key the server shows is not the newest one the key log certifies.',
      )
    }
  }

  /**
   * Desk key certificates of `deskId` from the verified key log, each signed by a
   * coordinator or advisor whose logged master key it verifies under. Syncs the log
   * first when it knows fewer versions than the server lists.
   */
  async #certifiedDeskKeys(deskId: string, listed: number): Promise<DeskKeyCert[]> {
    const me = this.#userId()
    let record = await this.#state.keyLog(me)
    if ((record?.desks[deskId]?.length ?? 0) < listed) {
      await this.syncKeyLog()
      record = await this.#state.keyLog(me)
    }
    const certs = (record?.desks[deskId] ?? []).map((c) => deskKeyCertFromJSON(c))
    if (certs.length === 0) return []
    const people = await this.#http.request<DirectoryEntry[]>('GET', '/api/v1/directory')
    return certs.filter((c) => this.#deskCertSigner(c, people, record) !== undefined)
  }

  /**
   * Whether another member's key-log head is one this client verified: known already, or
   * known after catching up (it may be newer than mine). All-zero heads carry no claim.
   */
  async #checkLogHead(head: Uint8Array): Promise<boolean> {
    const b64 = toB64(head)
    if (head.every((b) => b === 0)) return true
    const me = this.#userId()
    const known = async () => {
      if (!this.#knownHeads) {
        const record = await this.#state.keyLog(me)
        // A record from before heads were kept cannot tell old from forked: no claim.
        if (record && !record.heads) return true
        this.#knownHeads = new Set(record?.heads ?? [])
      }
      return this.#knownHeads.has(b64)
    }
    if (await known()) return true
    if (this.#unknownHeads.has(b64)) return false
    await this.syncKeyLog()
    if (await known()) return true
    this.#unknownHeads.add(b64)
    return false
  }

  async localDevice(): Promise<LocalDevice | undefined> {
    const d = await this.#state.device(this.#userId())
    return d && { deviceId: d.deviceId, name: d.name }
  }

  async #requireDevice(userId: string): Promise<{
    device: DeviceRecord
    master: SigningKeyPair
    seed: Uint8Array
  }> {
    const device = await this.#state.device(userId)
    const seed = await this.#state.masterSeed(userId)
    if (!device || !seed) {
      throw new DeviceError(
        'VS_NO_DEVICE',
        'Dit apparaat is nog niet gekoppeld aan je account. / This device is not linked to your account yet.',
      )
    }
    const seedBytes = fromB64(seed)
    return { device, seed: seedBytes, master: signingKeyPairFromSeed(seedBytes) }
  }

  async #refuseIfDevicePresent(userId: string): Promise<void> {
    if (await this.#state.device(userId)) {
      throw new DeviceError(
        'VS_DEVICE_PRESENT',
        'Dit apparaat is al gekoppeld aan je account. / This device is already linked to your account.',
      )
    }
  }

  /** Certifies fresh device keys with `master`, registers them, and saves them here. */
  async #registerNewDevice(
    userId: string,
    master: SigningKeyPair,
    name: string,
  ): Promise<DeviceRecord> {
    const sign = generateSigningKeyPair()
    const box = generateBoxKeyPair()
    const cert = certifyDevice(master.privateKey, {
      userId,
      deviceId: randomId(),
      signPk: sign.publicKey,
      boxPk: box.publicKey,
      notAfter: this.#now() + DEVICE_CERT_VALIDITY_MS,
    })
    const wire = deviceCertToJSON(cert)
    await this.#http.request('POST', '/api/v1/devices', { body: { cert: wire, name } })
    const record = this.#deviceRecord(cert.deviceId, name, sign, box, wire)
    await this.#state.setDevice(userId, record)
    return record
  }

  #deviceRecord(
    deviceId: string,
    name: string,
    sign: SigningKeyPair,
    box: BoxKeyPair,
    cert: DeviceRecord['cert'],
  ): DeviceRecord {
    return {
      deviceId,
      name,
      signPk: toB64(sign.publicKey),
      signPriv: toB64(sign.privateKey),
      boxPk: toB64(box.publicKey),
      boxPriv: toB64(box.privateKey),
      cert,
    }
  }

  /**
   * The first device of a new account: makes the master key and a recovery key, stores
   * the master secret on the server wrapped under the recovery key (symmetric, so the
   * server can neither read nor plant it), publishes the master public key, and
   * certifies and registers this device. Returns the recovery key to show once.
   *
   * Safe to call again after a failure halfway (the master key was published but the
   * device not registered): it then finishes with the master key this device kept.
   */
  async setUpFirstDevice(name: string): Promise<FirstDevice> {
    const userId = this.#userId()
    await this.#refuseIfDevicePresent(userId)
    const me = await this.me()
    let seedB64 = await this.#state.masterSeed(userId)
    let recoveryKey: string | undefined
    if (me.hasMasterKey) {
      const keys = await this.#rawUserKeys(userId)
      if (!seedB64 || keys.masterPk !== toB64(masterPkOf(fromB64(seedB64)))) {
        throw new DeviceError(
          'VS_MASTER_KEY_EXISTS',
          'Je account heeft al een hoofdsleutel. Koppel dit apparaat met een ander apparaat of gebruik je herstelsleutel. / Your account already has a master key. Link this device from another device or use your recovery key.',
        )
      }
      recoveryKey = await this.#state.pendingRecoveryKey(userId)
    } else {
      const master = generateSigningKeyPair()
      const seed = master.privateKey.slice(0, 32)
      seedB64 = toB64(seed)
      const rk = generateRecoveryKey()
      recoveryKey = formatRecoveryKey(rk)
      const wrapped = wrapSecret(deriveBackupKey(rk), `master/v1/${userId}`, seed)
      // Kept before publishing, so a crash in between never leaves an account whose
      // master key nobody holds.
      await this.#state.setMasterSeed(userId, seedB64)
      await this.#state.setPendingRecoveryKey(userId, recoveryKey)
      try {
        await this.#http.request('POST', '/api/v1/keys/master', {
          body: { masterPk: toB64(master.publicKey), wrappedMasterSecret: toB64(wrapped) },
        })
      } catch (err) {
        await this.#state.clearMasterSeed(userId)
        await this.#state.clearPendingRecoveryKey(userId)
        throw err
      }
    }
    if (recoveryKey === undefined) {
      throw new DeviceError(
        'VS_MASTER_KEY_EXISTS',
        'Je account heeft al een hoofdsleutel. / Your account already has a master key.',
      )
    }
    const master = signingKeyPairFromSeed(fromB64(seedB64))
    const device = await this.#registerNewDevice(userId, master, name)
    await this.#state.addKnownDevices(userId, [device.deviceId])
    if (this.#session) {
      this.#session = { ...this.#session, user: { ...this.#session.user, hasMasterKey: true } }
      await this.#state.setSession(this.#session)
    }
    return { deviceId: device.deviceId, recoveryKey }
  }

  /** The recovery key of a just set-up account, until {@link VsClient.acknowledgeRecoveryKey}. */
  pendingRecoveryKey(): Promise<string | undefined> {
    return this.#state.pendingRecoveryKey(this.#userId())
  }

  /** The person confirmed they keep the recovery key safe: forget it here. */
  acknowledgeRecoveryKey(): Promise<void> {
    return this.#state.clearPendingRecoveryKey(this.#userId())
  }

  /**
   * Sets up this device with the recovery key: fetches the wrapped master secret,
   * unwraps it, checks it is the master key the key log records for me, and certifies
   * this device. Throws {@link DeviceError} `VS_RECOVERY_KEY_INVALID` (typo) or
   * `VS_RECOVERY_KEY_WRONG` (another account's key).
   */
  async recoverDevice(recoveryKeyText: string, name: string): Promise<LocalDevice> {
    const userId = this.#userId()
    await this.#refuseIfDevicePresent(userId)
    let rk: Uint8Array
    try {
      rk = parseRecoveryKey(recoveryKeyText)
    } catch (cause) {
      const code = cause instanceof RecoveryKeyError ? cause.code : 'length'
      const nl = {
        length:
          'Een herstelsleutel heeft 56 tekens in 14 groepen van 4. / A recovery key has 56 characters in 14 groups of 4.',
        character:
          'De herstelsleutel bevat een teken dat er niet in kan voorkomen. / The recovery key contains a character that cannot occur in it.',
        checksum:
          'Er zit een tikfout in de herstelsleutel; controleer elke groep. / The recovery key contains a typing error; check every group.',
      }[code]
      throw new DeviceError('VS_RECOVERY_KEY_INVALID', nl, { cause })
    }
    const { wrappedMasterSecret } = await this.#http.request<{ wrappedMasterSecret: string }>(
      'GET',
      '/api/v1/keys/backup',
    )
    let seed: Uint8Array
    try {
      seed = unwrapSecret(deriveBackupKey(rk), `master/v1/${userId}`, fromB64(wrappedMasterSecret))
    } catch (cause) {
      throw new DeviceError(
        'VS_RECOVERY_KEY_WRONG',
        'Deze herstelsleutel past niet bij je account. / This recovery key does not belong to your account.',
        { cause },
      )
    }
    const master = signingKeyPairFromSeed(seed)
    await this.#checkOwnMasterPk(userId, master.publicKey)
    await this.#state.setMasterSeed(userId, toB64(seed))
    const device = await this.#registerNewDevice(userId, master, name)
    await this.#adoptExistingDevices(userId, master.publicKey, device.deviceId)
    return { deviceId: device.deviceId, name: device.name }
  }

  /** The server's and the key log's master key for me must both be `masterPk`. */
  async #checkOwnMasterPk(userId: string, masterPk: Uint8Array): Promise<void> {
    const keys = await this.#rawUserKeys(userId)
    if (keys.masterPk !== toB64(masterPk)) {
      throw new DeviceError(
        'VS_MASTER_KEY_MISMATCH',
        'De server toont een andere hoofdsleutel voor je account dan je herstelsleutel opent. Meld dit bij je coördinator. / The server shows another master key for your account than your recovery key opens.',
      )
    }
    await this.#checkAgainstLog(userId, keys.masterPk)
  }

  /**
   * A device that joins later did not see the devices made before it. It takes the
   * devices the master key certified so far as its own (they could only be made by a
   * holder of the master key); later ones it did not make show up as key log alerts.
   */
  async #adoptExistingDevices(userId: string, masterPk: Uint8Array, selfId: string) {
    const list = await this.#http.request<DeviceInfo[]>('GET', '/api/v1/devices')
    const ids = [selfId]
    for (const d of list) {
      try {
        const cert = deviceCertFromJSON(d.cert)
        verifyDeviceCert(masterPk, cert, cert.notAfter, { expect: { userId } })
        ids.push(cert.deviceId)
      } catch {
        // not made with my master key: not mine, and stays an alert
      }
    }
    await this.#state.addKnownDevices(userId, ids)
  }

  // ---------------------------------------------------------------- linking

  /**
   * On a new device (signed in, without device keys): makes this device's keys and a
   * secret code, and asks to be linked. Show `code` on this screen; the person types it
   * on a device that is already linked. Then call {@link VsClient.waitForLink}.
   */
  async requestLink(): Promise<LinkRequest> {
    const userId = this.#userId()
    await this.#refuseIfDevicePresent(userId)
    const sign = generateSigningKeyPair()
    const box = generateBoxKeyPair()
    const deviceId = randomId()
    const code = newLinkCode()
    const mac = linkMac(code, deviceId, sign.publicKey, box.publicKey)
    const { linkId } = await this.#http.request<{ linkId: string }>(
      'POST',
      '/api/v1/device-links',
      {
        body: {
          deviceId,
          signPk: toB64(sign.publicKey),
          boxPk: toB64(box.publicKey),
          mac: toB64(mac),
        },
      },
    )
    await this.#state.setPendingLink(userId, {
      linkId,
      code,
      deviceId,
      signPk: toB64(sign.publicKey),
      signPriv: toB64(sign.privateKey),
      boxPk: toB64(box.publicKey),
      boxPriv: toB64(box.privateKey),
      createdAt: this.#now(),
    })
    return { linkId, code }
  }

  /** The link request this device is waiting on (to show its code again after a reload). */
  async currentLinkRequest(): Promise<LinkRequest | undefined> {
    const p = await this.#state.pendingLink(this.#userId())
    return p && { linkId: p.linkId, code: p.code }
  }

  /** Stops waiting for a link and forgets its keys. */
  cancelLinkRequest(): Promise<void> {
    return this.#state.clearPendingLink(this.#userId())
  }

  /**
   * Waits until another device approved the link, then checks everything before
   * trusting it: the certificate is for exactly this device's keys and verifies under
   * the master key; the sealed master secret opens, carries a tag made with this
   * device's code, and is the master key the server and the key log show for me.
   */
  async waitForLink(linkId: string, opts: WaitForLinkOptions = {}): Promise<LocalDevice> {
    const userId = this.#userId()
    const pending = await this.#state.pendingLink(userId)
    if (!pending || pending.linkId !== linkId) {
      throw new LinkError(
        'VS_LINK_NOT_FOUND',
        'Dit apparaat wacht niet op deze koppeling. / This device is not waiting for this link.',
      )
    }
    const deadline = this.#now() + (opts.timeoutMs ?? 15 * 60 * 1000)
    let state: DeviceLinkState
    for (;;) {
      if (opts.signal?.aborted) {
        throw new LinkError('VS_LINK_ABORTED', 'Koppelen gestopt. / Linking stopped.')
      }
      state = await this.#http.request<DeviceLinkState>(
        'GET',
        `/api/v1/device-links/${encodeURIComponent(linkId)}`,
      )
      if (state.status === 'approved') break
      if (state.status === 'expired') {
        await this.#state.clearPendingLink(userId)
        throw new LinkError(
          'VS_LINK_EXPIRED',
          'De koppelcode is verlopen. Begin opnieuw. / The link code expired. Start again.',
        )
      }
      if (this.#now() > deadline) {
        throw new LinkError(
          'VS_LINK_TIMEOUT',
          'Er is nog niet gekoppeld. Probeer het opnieuw. / Not linked yet. Try again.',
        )
      }
      try {
        await sleep(this.#pollMs, opts.signal)
      } catch {
        throw new LinkError('VS_LINK_ABORTED', 'Koppelen gestopt. / Linking stopped.')
      }
    }
    const bad = (cause?: unknown) =>
      new LinkError(
        'VS_LINK_BAD_RESPONSE',
        'Het antwoord van het andere apparaat klopt niet; koppel opnieuw. / The answer from the other device does not check out; link again.',
        { cause },
      )
    if (!state.cert || !state.sealedMaster) throw bad()
    let cert: DeviceCert
    try {
      cert = deviceCertFromJSON(state.cert)
    } catch (cause) {
      throw bad(cause)
    }
    const box = { publicKey: fromB64(pending.boxPk), privateKey: fromB64(pending.boxPriv) }
    const sign = { publicKey: fromB64(pending.signPk), privateKey: fromB64(pending.signPriv) }
    if (
      cert.userId !== userId ||
      cert.deviceId !== pending.deviceId ||
      !bytesEqual(cert.signPk, sign.publicKey) ||
      !bytesEqual(cert.boxPk, box.publicKey)
    ) {
      throw bad()
    }
    const seed = openMasterFromLink(
      pending.code,
      { userId, deviceId: pending.deviceId, box },
      fromB64(state.sealedMaster),
      masterPkOf,
    )
    const masterPk = masterPkOf(seed)
    await this.#checkOwnMasterPk(userId, masterPk)
    try {
      verifyDeviceCert(masterPk, cert, this.#now(), { expect: { userId, deviceId: cert.deviceId } })
    } catch (cause) {
      throw bad(cause)
    }
    let name = 'Gekoppeld apparaat'
    if (opts.name && opts.name !== name) {
      await this.#http.request('PATCH', `/api/v1/devices/${encodeURIComponent(cert.deviceId)}`, {
        body: { name: opts.name },
      })
      name = opts.name
    }
    await this.#state.setMasterSeed(userId, toB64(seed))
    await this.#state.setDevice(
      userId,
      this.#deviceRecord(cert.deviceId, name, sign, box, deviceCertToJSON(cert)),
    )
    await this.#state.clearPendingLink(userId)
    await this.#adoptExistingDevices(userId, masterPk, cert.deviceId)
    return { deviceId: cert.deviceId, name }
  }

  /** Link requests of my account waiting for approval (on a device that is linked). */
  async pendingLinks(): Promise<PendingLink[]> {
    const list = await this.#http.request<DeviceLinkPending[]>('GET', '/api/v1/device-links')
    return list.map((l) => ({ linkId: l.linkId, deviceId: l.deviceId, createdAt: l.createdAt }))
  }

  /**
   * Approves a link with the code the person read from the new device's screen. The
   * mac over the keys the server handed us must match the typed code, otherwise
   * {@link LinkError} `VS_LINK_CODE_MISMATCH` and nothing is certified: that is what
   * stops a server from swapping in its own keys.
   */
  async approveLink(linkId: string, typedCode: string): Promise<{ deviceId: string }> {
    const userId = this.#userId()
    const { device, master, seed } = await this.#requireDevice(userId)
    const code = parseLinkCode(typedCode)
    const list = await this.#http.request<DeviceLinkPending[]>('GET', '/api/v1/device-links')
    const link = list.find((l) => l.linkId === linkId)
    if (!link) {
      throw new LinkError(
        'VS_LINK_NOT_FOUND',
        'Dit koppelverzoek bestaat niet (meer). Vraag op het nieuwe apparaat een nieuwe code. / This link request no longer exists. Ask for a new code on the new device.',
      )
    }
    let signPk: Uint8Array, boxPk: Uint8Array, mac: Uint8Array
    try {
      signPk = fromB64(link.signPk)
      boxPk = fromB64(link.boxPk)
      mac = fromB64(link.mac)
    } catch (cause) {
      throw new LinkError(
        'VS_LINK_BAD_RESPONSE',
        'Ongeldig koppelverzoek. / Malformed link request.',
        {
          cause,
        },
      )
    }
    checkLinkMac(code, link.deviceId, signPk, boxPk, mac)
    const cert = certifyDevice(master.privateKey, {
      userId,
      deviceId: link.deviceId,
      signPk,
      boxPk,
      notAfter: this.#now() + DEVICE_CERT_VALIDITY_MS,
    })
    const sealed = sealMasterForLink(
      code,
      { userId, deviceId: link.deviceId, boxPk },
      seed,
      master.publicKey,
    )
    await this.#http.request('POST', `/api/v1/device-links/${encodeURIComponent(linkId)}/approve`, {
      body: {
        cert: deviceCertToJSON(cert),
        sealedMaster: toB64(sealed),
        approverDeviceId: device.deviceId,
      },
    })
    await this.#state.addKnownDevices(userId, [link.deviceId])
    return { deviceId: link.deviceId }
  }

  // ---------------------------------------------------------------- my devices

  /** My devices, with whether each certificate verifies under my master key. */
  async devices(): Promise<DeviceSummary[]> {
    const userId = this.#userId()
    const [list, local, masterPk] = await Promise.all([
      this.#http.request<DeviceInfo[]>('GET', '/api/v1/devices'),
      this.#state.device(userId),
      this.#ownMasterPk(userId),
    ])
    const revocations = (await this.#state.keyLog(userId))?.revocations[userId] ?? []
    return list.map((d) => {
      let certified = false
      try {
        const cert = deviceCertFromJSON(d.cert)
        if (masterPk) {
          verifyDeviceCert(masterPk, cert, this.#now(), {
            expect: { userId, deviceId: d.deviceId },
            revocations: revocations.map((r) => deviceRevocationFromJSON(r)),
          })
          certified = true
        }
      } catch {
        certified = false
      }
      return {
        deviceId: d.deviceId,
        name: d.name,
        createdAt: d.createdAt,
        revokedAt: d.revokedAt,
        current: d.deviceId === local?.deviceId,
        certified,
        notAfter: d.cert.notAfter,
      }
    })
  }

  /** My master public key: from this device's master secret, else the server's word. */
  async #ownMasterPk(userId: string): Promise<Uint8Array | undefined> {
    const seed = await this.#state.masterSeed(userId)
    if (seed) return masterPkOf(fromB64(seed))
    const keys = await this.#rawUserKeys(userId)
    return keys.masterPk ? fromB64(keys.masterPk) : undefined
  }

  /** Renames one of my devices. */
  async renameDevice(deviceId: string, name: string): Promise<void> {
    const userId = this.#userId()
    await this.#http.request('PATCH', `/api/v1/devices/${encodeURIComponent(deviceId)}`, {
      body: { name },
    })
    const local = await this.#state.device(userId)
    if (local?.deviceId === deviceId) await this.#state.setDevice(userId, { ...local, name })
  }

  /**
   * Removes one of my devices: a revocation signed with the master key, recorded in the
   * key log, so other people's clients stop trusting it. Removing this device also
   * forgets its keys here.
   */
  async removeDevice(deviceId: string): Promise<void> {
    const userId = this.#userId()
    const { device, master } = await this.#requireDevice(userId)
    const rev = revokeDevice(master.privateKey, { userId, deviceId, revokedAt: this.#now() })
    const wire = deviceRevocationToJSON(rev)
    await this.#http.request('POST', `/api/v1/devices/${encodeURIComponent(deviceId)}/revoke`, {
      body: { revokedAt: wire.revokedAt, signature: wire.signature },
    })
    if (device.deviceId === deviceId) {
      await this.#state.clearDevice(userId)
      await this.#state.clearMasterSeed(userId)
    }
  }

  // ---------------------------------------------------------------- key log

  /**
   * Fetches the key log from where this client left off, checks that it extends what
   * was verified before (signed by the pinned log key, no rollback, no fork), and
   * returns new alerts about my own account: devices or master keys I did not make.
   * Throws {@link KeyLogIntegrityError} when the log does not check out: show it loudly.
   */
  syncKeyLog(): Promise<KeyLogAlertInfo[]> {
    this.#syncing ??= this.#syncKeyLog().finally(() => {
      this.#syncing = undefined
    })
    return this.#syncing
  }

  async #syncKeyLog(): Promise<KeyLogAlertInfo[]> {
    const userId = this.#userId()
    const saved = await this.#state.keyLog(userId)
    const from = saved?.state.size ?? 0
    const first = await this.#http.request<KeyLogPage>('GET', '/api/v1/keylog', {
      query: { from },
    })
    if (saved && saved.logPub !== first.logPublicKey) {
      throw new KeyLogIntegrityError('VS_KEYLOG_KEY_CHANGED', `${KEYLOG_BROKEN} (log key changed)`)
    }
    const record: KeyLogRecord = saved ?? {
      logPub: first.logPublicKey,
      state: { size: 0, head: toB64(new Uint8Array(32)) },
      masters: {},
      revocations: {},
      desks: {},
      alerts: [],
    }
    let entries: KeyLogEntry[]
    let verifier: KeyLogVerifier
    try {
      const sth = signedHeadFromJSON(first.sth)
      const wire = [...first.entries]
      while (from + wire.length < sth.size) {
        const next = await this.#http.request<KeyLogPage>('GET', '/api/v1/keylog', {
          query: { from: from + wire.length },
        })
        if (next.entries.length === 0) break
        wire.push(...next.entries)
        if (wire.length > sth.size - from + KEYLOG_PAGE_LIMIT) break
      }
      entries = wire.slice(0, Math.max(0, sth.size - from)).map((e) => keyLogEntryFromJSON(e))
      verifier = KeyLogVerifier.fromJSON(fromB64(record.logPub), record.state)
      verifier.update(sth, entries)
    } catch (err) {
      if (err instanceof KeyLogError) {
        throw new KeyLogIntegrityError(keyLogCode(err), `${KEYLOG_BROKEN} (${err.message})`, {
          cause: err,
        })
      }
      throw new KeyLogIntegrityError('VS_KEYLOG_MALFORMED', `${KEYLOG_BROKEN}`, { cause: err })
    }
    this.#learnFromLog(record, entries)
    const fresh = await this.#auditOwn(userId, entries)
    if (record.heads || !saved) {
      // Every intermediate head, so others' older heads stay recognisable.
      const heads = record.heads ?? [record.state.head]
      let h = fromB64(record.state.head)
      let n = record.state.size
      for (const e of entries) {
        h = appendEntries(h, n++, [e])
        heads.push(toB64(h))
      }
      record.heads = heads
      this.#knownHeads = new Set(heads)
    }
    record.state = verifier.toJSON()
    this.#logHead = fromB64(record.state.head)
    record.alerts = [...record.alerts, ...fresh]
    await this.#state.setKeyLog(userId, record)
    return fresh
  }

  /** Keeps what later checks need: each person's master key, revocations, desk keys. */
  #learnFromLog(record: KeyLogRecord, entries: readonly KeyLogEntry[]): void {
    for (const e of entries) {
      try {
        if (e.kind === 'master-key-created' || e.kind === 'master-key-changed') {
          const r = decodeMasterKeyRecord(e.payload)
          if (r.userId === e.subject) record.masters[r.userId] = toB64(r.masterPk)
        } else if (e.kind === 'device-revoked') {
          const r = decodeDeviceRevocation(e.payload)
          if (r.userId === e.subject) {
            ;(record.revocations[r.userId] ??= []).push(deviceRevocationToJSON(r))
          }
        } else if (e.kind === 'desk-key-created' || e.kind === 'desk-key-rotated') {
          const c = decodeDeskKeyCert(e.payload)
          if (c.deskId === e.subject) (record.desks[c.deskId] ??= []).push(deskKeyCertToJSON(c))
        }
      } catch {
        // An unreadable entry about someone else: their clients raise it; we skip it.
      }
    }
  }

  async #auditOwn(userId: string, entries: readonly KeyLogEntry[]): Promise<AlertRecord[]> {
    const seed = await this.#state.masterSeed(userId)
    // Without my master secret this client made nothing yet; it adopts what exists
    // when it joins (recovery or link), so there is nothing to compare with here.
    if (!seed || !(await this.#state.device(userId))) return []
    const known = await this.#state.knownDevices(userId)
    const alerts = [
      ...auditOwnMasterKey(entries, userId, [masterPkOf(fromB64(seed))]),
      ...auditOwnDevices(entries, userId, known),
    ]
    return alerts.map((a) => {
      const r: AlertRecord = { index: a.index, kind: a.kind, reason: a.reason }
      if (a.cert) r.deviceId = a.cert.deviceId
      if (a.masterPk) r.masterPk = toB64(a.masterPk)
      return r
    })
  }

  /** Alerts about my account not yet resolved with {@link VsClient.trustOwnDevice}. */
  async keyLogAlerts(): Promise<KeyLogAlertInfo[]> {
    return (await this.#state.keyLog(this.#userId()))?.alerts ?? []
  }

  /**
   * The person confirms a device in an alert is theirs (made on another device of
   * theirs): it stops being an alert. Remove it with {@link VsClient.removeDevice} instead
   * if they do not recognise it.
   */
  async trustOwnDevice(deviceId: string): Promise<void> {
    const userId = this.#userId()
    await this.#state.addKnownDevices(userId, [deviceId])
    const record = await this.#state.keyLog(userId)
    if (record) {
      record.alerts = record.alerts.filter((a) => a.deviceId !== deviceId)
      await this.#state.setKeyLog(userId, record)
    }
  }

  /** Throws unless the (just synced) key log records `masterPk` as `userId`'s master key. */
  async #checkAgainstLog(userId: string, masterPk: string): Promise<KeyLogRecord> {
    const me = this.#userId()
    let record = await this.#state.keyLog(me)
    if (record?.masters[userId] !== masterPk) {
      await this.syncKeyLog()
      record = await this.#state.keyLog(me)
    }
    if (!record || record.masters[userId] !== masterPk) {
      throw new KeyLogIntegrityError(
        'VS_KEYLOG_MISMATCH',
        'De server toont een sleutel die niet in de sleutellijst staat. Vertrouw deze sleutel niet en meld dit bij je coördinator. / The server shows a key the key log does not record.',
      )
    }
    return record
  }

  // ---------------------------------------------------------------- other people

  #rawUserKeys(userId: string): Promise<UserKeys> {
    return this.#http.request<UserKeys>('GET', `/api/v1/users/${encodeURIComponent(userId)}/keys`)
  }

  /** Serialises read-modify-write of the pins. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn)
    this.#lock = run.catch(() => {})
    return run
  }

  /** Trust on first use: pins a first-seen key, notices a changed one. */
  #observe(userId: string, masterPk: string): Promise<VerificationState> {
    const me = this.#userId()
    return this.#exclusive(async () => {
      const pins = await this.#state.pins(me)
      const pin = pins[userId]
      let next: PinRecord
      if (!pin) next = { masterPk, verified: false }
      else if (pin.masterPk === masterPk) next = { ...pin, changedTo: undefined }
      else if (pin.verified) next = { ...pin, changedTo: masterPk }
      else next = { masterPk, verified: false }
      if (JSON.stringify(next) !== JSON.stringify(pin)) {
        pins[userId] = next
        await this.#state.setPins(me, pins)
      }
      return stateOf(next)
    })
  }

  /**
   * A person's keys, checked: the master key must be the one the key log records and,
   * if I verified this person, the one I verified (else {@link KeyChangedError}); only
   * device certificates that verify under it are returned.
   */
  async userKeys(userId: string): Promise<CheckedUserKeys> {
    const me = this.#userId()
    const raw = await this.#rawUserKeys(userId)
    if (!raw.masterPk) {
      throw new KeyError(
        'VS_NO_KEYS',
        `${raw.name} heeft nog geen apparaat ingesteld. / ${raw.name} has not set up a device yet.`,
      )
    }
    const record = await this.#checkAgainstLog(userId, raw.masterPk)
    let verification: VerificationState = 'verified'
    if (userId === me) {
      const own = await this.#state.masterSeed(me)
      if (own && toB64(masterPkOf(fromB64(own))) !== raw.masterPk) {
        throw new DeviceError(
          'VS_MASTER_KEY_MISMATCH',
          'De server toont een andere hoofdsleutel voor je account. / The server shows another master key for your account.',
        )
      }
    } else {
      verification = await this.#observe(userId, raw.masterPk)
      if (verification === 'changed') throw new KeyChangedError(userId)
    }
    const masterPk = fromB64(raw.masterPk)
    const revocations = (record.revocations[userId] ?? []).map((r) => deviceRevocationFromJSON(r))
    const devices: DeviceCert[] = []
    for (const w of raw.devices) {
      try {
        const cert = deviceCertFromJSON(w)
        verifyDeviceCert(masterPk, cert, this.#now(), { expect: { userId }, revocations })
        devices.push(cert)
      } catch {
        // Not certified by this person's master key (or expired, revoked): ignored.
      }
    }
    return {
      userId,
      name: raw.name,
      discipline: raw.discipline,
      organisationName: raw.organisationName,
      masterPk,
      devices,
      verification,
    }
  }

  /**
   * The people of my region, each with my trust in their key. A key the key log does not
   * record marks that person `'not-in-log'`; a log that does not verify throws
   * {@link KeyLogIntegrityError}.
   */
  async directory(): Promise<PersonEntry[]> {
    const me = this.#userId()
    const list = await this.#http.request<DirectoryEntry[]>('GET', '/api/v1/directory')
    if (list.some((p) => p.masterPk)) await this.syncKeyLog()
    const out: PersonEntry[] = []
    for (const p of list) {
      const self = p.userId === me
      if (!p.masterPk) {
        out.push({ ...p, verification: 'no-key', self })
        continue
      }
      try {
        await this.#checkAgainstLog(p.userId, p.masterPk)
      } catch (err) {
        if (!(err instanceof KeyLogIntegrityError && err.code === 'VS_KEYLOG_MISMATCH')) throw err
        out.push({ ...p, verification: 'not-in-log', self })
        continue
      }
      const verification = self ? 'verified' : await this.#observe(p.userId, p.masterPk)
      out.push({ ...p, verification, self })
    }
    return out
  }

  /** My trust in a person's key, as last seen (no network). */
  async verificationState(userId: string): Promise<VerificationState> {
    const pin = (await this.#state.pins(this.#userId()))[userId]
    return pin ? stateOf(pin) : 'unverified'
  }

  /**
   * The safety number of me and `userId`, for comparing in person (read aloud or scan
   * the QR code). Also works while their key is `'changed'`: it shows the new number.
   */
  async safetyNumber(userId: string): Promise<SafetyNumberView> {
    const me = this.#userId()
    const theirs = await this.#currentKey(userId)
    const mine = await this.#ownMasterPk(me)
    if (!mine) {
      throw new KeyError('VS_NO_KEYS', 'Stel eerst dit apparaat in. / Set up this device first.')
    }
    const verification = await this.#observe(userId, theirs)
    const sn = safetyNumber({ userId: me, masterPk: mine }, { userId, masterPk: fromB64(theirs) })
    return {
      userId,
      digits: sn.digits,
      groups: sn.groups,
      qrPayload: sn.qrPayload,
      qrText: SAFETY_QR_PREFIX + toB64(sn.qrPayload),
      verification,
    }
  }

  async #currentKey(userId: string): Promise<string> {
    const raw = await this.#rawUserKeys(userId)
    if (!raw.masterPk) {
      throw new KeyError(
        'VS_NO_KEYS',
        `${raw.name} heeft nog geen apparaat ingesteld. / ${raw.name} has not set up a device yet.`,
      )
    }
    await this.#checkAgainstLog(userId, raw.masterPk)
    return raw.masterPk
  }

  /** True if a scanned QR text is the safety number my device shows for this person. */
  async compareSafetyQr(userId: string, scanned: string): Promise<boolean> {
    if (!scanned.startsWith(SAFETY_QR_PREFIX)) return false
    let payload: Uint8Array
    try {
      payload = fromB64(scanned.slice(SAFETY_QR_PREFIX.length))
    } catch {
      return false
    }
    const mine = await this.safetyNumber(userId)
    return compareSafetyQr(
      { digits: mine.digits, groups: mine.groups, qrPayload: mine.qrPayload },
      payload,
    )
  }

  /**
   * Marks a person verified after comparing the safety number. Pass the digits you
   * showed, so a key that changed in between is not verified by accident.
   */
  async markVerified(userId: string, shownDigits?: string): Promise<void> {
    const me = this.#userId()
    if (userId === me) return
    const theirs = await this.#currentKey(userId)
    if (shownDigits !== undefined) {
      const now = await this.safetyNumber(userId)
      if (now.digits !== shownDigits.replace(/\s/g, '')) {
        throw new KeyChangedError(userId)
      }
    }
    await this.#exclusive(async () => {
      const pins = await this.#state.pins(me)
      pins[userId] = { masterPk: theirs, verified: true, verifiedAt: this.#now() }
      await this.#state.setPins(me, pins)
    })
  }

  /** Takes back a verification (the person becomes `'unverified'`, their key stays pinned). */
  async unmarkVerified(userId: string): Promise<void> {
    const me = this.#userId()
    await this.#exclusive(async () => {
      const pins = await this.#state.pins(me)
      const pin = pins[userId]
      if (!pin) return
      pins[userId] = { masterPk: pin.changedTo ?? pin.masterPk, verified: false }
      await this.#state.setPins(me, pins)
    })
  }

  // ---------------------------------------------------------------- coordinator

  /** Organisations of my region. */
  listOrganisations(): Promise<Organisation[]> {
    return this.#http.request('GET', '/api/v1/organisations')
  }

  /** Adds an organisation to my region (coordinator). */
  createOrganisation(name: string, kind: OrgKind): Promise<Organisation> {
    return this.#http.request('POST', '/api/v1/organisations', { body: { name, kind } })
  }

  /**
   * Invites a person (coordinator). The code is shown once: pass on the link
   * {@link invitationPath} makes, by a channel other than this one.
   */
  createInvitation(input: CreateInvitation): Promise<InvitationCreated> {
    return this.#http.request('POST', '/api/v1/invitations', { body: input })
  }

  /** The desks of my region. */
  desks(): Promise<Desk[]> {
    return this.#http.request('GET', '/api/v1/desks')
  }

  /** Creates a desk of an organisation (coordinator). */
  createDesk(
    organisationId: string,
    input: { name: string; purpose: 'advies' | 'meldingen' },
  ): Promise<Desk> {
    return this.#http.request(
      'POST',
      `/api/v1/organisations/${encodeURIComponent(organisationId)}/desks`,
      { body: input },
    )
  }

  /** The advisors of a desk and whether its key must be rotated (someone left). */
  deskAdvisors(
    deskId: string,
  ): Promise<{ advisors: { userId: string; name: string }[]; needsRotation: boolean }> {
    return this.#http.request('GET', `/api/v1/desks/${encodeURIComponent(deskId)}/advisors`)
  }

  /** Adds an advisor to a desk (coordinator); publish a new desk key afterwards. */
  async addAdvisor(deskId: string, userId: string): Promise<void> {
    await this.#http.request(
      'PUT',
      `/api/v1/desks/${encodeURIComponent(deskId)}/advisors/${encodeURIComponent(userId)}`,
    )
  }

  /** Removes an advisor (coordinator); the desk then needs a new key (they hold the old one). */
  async removeAdvisor(deskId: string, userId: string): Promise<void> {
    await this.#http.request(
      'DELETE',
      `/api/v1/desks/${encodeURIComponent(deskId)}/advisors/${encodeURIComponent(userId)}`,
    )
  }

  /**
   * Makes the desk's next key pair, certifies it with my master key (version = current
   * + 1, recorded in the key log) and seals it to every certified device of every
   * current advisor. Throws {@link KeyChangedError} if an advisor I verified changed key.
   */
  async publishDeskKey(deskId: string): Promise<PublishedDeskKey> {
    const me = this.#userId()
    const { master } = await this.#requireDevice(me)
    const desk = (await this.desks()).find((d) => d.id === deskId)
    if (!desk) throw new ApiRequestError(404, 'VS_NOT_FOUND', 'Desk niet gevonden / Desk not found')
    const { advisors } = await this.deskAdvisors(deskId)
    const version = desk.keyVersion + 1
    const sign = generateSigningKeyPair()
    const box = generateBoxKeyPair()
    const cert = certifyDeskKey(master.privateKey, {
      deskId,
      version,
      signPk: sign.publicKey,
      boxPk: box.publicKey,
      createdAt: this.#now(),
    })
    const grants: { userId: string; deviceId: string; sealed: string }[] = []
    const skipped: string[] = []
    for (const a of advisors) {
      let keys: CheckedUserKeys
      try {
        keys = await this.userKeys(a.userId)
      } catch (err) {
        if (err instanceof KeyError && err.code === 'VS_NO_KEYS') {
          skipped.push(a.userId)
          continue
        }
        throw err
      }
      for (const d of keys.devices) {
        const sealed = sealDeskGrant(
          { deskId, version, userId: a.userId, deviceId: d.deviceId, sign, box },
          d.boxPk,
        )
        grants.push({ userId: a.userId, deviceId: d.deviceId, sealed: toB64(sealed) })
      }
    }
    await this.#http.request('POST', `/api/v1/desks/${encodeURIComponent(deskId)}/keys`, {
      body: { cert: deskKeyCertToJSON(cert), grants },
    })
    return {
      deskId,
      version,
      signPk: sign.publicKey,
      boxPk: box.publicKey,
      granted: grants.map((g) => ({ userId: g.userId, deviceId: g.deviceId })),
      skipped,
    }
  }

  /**
   * The desk key pairs granted to this device (advisor), oldest first. Each must be the
   * key pair a coordinator's or advisor's master key certified for that version in the
   * key log; a grant that does not check out throws {@link KeyError} `VS_DESK_KEY_INVALID`.
   */
  async deskKeys(deskId: string): Promise<DeskKeyPair[]> {
    const me = this.#userId()
    const { device } = await this.#requireDevice(me)
    const grants = await this.#http.request<
      { keyVersion: number; deviceId: string; sealed: string }[]
    >('GET', `/api/v1/desks/${encodeURIComponent(deskId)}/grants`)
    const mine = grants.filter((g) => g.deviceId === device.deviceId)
    if (mine.length === 0) return []
    await this.syncKeyLog()
    const record = await this.#state.keyLog(me)
    const certs = (record?.desks[deskId] ?? []).map((c) => deskKeyCertFromJSON(c))
    const people = await this.#http.request<DirectoryEntry[]>('GET', '/api/v1/directory')
    const box = { publicKey: fromB64(device.boxPk), privateKey: fromB64(device.boxPriv) }
    const invalid = (why: string) =>
      new KeyError(
        'VS_DESK_KEY_INVALID',
        `De desksleutel klopt niet (${why}). Meld dit bij je coördinator. / The desk key does not check out (${why}).`,
      )
    const out: DeskKeyPair[] = []
    for (const g of mine) {
      const keys = openDeskGrant(fromB64(g.sealed), box, {
        deskId,
        version: g.keyVersion,
        userId: me,
        deviceId: device.deviceId,
      })
      const cert = certs.find((c) => c.version === g.keyVersion)
      if (!cert) throw invalid('not in the key log')
      if (
        !bytesEqual(cert.signPk, keys.sign.publicKey) ||
        !bytesEqual(cert.boxPk, keys.box.publicKey)
      ) {
        throw invalid('other keys than certified')
      }
      const signer = this.#deskCertSigner(cert, people, record)
      if (!signer) throw invalid('no coordinator or advisor certified it')
      out.push({
        deskId,
        version: g.keyVersion,
        sign: keys.sign,
        box: keys.box,
        certifiedBy: signer,
      })
    }
    return out
  }

  /** Who certified a desk key: a coordinator or advisor whose logged master key signed it. */
  #deskCertSigner(
    cert: DeskKeyCert,
    people: DirectoryEntry[],
    record: KeyLogRecord | undefined,
  ): string | undefined {
    for (const p of people) {
      if (p.role !== 'coordinator' && p.role !== 'advisor') continue
      const logged = record?.masters[p.userId]
      if (!logged || p.masterPk !== logged) continue
      try {
        verifyDeskKeyCert(fromB64(logged), cert, { expectDeskId: cert.deskId })
        return p.userId
      } catch {
        // not this person
      }
    }
    return undefined
  }
}

function stateOf(pin: PinRecord): VerificationState {
  if (pin.changedTo) return 'changed'
  return pin.verified ? 'verified' : 'unverified'
}

/** The path of an invitation link: a URL fragment, so the code never reaches server logs. */
export function invitationPath(code: string): string {
  return `/#/uitnodiging/${encodeURIComponent(code)}`
}
