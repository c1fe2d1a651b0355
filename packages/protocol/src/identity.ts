/**
 * Identity wire types: organisations, invitations, sign-in, sessions, devices, key log.
 * Bytes travel as unpadded base64url strings.
 */
import { Type, type Static } from '@sinclair/typebox'
import { B64, Id, IsoDate, Key32, Sig64 } from './common.js'

export const ORG_KINDS = [
  'verloskunde',
  'kraamzorg',
  'jgz',
  'huisarts',
  'ziekenhuis',
  'wijkteam',
  'kinderopvang',
  'politie',
  'raad-voor-de-kinderbescherming',
  'jeugdbescherming',
  'veilig-thuis',
  'anders',
] as const
export const OrgKind = Type.Unsafe<(typeof ORG_KINDS)[number]>(
  Type.String({ enum: [...ORG_KINDS] }),
)
export type OrgKind = Static<typeof OrgKind>

export const ROLES = ['professional', 'advisor', 'coordinator'] as const
export const Role = Type.Unsafe<(typeof ROLES)[number]>(Type.String({ enum: [...ROLES] }))
export type Role = Static<typeof Role>

export const Name = Type.String({ minLength: 1, maxLength: 200 })
export const Email = Type.String({ format: 'email', maxLength: 254 })
export const Password = Type.String({ minLength: 12, maxLength: 1024 })
export const TotpCode = Type.String({ pattern: '^\\d{6}$' })

export const Organisation = Type.Object({
  id: Id,
  regionId: Id,
  name: Name,
  kind: OrgKind,
  createdAt: IsoDate,
})
export type Organisation = Static<typeof Organisation>

export const CreateOrganisation = Type.Object({ name: Name, kind: OrgKind })
export type CreateOrganisation = Static<typeof CreateOrganisation>

export const CreateInvitation = Type.Object({
  email: Email,
  name: Name,
  discipline: Type.String({ minLength: 1, maxLength: 100 }),
  organisationId: Id,
  role: Role,
  /** Hours until the invitation expires (default 72). */
  validHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 14 })),
})
export type CreateInvitation = Static<typeof CreateInvitation>

export const InvitationCreated = Type.Object({
  id: Id,
  /** Single-use secret; shown once to the coordinator to pass on. */
  code: Type.String(),
  expiresAt: IsoDate,
})
export type InvitationCreated = Static<typeof InvitationCreated>

export const InvitationInfo = Type.Object({
  name: Name,
  email: Email,
  discipline: Type.String(),
  role: Role,
  organisation: Type.Object({ id: Id, name: Name, kind: OrgKind }),
  expiresAt: IsoDate,
})
export type InvitationInfo = Static<typeof InvitationInfo>

export const AcceptInvitation = Type.Object({ password: Password })
export const InvitationAccepted = Type.Object({
  /** Base32 TOTP secret and its otpauth:// URI (shown as a QR code). */
  totpSecret: Type.String(),
  otpauthUri: Type.String(),
})
export type InvitationAccepted = Static<typeof InvitationAccepted>

export const ConfirmInvitation = Type.Object({ password: Password, totp: TotpCode })

export const SignIn = Type.Object({
  email: Email,
  password: Type.String({ minLength: 1, maxLength: 1024 }),
  totp: TotpCode,
})
export type SignIn = Static<typeof SignIn>

export const Me = Type.Object({
  userId: Id,
  name: Name,
  email: Email,
  discipline: Type.String(),
  role: Role,
  organisation: Type.Object({ id: Id, name: Name, kind: OrgKind }),
  regionId: Id,
  regionName: Type.String(),
  hasMasterKey: Type.Boolean(),
})
export type Me = Static<typeof Me>

export const Session = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer(),
  sessionId: Id,
  user: Me,
})
export type Session = Static<typeof Session>

export const Refresh = Type.Object({ refreshToken: Type.String({ minLength: 10, maxLength: 200 }) })
export const Tokens = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer(),
  sessionId: Id,
})
export type Tokens = Static<typeof Tokens>

export const SessionInfo = Type.Object({
  id: Id,
  createdAt: IsoDate,
  lastUsedAt: IsoDate,
  userAgent: Type.String(),
  current: Type.Boolean(),
})
export type SessionInfo = Static<typeof SessionInfo>

