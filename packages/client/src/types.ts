/** Public result types of the SDK (wire types come from `@vs/protocol`). */
import type { BoxKeyPair, DeviceCert, SigningKeyPair } from '@vs/crypto'
import type { DirectoryEntry } from '@vs/protocol'

/** How far I trust a person's master key. */
export type VerificationState = 'unverified' | 'verified' | 'changed'

/** This device, as this client knows it. */
export interface LocalDevice {
  deviceId: string
  name: string
}

/** What {@link VsClient.setUpFirstDevice} returns. */
export interface FirstDevice {
  deviceId: string
  /**
   * The recovery key as 14 groups of 4 characters. Show it once and ask the person to
   * keep it safe (on paper, in a password manager); then call
   * {@link VsClient.acknowledgeRecoveryKey}.
   */
  recoveryKey: string
}

/** One device of my account. */
export interface DeviceSummary {
  deviceId: string
  name: string
  createdAt: string
  revokedAt: string | null
  /** This is the device the client runs on. */
  current: boolean
  /** The certificate verifies under my master key (a device without this is ignored). */
  certified: boolean
  notAfter: number
}

/** What a new device shows while it waits to be linked. */
export interface LinkRequest {
  linkId: string
  /** Show on this device's screen only, as `XXXXX-XXXXX`. */
  code: string
}

/** A link request waiting for approval on one of my existing devices. */
export interface PendingLink {
  linkId: string
  deviceId: string
  createdAt: string
}

/** A person's keys, checked: the master key (also against the key log) and the device certificates that verify. */
export interface CheckedUserKeys {
  userId: string
  name: string
  discipline: string
  organisationName: string
  masterPk: Uint8Array
  /** Only certificates signed by `masterPk`, not expired and not revoked in the key log. */
  devices: DeviceCert[]
  verification: VerificationState
}

/** A safety number between me and someone else, ready to show. */
export interface SafetyNumberView {
  userId: string
  /** 60 digits. */
  digits: string
  /** 12 groups of 5 digits. */
  groups: string[]
  /** What a QR code carries, as bytes. */
  qrPayload: Uint8Array
  /** The same as text (`VS-SN1:` + base64url), for a QR code generator. */
  qrText: string
  verification: VerificationState
}

/** A person in my region's directory, with my trust in their key. */
export interface PersonEntry extends DirectoryEntry {
  /**
   * `'no-key'`: the person has not set up a device yet. `'not-in-log'`: the server shows
   * a master key the key log does not record (a server lying about this person): trust
   * nothing from or for them.
   */
  verification: VerificationState | 'no-key' | 'not-in-log'
  /** This is me. */
  self: boolean
}

/** Something in the key log about my own account that this client did not do. */
export interface KeyLogAlertInfo {
  index: number
  kind: string
  reason: 'unknown-device' | 'unknown-master-key' | 'subject-mismatch' | 'malformed'
  deviceId?: string
  masterPk?: string
}

/** A desk key I published. */
export interface PublishedDeskKey {
  deskId: string
  version: number
  signPk: Uint8Array
  boxPk: Uint8Array
  /** Devices that received the key. */
  granted: { userId: string; deviceId: string }[]
  /** Advisors without a device yet: publish again (rotate) once they have one. */
  skipped: string[]
}

/** A desk key pair this device holds. */
export interface DeskKeyPair {
  deskId: string
  version: number
  sign: SigningKeyPair
  box: BoxKeyPair
  /** The person whose master key certified this version in the key log. */
  certifiedBy: string
}
