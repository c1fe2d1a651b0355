/**
 * Statements made by an account master key (Ed25519): which devices belong to the
 * account, which were revoked, and (for an organisation admin) which keys a desk has.
 *
 * Threat: the server is not trusted to say which devices or desk keys belong to whom
 * (the 2022 Matrix attacks added devices by announcing them). Clients trust a device
 * only through a certificate signed by the user's master key, so a device the server
 * adds on its own is ignored.
 *
 * Each statement has three forms: the signed bytes (`encode("dev-cert/v1", …)`), a
 * binary record with the signature (the key-log payload), and a JSON form with
 * base64url fields for the wire.
 */
import { encode, toB64 } from '../encoding.js'
import { CertificateError } from './errors.js'
import {
  assertBytes,
  BOX_PUBLIC_KEY_BYTES,
  SIGN_PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  sign,
  verify,
} from './keys.js'
import {
  checkId,
  checkUint,
  readBytes,
  readId,
  readObject,
  readRecord,
  readUint,
  recordBytes,
  recordId,
  recordUint,
} from './json.js'

const DEV_CERT = 'dev-cert/v1'
const DEV_CERT_RECORD = 'dev-cert-record/v1'
const DEV_REVOKE = 'dev-revoke/v1'
const DEV_REVOKE_RECORD = 'dev-revoke-record/v1'
const DESK_KEY = 'desk-key/v1'
const DESK_KEY_RECORD = 'desk-key-record/v1'

// ---------------------------------------------------------------- device certificates

/** What a master key asserts about one device. */
export interface DeviceCertFields {
  userId: string
  deviceId: string
  /** The device's Ed25519 public key. */
  signPk: Uint8Array
  /** The device's X25519 public key. */
  boxPk: Uint8Array
  /** Expiry, ms since the Unix epoch (inclusive). */
  notAfter: number
}

/** A device certificate: the fields and the master key's signature over them. */
export interface DeviceCert extends DeviceCertFields {
  signature: Uint8Array
}

/** JSON form of a {@link DeviceCert}; byte fields are unpadded base64url. */
export interface DeviceCertJSON {
  userId: string
  deviceId: string
  signPk: string
  boxPk: string
  notAfter: number
  signature: string
}

function checkDeviceFields(f: DeviceCertFields): void {
  checkId(f.userId, 'userId')
  checkId(f.deviceId, 'deviceId')
  assertBytes(f.signPk, SIGN_PUBLIC_KEY_BYTES, 'signPk')
  assertBytes(f.boxPk, BOX_PUBLIC_KEY_BYTES, 'boxPk')
  checkUint(f.notAfter, 'notAfter')
}

/** Signs `"dev-cert/v1" ‖ userId ‖ deviceId ‖ signPk ‖ boxPk ‖ notAfter` with the master key. */
export function certifyDevice(masterPriv: Uint8Array, fields: DeviceCertFields): DeviceCert {
  checkDeviceFields(fields)
  const { userId, deviceId, signPk, boxPk, notAfter } = fields
  const signature = sign(DEV_CERT, masterPriv, userId, deviceId, signPk, boxPk, notAfter)
  return { userId, deviceId, signPk, boxPk, notAfter, signature }
}

/** What a verifier expects a certificate to be about; guards against a substituted subject. */
export interface CertExpectation {
  userId?: string
  deviceId?: string
}

/**
 * Checks a device certificate at time `now` (ms): throws {@link SignatureError} unless
 * `masterPub` signed exactly these fields, {@link CertificateError} `'expired'` after
 * `notAfter`, `'revoked'` if one of `revocations` is a valid revocation of this device
 * effective at `now`, and `'wrong-subject'` if it certifies another user or device than
 * `expect` names (a server answering "Bob's devices" with a certificate for someone else).
 *
 * Revocations that do not verify under `masterPub` are ignored: they carry no authority.
 */
