import { beforeAll, describe, expect, it } from 'vitest'
import { encode, utf8 } from '../encoding.js'
import { cryptoReady } from '../sodium.js'
import { commitHash, createGenesis, validateChain, type Commit, type RoomState } from './commit.js'
import {
  ReceiverState,
  encodeHeader,
  finishOpen,
  openEnvelope,
  prepareOpen,
  sealEnvelope,
  verifyPending,
  type Envelope,
  type PendingOpen,
} from './envelope.js'
import { newEpochSecret } from './epoch.js'
import { EnvelopeError } from './errors.js'
import { inlineOpenRunner, packOpenBatch, runOpenBatch, unpackOpenBatch } from './open-pool.js'
import { aeadEncrypt, sign } from './primitives.js'
import { LOG_HEAD, T0, flipBit, makeDevice, makeDirectory, type TestDevice } from './test-utils.js'

let alice: TestDevice
let bob: TestDevice
let g: Commit
let room: RoomState
let secret: Uint8Array
let dir: ReturnType<typeof makeDirectory>['lookup']

beforeAll(async () => {
  await cryptoReady()
  alice = makeDevice('alice', 'a1')
  bob = makeDevice('bob', 'b1')
  dir = makeDirectory(alice, bob).lookup
  g = createGenesis({
    roomId: 'room-1',
    kind: 'case',
    committer: alice.ref,
    signPrivateKey: alice.sign.privateKey,
    members: [
      { userId: 'alice', role: 'admin', devices: ['a1'] },
      { userId: 'bob', role: 'member', devices: ['b1'] },
    ],
    logHead: LOG_HEAD,
    createdAt: T0,
  })
  room = validateChain([g], dir)
  secret = newEpochSecret()
})

function receiver(): ReceiverState {
  const r = new ReceiverState('room-1')
  r.addEpochSecret(0, commitHash(g), secret)
  return r
}

function sealFrom(d: TestDevice, counter: number, text = 'Afspraak vrijdag'): Envelope {
  return sealEnvelope({
    roomId: 'room-1',
    epoch: 0,
    commitHash: commitHash(g),
    senderUserId: d.ref.userId,
    senderDeviceId: d.ref.deviceId,
    counter,
    sentAt: T0 + counter,
    type: 'text',
    logHead: LOG_HEAD,
    plaintext: utf8(text),
    epochSecret: secret,
    signPrivateKey: d.sign.privateKey,
  })
}

/** Alice's header over a ciphertext that is not valid padding inside, signed properly. */
function badPadding(): Envelope {
  const env = sealFrom(alice, 90)
  const h = encodeHeader(env.header)
  const key = prepareOpen(receiver(), env, room, dir).key!
  const ciphertext = aeadEncrypt(key, env.nonce, new Uint8Array(256), h)
  const signature = sign(alice.sign.privateKey, encode('msg/v1', h, env.nonce, ciphertext))
  return { ...env, ciphertext, signature }
}

function outcome(fn: () => { plaintext: Uint8Array; gaps: unknown; late: boolean }): unknown {
  try {
    const o = fn()
    return { plaintext: [...o.plaintext], gaps: o.gaps, late: o.late }
  } catch (e) {
    expect(e).toBeInstanceOf(EnvelopeError)
    return (e as EnvelopeError).code
  }
}

describe('opening in batches', () => {
  it('finds exactly what opening on this thread finds, envelope by envelope', async () => {
    const good = sealFrom(alice, 0)
    const envelopes = [
      good,
      sealFrom(bob, 0, 'x'.repeat(300)),
      { ...sealFrom(alice, 1), signature: flipBit(good.signature, 9) },
      { ...sealFrom(alice, 2), ciphertext: flipBit(sealFrom(alice, 2).ciphertext, 40) },
      badPadding(),
      sealFrom(alice, 5),
      good, // a replay
      sealFrom(bob, 1, ''),
    ]
    const one = receiver()
    const expected = envelopes.map((e) => outcome(() => openEnvelope(one, e, room, dir)))
    expect(expected).toContain('replay')
    expect(expected).toContain('bad-signature')
    expect(expected).toContain('decrypt-failed')

    const batch = receiver()
    const pending = envelopes.map((e) => prepareOpen(batch, e, room, dir))
    const verified = await inlineOpenRunner.run(pending)
    const got = pending.map((p, i) => outcome(() => finishOpen(batch, p, verified[i]!)))
    expect(got).toEqual(expected)
    expect(batch.toJSON()).toEqual(one.toJSON())
  })

  it('carries every outcome through the packed form unchanged', () => {
    const r = receiver()
    const pending: PendingOpen[] = [
      prepareOpen(r, sealFrom(alice, 0), room, dir),
      prepareOpen(r, badPadding(), room, dir),
      { ...prepareOpen(r, sealFrom(bob, 3), room, dir), key: undefined },
      { ...prepareOpen(r, sealFrom(bob, 4), room, dir), signPk: new Uint8Array(31) },
      { ...prepareOpen(r, sealFrom(bob, 5), room, dir), key: new Uint8Array(32) },
    ]
    const packed = unpackOpenBatch(runOpenBatch(packOpenBatch(7, pending)))
    expect(packed).toEqual(pending.map(verifyPending))
    expect(packed.map((v) => v.failure ?? (v.plaintext ? 'opened' : v.signature))).toEqual([
      'opened',
      'padding',
      true,
      false,
      'decrypt',
    ])
  })

  it('decrypts on this thread when the epoch secret arrived after preparing', () => {
    const late = new ReceiverState('room-1')
    const p = prepareOpen(late, sealFrom(alice, 0), room, dir)
    expect(p.key).toBeUndefined()
    const v = verifyPending(p)
    expect(() => finishOpen(late, p, v)).toThrow(EnvelopeError)
    late.addEpochSecret(0, commitHash(g), secret)
    expect(new TextDecoder().decode(finishOpen(late, p, v).plaintext)).toBe('Afspraak vrijdag')
  })
})
