import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { bytesEqual } from '../encoding.js'
import { cryptoReady } from '../sodium.js'
import {
  commitFromJson,
  commitHash,
  commitSigningBytes,
  commitToJson,
  createCommit,
  createGenesis,
  parseCommit,
  serializeCommit,
  signCommit,
  validateChain,
  validateExtension,
  type Commit,
  type DeviceDirectory,
  type Member,
  type RoomPolicy,
  type UnsignedCommit,
} from './commit.js'
import { ChainError, type ChainErrorCode } from './errors.js'
import { LOG_HEAD, T0, flipBit, makeDevice, makeDirectory, type TestDevice } from './test-utils.js'

let alice: TestDevice
let alice2: TestDevice
let bob: TestDevice
let bob2: TestDevice
let carol: TestDevice
let dave: TestDevice
let eve: TestDevice
let dir: DeviceDirectory

beforeAll(async () => {
  await cryptoReady()
  alice = makeDevice('alice', 'a1')
  alice2 = makeDevice('alice', 'a2')
  bob = makeDevice('bob', 'b1')
  bob2 = makeDevice('bob', 'b2')
  carol = makeDevice('carol', 'c1')
  dave = makeDevice('dave', 'd1')
  eve = makeDevice('eve', 'e1')
  dir = makeDirectory(alice, alice2, bob, bob2, carol, dave, eve).lookup
})

function genesis(policy?: RoomPolicy): Commit {
  return createGenesis({
    roomId: 'room-1',
    kind: 'case',
    committer: alice.ref,
    signPrivateKey: alice.sign.privateKey,
    members: [
      { userId: 'bob', role: 'member', devices: ['b1'] },
      { userId: 'alice', role: 'admin', devices: ['a1'] },
    ],
    ...(policy ? { policy } : {}),
    logHead: LOG_HEAD,
    createdAt: T0,
  })
}

const at = (n: number) => ({ logHead: LOG_HEAD, createdAt: T0 + n * 1000 })
const by = (d: TestDevice) => ({ committer: d.ref, signPrivateKey: d.sign.privateKey })

/** genesis → add carol → bob adds b2 → bob rotates → alice makes bob admin → remove carol */
function fullChain(): Commit[] {
  const g = genesis()
  const c1 = createCommit(g, {
    ...by(alice),
    ...at(1),
    change: { action: 'add', members: [{ userId: 'carol', role: 'member', devices: ['c1'] }] },
  })
  const c2 = createCommit(c1, {
    ...by(bob),
    ...at(2),
    change: { action: 'add-device', deviceIds: ['b2'] },
  })
  const c3 = createCommit(c2, { ...by(bob2), ...at(3), change: { action: 'rotate' } })
  const c4 = createCommit(c3, {
    ...by(alice),
    ...at(4),
    change: { action: 'set-role', roles: [{ userId: 'bob', role: 'admin' }] },
  })
  const c5 = createCommit(c4, {
    ...by(bob),
    ...at(5),
    change: { action: 'remove', userIds: ['carol'] },
  })
  return [g, c1, c2, c3, c4, c5]
}

/** Re-signs `prev`'s successor with arbitrary content, as a malicious member (or a forger) would. */
function forge(prev: Commit, signer: TestDevice, patch: Partial<UnsignedCommit>): Commit {
  const unsigned: UnsignedCommit = {
    v: 1,
    roomId: prev.roomId,
    kind: prev.kind,
    epoch: prev.epoch + 1,
    prev: commitHash(prev),
    committer: signer.ref,
    action: 'rotate',
    subjects: [],
    members: prev.members,
    policy: prev.policy,
    logHead: LOG_HEAD,
    createdAt: T0 + 99_000,
    ...patch,
  }
  return signCommit(unsigned, signer.sign.privateKey)
}

function expectChainError(fn: () => unknown, code: ChainErrorCode): void {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ChainError)
    expect((e as ChainError).code).toBe(code)
    return
  }
  throw new Error(`expected ChainError ${code}, nothing was thrown`)
}

const withMember = (members: readonly Member[], m: Member): Member[] =>
  [...members, m].sort((a, b) => (a.userId < b.userId ? -1 : 1))

