/**
 * Room membership as a chain of signed commits.
 *
 * Lesson from the Matrix attacks (2022): membership and device lists announced by the
 * server let a malicious server add a member or a device and receive the room keys.
 * Here the member list only ever changes through a commit signed by a member device
 * the policy allows, every commit carries the FULL member and device list, and clients
 * validate the whole chain themselves: a member or device the chain does not justify is
 * refused, whatever the server says. The server only enforces one linear chain (unique
 * room and epoch); the prev-hash and epoch checks make any rollback or fork visible.
 */
import { bytesEqual, encode, toB64 } from '../encoding.js'
import { ChainError, type ChainErrorCode } from './errors.js'
import {
  HASH_BYTES,
  SIGNATURE_BYTES,
  SIGN_PRIVATE_KEY_BYTES,
  hash,
  sign,
  verify,
} from './primitives.js'
import {
  compareIds,
  expectArray,
  expectB64,
  expectBytes,
  expectId,
  expectObject,
  expectOneOf,
  expectUint,
  field,
  fieldsOf,
  fieldsOfAtLeast,
  readIdField,
  readString,
  readUint,
  type Fail,
} from './wire.js'

/** What a room is for (see DESIGN.md, "Domain model"). */
export type RoomKind = 'case' | 'consult' | 'melding'
export const ROOM_KINDS: readonly RoomKind[] = ['case', 'consult', 'melding']

/** A member's role; only admins change membership and roles (under the default policy). */
export type MemberRole = 'admin' | 'member'
export const MEMBER_ROLES: readonly MemberRole[] = ['admin', 'member']

/** A member is a person or an organisation's desk; both are identified the same way. */
export type MemberKind = 'user' | 'desk'
export const MEMBER_KINDS: readonly MemberKind[] = ['user', 'desk']

export type CommitAction =
  'create' | 'add' | 'remove' | 'add-device' | 'remove-device' | 'rotate' | 'set-role'
export const COMMIT_ACTIONS: readonly CommitAction[] = [
  'create',
  'add',
  'remove',
  'add-device',
  'remove-device',
  'rotate',
  'set-role',
]

/** One device of one member (user or desk). */
export interface DeviceRef {
  userId: string
  deviceId: string
}

/** A member with their role and the devices that receive the room's epoch secrets. */
export interface Member {
  userId: string
  kind: MemberKind
  role: MemberRole
  /** Device ids, sorted; at least one. */
  devices: readonly string[]
}

/** A member as given to {@link createGenesis} or an 'add' change (`kind` defaults to 'user'). */
export interface MemberInput {
  userId: string
  kind?: MemberKind
  role: MemberRole
  devices: readonly string[]
}

/**
 * Who may add and remove members. `'admins'` (the default): only admins; `'members'`:
 * any member. Role changes are always admin-only; every member may add or remove their
 * own devices, leave the room, and rotate the epoch. Fixed at genesis.
 */
export interface RoomPolicy {
  whoCanCommit: 'admins' | 'members'
}

/** Public keys of a device whose certificate the caller has already verified. */
export interface DeviceKeys {
  signPk: Uint8Array
  boxPk: Uint8Array
}

/**
 * Looks up a device the caller has verified (certificate by the owner's master key, or a
 * desk key from the key log). Must return `undefined` for anything unverified: that is
 * how a device planted by the server is refused. It must keep resolving devices that
 * signed earlier commits for as long as the caller accepts that history.
 */
export type DeviceDirectory = (userId: string, deviceId: string) => DeviceKeys | undefined

/** A commit without its signature: exactly the fields the signature covers. */
export interface UnsignedCommit {
  v: 1
  roomId: string
  kind: RoomKind
  epoch: number
  /** Hash of the previous commit ({@link commitHash}); 32 zero bytes at genesis. */
  prev: Uint8Array
  committer: DeviceRef
  action: CommitAction
  /**
   * What the action is about, sorted: user ids for 'add', 'remove' and 'set-role'; the
   * committer's own device ids for 'add-device' and 'remove-device'; empty otherwise.
   */
  subjects: readonly string[]
  /** The full member list after this commit, sorted by user id. */
  members: readonly Member[]
  policy: RoomPolicy
  /** The committer's latest key-log head (opaque here, 32 bytes). */
  logHead: Uint8Array
  /** Milliseconds since the Unix epoch, by the committer's clock. */
  createdAt: number
}