/** The account master key: public key plus its secret wrapped under the recovery key. */
export const PublishMasterKey = Type.Object({
  masterPk: Key32,
  /** Master secret wrapped with the backup key (XChaCha20-Poly1305, "backup/v1"). */
  wrappedMasterSecret: B64({ maxLength: 512 }),
})
export type PublishMasterKey = Static<typeof PublishMasterKey>

export const DeviceCertWire = Type.Object({
  userId: Id,
  deviceId: Id,
  signPk: Key32,
  boxPk: Key32,
  notAfter: Type.Integer({ minimum: 0 }),
  signature: Sig64,
})
export type DeviceCertWire = Static<typeof DeviceCertWire>

export const RegisterDevice = Type.Object({
  cert: DeviceCertWire,
  name: Type.String({ minLength: 1, maxLength: 100 }),
})
export type RegisterDevice = Static<typeof RegisterDevice>

export const DeviceInfo = Type.Object({
  deviceId: Id,
  name: Type.String(),
  cert: DeviceCertWire,
  createdAt: IsoDate,
  revokedAt: Type.Union([IsoDate, Type.Null()]),
})
export type DeviceInfo = Static<typeof DeviceInfo>

export const RevokeDevice = Type.Object({
  revokedAt: Type.Integer({ minimum: 0 }),
  signature: Sig64,
})
export type RevokeDevice = Static<typeof RevokeDevice>

export const UserKeys = Type.Object({
  userId: Id,
  name: Name,
  discipline: Type.String(),
  organisationName: Type.String(),
  masterPk: Type.Union([Key32, Type.Null()]),
  devices: Type.Array(DeviceCertWire),
})
export type UserKeys = Static<typeof UserKeys>

export const KeyLogEntryWire = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  kind: Type.String(),
  subject: Type.String(),
  payload: B64({ maxLength: 8192 }),
})
export type KeyLogEntryWire = Static<typeof KeyLogEntryWire>

export const SignedHeadWire = Type.Object({
  size: Type.Integer({ minimum: 0 }),
  head: Key32,
  signature: Sig64,
})
export type SignedHeadWire = Static<typeof SignedHeadWire>

export const KeyLogPage = Type.Object({
  logPublicKey: Key32,
  sth: SignedHeadWire,
  entries: Type.Array(KeyLogEntryWire),
})
export type KeyLogPage = Static<typeof KeyLogPage>

/**
 * A new device asks to be linked. `mac` binds its keys to a secret code shown only on
 * its own screen (keyed BLAKE2b over the keys); the approving device recomputes it from
 * the code the user types, so a server that swaps in its own keys is caught.
 */
export const DeviceLinkRequest = Type.Object({
  signPk: Key32,
  boxPk: Key32,
  deviceId: Id,
  mac: Key32,
})
export type DeviceLinkRequest = Static<typeof DeviceLinkRequest>
export const DeviceLinkPending = Type.Object({
  linkId: Id,
  deviceId: Id,
  signPk: Key32,
  boxPk: Key32,
  mac: Key32,
  createdAt: IsoDate,
})
export type DeviceLinkPending = Static<typeof DeviceLinkPending>
export const DeviceLinkApprove = Type.Object({
  cert: DeviceCertWire,
  /** The master secret sealed to the new device's box key, signed by the approving device. */
  sealedMaster: B64({ maxLength: 1024 }),
})
export type DeviceLinkApprove = Static<typeof DeviceLinkApprove>
export const DeviceLinkState = Type.Object({
  linkId: Id,
  status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('expired')]),
  cert: Type.Optional(DeviceCertWire),
  sealedMaster: Type.Optional(B64({ maxLength: 1024 })),
})
export type DeviceLinkState = Static<typeof DeviceLinkState>

export const Desk = Type.Object({
  id: Id,
  organisationId: Id,
  name: Name,
  purpose: Type.Union([Type.Literal('advies'), Type.Literal('meldingen')]),
  keyVersion: Type.Integer(),
  signPk: Type.Union([Key32, Type.Null()]),
  boxPk: Type.Union([Key32, Type.Null()]),
})
export type Desk = Static<typeof Desk>

export const DirectoryEntry = Type.Object({
  userId: Id,
  name: Name,
  discipline: Type.String(),
  role: Role,
  organisation: Type.Object({ id: Id, name: Name, kind: OrgKind }),
  masterPk: Type.Union([Key32, Type.Null()]),
})
export type DirectoryEntry = Static<typeof DirectoryEntry>