export function verifyDeviceCert(
  masterPub: Uint8Array,
  cert: DeviceCert,
  now: number,
  opts: { expect?: CertExpectation; revocations?: readonly DeviceRevocation[] } = {},
): void {
  checkDeviceFields(cert)
  const { userId, deviceId, signPk, boxPk, notAfter, signature } = cert
  verify(DEV_CERT, masterPub, signature, userId, deviceId, signPk, boxPk, notAfter)
  const { expect, revocations = [] } = opts
  if (
    (expect?.userId !== undefined && expect.userId !== userId) ||
    (expect?.deviceId !== undefined && expect.deviceId !== deviceId)
  ) {
    throw new CertificateError('wrong-subject', `certificate is for ${userId}/${deviceId}`)
  }
  if (now > notAfter) {
    throw new CertificateError('expired', `device certificate expired at ${notAfter}`)
  }
  for (const r of revocations) {
    if (r.userId !== userId || r.deviceId !== deviceId || r.revokedAt > now) continue
    try {
      verifyDeviceRevocation(masterPub, r)
    } catch {
      continue
    }
    throw new CertificateError('revoked', `device ${deviceId} was revoked at ${r.revokedAt}`)
  }
}

/** Binary record of a certificate with its signature: the key-log payload of `device-certified`. */
export function encodeDeviceCert(cert: DeviceCert): Uint8Array {
  checkDeviceFields(cert)
  assertBytes(cert.signature, SIGNATURE_BYTES, 'signature')
  const { userId, deviceId, signPk, boxPk, notAfter, signature } = cert
  return encode(DEV_CERT_RECORD, userId, deviceId, signPk, boxPk, notAfter, signature)
}

/** Reads a record made by {@link encodeDeviceCert}; does not check the signature. */
export function decodeDeviceCert(bytes: Uint8Array): DeviceCert {
  const f = readRecord(bytes, DEV_CERT_RECORD, 6)
  return {
    userId: recordId(f, 0, 'userId'),
    deviceId: recordId(f, 1, 'deviceId'),
    signPk: recordBytes(f, 2, 'signPk', SIGN_PUBLIC_KEY_BYTES),
    boxPk: recordBytes(f, 3, 'boxPk', BOX_PUBLIC_KEY_BYTES),
    notAfter: recordUint(f, 4, 'notAfter'),
    signature: recordBytes(f, 5, 'signature', SIGNATURE_BYTES),
  }
}

/** JSON form of a {@link DeviceCert}. */
export function deviceCertToJSON(cert: DeviceCert): DeviceCertJSON {
  return {
    userId: cert.userId,
    deviceId: cert.deviceId,
    signPk: toB64(cert.signPk),
    boxPk: toB64(cert.boxPk),
    notAfter: cert.notAfter,
    signature: toB64(cert.signature),
  }
}

/** Parses and shape-checks a {@link DeviceCertJSON}; throws {@link FormatError}. No signature check. */
export function deviceCertFromJSON(json: unknown): DeviceCert {
  const w = 'deviceCert'
  const o = readObject(json, ['userId', 'deviceId', 'signPk', 'boxPk', 'notAfter', 'signature'], w)
  return {
    userId: readId(o, 'userId', w),
    deviceId: readId(o, 'deviceId', w),
    signPk: readBytes(o, 'signPk', w, SIGN_PUBLIC_KEY_BYTES),
    boxPk: readBytes(o, 'boxPk', w, BOX_PUBLIC_KEY_BYTES),
    notAfter: readUint(o, 'notAfter', w),
    signature: readBytes(o, 'signature', w, SIGNATURE_BYTES),
  }
}

// ---------------------------------------------------------------- device revocations

/** What a master key asserts when it revokes a device. */
export interface DeviceRevocationFields {
  userId: string
  deviceId: string
  /** From when on the device is no longer trusted, ms since the Unix epoch. */
  revokedAt: number
}

/** A device revocation signed by the account master key. */
export interface DeviceRevocation extends DeviceRevocationFields {
  signature: Uint8Array
}