/** A signed membership commit. */
export interface Commit extends UnsignedCommit {
  /** Ed25519 by the committer device over {@link commitSigningBytes}. */
  signature: Uint8Array
}

/** What one epoch of the room looked like, kept so old messages can still be verified. */
export interface EpochRecord {
  epoch: number
  commitHash: Uint8Array
  createdAt: number
  members: readonly Member[]
}

/** The room as justified by a validated commit chain. */
export interface RoomState {
  roomId: string
  kind: RoomKind
  policy: RoomPolicy
  epoch: number
  headHash: Uint8Array
  head: Commit
  members: readonly Member[]
  /** User ids of admins, sorted. */
  admins: readonly string[]
  /** Every device of every member, sorted by user then device id. */
  devices: readonly DeviceRef[]
  /** One record per accepted epoch; `history[e].epoch === e`. */
  history: readonly EpochRecord[]
}

/** A change to the previous commit's membership, as given to {@link createCommit}. */
export type CommitChange =
  | { action: 'add'; members: readonly MemberInput[] }
  | { action: 'remove'; userIds: readonly string[] }
  | { action: 'add-device'; deviceIds: readonly string[] }
  | { action: 'remove-device'; deviceIds: readonly string[] }
  | { action: 'set-role'; roles: readonly { userId: string; role: MemberRole }[] }
  | { action: 'rotate' }

/** JSON form of a commit (bytes as unpadded base64url). */
export interface CommitJson {
  v: 1
  roomId: string
  kind: RoomKind
  epoch: number
  prev: string
  committer: DeviceRef
  action: CommitAction
  subjects: string[]
  members: { userId: string; kind: MemberKind; role: MemberRole; devices: string[] }[]
  policy: RoomPolicy
  logHead: string
  createdAt: number
  signature: string
}

export const MAX_MEMBERS = 500
export const MAX_DEVICES_PER_MEMBER = 50
export const LOG_HEAD_BYTES = 32
/** The `prev` of a genesis commit. */
export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_BYTES)
export const DEFAULT_POLICY: RoomPolicy = Object.freeze({ whoCanCommit: 'admins' as const })

const malformed: Fail = (message) => new ChainError('malformed', message)

// ---------------------------------------------------------------------------------------
// Shape and canonical form

function normalizeMember(m: unknown, what: string): Member {
  if (typeof m !== 'object' || m === null) throw malformed(`${what} must be an object`)
  const rec = m as Record<string, unknown>
  const userId = expectId(rec.userId, `${what}.userId`, malformed)
  const kind = expectOneOf(rec.kind ?? 'user', MEMBER_KINDS, `${what}.kind`, malformed)
  const role = expectOneOf(rec.role, MEMBER_ROLES, `${what}.role`, malformed)
  const raw = expectArray(rec.devices, MAX_DEVICES_PER_MEMBER, `${what}.devices`, malformed)
  if (raw.length === 0) throw malformed(`${what} must have at least one device`)
  const devices = sortedUniqueIds(raw, `${what}.devices`)
  return Object.freeze({ userId, kind, role, devices })
}

function sortedUniqueIds(raw: readonly unknown[], what: string): readonly string[] {
  const ids = raw.map((d) => expectId(d, what, malformed)).sort(compareIds)
  for (let i = 1; i < ids.length; i++) {
    if (ids[i] === ids[i - 1]) throw malformed(`${what} has a duplicate: ${ids[i]}`)
  }
  return Object.freeze(ids)
}

function normalizeMembers(raw: readonly unknown[]): readonly Member[] {
  if (raw.length === 0) throw malformed('a room has at least one member')
  if (raw.length > MAX_MEMBERS) throw malformed(`a room has at most ${MAX_MEMBERS} members`)
  const members = raw.map((m, i) => normalizeMember(m, `members[${i}]`))
  members.sort((a, b) => compareIds(a.userId, b.userId))
  for (let i = 1; i < members.length; i++) {
    if (members[i]!.userId === members[i - 1]!.userId) {
      throw malformed(`duplicate member ${members[i]!.userId}`)
    }
  }
  return Object.freeze(members)
}

