/**
 * The key log: an append-only hash chain of key events kept by the server, with each
 * head signed by the server's log key.
 *
 *   entryHash_i = H("keylog-entry/v1" ‖ index ‖ kind ‖ subject ‖ payload)
 *   head_i      = H("keylog-head/v1" ‖ head_{i-1} ‖ entryHash_i),  head_{-1} = 32 zero bytes
 *   signed head = { size, head, Sig_log("keylog-sth/v1" ‖ size ‖ head) }
 *
 * Threat: a server that shows different users different keys (a split view), rewrites
 * history, or quietly adds a device or master key to someone's account. Clients keep
 * the last head they verified and accept a new one only if it extends theirs, and watch
 * the log for devices and master keys of their own account that they did not make.
 */
import { bytesEqual, encode, toB64 } from '../encoding.js'
import { FormatError, KeyLogError } from './errors.js'
import type { KeyLogErrorCode } from './errors.js'
import { decodeDeviceCert } from './device-cert.js'
import type { DeviceCert } from './device-cert.js'
import { HASH_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGNATURE_BYTES, hash, sign, verify } from './keys.js'
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

const ENTRY = 'keylog-entry/v1'
const HEAD = 'keylog-head/v1'
const STH = 'keylog-sth/v1'
const MASTER_KEY_RECORD = 'master-key-record/v1'

/** The kinds of event the key log records. */
export const KEY_EVENT_KINDS = [
  'master-key-created',
  'master-key-changed',
  'device-certified',
  'device-revoked',
  'desk-key-created',
  'desk-key-rotated',
  'token-issuer-key',
] as const

export type KeyEventKind = (typeof KEY_EVENT_KINDS)[number]

/**
 * One key event. `subject` is the user id for master key and device events, the desk
 * id for desk events, the issuer id for token issuer keys. `payload` is the canonical
 * record of the event (`encodeDeviceCert`, `encodeDeviceRevocation`,
 * `encodeDeskKeyCert`, {@link encodeMasterKeyRecord}, …), signature included, so a
 * reader can check each statement itself instead of trusting the server's word.
 */
export interface KeyLogEntry {
  index: number
  kind: KeyEventKind
  subject: string
  payload: Uint8Array
}

/** JSON form of a {@link KeyLogEntry}. */
export interface KeyLogEntryJSON {
  index: number
  kind: KeyEventKind
  subject: string
  payload: string
}

/** A position in the log: the number of entries and the head over them. */
export interface LogHead {
  size: number
  head: Uint8Array
}

/** A log head signed by the server's log key. */
export interface SignedHead extends LogHead {
  signature: Uint8Array
}

/** JSON form of a {@link SignedHead}. */
export interface SignedHeadJSON {
  size: number
  head: string
  signature: string
}

/** JSON form of a {@link LogHead} (the verifier's saved state). */
export interface LogHeadJSON {
  size: number
  head: string
}

/** Largest payload we hash; a key event record is a few hundred bytes. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** The head of the empty log: 32 zero bytes (a fresh copy each call). */
export function emptyHead(): Uint8Array {
  return new Uint8Array(HASH_BYTES)
}

function fail(code: KeyLogErrorCode, message: string): never {
  throw new KeyLogError(code, message)
}

function isKind(k: unknown): k is KeyEventKind {
  return typeof k === 'string' && (KEY_EVENT_KINDS as readonly string[]).includes(k)
}

function checkEntry(e: KeyLogEntry, where: string): void {
  if (!Number.isSafeInteger(e.index) || e.index < 0) fail('malformed', `${where}: bad index`)
  if (!isKind(e.kind)) fail('malformed', `${where}: unknown kind`)
  try {
    checkId(e.subject, 'subject')
  } catch {
    fail('malformed', `${where}: bad subject`)
  }
  if (!(e.payload instanceof Uint8Array) || e.payload.length > MAX_PAYLOAD_BYTES) {
    fail('malformed', `${where}: bad payload`)
  }
}

