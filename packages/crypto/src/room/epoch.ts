/**
 * Epoch secrets and welcomes.
 *
 * Every commit starts a new epoch with 32 fresh random bytes. The committer sends the
 * secret to each member device in a welcome: a sealed box to the device's X25519 key,
 * holding the secret together with the committer's signature over
 * "welcome/v1" ‖ roomId ‖ epoch ‖ commitHash ‖ recipient ‖ secret. A sealed box alone
 * is anonymous (anyone, including the server, can make one); the signature binds it to
 * the committer and to one exact commit and recipient, so the server can neither plant
 * a secret of its own nor redirect a welcome to another room, epoch or device.
 *
 * This is the only way epoch secrets arrive (no key forwarding between members, the
 * Matrix 2022 lesson); a device that missed a welcome restores from its own symmetric
 * backup. Because a removed member's devices get no welcome for the next epoch, they
 * cannot read anything sent after the removal.
 */
import { bytesEqual, encode } from '../encoding.js'
import {
  commitHash,
  commitSigningBytes,
  isMemberDevice,
  type Commit,
  type DeviceDirectory,
  type DeviceRef,
} from './commit.js'
import { WelcomeError } from './errors.js'
import {
  BOX_PUBLIC_KEY_BYTES,
  HASH_BYTES,
  SIGNATURE_BYTES,
  SIGN_PRIVATE_KEY_BYTES,
  keyedHash,
  randomBytes,
  seal,
  sealOpen,
  sign,
  verify,
  type BoxKeyPair,
} from './primitives.js'
import { expectBytes, field, fieldsOf, readIdField, readUint, type Fail } from './wire.js'

export const EPOCH_SECRET_BYTES = 32

const malformed: Fail = (message) => new WelcomeError('malformed', message)
/** Epochs are rotated at least weekly, so a leaked epoch secret exposes at most a week. */
export const ROTATION_INTERVAL_MS = 7 * 24 * 60 * 60 * 1000

/** 32 fresh random bytes for a new epoch. */
export function newEpochSecret(): Uint8Array {
  return randomBytes(EPOCH_SECRET_BYTES)
}

/**
 * The message key of one sender device in one epoch: BLAKE2b keyed by the epoch secret
 * over "sender-key/v1" ‖ userId ‖ deviceId. Separate keys per sender keep random nonces
 * of different senders in separate key spaces; authenticity still comes from the
 * sender's signature (every member can derive every sender key).
 */
export function senderKey(
  epochSecret: Uint8Array,
  senderUserId: string,
  senderDeviceId: string,
): Uint8Array {
  if (epochSecret.length !== EPOCH_SECRET_BYTES)
    throw new RangeError('epoch secret must be 32 bytes')
  return keyedHash(epochSecret, encode('sender-key/v1', senderUserId, senderDeviceId))
}

/** Whether the room is due for its weekly 'rotate' commit. */
export function needsRotation(lastCommitAt: number, now: number): boolean {
  return now - lastCommitAt >= ROTATION_INTERVAL_MS
}

/** Parameters of {@link createWelcome}. */
export interface WelcomeParams {
  /** The commit that starts the epoch (signed by the caller's device). */
  commit: Commit
  epochSecret: Uint8Array
  recipient: DeviceRef
  recipientBoxPk: Uint8Array
  committerSignPrivateKey: Uint8Array
}

/** A sealed welcome addressed to one device. */
export interface Welcome {
  recipient: DeviceRef
  sealed: Uint8Array
}

/** What a successfully opened welcome gives: the secret of one epoch of one room. */
export interface OpenedWelcome {
  roomId: string
  epoch: number
  commitHash: Uint8Array
  epochSecret: Uint8Array
}

function welcomePayload(
  commit: Commit,
  h: Uint8Array,
  recipient: DeviceRef,
  secret: Uint8Array,
): Uint8Array {
  return encode(
    'welcome/v1',
    commit.roomId,
    commit.epoch,
    h,
    recipient.userId,
    recipient.deviceId,
    secret,
  )
}

/**
 * Seals `epochSecret` to one member device of `commit`. Refuses a recipient the commit
 * does not list: a client must never hand room keys to a device only the server vouches
 * for.
 */