function normalizePolicy(p: unknown): RoomPolicy {
  if (typeof p !== 'object' || p === null) throw malformed('policy must be an object')
  const rec = p as Record<string, unknown>
  return Object.freeze({
    whoCanCommit: expectOneOf(
      rec.whoCanCommit,
      ['admins', 'members'] as const,
      'policy',
      malformed,
    ),
  })
}

/**
 * Checks every field's type, length and range and returns a frozen copy in canonical
 * form (members, devices and subjects sorted). Does not check the signature.
 */
function normalizeUnsigned(c: UnsignedCommit): UnsignedCommit {
  if (c.v !== 1) throw malformed('unsupported commit version')
  if (typeof c.committer !== 'object' || c.committer === null) {
    throw malformed('committer must be an object')
  }
  const committer = c.committer as unknown as Record<string, unknown>
  const subjects = sortedUniqueIds(
    expectArray(c.subjects, MAX_MEMBERS, 'subjects', malformed),
    'subjects',
  )
  return Object.freeze({
    v: 1,
    roomId: expectId(c.roomId, 'roomId', malformed),
    kind: expectOneOf(c.kind, ROOM_KINDS, 'kind', malformed),
    epoch: expectUint(c.epoch, 'epoch', malformed),
    prev: expectBytes(c.prev, HASH_BYTES, 'prev', malformed),
    committer: Object.freeze({
      userId: expectId(committer.userId, 'committer.userId', malformed),
      deviceId: expectId(committer.deviceId, 'committer.deviceId', malformed),
    }),
    action: expectOneOf(c.action, COMMIT_ACTIONS, 'action', malformed),
    subjects,
    members: normalizeMembers(expectArray(c.members, MAX_MEMBERS, 'members', malformed)),
    policy: normalizePolicy(c.policy),
    logHead: expectBytes(c.logHead, LOG_HEAD_BYTES, 'logHead', malformed),
    createdAt: expectUint(c.createdAt, 'createdAt', malformed),
  })
}

function normalizeCommit(c: Commit): Commit {
  const signature = expectBytes(c.signature, SIGNATURE_BYTES, 'signature', malformed)
  return Object.freeze({ ...normalizeUnsigned(c), signature })
}

function encodeMember(m: Member): Uint8Array {
  return encode('member/v1', m.userId, m.kind, m.role, ...[...m.devices].sort(compareIds))
}

function encodeMembers(members: readonly Member[]): Uint8Array {
  const sorted = [...members].sort((a, b) => compareIds(a.userId, b.userId))
  return encode('members/v1', ...sorted.map(encodeMember))
}

/**
 * The canonical bytes a commit's signature covers: context "commit/v1", then every
 * field, with members, devices and subjects sorted so that equal memberships always
 * encode the same.
 */
export function commitSigningBytes(c: UnsignedCommit): Uint8Array {
  return encode(
    'commit/v1',
    c.v,
    c.roomId,
    c.kind,
    c.epoch,
    c.prev,
    c.committer.userId,
    c.committer.deviceId,
    c.action,
    encode('subjects/v1', ...[...c.subjects].sort(compareIds)),
    encodeMembers(c.members),
    encode('policy/v1', c.policy.whoCanCommit),
    c.logHead,
    c.createdAt,
  )
}

/** The one canonical binary form of a signed commit. */
export function serializeCommit(c: Commit): Uint8Array {
  return encode('commit-wire/v1', commitSigningBytes(c), c.signature)
}

/**
 * The hash that identifies a commit (the next commit's `prev`, welcomes and message
 * headers refer to it). Covers the signature too, so it names one exact signed object.
 */
export function commitHash(c: Commit): Uint8Array {
  return hash(encode('commit-hash/v1', serializeCommit(c)))
}