function checkHead(size: unknown, head: unknown, where: string): void {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    fail('malformed', `${where}: bad size`)
  }
  if (!(head instanceof Uint8Array) || head.length !== HASH_BYTES) {
    fail('malformed', `${where}: head must be ${HASH_BYTES} bytes`)
  }
}

/** `H("keylog-entry/v1" ‖ index ‖ kind ‖ subject ‖ payload)`. */
export function keyLogEntryHash(entry: KeyLogEntry): Uint8Array {
  checkEntry(entry, `entry ${entry.index}`)
  return hash(ENTRY, entry.index, entry.kind, entry.subject, entry.payload)
}

/**
 * Extends the chain at (`prevHead`, `prevSize`) by `entries` and returns the new head.
 * Throws {@link KeyLogError} `'gap'` unless the entries are numbered `prevSize`,
 * `prevSize + 1`, … in order (a missing, repeated or reordered entry), `'malformed'`
 * for an entry of the wrong shape.
 */
export function appendEntries(
  prevHead: Uint8Array,
  prevSize: number,
  entries: readonly KeyLogEntry[],
): Uint8Array {
  checkHead(prevSize, prevHead, 'previous head')
  let head = prevHead
  let expected = prevSize
  for (const e of entries) {
    if (e.index !== expected) fail('gap', `expected entry ${expected}, got ${e.index}`)
    head = hash(HEAD, head, keyLogEntryHash(e))
    expected++
  }
  return head
}

/** Signs `"keylog-sth/v1" ‖ size ‖ head` with the server's log key. */
export function signHead(logPriv: Uint8Array, size: number, head: Uint8Array): SignedHead {
  checkHead(size, head, 'head')
  return { size, head, signature: sign(STH, logPriv, size, head) }
}

/** Throws {@link KeyLogError} `'bad-signature'` unless the log key signed this head. */
export function verifySignedHead(logPub: Uint8Array, sth: SignedHead): void {
  checkHead(sth.size, sth.head, 'signed head')
  try {
    verify(STH, logPub, sth.signature, sth.size, sth.head)
  } catch {
    fail('bad-signature', 'the log head is not signed by the log key')
  }
}

/**
 * Client-side view of the key log: the last head this client verified. It only moves
 * forward, and only along a chain it recomputed itself, so the server cannot roll a
 * client back (to re-show a revoked device) or quietly switch it to another history.
 * On any error the state is left unchanged.
 */
export class KeyLogVerifier {
  readonly #logPub: Uint8Array
  #size: number
  #head: Uint8Array

  /** Starts at `state`, or at the empty log. `logPub` is the pinned server log key. */
  constructor(logPub: Uint8Array, state: LogHead = { size: 0, head: emptyHead() }) {
    if (!(logPub instanceof Uint8Array) || logPub.length !== SIGN_PUBLIC_KEY_BYTES) {
      throw new FormatError('logPub', `expected ${SIGN_PUBLIC_KEY_BYTES} bytes`)
    }
    checkHead(state.size, state.head, 'state')
    if (state.size === 0 && !bytesEqual(state.head, emptyHead())) {
      fail('malformed', 'state: the empty log has the zero head')
    }
    this.#logPub = logPub.slice()
    this.#size = state.size
    this.#head = state.head.slice()
  }

