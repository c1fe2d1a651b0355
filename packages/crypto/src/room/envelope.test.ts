import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { bytesEqual, encode, utf8 } from '../encoding.js'
import { cryptoReady } from '../sodium.js'
import {
  commitHash,
  createCommit,
  createGenesis,
  validateChain,
  validateExtension,
  type Commit,
  type DeviceDirectory,
  type RoomState,
} from './commit.js'
import {
  ReceiverState,
  SenderState,
  encodeHeader,
  envelopeHash,
  openEnvelope,
  paddedLength,
  parseEnvelope,
  sealEnvelope,
  sealEnvelopeFor,
  serializeEnvelope,
  type Envelope,
  type EnvelopeHeader,
} from './envelope.js'
import { createWelcomes, newEpochSecret, openWelcome } from './epoch.js'
import { EnvelopeError, WelcomeError, type EnvelopeErrorCode } from './errors.js'
import { sign } from './primitives.js'
import { LOG_HEAD, T0, flipBit, makeDevice, makeDirectory, type TestDevice } from './test-utils.js'

let alice: TestDevice
let bob: TestDevice
let carol: TestDevice
let eve: TestDevice
let dir: DeviceDirectory
let g: Commit
let room0: RoomState
let secret0: Uint8Array

beforeAll(async () => {
  await cryptoReady()
  alice = makeDevice('alice', 'a1')
  bob = makeDevice('bob', 'b1')
  carol = makeDevice('carol', 'c1')
  eve = makeDevice('eve', 'e1')
  dir = makeDirectory(alice, bob, carol, eve).lookup
  g = createGenesis({
    roomId: 'room-1',
    kind: 'case',
    committer: alice.ref,
    signPrivateKey: alice.sign.privateKey,
    members: [
      { userId: 'alice', role: 'admin', devices: ['a1'] },
      { userId: 'bob', role: 'member', devices: ['b1'] },
      { userId: 'carol', role: 'member', devices: ['c1'] },
    ],
    logHead: LOG_HEAD,
    createdAt: T0,
  })
  room0 = validateChain([g], dir)
  secret0 = newEpochSecret()
})

function receiverWith(...epochs: [Commit, Uint8Array][]): ReceiverState {
  const r = new ReceiverState('room-1')
  for (const [c, s] of epochs) r.addEpochSecret(c.epoch, commitHash(c), s)
  return r
}

function sealFrom(
  d: TestDevice,
  opts: {
    counter?: number
    text?: string
    commit?: Commit
    secret?: Uint8Array
    type?: string
  } = {},
): Envelope {
  const commit = opts.commit ?? g
  return sealEnvelope({
    roomId: commit.roomId,
    epoch: commit.epoch,
    commitHash: commitHash(commit),
    senderUserId: d.ref.userId,
    senderDeviceId: d.ref.deviceId,
    counter: opts.counter ?? 0,
    sentAt: T0 + 5000,
    type: opts.type ?? 'text',
    logHead: LOG_HEAD,
    plaintext: utf8(opts.text ?? 'Afspraak: JGZ belt de moeder vrijdag.'),
    epochSecret: opts.secret ?? secret0,
    signPrivateKey: d.sign.privateKey,
  })
}

function expectEnvelopeError(fn: () => unknown, code: EnvelopeErrorCode): EnvelopeError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(EnvelopeError)
    expect((e as EnvelopeError).code).toBe(code)
    return e as EnvelopeError
  }
  throw new Error(`expected EnvelopeError ${code}, nothing was thrown`)
}

