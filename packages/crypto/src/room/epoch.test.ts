import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { bytesEqual, encode } from '../encoding.js'
import { cryptoReady } from '../sodium.js'
import {
  commitHash,
  createCommit,
  createGenesis,
  type Commit,
  type DeviceDirectory,
} from './commit.js'
import {
  ROTATION_INTERVAL_MS,
  createWelcome,
  createWelcomes,
  needsRotation,
  newEpochSecret,
  openWelcome,
  senderKey,
} from './epoch.js'
import { WelcomeError, type WelcomeErrorCode } from './errors.js'
import { seal, sign } from './primitives.js'
import { LOG_HEAD, T0, flipBit, makeDevice, makeDirectory, type TestDevice } from './test-utils.js'

let alice: TestDevice
let bob: TestDevice
let bob2: TestDevice
let carol: TestDevice
let eve: TestDevice
let dir: DeviceDirectory
let g: Commit
let c1: Commit

beforeAll(async () => {
  await cryptoReady()
  alice = makeDevice('alice', 'a1')
  bob = makeDevice('bob', 'b1')
  bob2 = makeDevice('bob', 'b2')
  carol = makeDevice('carol', 'c1')
  eve = makeDevice('eve', 'e1')
  dir = makeDirectory(alice, bob, bob2, carol, eve).lookup
  g = genesisFor('room-1')
  c1 = createCommit(g, {
    committer: alice.ref,
    signPrivateKey: alice.sign.privateKey,
    change: { action: 'add', members: [{ userId: 'carol', role: 'member', devices: ['c1'] }] },
    logHead: LOG_HEAD,
    createdAt: T0 + 1000,
  })
})

function genesisFor(roomId: string): Commit {
  return createGenesis({
    roomId,
    kind: 'case',
    committer: alice.ref,
    signPrivateKey: alice.sign.privateKey,
    members: [
      { userId: 'alice', role: 'admin', devices: ['a1'] },
      { userId: 'bob', role: 'member', devices: ['b1', 'b2'] },
    ],
    logHead: LOG_HEAD,
    createdAt: T0,
  })
}

function expectWelcomeError(fn: () => unknown, code: WelcomeErrorCode): void {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(WelcomeError)
    expect((e as WelcomeError).code).toBe(code)
    return
  }
  throw new Error(`expected WelcomeError ${code}, nothing was thrown`)
}

function welcomeTo(commit: Commit, d: TestDevice, secret: Uint8Array, boxPk = d.box.publicKey) {
  return createWelcome({
    commit,
    epochSecret: secret,
    recipient: d.ref,
    recipientBoxPk: boxPk,
    committerSignPrivateKey: alice.sign.privateKey,
  })
}

describe('epoch secrets', () => {
  it('are 32 fresh random bytes', () => {
    const a = newEpochSecret()
    expect(a.length).toBe(32)
    expect(bytesEqual(a, newEpochSecret())).toBe(false)
  })

  it('derive a different message key per sender device and per epoch', () => {
    const s = newEpochSecret()
    const k = senderKey(s, 'alice', 'a1')
    expect(k.length).toBe(32)
    expect(bytesEqual(k, senderKey(s, 'alice', 'a1'))).toBe(true)
    expect(bytesEqual(k, senderKey(s, 'alice', 'a2'))).toBe(false)
    expect(bytesEqual(k, senderKey(newEpochSecret(), 'alice', 'a1'))).toBe(false)
    // Length-prefixed encoding: moving a character between user and device id changes the key.
    expect(bytesEqual(senderKey(s, 'ab', 'c'), senderKey(s, 'a', 'bc'))).toBe(false)
  })

  it('rotate weekly', () => {
    expect(needsRotation(T0, T0 + ROTATION_INTERVAL_MS - 1)).toBe(false)
    expect(needsRotation(T0, T0 + ROTATION_INTERVAL_MS)).toBe(true)
    expect(ROTATION_INTERVAL_MS).toBe(7 * 24 * 3600 * 1000)
  })
})

