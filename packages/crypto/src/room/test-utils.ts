/**
 * Fixtures for the room tests: devices with real key pairs and a directory of verified
 * devices. Not exported from the package.
 */
import { sodium } from '../sodium.js'
import type { DeviceDirectory, DeviceKeys, DeviceRef } from './commit.js'
import type { BoxKeyPair, SignKeyPair } from './primitives.js'

export interface TestDevice {
  ref: DeviceRef
  sign: SignKeyPair
  box: BoxKeyPair
}

export function makeDevice(userId: string, deviceId: string): TestDevice {
  const s = sodium().crypto_sign_keypair()
  const b = sodium().crypto_box_keypair()
  return {
    ref: { userId, deviceId },
    sign: { publicKey: s.publicKey, privateKey: s.privateKey },
    box: { publicKey: b.publicKey, privateKey: b.privateKey },
  }
}

/** A directory that knows exactly the devices added to it. */
export function makeDirectory(...devices: TestDevice[]): {
  lookup: DeviceDirectory
  add: (d: TestDevice) => void
} {
  const known = new Map<string, DeviceKeys>()
  const add = (d: TestDevice): void => {
    known.set(JSON.stringify([d.ref.userId, d.ref.deviceId]), {
      signPk: d.sign.publicKey,
      boxPk: d.box.publicKey,
    })
  }
  devices.forEach(add)
  return { lookup: (userId, deviceId) => known.get(JSON.stringify([userId, deviceId])), add }
}

export const LOG_HEAD: Uint8Array = new Uint8Array(32).fill(7)
export const T0 = Date.UTC(2026, 10, 22, 9, 0, 0)

/** Copies bytes and flips one bit. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}