function decodeMember(b: Uint8Array): Member {
  const f = fieldsOfAtLeast(b, 'member/v1', 4, 3 + MAX_DEVICES_PER_MEMBER, malformed)
  return {
    userId: readIdField(field(f, 0, malformed), 'member.userId', malformed),
    kind: expectOneOf(
      readString(field(f, 1, malformed), malformed),
      MEMBER_KINDS,
      'kind',
      malformed,
    ),
    role: expectOneOf(
      readString(field(f, 2, malformed), malformed),
      MEMBER_ROLES,
      'role',
      malformed,
    ),
    devices: f.slice(3).map((d) => readIdField(d, 'device', malformed)),
  }
}

/**
 * Parses the binary form made by {@link serializeCommit}. Refuses anything that is not
 * exactly canonical (re-encoding must give the same bytes), so one commit has one form
 * and one hash. Does not check the signature: that needs the chain ({@link validateChain}).
 */
export function parseCommit(bytes: Uint8Array): Commit {
  const [body, signature] = fieldsOf(bytes, 'commit-wire/v1', 2, malformed)
  const f = fieldsOf(body!, 'commit/v1', 13, malformed)
  const committerUser = readIdField(field(f, 5, malformed), 'committer.userId', malformed)
  const committerDevice = readIdField(field(f, 6, malformed), 'committer.deviceId', malformed)
  const subjects = fieldsOfAtLeast(field(f, 8, malformed), 'subjects/v1', 0, MAX_MEMBERS, malformed)
  const members = fieldsOfAtLeast(field(f, 9, malformed), 'members/v1', 1, MAX_MEMBERS, malformed)
  const policy = fieldsOf(field(f, 10, malformed), 'policy/v1', 1, malformed)
  const commit = normalizeCommit({
    v: readUint(field(f, 0, malformed), 'v', malformed) as 1,
    roomId: readIdField(field(f, 1, malformed), 'roomId', malformed),
    kind: readString(field(f, 2, malformed), malformed) as RoomKind,
    epoch: readUint(field(f, 3, malformed), 'epoch', malformed),
    prev: field(f, 4, malformed).slice(),
    committer: { userId: committerUser, deviceId: committerDevice },
    action: readString(field(f, 7, malformed), malformed) as CommitAction,
    subjects: subjects.map((s) => readIdField(s, 'subject', malformed)),
    members: members.map(decodeMember),
    policy: { whoCanCommit: readString(field(policy, 0, malformed), malformed) as 'admins' },
    logHead: field(f, 11, malformed).slice(),
    createdAt: readUint(field(f, 12, malformed), 'createdAt', malformed),
    signature: signature!.slice(),
  })
  if (!bytesEqual(serializeCommit(commit), bytes)) {
    throw malformed('commit encoding is not canonical')
  }
  return commit
}

/** JSON form of a commit, for APIs that carry JSON. */
export function commitToJson(c: Commit): CommitJson {
  return {
    v: 1,
    roomId: c.roomId,
    kind: c.kind,
    epoch: c.epoch,
    prev: toB64(c.prev),
    committer: { userId: c.committer.userId, deviceId: c.committer.deviceId },
    action: c.action,
    subjects: [...c.subjects],
    members: c.members.map((m) => ({
      userId: m.userId,
      kind: m.kind,
      role: m.role,
      devices: [...m.devices],
    })),
    policy: { whoCanCommit: c.policy.whoCanCommit },
    logHead: toB64(c.logHead),
    createdAt: c.createdAt,
    signature: toB64(c.signature),
  }
}

const COMMIT_JSON_KEYS = [
  'v',
  'roomId',
  'kind',
  'epoch',
  'prev',
  'committer',
  'action',
  'subjects',
  'members',
  'policy',
  'logHead',
  'createdAt',
  'signature',
] as const

/**
 * Parses and validates the JSON form (untrusted input: exact keys, types, lengths).
 * Does not check the signature.
 */
