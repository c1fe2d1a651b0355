/**
 * Linking a new device to an account, from the new device's screen to the old one.
 *
 * The new device makes its keys and a random code (10 Crockford base32 characters,
 * 50 bits) that only its own screen shows, and sends the server its keys with
 *   mac = BLAKE2b-256_key(encode("device-link/v1", deviceId, signPk, boxPk)),
 *   key = H("device-link-key/v1" ‖ code)   (crypto_generichash needs a 16–64 byte key)
 * The person types the code on a device that is already linked; that device recomputes
 * the mac over the keys the server handed it and refuses unless it matches.
 *
 * Threat: a server (or anyone who can write to it) swapping in its own keys so that the
 * old device certifies an eavesdropper. Without the code it cannot make a matching mac;
 * guessing 2^50 codes inside the 15 minutes a link lives is out of reach.
 *
 * The answer carries the master secret, sealed to the new device's box key
 * (crypto_box_seal), with a confirmation tag under the same code over the master public
 * key. A sealed box is anonymous, so without the tag a server could seal a master key of
 * its own to the new device; with it, only someone who saw the code could have sent it.
 */
import {
  bytesEqual,
  decodeFields,
  encode,
  hash,
  randomBytes,
  sodium,
  utf8,
  type BoxKeyPair,
} from '@vs/crypto'
import { LinkError } from './errors.js'

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
/** Characters in a link code. */
export const LINK_CODE_LENGTH = 10
const MAC_BYTES = 32
const SEED_BYTES = 32

/** A fresh code, formatted for the screen: `XXXXX-XXXXX`. */
export function newLinkCode(): string {
  const bytes = randomBytes(LINK_CODE_LENGTH)
  // 256 is a multiple of 32, so `& 31` is uniform.
  let s = ''
  for (const b of bytes) s += ALPHABET[b & 31]
  return formatLinkCode(s)
}

/** `ABCDE12345` → `ABCDE-12345`. */
export function formatLinkCode(compact: string): string {
  return `${compact.slice(0, 5)}-${compact.slice(5)}`
}

/**
 * Reads a code as a person typed it: case, spaces and dashes do not matter, O reads as
 * 0 and I/L as 1. Throws {@link LinkError} `VS_LINK_CODE_FORMAT`.
 */
export function parseLinkCode(typed: string): string {
  const compact = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1')
  if (compact.length !== LINK_CODE_LENGTH || [...compact].some((c) => !ALPHABET.includes(c))) {
    throw new LinkError(
      'VS_LINK_CODE_FORMAT',
      'Een koppelcode heeft 10 tekens, zoals ABCDE-12345. Neem de code over van het scherm van het nieuwe apparaat. / A link code has 10 characters, like ABCDE-12345. Copy it from the new device’s screen.',
    )
  }
  return compact
}

function linkKey(code: string): Uint8Array {
  return hash('device-link-key/v1', parseLinkCode(code))
}

function keyedHash(code: string, message: Uint8Array): Uint8Array {
  return sodium().crypto_generichash(MAC_BYTES, message, linkKey(code))
}

/** The mac a new device sends with its keys. */
export function linkMac(
  code: string,
  deviceId: string,
  signPk: Uint8Array,
  boxPk: Uint8Array,
): Uint8Array {
  return keyedHash(code, encode('device-link/v1', deviceId, signPk, boxPk))
}

/** Throws {@link LinkError} `VS_LINK_CODE_MISMATCH` unless `mac` is the mac of these keys. */
export function checkLinkMac(
  code: string,
  deviceId: string,
  signPk: Uint8Array,
  boxPk: Uint8Array,
  mac: Uint8Array,
): void {
  if (!bytesEqual(linkMac(code, deviceId, signPk, boxPk), mac)) {
    throw new LinkError(
      'VS_LINK_CODE_MISMATCH',
      'De code past niet bij het nieuwe apparaat. Controleer de code op het scherm van het nieuwe apparaat en probeer het opnieuw. Heb je zelf geen apparaat toegevoegd? Keur het verzoek dan niet goed. / The code does not match the new device. Check the code on its screen and try again. If you did not add a device yourself, do not approve.',
    )
  }
}

function confirmTag(code: string, userId: string, deviceId: string, masterPk: Uint8Array) {
  return keyedHash(code, encode('device-link-master/v1', userId, deviceId, masterPk))
}

/** The approving device's answer: the master seed and a tag, sealed to the new device. */
export function sealMasterForLink(
  code: string,
  params: { userId: string; deviceId: string; boxPk: Uint8Array },
  masterSeed: Uint8Array,
  masterPk: Uint8Array,
): Uint8Array {
  const tag = confirmTag(code, params.userId, params.deviceId, masterPk)
  return sodium().crypto_box_seal(encode('device-link-sealed/v1', masterSeed, tag), params.boxPk)
}

/**
 * Opens the answer on the new device and returns the master seed. Checks the tag
 * against `masterPkOf(seed)`; throws {@link LinkError} `VS_LINK_BAD_RESPONSE` for
 * anything that does not open or does not carry a tag made with this code.
 */
export function openMasterFromLink(
  code: string,
  params: { userId: string; deviceId: string; box: BoxKeyPair },
  sealed: Uint8Array,
  masterPkOf: (seed: Uint8Array) => Uint8Array,
): Uint8Array {
  const bad = (cause?: unknown) =>
    new LinkError(
      'VS_LINK_BAD_RESPONSE',
      'Het antwoord van het andere apparaat klopt niet; koppel opnieuw. / The answer from the other device does not check out; link again.',
      { cause },
    )
  let fields: Uint8Array[]
  try {
    const plain = sodium().crypto_box_seal_open(sealed, params.box.publicKey, params.box.privateKey)
    fields = decodeFields(plain)
  } catch (cause) {
    throw bad(cause)
  }
  const [ctx, seed, tag] = fields
  if (
    fields.length !== 3 ||
    !ctx ||
    !bytesEqual(ctx, utf8('device-link-sealed/v1')) ||
    seed?.length !== SEED_BYTES ||
    tag?.length !== MAC_BYTES
  ) {
    throw bad()
  }
  const expected = confirmTag(code, params.userId, params.deviceId, masterPkOf(seed))
  if (!bytesEqual(expected, tag)) throw bad()
  return seed.slice()
}
