/**
 * Identity: keys, device and desk certificates, the key log, safety numbers, recovery
 * and password hashing. Pure functions; call `await cryptoReady()` once before use.
 */
export {
  CertificateError,
  DecryptionError,
  FormatError,
  IdentityError,
  KeyLogError,
  RecoveryKeyError,
  SignatureError,
} from './errors.js'
export type { CertificateErrorCode, KeyLogErrorCode, RecoveryKeyErrorCode } from './errors.js'

export {
  BOX_PRIVATE_KEY_BYTES,
  BOX_PUBLIC_KEY_BYTES,
  HASH_BYTES,
  SIGN_PRIVATE_KEY_BYTES,
  SIGN_PUBLIC_KEY_BYTES,
  SIGN_SEED_BYTES,
  SIGNATURE_BYTES,
  generateBoxKeyPair,
  generateSigningKeyPair,
  hash,
  randomBytes,
  randomId,
  sign,
  signingKeyPairFromSeed,
  verify,
} from './keys.js'
export type { BoxKeyPair, SigningKeyPair } from './keys.js'

export {
  certifyDeskKey,
  certifyDevice,
  decodeDeskKeyCert,
  decodeDeviceCert,
  decodeDeviceRevocation,
  deskKeyCertFromJSON,
  deskKeyCertToJSON,
  deviceCertFromJSON,
  deviceCertToJSON,
  deviceRevocationFromJSON,
  deviceRevocationToJSON,
  encodeDeskKeyCert,
  encodeDeviceCert,
  encodeDeviceRevocation,
  revokeDevice,
  verifyDeskKeyCert,
  verifyDeviceCert,
  verifyDeviceRevocation,
} from './device-cert.js'
export type {
  CertExpectation,
  DeskKeyCert,
  DeskKeyCertJSON,
  DeskKeyFields,
  DeviceCert,
  DeviceCertFields,
  DeviceCertJSON,
  DeviceRevocation,
  DeviceRevocationFields,
  DeviceRevocationJSON,
} from './device-cert.js'

export {
  KEY_EVENT_KINDS,
  KeyLogVerifier,
  MAX_PAYLOAD_BYTES,
  appendEntries,
  auditOwnDevices,
  auditOwnMasterKey,
  decodeMasterKeyRecord,
  emptyHead,
  encodeMasterKeyRecord,
  keyLogEntryFromJSON,
  keyLogEntryHash,
  keyLogEntryToJSON,
  signHead,
  signedHeadFromJSON,
  signedHeadToJSON,
  verifyFullLog,
  verifySignedHead,
} from './key-log.js'
export type {
  KeyEventKind,
  KeyLogAlert,
  KeyLogEntry,
  KeyLogEntryJSON,
  LogHead,
  LogHeadJSON,
  MasterKeyRecord,
  SignedHead,
  SignedHeadJSON,
} from './key-log.js'

export { SAFETY_NUMBER_ITERATIONS, compareSafetyQr, safetyNumber } from './safety-number.js'
export type { SafetyNumber, SafetyParty } from './safety-number.js'

export {
  PASSPHRASE_SALT_BYTES,
  RECOVERY_KEY_BYTES,
  deriveBackupKey,
  formatRecoveryKey,
  generatePassphraseSalt,
  generateRecoveryKey,
  parseRecoveryKey,
  recoveryKeyFromPassphrase,
  unwrapSecret,
  wrapSecret,
} from './recovery.js'
export type { PwhashLimits } from './recovery.js'

export { hashPassword, passwordNeedsRehash, verifyPassword } from './password.js'