export function commitFromJson(json: unknown): Commit {
  const rec = expectObject(json, COMMIT_JSON_KEYS, 'commit', malformed)
  const members = expectArray(rec.members, MAX_MEMBERS, 'members', malformed).map((m, i) => {
    const mr = expectObject(m, ['userId', 'kind', 'role', 'devices'], `members[${i}]`, malformed)
    return mr as unknown as Member
  })
  expectObject(rec.committer, ['userId', 'deviceId'], 'committer', malformed)
  expectObject(rec.policy, ['whoCanCommit'], 'policy', malformed)
  return normalizeCommit({
    v: rec.v as 1,
    roomId: rec.roomId as string,
    kind: rec.kind as RoomKind,
    epoch: rec.epoch as number,
    prev: expectB64(rec.prev, HASH_BYTES, 'prev', malformed),
    committer: rec.committer as DeviceRef,
    action: rec.action as CommitAction,
    subjects: rec.subjects as string[],
    members,
    policy: rec.policy as RoomPolicy,
    logHead: expectB64(rec.logHead, LOG_HEAD_BYTES, 'logHead', malformed),
    createdAt: rec.createdAt as number,
    signature: expectB64(rec.signature, SIGNATURE_BYTES, 'signature', malformed),
  })
}

// ---------------------------------------------------------------------------------------
// Creating commits

/**
 * Signs a commit as given. Low level: it checks the shape but not whether the change is
 * allowed, so it can produce commits that {@link validateChain} refuses (tests use it to
 * build forgeries). Prefer {@link createGenesis} and {@link createCommit}.
 */
export function signCommit(unsigned: UnsignedCommit, signPrivateKey: Uint8Array): Commit {
  const c = normalizeUnsigned(unsigned)
  expectBytes(signPrivateKey, SIGN_PRIVATE_KEY_BYTES, 'signPrivateKey', malformed)
  return Object.freeze({ ...c, signature: sign(signPrivateKey, commitSigningBytes(c)) })
}

/** Parameters of {@link createGenesis}. */
export interface GenesisParams {
  roomId: string
  kind: RoomKind
  /** The creating device; its user must be an admin member listing this device. */
  committer: DeviceRef
  signPrivateKey: Uint8Array
  members: readonly MemberInput[]
  policy?: RoomPolicy
  logHead: Uint8Array
  createdAt: number
}

/** Creates and signs the genesis commit (epoch 0) of a new room. */
export function createGenesis(p: GenesisParams): Commit {
  const c = signCommit(
    {
      v: 1,
      roomId: p.roomId,
      kind: p.kind,
      epoch: 0,
      prev: ZERO_HASH,
      committer: p.committer,
      action: 'create',
      subjects: [],
      members: p.members as readonly Member[],
      policy: p.policy ?? DEFAULT_POLICY,
      logHead: p.logHead,
      createdAt: p.createdAt,
    },
    p.signPrivateKey,
  )
  checkGenesisShape(c)
  return c
}

/** Parameters of {@link createCommit}. */
export interface CommitParams {
  committer: DeviceRef
  signPrivateKey: Uint8Array
  change: CommitChange
  logHead: Uint8Array
  createdAt: number
}

/**
 * Creates and signs the commit that follows `prev` (which must be the validated head).
 * Computes the full member list after the change and refuses, with the same
 * {@link ChainError} a validator would raise, a change the committer may not make.
 */
