import type { DeviceKeys } from '@vs/crypto'

/** A device's own keys. */
export interface DeviceSecrets {
  deviceId: string
  signPk: Uint8Array
  signSk: Uint8Array
  boxPk: Uint8Array
  boxSk: Uint8Array
}

/**
 * What the rooms layer needs from the signed-in client: its identity and device keys,
 * authenticated requests, and *verified* device keys of other members (certificates
 * checked against pinned master keys; the server's word is never enough).
 */
export interface RoomsHost {
  readonly baseUrl: string
  userId(): string
  device(): DeviceSecrets
  request<T>(method: string, path: string, body?: unknown): Promise<T>
  accessToken(): Promise<string>
  memberDevices(memberId: string, kind: 'user' | 'desk'): Promise<Map<string, DeviceKeys>>
  /** The latest verified key-log head (32 bytes). */
  logHead(): Uint8Array
  /**
   * Whether `head` (from another member's message) is a key-log head this client has
   * verified, after catching up with the log if it is newer. `false` means the sender was
   * shown another log than this client: a split view. Hosts that cannot tell leave it out.
   */
  checkLogHead?(head: Uint8Array): Promise<boolean>
  /** The WebSocket authentication subprotocol, when not `vs.auth.<access token>`. */
  wsAuthProtocol?(): Promise<string>
}

/** An identity a rooms client acts as: the user's own device, or a desk's key. */
export interface ActingIdentity {
  memberId: string
  deviceId: string
  signSk: Uint8Array
  boxKeyPair: { publicKey: Uint8Array; privateKey: Uint8Array }
}