/** JSON form of a {@link DeviceRevocation}. */
export interface DeviceRevocationJSON {
  userId: string
  deviceId: string
  revokedAt: number
  signature: string
}

function checkRevocationFields(f: DeviceRevocationFields): void {
  checkId(f.userId, 'userId')
  checkId(f.deviceId, 'deviceId')
  checkUint(f.revokedAt, 'revokedAt')
}

/** Signs `"dev-revoke/v1" ‖ userId ‖ deviceId ‖ revokedAt` with the master key. */
export function revokeDevice(
  masterPriv: Uint8Array,
  fields: DeviceRevocationFields,
): DeviceRevocation {
  checkRevocationFields(fields)
  const { userId, deviceId, revokedAt } = fields
  const signature = sign(DEV_REVOKE, masterPriv, userId, deviceId, revokedAt)
  return { userId, deviceId, revokedAt, signature }
}

/** Throws {@link SignatureError} unless `masterPub` signed this revocation. */
export function verifyDeviceRevocation(masterPub: Uint8Array, rev: DeviceRevocation): void {
  checkRevocationFields(rev)
  verify(DEV_REVOKE, masterPub, rev.signature, rev.userId, rev.deviceId, rev.revokedAt)
}

/** Binary record of a revocation: the key-log payload of `device-revoked`. */
export function encodeDeviceRevocation(rev: DeviceRevocation): Uint8Array {
  checkRevocationFields(rev)
  assertBytes(rev.signature, SIGNATURE_BYTES, 'signature')
  return encode(DEV_REVOKE_RECORD, rev.userId, rev.deviceId, rev.revokedAt, rev.signature)
}

/** Reads a record made by {@link encodeDeviceRevocation}; does not check the signature. */
export function decodeDeviceRevocation(bytes: Uint8Array): DeviceRevocation {
  const f = readRecord(bytes, DEV_REVOKE_RECORD, 4)
  return {
    userId: recordId(f, 0, 'userId'),
    deviceId: recordId(f, 1, 'deviceId'),
    revokedAt: recordUint(f, 2, 'revokedAt'),
    signature: recordBytes(f, 3, 'signature', SIGNATURE_BYTES),
  }
}

/** JSON form of a {@link DeviceRevocation}. */
export function deviceRevocationToJSON(rev: DeviceRevocation): DeviceRevocationJSON {
  return {
    userId: rev.userId,
    deviceId: rev.deviceId,
    revokedAt: rev.revokedAt,
    signature: toB64(rev.signature),
  }
}

/** Parses and shape-checks a {@link DeviceRevocationJSON}; throws {@link FormatError}. */
export function deviceRevocationFromJSON(json: unknown): DeviceRevocation {
  const w = 'deviceRevocation'
  const o = readObject(json, ['userId', 'deviceId', 'revokedAt', 'signature'], w)
  return {
    userId: readId(o, 'userId', w),
    deviceId: readId(o, 'deviceId', w),
    revokedAt: readUint(o, 'revokedAt', w),
    signature: readBytes(o, 'signature', w, SIGNATURE_BYTES),
  }
}

// ---------------------------------------------------------------- desk keys

/** A desk's key pair at one version, as asserted by an organisation admin's master key. */
export interface DeskKeyFields {
  deskId: string
  /** Starts at 1 and grows by one on every rotation. */
  version: number
  signPk: Uint8Array
  boxPk: Uint8Array
  /** ms since the Unix epoch. */
  createdAt: number
}

/** A desk key statement signed by an admin master key. */
export interface DeskKeyCert extends DeskKeyFields {
  signature: Uint8Array
}

/** JSON form of a {@link DeskKeyCert}. */
export interface DeskKeyCertJSON {
  deskId: string
  version: number
  signPk: string
  boxPk: string
  createdAt: number
  signature: string
}

function checkDeskFields(f: DeskKeyFields): void {
  checkId(f.deskId, 'deskId')
  checkUint(f.version, 'version')
  assertBytes(f.signPk, SIGN_PUBLIC_KEY_BYTES, 'signPk')
  assertBytes(f.boxPk, BOX_PUBLIC_KEY_BYTES, 'boxPk')
  checkUint(f.createdAt, 'createdAt')
}