export function createCommit(prev: Commit, p: CommitParams): Commit {
  const before = prev.members
  let subjects: string[]
  let after: MemberInput[]
  const change = p.change
  switch (change.action) {
    case 'add':
      subjects = change.members.map((m) => m.userId)
      for (const s of subjects) {
        if (findMember(before, s)) throw fail('bad-delta', `${s} is already a member`)
      }
      after = [...before, ...change.members]
      break
    case 'remove':
      subjects = [...change.userIds]
      after = before.filter((m) => !change.userIds.includes(m.userId))
      break
    case 'add-device':
    case 'remove-device': {
      subjects = [...change.deviceIds]
      const adding = change.action === 'add-device'
      const mine = findMember(before, p.committer.userId)
      if (!mine) throw fail('unauthorised-committer', 'the committer is not a member')
      for (const d of subjects) {
        if (mine.devices.includes(d) === adding) {
          throw fail('bad-delta', `device ${d} is ${adding ? 'already' : 'not'} listed`)
        }
      }
      const devices = adding
        ? [...mine.devices, ...subjects]
        : mine.devices.filter((d) => !subjects.includes(d))
      if (devices.length === 0) {
        throw fail('bad-delta', "a member keeps at least one device; use 'remove' instead")
      }
      after = before.map((m) => (m === mine ? { ...m, devices } : m))
      break
    }
    case 'set-role':
      subjects = change.roles.map((r) => r.userId)
      after = before.map((m) => {
        const r = change.roles.find((x) => x.userId === m.userId)
        return r ? { ...m, role: r.role } : m
      })
      break
    case 'rotate':
      subjects = []
      after = [...before]
      break
  }
  const unsigned = normalizeUnsigned({
    v: 1,
    roomId: prev.roomId,
    kind: prev.kind,
    epoch: prev.epoch + 1,
    prev: commitHash(prev),
    committer: p.committer,
    action: change.action,
    subjects,
    members: after as readonly Member[],
    policy: prev.policy,
    logHead: p.logHead,
    createdAt: p.createdAt,
  })
  if (!isMemberDevice(before, unsigned.committer)) {
    throw new ChainError('unauthorised-committer', 'the committer is not a member device')
  }
  checkTransition(prev.members, prev.policy, unsigned)
  return signCommit(unsigned, p.signPrivateKey)
}

// ---------------------------------------------------------------------------------------
// Validation

function fail(code: ChainErrorCode, message: string, epoch?: number): ChainError {
  return new ChainError(code, message, epoch)
}

/** The member with this user id, if any. */
export function findMember(members: readonly Member[], userId: string): Member | undefined {
  return members.find((m) => m.userId === userId)
}

/** Whether `ref` is a device of a member in `members`. */
export function isMemberDevice(members: readonly Member[], ref: DeviceRef): boolean {
  return findMember(members, ref.userId)?.devices.includes(ref.deviceId) ?? false
}

function sameMember(a: Member, b: Member): boolean {
  return (
    a.userId === b.userId &&
    a.kind === b.kind &&
    a.role === b.role &&
    a.devices.length === b.devices.length &&
    a.devices.every((d, i) => d === b.devices[i])
  )
}

function checkGenesisShape(c: Commit): void {
  const e = c.epoch
  if (e !== 0) throw fail('bad-genesis', 'the first commit must have epoch 0', e)
  if (c.action !== 'create') throw fail('bad-genesis', "the first commit's action is 'create'", e)
  if (!bytesEqual(c.prev, ZERO_HASH)) throw fail('bad-genesis', 'genesis prev must be zero', e)
  if (c.subjects.length !== 0) throw fail('bad-genesis', 'genesis has no subjects', e)
  // The creator decides the initial members, so it must be an admin device among them.
  const creator = findMember(c.members, c.committer.userId)
  if (!creator || !creator.devices.includes(c.committer.deviceId) || creator.role !== 'admin') {
    throw fail('bad-genesis', 'the creator must be an admin member with the signing device', e)
  }
}

/**
 * Whether the committer may make this change, and whether the stated member list is
 * exactly what the action implies. The delta check is what stops a commit that says
 * "rotate" or "add Alice" from also slipping in another member or device (a
 * server-added device would need a member's signature on precisely such a commit).
 */
