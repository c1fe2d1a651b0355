/**
 * Rooms: the signed membership chain, epoch secrets and welcomes, message envelopes and
 * signed notice metadata. Pure functions over bytes; no I/O.
 */
export {
  COMMIT_ACTIONS,
  DEFAULT_POLICY,
  LOG_HEAD_BYTES,
  MAX_DEVICES_PER_MEMBER,
  MAX_MEMBERS,
  MEMBER_KINDS,
  MEMBER_ROLES,
  ROOM_KINDS,
  ZERO_HASH,
  commitFromJson,
  commitHash,
  commitSigningBytes,
  commitToJson,
  createCommit,
  createGenesis,
  epochRecord,
  findMember,
  isMemberDevice,
  parseCommit,
  serializeCommit,
  signCommit,
  validateChain,
  validateExtension,
} from './commit.js'
export type {
  Commit,
  CommitAction,
  CommitChange,
  CommitJson,
  CommitParams,
  DeviceDirectory,
  DeviceKeys,
  DeviceRef,
  EpochRecord,
  GenesisParams,
  Member,
  MemberInput,
  MemberKind,
  MemberRole,
  RoomKind,
  RoomPolicy,
  RoomState,
  UnsignedCommit,
} from './commit.js'
export {
  EPOCH_SECRET_BYTES,
  ROTATION_INTERVAL_MS,
  createWelcome,
  createWelcomes,
  needsRotation,
  newEpochSecret,
  openWelcome,
  senderKey,
} from './epoch.js'
export type { OpenedWelcome, Welcome, WelcomeParams } from './epoch.js'
export {
  ENVELOPE_VERSION,
  MAX_GAP_RANGES,
  MAX_PLAINTEXT_BYTES,
  ReceiverState,
  SenderState,
  encodeHeader,
  envelopeHash,
  openEnvelope,
  paddedLength,
  parseEnvelope,
  sealEnvelope,
  serializeEnvelope,
} from './envelope.js'
export type {
  CounterRange,
  Envelope,
  EnvelopeHeader,
  MissingCounters,
  OpenOptions,
  OpenedEnvelope,
  ReceiverStateJson,
  SealEnvelopeParams,
  SenderStateJson,
} from './envelope.js'
export {
  MAX_NOTICE_DATES,
  NOTICE_KINDS,
  decodeNoticeContent,
  encodeNoticeContent,
  noticeMetaBytes,
  signNoticeMeta,
  signedNoticeMetaFromJson,
  signedNoticeMetaToJson,
  verifyNoticeMeta,
} from './notice.js'
export type {
  NoticeChecks,
  NoticeContent,
  NoticeDates,
  NoticeKind,
  NoticeMeta,
  SignedNoticeMeta,
  SignedNoticeMetaJson,
} from './notice.js'
export { ChainError, EnvelopeError, NoticeError, WelcomeError } from './errors.js'
export type {
  ChainErrorCode,
  EnvelopeErrorCode,
  NoticeErrorCode,
  UserMessage,
  WelcomeErrorCode,
} from './errors.js'