describe('welcomes', () => {
  it('deliver the epoch secret to every member device except the committer', () => {
    const secret = newEpochSecret()
    const welcomes = createWelcomes(c1, secret, alice.sign.privateKey, dir)
    expect(welcomes.map((w) => `${w.recipient.userId}/${w.recipient.deviceId}`)).toEqual([
      'bob/b1',
      'bob/b2',
      'carol/c1',
    ])
    const devices = { b1: bob, b2: bob2, c1: carol } as Record<string, TestDevice>
    for (const w of welcomes) {
      const d = devices[w.recipient.deviceId]!
      const opened = openWelcome(w.sealed, d.box, d.ref, c1, alice.sign.publicKey)
      expect(bytesEqual(opened.epochSecret, secret)).toBe(true)
      expect(opened.epoch).toBe(1)
      expect(opened.roomId).toBe('room-1')
      expect(bytesEqual(opened.commitHash, commitHash(c1))).toBe(true)
    }
  })

  it('cannot be opened by another device', () => {
    const w = welcomeTo(c1, bob, newEpochSecret())
    expectWelcomeError(
      () => openWelcome(w, carol.box, carol.ref, c1, alice.sign.publicKey),
      'decrypt-failed',
    )
  })

  it('are refused when addressed to another device, even if sealed to mine', () => {
    const w = welcomeTo(c1, bob, newEpochSecret(), carol.box.publicKey)
    expectWelcomeError(
      () => openWelcome(w, carol.box, carol.ref, c1, alice.sign.publicKey),
      'wrong-recipient',
    )
  })

  it('are refused for another epoch of the same room', () => {
    const w = welcomeTo(g, bob, newEpochSecret())
    expectWelcomeError(
      () => openWelcome(w, bob.box, bob.ref, c1, alice.sign.publicKey),
      'wrong-epoch',
    )
  })

  it('are refused for another commit of the same epoch (a fork)', () => {
    const alt = createCommit(g, {
      committer: alice.ref,
      signPrivateKey: alice.sign.privateKey,
      change: { action: 'rotate' },
      logHead: LOG_HEAD,
      createdAt: T0 + 2000,
    })
    const w = welcomeTo(alt, bob, newEpochSecret())
    expectWelcomeError(
      () => openWelcome(w, bob.box, bob.ref, c1, alice.sign.publicKey),
      'wrong-commit',
    )
  })

  it('are refused for another room', () => {
    const other = genesisFor('room-2')
    const w = welcomeTo(other, bob, newEpochSecret())
    expectWelcomeError(
      () => openWelcome(w, bob.box, bob.ref, g, alice.sign.publicKey),
      'wrong-room',
    )
  })

  it('are refused when not signed by the committer', () => {
    const secret = newEpochSecret()
    // Signed by bob (a member, but not the committer): that would be key forwarding.
    const byBob = createWelcome({
      commit: c1,
      epochSecret: secret,
      recipient: carol.ref,
      recipientBoxPk: carol.box.publicKey,
      committerSignPrivateKey: bob.sign.privateKey,
    })
    expectWelcomeError(
      () => openWelcome(byBob, carol.box, carol.ref, c1, alice.sign.publicKey),
      'bad-signature',
    )
    // Passing bob's key instead does not help: it is not the key that signed the commit.
    expectWelcomeError(
      () => openWelcome(byBob, carol.box, carol.ref, c1, bob.sign.publicKey),
      'bad-signature',
    )
  })

  it('are refused when made by the server (anyone can seal a box)', () => {
    const payload = encode(
      'welcome/v1',
      'room-1',
      1,
      commitHash(c1),
      'carol',
      'c1',
      newEpochSecret(),
    )
    const forged = seal(
      encode('welcome-box/v1', payload, sign(eve.sign.privateKey, payload)),
      carol.box.publicKey,
    )
    expectWelcomeError(
      () => openWelcome(forged, carol.box, carol.ref, c1, alice.sign.publicKey),
      'bad-signature',
    )
    const garbage = seal(new Uint8Array([1, 2, 3]), carol.box.publicKey)
    expectWelcomeError(
      () => openWelcome(garbage, carol.box, carol.ref, c1, alice.sign.publicKey),
      'malformed',
    )
  })

  it('are refused after any bit flip', () => {
    const w = welcomeTo(c1, bob, newEpochSecret())
    fc.assert(
      fc.property(fc.integer({ min: 0, max: w.length * 8 - 1 }), (bit) => {
        expect(() =>
          openWelcome(flipBit(w, bit), bob.box, bob.ref, c1, alice.sign.publicKey),
        ).toThrow(WelcomeError)
      }),
      { numRuns: 200 },
    )
  })

  it('are never made for a device the commit does not list', () => {
    expectWelcomeError(() => welcomeTo(g, carol, newEpochSecret()), 'not-member')
    expectWelcomeError(() => welcomeTo(c1, eve, newEpochSecret()), 'not-member')
  })

  it('are not opened by a device that is not a member of the expected commit', () => {
    // eve gets a welcome signed by alice for eve's device, but the commit does not list her.
    const payload = encode('welcome/v1', 'room-1', 1, commitHash(c1), 'eve', 'e1', newEpochSecret())
    const w = seal(
      encode('welcome-box/v1', payload, sign(alice.sign.privateKey, payload)),
      eve.box.publicKey,
    )
    expectWelcomeError(
      () => openWelcome(w, eve.box, eve.ref, c1, alice.sign.publicKey),
      'not-member',
    )
  })
})