/** Signs `"desk-key/v1" ‖ deskId ‖ version ‖ signPk ‖ boxPk ‖ createdAt` with a master key. */
export function certifyDeskKey(masterPriv: Uint8Array, fields: DeskKeyFields): DeskKeyCert {
  checkDeskFields(fields)
  const { deskId, version, signPk, boxPk, createdAt } = fields
  const signature = sign(DESK_KEY, masterPriv, deskId, version, signPk, boxPk, createdAt)
  return { deskId, version, signPk, boxPk, createdAt, signature }
}

/**
 * Throws {@link SignatureError} unless `masterPub` signed this desk key statement, and
 * {@link CertificateError} `'wrong-subject'` if it is for another desk than expected.
 * Which master keys may speak for a desk, and that versions only grow, is the caller's
 * policy (checked against the key log).
 */
export function verifyDeskKeyCert(
  masterPub: Uint8Array,
  cert: DeskKeyCert,
  opts: { expectDeskId?: string } = {},
): void {
  checkDeskFields(cert)
  const { deskId, version, signPk, boxPk, createdAt, signature } = cert
  verify(DESK_KEY, masterPub, signature, deskId, version, signPk, boxPk, createdAt)
  if (opts.expectDeskId !== undefined && opts.expectDeskId !== deskId) {
    throw new CertificateError('wrong-subject', `desk key statement is for ${deskId}`)
  }
}

/** Binary record of a desk key statement: the key-log payload of `desk-key-*`. */
export function encodeDeskKeyCert(cert: DeskKeyCert): Uint8Array {
  checkDeskFields(cert)
  assertBytes(cert.signature, SIGNATURE_BYTES, 'signature')
  const { deskId, version, signPk, boxPk, createdAt, signature } = cert
  return encode(DESK_KEY_RECORD, deskId, version, signPk, boxPk, createdAt, signature)
}

/** Reads a record made by {@link encodeDeskKeyCert}; does not check the signature. */
export function decodeDeskKeyCert(bytes: Uint8Array): DeskKeyCert {
  const f = readRecord(bytes, DESK_KEY_RECORD, 6)
  return {
    deskId: recordId(f, 0, 'deskId'),
    version: recordUint(f, 1, 'version'),
    signPk: recordBytes(f, 2, 'signPk', SIGN_PUBLIC_KEY_BYTES),
    boxPk: recordBytes(f, 3, 'boxPk', BOX_PUBLIC_KEY_BYTES),
    createdAt: recordUint(f, 4, 'createdAt'),
    signature: recordBytes(f, 5, 'signature', SIGNATURE_BYTES),
  }
}

/** JSON form of a {@link DeskKeyCert}. */
export function deskKeyCertToJSON(cert: DeskKeyCert): DeskKeyCertJSON {
  return {
    deskId: cert.deskId,
    version: cert.version,
    signPk: toB64(cert.signPk),
    boxPk: toB64(cert.boxPk),
    createdAt: cert.createdAt,
    signature: toB64(cert.signature),
  }
}

/** Parses and shape-checks a {@link DeskKeyCertJSON}; throws {@link FormatError}. */
export function deskKeyCertFromJSON(json: unknown): DeskKeyCert {
  const w = 'deskKeyCert'
  const o = readObject(json, ['deskId', 'version', 'signPk', 'boxPk', 'createdAt', 'signature'], w)
  return {
    deskId: readId(o, 'deskId', w),
    version: readUint(o, 'version', w),
    signPk: readBytes(o, 'signPk', w, SIGN_PUBLIC_KEY_BYTES),
    boxPk: readBytes(o, 'boxPk', w, BOX_PUBLIC_KEY_BYTES),
    createdAt: readUint(o, 'createdAt', w),
    signature: readBytes(o, 'signature', w, SIGNATURE_BYTES),
  }
}