const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe('message envelopes', () => {
  it('round-trip through seal, serialize, parse and open', () => {
    const env = sealFrom(alice, { text: 'hallo' })
    const opened = openEnvelope(
      receiverWith([g, secret0]),
      parseEnvelope(serializeEnvelope(env)),
      room0,
      dir,
    )
    expect(text(opened.plaintext)).toBe('hallo')
    expect(opened.header.senderUserId).toBe('alice')
    expect(opened.gaps).toEqual([])
    expect(opened.late).toBe(false)
  })

  it('round-trip arbitrary plaintexts and types', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/),
        fc.nat({ max: 1_000_000 }),
        (plaintext, type, counter) => {
          const env = sealEnvelope({
            roomId: 'room-1',
            epoch: 0,
            commitHash: commitHash(g),
            senderUserId: 'bob',
            senderDeviceId: 'b1',
            counter,
            sentAt: T0,
            type,
            logHead: LOG_HEAD,
            plaintext,
            epochSecret: secret0,
            signPrivateKey: bob.sign.privateKey,
          })
          const back = parseEnvelope(serializeEnvelope(env))
          expect(bytesEqual(serializeEnvelope(back), serializeEnvelope(env))).toBe(true)
          const opened = openEnvelope(receiverWith([g, secret0]), back, room0, dir)
          expect(bytesEqual(opened.plaintext, plaintext)).toBe(true)
          expect(opened.header.type).toBe(type)
          expect(opened.gaps).toEqual(counter > 0 ? [{ from: 0, to: counter - 1 }] : [])
        },
      ),
      { numRuns: 100 },
    )
  })

  it('hide the exact plaintext length in size buckets', () => {
    expect(paddedLength(0)).toBe(256)
    expect(paddedLength(255)).toBe(256)
    expect(paddedLength(256)).toBe(512)
    expect(paddedLength(70_000)).toBe(131_072)
    expect(paddedLength(200_000)).toBe(262_144)
    const short = sealFrom(alice, { text: 'ja' })
    const longer = sealFrom(alice, { text: 'x'.repeat(200) })
    expect(short.ciphertext.length).toBe(256 + 16)
    expect(longer.ciphertext.length).toBe(short.ciphertext.length)
  })

  it('use a fresh nonce every time', () => {
    const a = sealFrom(alice)
    const b = sealFrom(alice)
    expect(bytesEqual(a.nonce, b.nonce)).toBe(false)
    expect(bytesEqual(a.ciphertext, b.ciphertext)).toBe(false)
  })

  describe('are refused when tampered with', () => {
    const tampered: [string, (h: EnvelopeHeader) => EnvelopeHeader, EnvelopeErrorCode][] = [
      ['counter', (h) => ({ ...h, counter: h.counter + 1 }), 'bad-signature'],
      ['sentAt', (h) => ({ ...h, sentAt: h.sentAt - 1 }), 'bad-signature'],
      ['type', (h) => ({ ...h, type: 'notice' }), 'bad-signature'],
      ['logHead', (h) => ({ ...h, logHead: new Uint8Array(32) }), 'bad-signature'],
      ['sender', (h) => ({ ...h, senderUserId: 'bob', senderDeviceId: 'b1' }), 'bad-signature'],
      ['room', (h) => ({ ...h, roomId: 'room-2' }), 'wrong-room'],
      ['epoch', (h) => ({ ...h, epoch: 1 }), 'wrong-epoch'],
      ['commit hash', (h) => ({ ...h, commitHash: new Uint8Array(32) }), 'wrong-epoch'],
    ]
    for (const [what, change, code] of tampered) {
      it(`in the header: ${what}`, () => {
        const env = sealFrom(alice)
        const r = receiverWith([g, secret0])
        expectEnvelopeError(
          () => openEnvelope(r, { ...env, header: change(env.header) }, room0, dir),
          code,
        )
        // The receiver state is unchanged: the genuine envelope still opens.
        expect(text(openEnvelope(r, env, room0, dir).plaintext)).toContain('JGZ')
      })
    }

    it('in the nonce, ciphertext or signature', () => {
      const env = sealFrom(alice)
      const r = receiverWith([g, secret0])
      for (const e of [
        { ...env, nonce: flipBit(env.nonce, 3) },
        { ...env, ciphertext: flipBit(env.ciphertext, 100) },
        { ...env, signature: flipBit(env.signature, 7) },
      ]) {
        expectEnvelopeError(() => openEnvelope(r, e, room0, dir), 'bad-signature')
      }
    })

    it('with any single bit flipped in the serialized form', () => {
      const env = sealFrom(alice)
      const bytes = serializeEnvelope(env)
      const r = receiverWith([g, secret0])
      fc.assert(
        fc.property(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), (bit) => {
          expect(() => openEnvelope(r, parseEnvelope(flipBit(bytes, bit)), room0, dir)).toThrow(
            EnvelopeError,
          )
        }),
        { numRuns: 500 },
      )
      expect(openEnvelope(r, env, room0, dir).gaps).toEqual([])
    })

    it('when a member re-signs another sender’s ciphertext as their own', () => {
      const env = sealFrom(alice)
      const header = { ...env.header, senderUserId: 'bob', senderDeviceId: 'b1' }
      const resigned = reSign(header, env, bob)
      expectEnvelopeError(
        () => openEnvelope(receiverWith([g, secret0]), resigned, room0, dir),
        'decrypt-failed',
      )
    })
  })

  it('refuse a replay and report the counter reused', () => {
    const r = receiverWith([g, secret0])
    const env = sealFrom(bob, { counter: 0 })
    openEnvelope(r, env, room0, dir)
    const err = expectEnvelopeError(() => openEnvelope(r, env, room0, dir), 'replay')
    expect(err.userMessage?.en).toMatch(/received before/)
    // A different message reusing the same counter is refused too.
    expectEnvelopeError(
      () => openEnvelope(r, sealFrom(bob, { counter: 0, text: 'x' }), room0, dir),
      'replay',
    )
  })

  it('report counter gaps, accept late arrivals once, and keep what is missing', () => {
    const r = receiverWith([g, secret0])
    expect(openEnvelope(r, sealFrom(bob, { counter: 0 }), room0, dir).gaps).toEqual([])
    const jump = openEnvelope(r, sealFrom(bob, { counter: 4 }), room0, dir)
    expect(jump.gaps).toEqual([{ from: 1, to: 3 }])
    expect(r.missing(0, bob.ref)).toEqual([{ from: 1, to: 3 }])
    const late = sealFrom(bob, { counter: 2 })
    expect(openEnvelope(r, late, room0, dir).late).toBe(true)
    expect(r.missing(0, bob.ref)).toEqual([
      { from: 1, to: 1 },
      { from: 3, to: 3 },
    ])
    expectEnvelopeError(() => openEnvelope(r, late, room0, dir), 'replay')
    expect(r.allMissing()).toEqual([
      {
        epoch: 0,
        userId: 'bob',
        deviceId: 'b1',
        ranges: [
          { from: 1, to: 1 },
          { from: 3, to: 3 },
        ],
      },
    ])
    // Counters are per sender: alice's first message has no gap.
    expect(openEnvelope(r, sealFrom(alice, { counter: 0 }), room0, dir).gaps).toEqual([])
  })

  it('know exactly which counters are missing after any delivery order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat({ max: 40 }), { minLength: 1, maxLength: 30 }),
        (delivered) => {
          const r = receiverWith([g, secret0])
          for (const counter of delivered)
            openEnvelope(r, sealFrom(bob, { counter, text: '' }), room0, dir)
          const max = Math.max(...delivered)
          const expected = [...Array(max + 1).keys()].filter((c) => !delivered.includes(c))
          const reported = r
            .missing(0, bob.ref)
            .flatMap((x) => [...Array(x.to - x.from + 1).keys()].map((i) => x.from + i))
          expect(reported).toEqual(expected)
          const again = ReceiverState.fromJSON(JSON.parse(JSON.stringify(r.toJSON())))
          expect(again.missing(0, bob.ref)).toEqual(r.missing(0, bob.ref))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('refuse an envelope for another room', () => {
    const r = receiverWith([g, secret0])
    const other = new ReceiverState('room-2')
    expectEnvelopeError(() => openEnvelope(other, sealFrom(alice), room0, dir), 'wrong-room')
    const env = sealEnvelope({
      ...sealFrom(alice).header,
      roomId: 'room-2',
      plaintext: utf8('x'),
      epochSecret: secret0,
      signPrivateKey: alice.sign.privateKey,
    })
    expectEnvelopeError(() => openEnvelope(r, env, room0, dir), 'wrong-room')
  })

  it('refuse an envelope of an epoch the chain does not have, or below the allowed one', () => {
    const c1 = createCommit(g, {
      committer: alice.ref,
      signPrivateKey: alice.sign.privateKey,
      change: { action: 'rotate' },
      logHead: LOG_HEAD,
      createdAt: T0 + 10,
    })
    const secret1 = newEpochSecret()
    const env = sealFrom(bob, { commit: c1, secret: secret1 })
    const r = receiverWith([g, secret0], [c1, secret1])
    expectEnvelopeError(() => openEnvelope(r, env, room0, dir), 'wrong-epoch')
    const room1 = validateExtension(room0, [c1], dir)
    expect(text(openEnvelope(r, env, room1, dir).plaintext)).toContain('JGZ')
    expectEnvelopeError(
      () => openEnvelope(r, sealFrom(bob, { counter: 5 }), room1, dir, { minEpoch: 1 }),
      'wrong-epoch',
    )
    // History stays readable by default.
    expect(openEnvelope(r, sealFrom(bob, { counter: 6 }), room1, dir).header.epoch).toBe(0)
  })

  it('refuse a sender that is not a member, or not verified', () => {
    const r = receiverWith([g, secret0])
    // eve knows the room's public chain and even the secret, but is not a member.
    expectEnvelopeError(() => openEnvelope(r, sealFrom(eve), room0, dir), 'unknown-sender')
    const noBob = makeDirectory(alice, carol).lookup
    expectEnvelopeError(() => openEnvelope(r, sealFrom(bob), room0, noBob), 'unknown-sender')
  })

  it('say the key is missing, in Dutch and English, when this device has no epoch secret', () => {
    const err = expectEnvelopeError(
      () => openEnvelope(new ReceiverState('room-1'), sealFrom(alice), room0, dir),
      'missing-key',
    )
    expect(err.userMessage?.nl).toMatch(/herstelsleutel/)
    expect(err.userMessage?.en).toMatch(/recovery key/)
  })

  it('refuse to decrypt with a secret that is not the epoch secret', () => {
    const r = receiverWith([g, newEpochSecret()])
    expectEnvelopeError(() => openEnvelope(r, sealFrom(alice), room0, dir), 'decrypt-failed')
  })

  it('refuse malformed bytes with a typed error', () => {
    expectEnvelopeError(() => parseEnvelope(new Uint8Array(0)), 'malformed')
    expectEnvelopeError(() => parseEnvelope(utf8('{"header":{}}')), 'malformed')
    const bytes = serializeEnvelope(sealFrom(alice))
    expectEnvelopeError(() => parseEnvelope(new Uint8Array([...bytes, 0])), 'malformed')
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (junk) => {
        expect(() => parseEnvelope(junk)).toThrow(EnvelopeError)
      }),
    )
  })

  it('parse only the one canonical form', () => {
    const env = sealFrom(alice)
    const h = env.header
    const reframe = (roomId: string) =>
      encode(
        'envelope/v1',
        encode(
          'msg-header/v1',
          1,
          roomId,
          h.epoch,
          h.commitHash,
          h.senderUserId,
          h.senderDeviceId,
          h.counter,
          h.sentAt,
          h.type,
          h.logHead,
        ),
        env.nonce,
        env.ciphertext,
        env.signature,
      )
    expect(parseEnvelope(reframe('room-1')).header.roomId).toBe('room-1')
    // A byte-order mark a UTF-8 decoder would drop, and a non-ASCII look-alike.
    expectEnvelopeError(() => parseEnvelope(reframe('\ufeffroom-1')), 'malformed')
    expectEnvelopeError(() => parseEnvelope(reframe('room-\u0661')), 'malformed')
    const bytes = serializeEnvelope(env)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        (at, byte, insert) => {
          const changed = insert
            ? new Uint8Array([...bytes.subarray(0, at), byte, ...bytes.subarray(at)])
            : bytes.map((b, i) => (i === at ? byte : b))
          let parsed: Envelope
          try {
            parsed = parseEnvelope(changed)
          } catch (e) {
            expect(e).toBeInstanceOf(EnvelopeError)
            return
          }
          expect(bytesEqual(serializeEnvelope(parsed), changed)).toBe(true)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('refuse to seal invalid headers', () => {
    expectEnvelopeError(() => sealFrom(alice, { type: 'Tekst met spaties' }), 'malformed')
    expectEnvelopeError(() => sealFrom(alice, { counter: -1 }), 'malformed')
  })

  it('seal with the receiver state’s secret, serialized once, hashed on demand', () => {
    const r = receiverWith([g, secret0])
    const p = {
      roomId: 'room-1',
      epoch: 0,
      commitHash: commitHash(g),
      senderUserId: 'alice',
      senderDeviceId: 'a1',
      counter: 0,
      sentAt: T0,
      type: 'text',
      logHead: LOG_HEAD,
      plaintext: utf8('Afspraak: JGZ belt de moeder vrijdag.'),
      signPrivateKey: alice.sign.privateKey,
    }
    const sealed = sealEnvelopeFor(r, p)
    expect(bytesEqual(sealed.bytes, serializeEnvelope(sealed.envelope))).toBe(true)
    expect(bytesEqual(sealed.hash, envelopeHash(parseEnvelope(sealed.bytes)))).toBe(true)
    const bob0 = receiverWith([g, secret0])
    expect(text(openEnvelope(bob0, parseEnvelope(sealed.bytes), room0, dir).plaintext)).toContain(
      'JGZ',
    )
    expectEnvelopeError(() => sealEnvelopeFor(new ReceiverState('room-1'), p), 'missing-key')
    expectEnvelopeError(
      () => sealEnvelopeFor(r, { ...p, commitHash: new Uint8Array(32) }),
      'wrong-epoch',
    )
  })

  it('have a stable hash that names one exact envelope', () => {
    const env = sealFrom(alice)
    expect(bytesEqual(envelopeHash(env), envelopeHash(parseEnvelope(serializeEnvelope(env))))).toBe(
      true,
    )
    expect(bytesEqual(envelopeHash(env), envelopeHash(sealFrom(alice)))).toBe(false)
  })
})

describe('a removed member', () => {
  it('cannot read or send after the removal', () => {
    // Everyone holds epoch 0. alice removes carol: new commit, new secret, welcomes.
    const c1 = createCommit(g, {
      committer: alice.ref,
      signPrivateKey: alice.sign.privateKey,
      change: { action: 'remove', userIds: ['carol'] },
      logHead: LOG_HEAD,
      createdAt: T0 + 60_000,
    })
    const room1 = validateExtension(room0, [c1], dir)
    const secret1 = newEpochSecret()
    const welcomes = createWelcomes(c1, secret1, alice.sign.privateKey, dir)
    expect(welcomes.map((w) => w.recipient.userId)).toEqual(['bob'])

    // No welcome opens for carol.
    for (const w of welcomes) {
      expect(() => openWelcome(w.sealed, carol.box, carol.ref, c1, alice.sign.publicKey)).toThrow()
    }

    // bob gets the secret through his welcome and reads alice's new message.
    const bobR = receiverWith([g, secret0])
    bobR.acceptWelcome(openWelcome(welcomes[0]!.sealed, bob.box, bob.ref, c1, alice.sign.publicKey))
    const after = sealFrom(alice, { commit: c1, secret: secret1, text: 'na verwijdering' })
    expect(text(openEnvelope(bobR, after, room1, dir).plaintext)).toBe('na verwijdering')

    // carol, holding only epoch 0 (and the public chain), cannot.
    const carolR = receiverWith([g, secret0])
    expectEnvelopeError(() => openEnvelope(carolR, after, room1, dir), 'missing-key')
    // Nor by pretending her old secret is the new one.
    const carolGuess = receiverWith([g, secret0], [c1, secret0])
    expectEnvelopeError(() => openEnvelope(carolGuess, after, room1, dir), 'decrypt-failed')

    // A message carol signs for the new epoch is refused by the others.
    const fromCarol = sealFrom(carol, { commit: c1, secret: secret1 })
    expectEnvelopeError(() => openEnvelope(bobR, fromCarol, room1, dir), 'unknown-sender')
    // Her messages from before the removal stay readable.
    expect(text(openEnvelope(bobR, sealFrom(carol), room1, dir).plaintext)).toContain('JGZ')
  })
})

describe('sender and receiver state', () => {
  it('counts per epoch from zero and survives serialisation', () => {
    const s = new SenderState()
    expect([s.take(0), s.take(0), s.take(1), s.take(0)]).toEqual([0, 1, 0, 2])
    const back = SenderState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())))
    expect(back.peek(0)).toBe(3)
    expect(back.peek(1)).toBe(1)
    expect(back.peek(2)).toBe(0)
  })

  it('keeps secrets and replay protection across serialisation', () => {
    const r = receiverWith([g, secret0])
    const env = sealFrom(bob, { counter: 0 })
    openEnvelope(r, env, room0, dir)
    const back = ReceiverState.fromJSON(JSON.parse(JSON.stringify(r.toJSON())))
    expect(back.hasEpoch(0)).toBe(true)
    expectEnvelopeError(() => openEnvelope(back, env, room0, dir), 'replay')
    expect(openEnvelope(back, sealFrom(bob, { counter: 1 }), room0, dir).gaps).toEqual([])
  })

  it('refuses a second, different secret for a known epoch', () => {
    const r = receiverWith([g, secret0])
    r.addEpochSecret(0, commitHash(g), secret0)
    expect(() => r.addEpochSecret(0, commitHash(g), newEpochSecret())).toThrow(WelcomeError)
  })

  it('refuses malformed serialised state', () => {
    expect(() =>
      ReceiverState.fromJSON({ v: 1, roomId: 'r', epochs: [], counters: [], x: 1 }),
    ).toThrow(EnvelopeError)
    expect(() =>
      ReceiverState.fromJSON({
        v: 1,
        roomId: 'r',
        epochs: [],
        counters: [{ epoch: 0, userId: 'a', deviceId: 'b', max: 2, missing: [[1, 5]] }],
      }),
    ).toThrow(EnvelopeError)
    expect(() => SenderState.fromJSON({ v: 2, next: [] })).toThrow(EnvelopeError)
  })
})

/** Signs `header` over an existing nonce and ciphertext with `d`'s key (an attacker's tool). */
function reSign(header: EnvelopeHeader, env: Envelope, d: TestDevice): Envelope {
  const signature = sign(
    d.sign.privateKey,
    encode('msg/v1', encodeHeader(header), env.nonce, env.ciphertext),
  )
  return { header, nonce: env.nonce, ciphertext: env.ciphertext, signature }
}