export function createWelcome(p: WelcomeParams): Uint8Array {
  if (!isMemberDevice(p.commit.members, p.recipient)) {
    throw new WelcomeError('not-member', 'the recipient is not a member device of the commit')
  }
  expectBytes(p.epochSecret, EPOCH_SECRET_BYTES, 'epochSecret', malformed)
  expectBytes(p.recipientBoxPk, BOX_PUBLIC_KEY_BYTES, 'recipientBoxPk', malformed)
  expectBytes(p.committerSignPrivateKey, SIGN_PRIVATE_KEY_BYTES, 'signPrivateKey', malformed)
  const payload = welcomePayload(p.commit, commitHash(p.commit), p.recipient, p.epochSecret)
  const signature = sign(p.committerSignPrivateKey, payload)
  return seal(encode('welcome-box/v1', payload, signature), p.recipientBoxPk)
}

/**
 * Welcomes for every member device of `commit` except the committing device itself
 * (which already holds the secret). Box keys come from `directory`, i.e. only verified
 * devices; a listed device the directory does not know is an error, not skipped.
 */
export function createWelcomes(
  commit: Commit,
  epochSecret: Uint8Array,
  committerSignPrivateKey: Uint8Array,
  directory: DeviceDirectory,
): Welcome[] {
  const out: Welcome[] = []
  for (const m of commit.members) {
    for (const deviceId of m.devices) {
      const recipient = { userId: m.userId, deviceId }
      if (recipient.userId === commit.committer.userId && deviceId === commit.committer.deviceId) {
        continue
      }
      const keys = directory(m.userId, deviceId)
      if (!keys)
        throw new WelcomeError('not-member', `device ${m.userId}/${deviceId} is not verified`)
      out.push({
        recipient,
        sealed: createWelcome({
          commit,
          epochSecret,
          recipient,
          recipientBoxPk: keys.boxPk,
          committerSignPrivateKey,
        }),
      })
    }
  }
  return out
}

/**
 * Opens a welcome addressed to `me` for `expectedCommit` (a commit of the validated
 * chain) and checks, in order: it decrypts with my box key; the payload is signed by
 * `committerSignPk`, which must be the key that signed `expectedCommit`; room, epoch,
 * commit hash and recipient are exactly the expected ones; and I am a member device of
 * that commit. Throws {@link WelcomeError} otherwise.
 */
export function openWelcome(
  sealed: Uint8Array,
  myBoxKeyPair: BoxKeyPair,
  me: DeviceRef,
  expectedCommit: Commit,
  committerSignPk: Uint8Array,
): OpenedWelcome {
  const box = sealOpen(sealed, myBoxKeyPair)
  if (!box) throw new WelcomeError('decrypt-failed', 'the welcome is not sealed to this device')
  const [payload, signature] = fieldsOf(box, 'welcome-box/v1', 2, malformed)
  expectBytes(signature, SIGNATURE_BYTES, 'signature', malformed)
  // The key must be the one that signed the commit: a welcome signed by any other
  // member (or a server-made key) is key forwarding and is refused.
  if (!verify(expectedCommit.signature, commitSigningBytes(expectedCommit), committerSignPk)) {
    throw new WelcomeError('bad-signature', 'the key given is not the committer key of the commit')
  }
  if (!verify(signature!, payload!, committerSignPk)) {
    throw new WelcomeError('bad-signature', 'the welcome is not signed by the committer')
  }
  const f = fieldsOf(payload!, 'welcome/v1', 6, malformed)
  const roomId = readIdField(field(f, 0, malformed), 'roomId', malformed)
  const epoch = readUint(field(f, 1, malformed), 'epoch', malformed)
  const h = expectBytes(field(f, 2, malformed), HASH_BYTES, 'commitHash', malformed)
  const recipient = {
    userId: readIdField(field(f, 3, malformed), 'recipient.userId', malformed),
    deviceId: readIdField(field(f, 4, malformed), 'recipient.deviceId', malformed),
  }
  const epochSecret = expectBytes(field(f, 5, malformed), EPOCH_SECRET_BYTES, 'secret', malformed)
  if (roomId !== expectedCommit.roomId) {
    throw new WelcomeError('wrong-room', 'the welcome is for another room')
  }
  if (epoch !== expectedCommit.epoch) {
    throw new WelcomeError('wrong-epoch', 'the welcome is for another epoch')
  }
  const expectedHash = commitHash(expectedCommit)
  if (!bytesEqual(h, expectedHash)) {
    throw new WelcomeError('wrong-commit', 'the welcome is for another commit')
  }
  if (recipient.userId !== me.userId || recipient.deviceId !== me.deviceId) {
    throw new WelcomeError('wrong-recipient', 'the welcome is addressed to another device')
  }
  if (!isMemberDevice(expectedCommit.members, me)) {
    throw new WelcomeError('not-member', 'this device is not a member of the commit')
  }
  return { roomId, epoch, commitHash: expectedHash, epochSecret: epochSecret.slice() }
}