function checkTransition(before: readonly Member[], policy: RoomPolicy, c: UnsignedCommit): void {
  const e = c.epoch
  const me = findMember(before, c.committer.userId)
  if (!me) throw fail('unauthorised-committer', 'the committer is not a member', e)
  const isAdmin = me.role === 'admin'
  const mayChangeMembers = isAdmin || policy.whoCanCommit === 'members'
  const subjects = c.subjects
  const byId = new Map(before.map((m) => [m.userId, m]))
  const stated = new Map(c.members.map((m) => [m.userId, m]))
  let expected: Member[]

  switch (c.action) {
    case 'create':
      throw fail('bad-delta', "'create' is only valid as the first commit", e)
    case 'add': {
      if (!mayChangeMembers) throw fail('unauthorised-committer', 'only admins add members', e)
      if (subjects.length === 0) throw fail('bad-delta', "'add' names no member", e)
      expected = [...before]
      for (const s of subjects) {
        if (byId.has(s)) throw fail('bad-delta', `${s} is already a member`, e)
        const added = stated.get(s)
        if (!added) throw fail('bad-delta', `added member ${s} is missing from the list`, e)
        expected.push(added)
      }
      break
    }
    case 'remove': {
      const leaving = subjects.length === 1 && subjects[0] === me.userId
      if (!mayChangeMembers && !leaving) {
        throw fail('unauthorised-committer', 'only admins remove other members', e)
      }
      if (subjects.length === 0) throw fail('bad-delta', "'remove' names no member", e)
      for (const s of subjects) {
        if (!byId.has(s)) throw fail('bad-delta', `${s} is not a member`, e)
      }
      expected = before.filter((m) => !subjects.includes(m.userId))
      break
    }
    case 'add-device':
    case 'remove-device': {
      // Subjects are the committer's own devices: nobody adds or removes devices for
      // someone else, so a compromised admin cannot attach a device to another person.
      if (subjects.length === 0) throw fail('bad-delta', `'${c.action}' names no device`, e)
      const adding = c.action === 'add-device'
      for (const d of subjects) {
        if (me.devices.includes(d) === adding) {
          throw fail('bad-delta', `device ${d} is ${adding ? 'already' : 'not'} listed`, e)
        }
      }
      const devices = adding
        ? [...me.devices, ...subjects].sort(compareIds)
        : me.devices.filter((d) => !subjects.includes(d))
      if (devices.length === 0) {
        throw fail('bad-delta', "a member keeps at least one device; use 'remove' instead", e)
      }
      expected = before.map((m) => (m === me ? { ...me, devices } : m))
      break
    }
    case 'set-role': {
      if (!isAdmin) throw fail('unauthorised-committer', 'only admins change roles', e)
      if (subjects.length === 0) throw fail('bad-delta', "'set-role' names no member", e)
      expected = [...before]
      for (const s of subjects) {
        const old = byId.get(s)
        const now = stated.get(s)
        if (!old || !now) throw fail('bad-delta', `${s} is not a member`, e)
        if (old.role === now.role) throw fail('bad-delta', `the role of ${s} does not change`, e)
        expected = expected.map((m) => (m === old ? { ...old, role: now.role } : m))
      }
      break
    }
    case 'rotate':
      if (subjects.length !== 0) throw fail('bad-delta', "'rotate' has no subjects", e)
      expected = [...before]
      break
  }

  expected.sort((a, b) => compareIds(a.userId, b.userId))
  const same =
    expected.length === c.members.length && expected.every((m, i) => sameMember(m, c.members[i]!))
  if (!same) {
    throw fail('bad-delta', `the member list is not what '${c.action}' of its subjects implies`, e)
  }
  if (!c.members.some((m) => m.role === 'admin')) {
    throw fail('no-admin', 'a room keeps at least one admin', e)
  }
}

function checkSignature(c: Commit, roster: readonly Member[], directory: DeviceDirectory): void {
  const e = c.epoch
  if (!isMemberDevice(roster, c.committer)) {
    throw fail('unauthorised-committer', 'the committer is not a device of a current member', e)
  }
  const keys = directory(c.committer.userId, c.committer.deviceId)
  if (!keys) throw fail('unknown-device', 'the committing device is not verified', e)
  if (!verify(c.signature, commitSigningBytes(c), keys.signPk)) {
    throw fail('bad-signature', 'commit signature does not verify', e)
  }
}

/** Devices must be verified before they can receive epoch secrets (no server-planted devices). */
function checkDevicesKnown(
  members: readonly Member[],
  before: readonly Member[],
  directory: DeviceDirectory,
  epoch: number,
): void {
  for (const m of members) {
    for (const d of m.devices) {
      const ref = { userId: m.userId, deviceId: d }
      if (isMemberDevice(before, ref)) continue
      if (!directory(m.userId, d)) {
        throw fail('unknown-device', `device ${m.userId}/${d} is not verified`, epoch)
      }
    }
  }
}