describe('room membership chain', () => {
  it('accepts a chain of allowed changes and reports the room it justifies', () => {
    const chain = fullChain()
    const state = validateChain(chain, dir)
    expect(state.roomId).toBe('room-1')
    expect(state.kind).toBe('case')
    expect(state.epoch).toBe(5)
    expect(bytesEqual(state.headHash, commitHash(chain[5]!))).toBe(true)
    expect(state.admins).toEqual(['alice', 'bob'])
    expect(state.members.map((m) => m.userId)).toEqual(['alice', 'bob'])
    expect(state.devices).toEqual([
      { userId: 'alice', deviceId: 'a1' },
      { userId: 'bob', deviceId: 'b1' },
      { userId: 'bob', deviceId: 'b2' },
    ])
    expect(state.history.map((r) => r.epoch)).toEqual([0, 1, 2, 3, 4, 5])
    expect(state.history[1]!.members.map((m) => m.userId)).toEqual(['alice', 'bob', 'carol'])
  })

  it('gives the same state when validated incrementally', () => {
    const chain = fullChain()
    let state = validateChain(chain.slice(0, 1), dir)
    for (const c of chain.slice(1)) state = validateExtension(state, [c], dir)
    const whole = validateChain(chain, dir)
    expect(bytesEqual(state.headHash, whole.headHash)).toBe(true)
    expect(state.members).toEqual(whole.members)
    expect(state.history.length).toBe(6)
  })

  it('does not change the state it extends', () => {
    const chain = fullChain()
    const state = validateChain(chain.slice(0, 2), dir)
    const before = JSON.stringify(state.members)
    validateExtension(state, chain.slice(2), dir)
    expect(JSON.stringify(state.members)).toBe(before)
    expect(state.history.length).toBe(2)
    expect(() => validateExtension(state, [forge(chain[1]!, eve, {})], dir)).toThrow(ChainError)
    expect(state.epoch).toBe(1)
  })

  it('sorts members canonically, so input order does not change the signed bytes', () => {
    const g = genesis()
    const reversed = { ...g, members: [...g.members].reverse() }
    expect(bytesEqual(commitSigningBytes(reversed), commitSigningBytes(g))).toBe(true)
    expect(g.members.map((m) => m.userId)).toEqual(['alice', 'bob'])
  })

  describe('refuses', () => {
    it('a forged signature', () => {
      const [g, c1] = fullChain()
      const sig = c1!.signature.slice()
      sig[0]! ^= 1
      expectChainError(() => validateChain([g!, { ...c1!, signature: sig }], dir), 'bad-signature')
      expectChainError(
        () => validateChain([g!, { ...c1!, createdAt: c1!.createdAt + 1 }], dir),
        'bad-signature',
      )
    })

    it('a commit signed by another key than the committer device', () => {
      const [g] = fullChain()
      // Claims to be alice's device but is signed with eve's key (e.g. a server forgery).
      const c = signCommit({ ...forge(g!, alice, {}) }, eve.sign.privateKey)
      expectChainError(() => validateChain([g!, c], dir), 'bad-signature')
    })

    it('a forged genesis', () => {
      const g = genesis()
      expectChainError(() => validateChain([{ ...g, roomId: 'room-2' }], dir), 'bad-signature')
    })

    it('reordered commits', () => {
      const chain = fullChain()
      const swapped = [chain[0]!, chain[2]!, chain[1]!, ...chain.slice(3)]
      expectChainError(() => validateChain(swapped, dir), 'bad-epoch')
    })

    it('any reordering of a valid chain', () => {
      const chain = fullChain()
      fc.assert(
        fc.property(fc.shuffledSubarray(chain, { minLength: chain.length }), (perm) => {
          fc.pre(perm.some((c, i) => c !== chain[i]))
          expect(() => validateChain(perm, dir)).toThrow(ChainError)
        }),
        { numRuns: 50 },
      )
    })

    it('a chain with a commit left out', () => {
      const chain = fullChain()
      expectChainError(() => validateChain([chain[0]!, chain[1]!, chain[3]!], dir), 'bad-epoch')
    })

    it('a commit whose prev is not the previous commit', () => {
      const chain = fullChain()
      const c = forge(chain[1]!, alice, { prev: commitHash(chain[0]!) })
      expectChainError(() => validateChain([chain[0]!, chain[1]!, c], dir), 'bad-prev')
    })

    it('a commit that does not start with a genesis', () => {
      const chain = fullChain()
      expectChainError(() => validateChain(chain.slice(1), dir), 'bad-genesis')
      expectChainError(() => validateChain([], dir), 'bad-genesis')
    })

    it('a genesis whose creator is not an admin', () => {
      expectChainError(
        () =>
          createGenesis({
            roomId: 'room-1',
            kind: 'consult',
            committer: bob.ref,
            signPrivateKey: bob.sign.privateKey,
            members: [
              { userId: 'bob', role: 'member', devices: ['b1'] },
              { userId: 'alice', role: 'admin', devices: ['a1'] },
            ],
            logHead: LOG_HEAD,
            createdAt: T0,
          }),
        'bad-genesis',
      )
    })

    it('a fork: a different validly signed commit for an accepted epoch', () => {
      const chain = fullChain()
      const state = validateChain(chain.slice(0, 3), dir)
      const alt = forge(chain[0]!, alice, {})
      expectChainError(() => validateExtension(state, [alt], dir), 'fork')
      expectChainError(() => validateChain([chain[0]!, chain[1]!, alt], dir), 'fork')
    })

    it('an unsigned alternative for an accepted epoch as a forgery, not a fork', () => {
      const chain = fullChain()
      const state = validateChain(chain.slice(0, 3), dir)
      const alt = { ...chain[1]!, createdAt: 1 }
      expectChainError(() => validateExtension(state, [alt], dir), 'bad-signature')
    })

    it('a rollback: an accepted commit offered again', () => {
      const chain = fullChain()
      const state = validateChain(chain, dir)
      expectChainError(() => validateExtension(state, [chain[2]!], dir), 'rollback')
      expectChainError(() => validateExtension(state, [chain[5]!], dir), 'rollback')
    })

    it('a commit of another room', () => {
      const chain = fullChain()
      const state = validateChain(chain.slice(0, 1), dir)
      const other = forge(chain[0]!, alice, { roomId: 'room-2' })
      expectChainError(() => validateExtension(state, [other], dir), 'wrong-room')
    })

    it('a non-admin adding a member', () => {
      const g = genesis()
      const change = {
        action: 'add' as const,
        members: [{ userId: 'eve', role: 'member' as const, devices: ['e1'] }],
      }
      expectChainError(
        () => createCommit(g, { ...by(bob), ...at(1), change }),
        'unauthorised-committer',
      )
      const c = forge(g, bob, {
        action: 'add',
        subjects: ['eve'],
        members: withMember(g.members, {
          userId: 'eve',
          kind: 'user',
          role: 'member',
          devices: ['e1'],
        }),
      })
      expectChainError(() => validateChain([g, c], dir), 'unauthorised-committer')
    })

    it('a non-admin removing someone else or changing roles', () => {
      const g = genesis()
      expectChainError(
        () =>
          createCommit(g, {
            ...by(bob),
            ...at(1),
            change: { action: 'remove', userIds: ['alice'] },
          }),
        'unauthorised-committer',
      )
      expectChainError(
        () =>
          createCommit(g, {
            ...by(bob),
            ...at(1),
            change: { action: 'set-role', roles: [{ userId: 'bob', role: 'admin' }] },
          }),
        'unauthorised-committer',
      )
    })

    it('a commit by a device that is not a member', () => {
      const g = genesis()
      expectChainError(() => validateChain([g, forge(g, eve, {})], dir), 'unauthorised-committer')
      // A second device of a member that the chain never added.
      expectChainError(() => validateChain([g, forge(g, bob2, {})], dir), 'unauthorised-committer')
    })

    it('a commit by a member removed earlier', () => {
      const chain = fullChain()
      const afterRemoval = forge(chain[5]!, carol, {})
      expectChainError(() => validateChain([...chain, afterRemoval], dir), 'unauthorised-committer')
    })

    it("an 'add' that sneaks in a second member", () => {
      const g = genesis()
      const c = forge(g, alice, {
        action: 'add',
        subjects: ['carol'],
        members: withMember(
          withMember(g.members, { userId: 'carol', kind: 'user', role: 'member', devices: ['c1'] }),
          { userId: 'eve', kind: 'user', role: 'member', devices: ['e1'] },
        ),
      })
      expectChainError(() => validateChain([g, c], dir), 'bad-delta')
    })

    it("an 'add' that also changes another member's role", () => {
      const g = genesis()
      const members = withMember(g.members, {
        userId: 'carol',
        kind: 'user',
        role: 'member',
        devices: ['c1'],
      }).map((m) => (m.userId === 'bob' ? { ...m, role: 'admin' as const } : m))
      const c = forge(g, alice, { action: 'add', subjects: ['carol'], members })
      expectChainError(() => validateChain([g, c], dir), 'bad-delta')
    })

    it("a 'rotate' that sneaks in a device", () => {
      const g = genesis()
      const members = g.members.map((m) =>
        m.userId === 'bob' ? { ...m, devices: ['b1', 'b2'] } : m,
      )
      expectChainError(() => validateChain([g, forge(g, alice, { members })], dir), 'bad-delta')
    })

    it("an admin adding a device to another member's list", () => {
      const g = genesis()
      const members = g.members.map((m) =>
        m.userId === 'bob' ? { ...m, devices: ['b1', 'b2'] } : m,
      )
      const c = forge(g, alice, { action: 'add-device', subjects: ['b2'], members })
      expectChainError(() => validateChain([g, c], dir), 'bad-delta')
    })

    it("an 'add-device' that adds more devices than it states", () => {
      const g = genesis()
      const members = g.members.map((m) =>
        m.userId === 'bob' ? { ...m, devices: ['b1', 'b2', 'b3'] } : m,
      )
      const c = forge(g, bob, { action: 'add-device', subjects: ['b2'], members })
      expectChainError(() => validateChain([g, c], dir), 'bad-delta')
    })

    it("a 'remove' that also removes someone not stated", () => {
      const chain = fullChain()
      const c1 = chain[1]! // alice, bob, carol
      const members = c1.members.filter((m) => m.userId === 'alice')
      const c = forge(c1, alice, { action: 'remove', subjects: ['carol'], members })
      expectChainError(() => validateChain([chain[0]!, c1, c], dir), 'bad-delta')
    })

    it('a device the directory does not know (e.g. one the server planted)', () => {
      const g = genesis()
      const ghost = makeDevice('bob', 'ghost')
      const members = g.members.map((m) =>
        m.userId === 'bob' ? { ...m, devices: ['b1', 'ghost'] } : m,
      )
      // Even a correctly signed 'add-device' of bob's cannot add an unverified device.
      const c = forge(g, bob, { action: 'add-device', subjects: ['ghost'], members })
      expectChainError(() => validateChain([g, c], dir), 'unknown-device')
      expect(ghost.ref.deviceId).toBe('ghost')
      const partial = makeDirectory(alice).lookup
      expectChainError(() => validateChain([g], partial), 'unknown-device')
    })

    it('a commit whose committer device is not verified', () => {
      const g = genesis()
      expectChainError(() => validateChain([g], makeDirectory(bob).lookup), 'unknown-device')
    })

    it('a change that leaves the room without an admin', () => {
      const g = genesis()
      expectChainError(
        () =>
          createCommit(g, {
            ...by(alice),
            ...at(1),
            change: { action: 'set-role', roles: [{ userId: 'alice', role: 'member' }] },
          }),
        'no-admin',
      )
    })

    it('a member removing their last device', () => {
      const g = genesis()
      expectChainError(
        () =>
          createCommit(g, {
            ...by(bob),
            ...at(1),
            change: { action: 'remove-device', deviceIds: ['b1'] },
          }),
        'bad-delta',
      )
    })

    it('a second create and a change of room kind', () => {
      const g = genesis()
      expectChainError(
        () => validateChain([g, forge(g, alice, { action: 'create' })], dir),
        'bad-delta',
      )
      expectChainError(
        () => validateChain([g, forge(g, alice, { kind: 'melding' })], dir),
        'bad-delta',
      )
    })

    it('adding someone who is already a member', () => {
      const g = genesis()
      expectChainError(
        () =>
          createCommit(g, {
            ...by(alice),
            ...at(1),
            change: {
              action: 'add',
              members: [{ userId: 'bob', role: 'member', devices: ['b2'] }],
            },
          }),
        'bad-delta',
      )
    })
  })

  describe('policy', () => {
    it("lets any member add under whoCanCommit 'members'", () => {
      const g = genesis({ whoCanCommit: 'members' })
      const c = createCommit(g, {
        ...by(bob),
        ...at(1),
        change: {
          action: 'add',
          members: [{ userId: 'dave', kind: 'desk', role: 'member', devices: ['d1'] }],
        },
      })
      const state = validateChain([g, c], dir)
      expect(state.members.find((m) => m.userId === 'dave')?.kind).toBe('desk')
    })

    it('lets a member leave and rotate by themselves', () => {
      const g = genesis()
      const r = createCommit(g, { ...by(bob), ...at(1), change: { action: 'rotate' } })
      const leave = createCommit(r, {
        ...by(bob),
        ...at(2),
        change: { action: 'remove', userIds: ['bob'] },
      })
      const state = validateChain([g, r, leave], dir)
      expect(state.members.map((m) => m.userId)).toEqual(['alice'])
    })

    it('lets a member remove one of their own devices', () => {
      const g = genesis()
      const add = createCommit(g, {
        ...by(alice),
        ...at(1),
        change: { action: 'add-device', deviceIds: ['a2'] },
      })
      const rm = createCommit(add, {
        ...by(alice2),
        ...at(2),
        change: { action: 'remove-device', deviceIds: ['a1'] },
      })
      const state = validateChain([g, add, rm], dir)
      expect(state.devices).toEqual([
        { userId: 'alice', deviceId: 'a2' },
        { userId: 'bob', deviceId: 'b1' },
      ])
    })
  })

  describe('serialisation', () => {
    it('round-trips the binary and JSON forms and keeps the hash', () => {
      for (const c of fullChain()) {
        const bin = parseCommit(serializeCommit(c))
        expect(bytesEqual(commitHash(bin), commitHash(c))).toBe(true)
        const json = commitFromJson(JSON.parse(JSON.stringify(commitToJson(c))))
        expect(bytesEqual(commitHash(json), commitHash(c))).toBe(true)
      }
      const parsed = fullChain().map((c) => parseCommit(serializeCommit(c)))
      expect(validateChain(parsed, dir).epoch).toBe(5)
    })

    it('refuses any single bit flip of a serialized commit', () => {
      const chain = fullChain()
      const target = chain[1]!
      const bytes = serializeCommit(target)
      fc.assert(
        fc.property(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), (bit) => {
          expect(() => validateChain([chain[0]!, parseCommit(flipBit(bytes, bit))], dir)).toThrow(
            ChainError,
          )
        }),
        { numRuns: 300 },
      )
    })

    it('refuses trailing bytes and non-canonical encodings', () => {
      const bytes = serializeCommit(genesis())
      expectChainError(() => parseCommit(new Uint8Array([...bytes, 0])), 'malformed')
      expectChainError(() => parseCommit(bytes.subarray(0, bytes.length - 1)), 'malformed')
    })

    it('refuses JSON with unknown fields, wrong lengths or bad ids', () => {
      const json = commitToJson(genesis())
      expectChainError(() => commitFromJson({ ...json, extra: 1 }), 'malformed')
      expectChainError(() => commitFromJson({ ...json, prev: 'AAAA' }), 'malformed')
      expectChainError(() => commitFromJson({ ...json, roomId: 'room 1' }), 'malformed')
      expectChainError(() => commitFromJson({ ...json, epoch: -1 }), 'malformed')
      expectChainError(() => commitFromJson({ ...json, kind: 'other' }), 'malformed')
      expectChainError(
        () => commitFromJson({ ...json, members: [...json.members, json.members[0]] }),
        'malformed',
      )
      expectChainError(() => commitFromJson(null), 'malformed')
    })

    it('round-trips arbitrary valid member lists', () => {
      const id = fc.stringMatching(/^[a-z0-9]{1,12}$/)
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.tuple(id, fc.uniqueArray(id, { minLength: 1, maxLength: 4 })), {
            selector: ([u]) => u,
            minLength: 1,
            maxLength: 8,
          }),
          (members) => {
            const c = signCommit(
              {
                v: 1,
                roomId: 'r',
                kind: 'case',
                epoch: 3,
                prev: new Uint8Array(32),
                committer: { userId: 'x', deviceId: 'y' },
                action: 'rotate',
                subjects: [],
                members: members.map(([userId, devices]) => ({
                  userId,
                  kind: 'user',
                  role: 'member',
                  devices,
                })),
                policy: { whoCanCommit: 'admins' },
                logHead: LOG_HEAD,
                createdAt: T0,
              },
              alice.sign.privateKey,
            )
            const back = parseCommit(serializeCommit(c))
            expect(commitToJson(back)).toEqual(commitToJson(c))
            expect(back.members.map((m) => m.userId)).toEqual(members.map(([u]) => u).sort())
          },
        ),
        { numRuns: 100 },
      )
    })
  })
})
