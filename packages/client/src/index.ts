/**
 * `@vs/client`: the TypeScript SDK of Veilig Samenwerken, for Node 20 and browsers.
 *
 * ```ts
 * const client = await VsClient.open({ baseUrl: '', store: new LocalStorageKeyStore() })
 * await client.signIn({ email, password, totp })
 * if (!(await client.localDevice())) await client.requestLink()
 * ```
 */
export { VsClient, DEVICE_CERT_VALIDITY_MS, SAFETY_QR_PREFIX, invitationPath } from './client.js'
export type { VsClientOptions, WaitForLinkOptions } from './client.js'
export type {
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
export {
  ApiRequestError,
  DeviceError,
  KeyChangedError,
  KeyError,
  KeyLogIntegrityError,
  KeyStoreError,
  LinkError,
  NotSignedInError,
  VsClientError,
} from './errors.js'
export type {
  DeviceErrorCode,
  KeyErrorCode,
  KeyLogIntegrityErrorCode,
  LinkErrorCode,
  NotSignedInErrorCode,
} from './errors.js'
export { formatLinkCode, LINK_CODE_LENGTH, parseLinkCode } from './link-code.js'
export { MemoryKeyStore } from './store/key-store.js'
export type { KeyStore } from './store/key-store.js'
export { LocalStorageKeyStore } from './store/local-storage.js'
export type { StorageLike } from './store/local-storage.js'
// Node: a file (mode 0600); in a browser build a stand-in that explains it is Node-only.
export { FileKeyStore } from '#file-key-store'
export type {
  CreateInvitation,
  Desk,
  DirectoryEntry,
  InvitationAccepted,
  InvitationCreated,
  InvitationInfo,
  Me,
  OrgKind,
  Organisation,
  Role,
  SessionInfo,
} from '@vs/protocol'
export { ORG_KINDS, ROLES } from '@vs/protocol'
export * from './guard/index.js'

/** Starts the SDK's open workers (browser): long room histories are verified off the main thread. */
export { startOpenPool } from '@vs/crypto'
