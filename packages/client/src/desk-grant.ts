/**
 * A desk's secret keys, sealed to one advisor device (crypto_box_seal). The plaintext
 * names the desk, key version, user and device, so a grant moved by the server to
 * another desk, version or device is refused when opened; the opened keys must also be
 * the ones a master key certified for the desk in the key log (checked by the caller),
 * because a sealed box is anonymous and anyone can make one.
 */
import { bytesEqual, decodeFields, encode, fromUtf8, readU64, sodium, utf8 } from '@vs/crypto'
import type { BoxKeyPair, SigningKeyPair } from '@vs/crypto'
import { KeyError } from './errors.js'

const CONTEXT = 'desk-grant/v1'

export interface DeskGrantFields {
  deskId: string
  version: number
  userId: string
  deviceId: string
  sign: SigningKeyPair
  box: BoxKeyPair
}

/** Seals the desk's private keys to `deviceBoxPk`. */
export function sealDeskGrant(g: DeskGrantFields, deviceBoxPk: Uint8Array): Uint8Array {
  const plain = encode(
    CONTEXT,
    g.deskId,
    g.version,
    g.userId,
    g.deviceId,
    g.sign.privateKey,
    g.box.privateKey,
  )
  return sodium().crypto_box_seal(plain, deviceBoxPk)
}

/**
 * Opens a grant with this device's box key pair and checks it is about `expect`.
 * Returns both key pairs (public halves recomputed from the private ones).
 */
export function openDeskGrant(
  sealed: Uint8Array,
  box: BoxKeyPair,
  expect: { deskId: string; version: number; userId: string; deviceId: string },
): { sign: SigningKeyPair; box: BoxKeyPair } {
  const bad = (cause?: unknown) =>
    new KeyError(
      'VS_DESK_KEY_INVALID',
      'De desksleutel voor dit apparaat klopt niet. / The desk key for this device does not check out.',
      { cause },
    )
  let f: Uint8Array[]
  try {
    f = decodeFields(sodium().crypto_box_seal_open(sealed, box.publicKey, box.privateKey))
  } catch (cause) {
    throw bad(cause)
  }
  if (f.length !== 7 || !f[0] || !bytesEqual(f[0], utf8(CONTEXT))) throw bad()
  const [, deskId, version, userId, deviceId, signPriv, boxPriv] = f as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
  ]
  let ok: boolean
  try {
    ok =
      fromUtf8(deskId) === expect.deskId &&
      readU64(version) === expect.version &&
      fromUtf8(userId) === expect.userId &&
      fromUtf8(deviceId) === expect.deviceId
  } catch (cause) {
    throw bad(cause)
  }
  if (!ok || signPriv.length !== 64 || boxPriv.length !== 32) {
    throw bad()
  }
  const s = sodium()
  return {
    sign: { publicKey: s.crypto_sign_ed25519_sk_to_pk(signPriv), privateKey: signPriv.slice() },
    box: { publicKey: s.crypto_scalarmult_base(boxPriv), privateKey: boxPriv.slice() },
  }
}