  /** The last verified position (a copy). */
  get state(): LogHead {
    return { size: this.#size, head: this.#head.slice() }
  }

  /**
   * Accepts `sth` if the log key signed it and it extends the current state by exactly
   * `newEntries` (the entries from my size up to `sth.size`). Throws {@link KeyLogError}:
   * `'bad-signature'`, `'rollback'` (smaller than what I verified), `'fork'` (same size
   * with another head, or the chain through the entries does not reach the signed head:
   * a rewritten past or an altered entry), `'gap'` (entries missing or out of order),
   * `'malformed'` (more entries than the signed size, or a badly shaped entry).
   */
  update(sth: SignedHead, newEntries: readonly KeyLogEntry[]): LogHead {
    verifySignedHead(this.#logPub, sth)
    if (sth.size < this.#size) {
      fail('rollback', `signed size ${sth.size} is smaller than verified size ${this.#size}`)
    }
    const needed = sth.size - this.#size
    if (newEntries.length > needed) {
      fail('malformed', `${newEntries.length} entries for a log that grew by ${needed}`)
    }
    const head = appendEntries(this.#head, this.#size, newEntries)
    if (newEntries.length < needed) {
      fail('gap', `missing entries ${this.#size + newEntries.length} to ${sth.size - 1}`)
    }
    if (!bytesEqual(head, sth.head)) {
      fail('fork', `the signed head at size ${sth.size} is not an extension of my log`)
    }
    this.#size = sth.size
    this.#head = sth.head.slice()
    return this.state
  }

  /** Serialisable state; the log key is configuration, not state, and is not included. */
  toJSON(): LogHeadJSON {
    return { size: this.#size, head: toB64(this.#head) }
  }

  /** Restores a verifier saved with {@link KeyLogVerifier.toJSON}. */
  static fromJSON(logPub: Uint8Array, json: unknown): KeyLogVerifier {
    const o = readObject(json, ['size', 'head'], 'keyLogState')
    return new KeyLogVerifier(logPub, {
      size: readUint(o, 'size', 'keyLogState'),
      head: readBytes(o, 'head', 'keyLogState', HASH_BYTES),
    })
  }
}

/**
 * Checks a whole log against a signed head: signature, one entry per index from 0,
 * and the recomputed chain. Throws {@link KeyLogError} as {@link KeyLogVerifier.update}
 * does. Returns the verified position (to seed a {@link KeyLogVerifier}).
 */
export function verifyFullLog(
  logPub: Uint8Array,
  entries: readonly KeyLogEntry[],
  sth: SignedHead,
): LogHead {
  const v = new KeyLogVerifier(logPub)
  return v.update(sth, entries)
}

// ---------------------------------------------------------------- master key records

/** A master key event: which public key is (from now on) the account's master key. */
export interface MasterKeyRecord {
  userId: string
  masterPk: Uint8Array
  /** ms since the Unix epoch. */
  createdAt: number
}

/** Payload of `master-key-created` / `master-key-changed` entries. */
export function encodeMasterKeyRecord(r: MasterKeyRecord): Uint8Array {
  checkId(r.userId, 'userId')
  checkUint(r.createdAt, 'createdAt')
  if (!(r.masterPk instanceof Uint8Array) || r.masterPk.length !== SIGN_PUBLIC_KEY_BYTES) {
    throw new FormatError('masterPk', `expected ${SIGN_PUBLIC_KEY_BYTES} bytes`)
  }
  return encode(MASTER_KEY_RECORD, r.userId, r.masterPk, r.createdAt)
}

/** Reads a record made by {@link encodeMasterKeyRecord}. */
export function decodeMasterKeyRecord(bytes: Uint8Array): MasterKeyRecord {
  const f = readRecord(bytes, MASTER_KEY_RECORD, 3)
  return {
    userId: recordId(f, 0, 'userId'),
    masterPk: recordBytes(f, 1, 'masterPk', SIGN_PUBLIC_KEY_BYTES),
    createdAt: recordUint(f, 2, 'createdAt'),
  }
}

// ---------------------------------------------------------------- audits

/** Something in the log about my account that I did not do: show it to the user. */
export interface KeyLogAlert {
  index: number
  kind: KeyEventKind
  /**
   * `'unknown-device'`: a device certified for my account that none of my devices made;
   * `'unknown-master-key'`: a master key for my account that is not mine;
   * `'subject-mismatch'`: filed under my user id but about someone else, or the reverse;
   * `'malformed'`: filed under my user id but unreadable.
   */
  reason: 'unknown-device' | 'unknown-master-key' | 'subject-mismatch' | 'malformed'
  /** For device alerts that decode: the device's certificate. */
  cert?: DeviceCert
  /** For master key alerts that decode: the unknown key. */
  masterPk?: Uint8Array
}

/**
 * Devices certified for `userId` that are not in `myKnownDeviceIds` (all devices this
 * account ever made, revoked ones included). Threat: a server (or a stolen master key)
 * adding an eavesdropping device to my account; other people's clients would encrypt to
 * it. Signatures are not checked here: a forged certificate is still a warning sign.
 */
export function auditOwnDevices(
  entries: readonly KeyLogEntry[],
  userId: string,
  myKnownDeviceIds: Iterable<string>,
): KeyLogAlert[] {
  const known = new Set(myKnownDeviceIds)
  const alerts: KeyLogAlert[] = []
  for (const e of entries) {
    if (e.kind !== 'device-certified') continue
    let cert: DeviceCert
    try {
      cert = decodeDeviceCert(e.payload)
    } catch {
      if (e.subject === userId) alerts.push({ index: e.index, kind: e.kind, reason: 'malformed' })
      continue
    }
    if (e.subject !== userId && cert.userId !== userId) continue
    if (e.subject !== cert.userId) {
      alerts.push({ index: e.index, kind: e.kind, reason: 'subject-mismatch', cert })
    } else if (!known.has(cert.deviceId)) {
      alerts.push({ index: e.index, kind: e.kind, reason: 'unknown-device', cert })
    }
  }
  return alerts
}

/**
 * Master key events for `userId` naming a key not in `myMasterPks` (my current and
 * earlier master keys). Threat: the server replacing my master key with its own, after
 * which it could certify devices in my name that pass every signature check.
 */
export function auditOwnMasterKey(
  entries: readonly KeyLogEntry[],
  userId: string,
  myMasterPks: readonly Uint8Array[],
): KeyLogAlert[] {
  const alerts: KeyLogAlert[] = []
  for (const e of entries) {
    if (e.kind !== 'master-key-created' && e.kind !== 'master-key-changed') continue
    let rec: MasterKeyRecord
    try {
      rec = decodeMasterKeyRecord(e.payload)
    } catch {
      if (e.subject === userId) alerts.push({ index: e.index, kind: e.kind, reason: 'malformed' })
      continue
    }
    if (e.subject !== userId && rec.userId !== userId) continue
    if (e.subject !== rec.userId) {
      alerts.push({
        index: e.index,
        kind: e.kind,
        reason: 'subject-mismatch',
        masterPk: rec.masterPk,
      })
    } else if (!myMasterPks.some((pk) => bytesEqual(pk, rec.masterPk))) {
      alerts.push({
        index: e.index,
        kind: e.kind,
        reason: 'unknown-master-key',
        masterPk: rec.masterPk,
      })
    }
  }
  return alerts
}

// ---------------------------------------------------------------- JSON

/** JSON form of a {@link KeyLogEntry}. */
export function keyLogEntryToJSON(e: KeyLogEntry): KeyLogEntryJSON {
  return { index: e.index, kind: e.kind, subject: e.subject, payload: toB64(e.payload) }
}

/** Parses and shape-checks a {@link KeyLogEntryJSON}; throws {@link FormatError}. */
export function keyLogEntryFromJSON(json: unknown): KeyLogEntry {
  const w = 'keyLogEntry'
  const o = readObject(json, ['index', 'kind', 'subject', 'payload'], w)
  const kind = o['kind']
  if (!isKind(kind)) throw new FormatError(`${w}.kind`, 'unknown kind')
  const payload = readBytes(o, 'payload', w)
  if (payload.length > MAX_PAYLOAD_BYTES) throw new FormatError(`${w}.payload`, 'too large')
  return { index: readUint(o, 'index', w), kind, subject: readId(o, 'subject', w), payload }
}

/** JSON form of a {@link SignedHead}. */
export function signedHeadToJSON(sth: SignedHead): SignedHeadJSON {
  return { size: sth.size, head: toB64(sth.head), signature: toB64(sth.signature) }
}

/** Parses and shape-checks a {@link SignedHeadJSON}; throws {@link FormatError}. */
export function signedHeadFromJSON(json: unknown): SignedHead {
  const w = 'signedHead'
  const o = readObject(json, ['size', 'head', 'signature'], w)
  return {
    size: readUint(o, 'size', w),
    head: readBytes(o, 'head', w, HASH_BYTES),
    signature: readBytes(o, 'signature', w, SIGNATURE_BYTES),
  }
}