function stateFrom(c: Commit, headHash: Uint8Array, history: readonly EpochRecord[]): RoomState {
  return Object.freeze({
    roomId: c.roomId,
    kind: c.kind,
    policy: c.policy,
    epoch: c.epoch,
    headHash,
    head: c,
    members: c.members,
    admins: Object.freeze(c.members.filter((m) => m.role === 'admin').map((m) => m.userId)),
    devices: Object.freeze(
      c.members.flatMap((m) => m.devices.map((deviceId) => ({ userId: m.userId, deviceId }))),
    ),
    history,
  })
}

function record(c: Commit, h: Uint8Array): EpochRecord {
  return Object.freeze({
    epoch: c.epoch,
    commitHash: h,
    createdAt: c.createdAt,
    members: c.members,
  })
}

/**
 * Validates a whole chain from its genesis and returns the room it justifies.
 *
 * Checks, per commit: canonical shape; genesis (epoch 0, zero prev, 'create', creator an
 * admin); `prev` is the hash of the previous commit and epochs go up by exactly one
 * (reordering, gaps and splices fail); the committer is a device of a member *before*
 * the commit, is verified in `directory`, and signed it; the policy allows the action;
 * the member list is exactly what the action implies; every newly listed device is
 * verified. Throws {@link ChainError} at the first problem.
 */
export function validateChain(commits: readonly Commit[], directory: DeviceDirectory): RoomState {
  const first = commits[0]
  if (!first) throw fail('bad-genesis', 'a chain starts with a genesis commit')
  const genesis = normalizeCommit(first)
  checkGenesisShape(genesis)
  checkSignature(genesis, genesis.members, directory)
  checkDevicesKnown(genesis.members, [], directory, 0)
  const h = commitHash(genesis)
  const state = stateFrom(genesis, h, Object.freeze([record(genesis, h)]))
  return validateExtension(state, commits.slice(1), directory)
}

/**
 * Extends an already validated state with newer commits (incremental sync). Refuses a
 * commit for an epoch already accepted: the same commit again is a `'rollback'` (the
 * server replays old state), a different validly signed one a `'fork'` (two views of
 * the room exist; show it to the user). The input state is never changed.
 */
export function validateExtension(
  state: RoomState,
  newCommits: readonly Commit[],
  directory: DeviceDirectory,
): RoomState {
  let current = state
  const history = [...state.history]
  for (const raw of newCommits) {
    const c = normalizeCommit(raw)
    const e = c.epoch
    if (c.roomId !== current.roomId) throw fail('wrong-room', 'commit is for another room', e)
    if (e <= current.epoch) {
      const h = commitHash(c)
      const accepted = history[e]
      if (accepted && bytesEqual(accepted.commitHash, h)) {
        throw fail(
          'rollback',
          `epoch ${e} was already accepted; the chain is at ${current.epoch}`,
          e,
        )
      }
      // Only call it a fork if a member of that epoch really signed the alternative;
      // otherwise it is just a forgery.
      checkSignature(c, e === 0 ? c.members : history[e - 1]!.members, directory)
      throw fail('fork', `a different commit for accepted epoch ${e}`, e)
    }
    if (e !== current.epoch + 1) {
      throw fail('bad-epoch', `expected epoch ${current.epoch + 1}, got ${e}`, e)
    }
    if (!bytesEqual(c.prev, current.headHash)) {
      throw fail('bad-prev', 'prev is not the hash of the previous commit', e)
    }
    if (c.kind !== current.kind || c.policy.whoCanCommit !== current.policy.whoCanCommit) {
      throw fail('bad-delta', 'room kind and policy are fixed at genesis', e)
    }
    checkSignature(c, current.members, directory)
    checkTransition(current.members, current.policy, c)
    checkDevicesKnown(c.members, current.members, directory, e)
    const h = commitHash(c)
    history.push(record(c, h))
    current = stateFrom(c, h, history)
  }
  if (current === state) return state
  return stateFrom(current.head, current.headHash, Object.freeze(history))
}

/** The membership of a past or current epoch of a validated room. */
export function epochRecord(state: RoomState, epoch: number): EpochRecord | undefined {
  return Number.isSafeInteger(epoch) && epoch >= 0 ? state.history[epoch] : undefined
}
