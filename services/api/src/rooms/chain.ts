/**
 * The membership chain on the server: one linear chain per room. The server parses
 * commits (membership is routing metadata it needs) and validates each extension
 * against its directory to refuse garbage early; clients validate independently and
 * never trust this check.
 */
import {
  ChainError,
  commitHash,
  parseCommit,
  validateChain,
  validateExtension,
  type Commit,
  type RoomState,
} from '@vs/crypto'
import type { WelcomeWire } from '@vs/protocol'
import { fromB64 } from '@vs/crypto'
import type { Transaction } from 'kysely'
import type { AppContext } from '../context.js'
import type { Database } from '../db/schema.js'
import type { Principal } from '../identity/principal.js'
import { createError, errors } from '../errors.js'
import { appendAudit } from '../audit.js'
import { advisesDesk } from './access.js'
import { loadDirectory } from './directory.js'
import { insertEvents, type StoredEvent } from './events.js'

type Trx = Transaction<Database>

function parse(bytes: Uint8Array): Commit {
  try {
    return parseCommit(bytes)
  } catch {
    throw createError('VS_COMMIT_MALFORMED', 'Ongeldige commit / Malformed commit', 400)
  }
}

function chainRefused(err: unknown): never {
  if (err instanceof ChainError) {
    if (
      err.code === 'fork' ||
      err.code === 'rollback' ||
      err.code === 'bad-prev' ||
      err.code === 'bad-epoch'
    ) {
      throw createError(
        'VS_CHAIN_CONFLICT',
        `Kamer is intussen gewijzigd; haal de laatste stand op / Chain conflict (${err.code})`,
        409,
      )
    }
    throw createError('VS_COMMIT_REFUSED', `Commit geweigerd / Commit refused (${err.code})`, 400)
  }
  throw err
}

/** The caller must be the committer, with a live device of their own. */
async function checkCommitter(trx: Trx, principal: Principal, commit: Commit, actAs: string[]) {
  const who = commit.committer.userId
  if (who === principal.userId) {
    const dev = await trx
      .selectFrom('devices')
      .select('revoked_at')
      .where('user_id', '=', principal.userId)
      .where('device_id', '=', commit.committer.deviceId)
      .executeTakeFirst()
    if (!dev || dev.revoked_at)
      throw errors.forbidden('Onbekend of ingetrokken apparaat / Unknown or revoked device')
    return
  }
  // `actAs` was read before the transaction; a desk is asked again under a lock, so an
  // advisor removed meanwhile cannot change the desk's rooms after the removal.
  if (!actAs.includes(who) || !(await advisesDesk(trx, principal.userId, who, { lock: true })))
    throw errors.forbidden(
      'Je mag niet namens deze committer / Not allowed to commit as this member',
    )
}

/** Members must be people or desks of the caller's region. */
export async function checkMembersInRegion(trx: Trx, regionId: string, commit: Commit) {
  const users = commit.members
    .filter((m) => m.kind === 'user' && !m.userId.startsWith('anon_'))
    .map((m) => m.userId)
  const desks = commit.members.filter((m) => m.kind === 'desk').map((m) => m.userId)
  if (users.length) {
    const found = await trx
      .selectFrom('users')
      .select('id')
      .where('id', 'in', users)
      .where('region_id', '=', regionId)
      .execute()
    if (found.length !== users.length) throw errors.badRequest('Onbekend lid / Unknown member')
  }
  if (desks.length) {
    const found = await trx
      .selectFrom('desks')
      .innerJoin('organisations', 'organisations.id', 'desks.organisation_id')
      .select('desks.id')
      .where('desks.id', 'in', desks)
      .where('organisations.region_id', '=', regionId)
      .execute()
    if (found.length !== desks.length) throw errors.badRequest('Onbekende desk / Unknown desk')
  }
}

async function storeMembersAndWelcomes(
  trx: Trx,
  state: RoomState,
  welcomes: readonly WelcomeWire[],
) {
  await trx.deleteFrom('room_members').where('room_id', '=', state.roomId).execute()
  await trx
    .insertInto('room_members')
    .values(
      state.members.map((m) => ({
        room_id: state.roomId,
        member_id: m.userId,
        member_kind: m.kind,
        role: m.role,
        devices: JSON.stringify(m.devices),
      })),
    )
    .execute()
  const valid = new Set(state.devices.map((d) => `${d.userId}\u0000${d.deviceId}`))
  for (const w of welcomes) {
    if (!valid.has(`${w.memberId}\u0000${w.deviceId}`)) {
      throw errors.badRequest(
        'Welkomstbericht voor een apparaat buiten de kamer / Welcome for a device not in the room',
      )
    }
  }
  if (welcomes.length) {
    await trx
      .insertInto('room_welcomes')
      .values(
        welcomes.map((w) => ({
          room_id: state.roomId,
          epoch: state.epoch,
          member_id: w.memberId,
          device_id: w.deviceId,
          sealed: fromB64(w.sealed),
        })),
      )
      .execute()
  }
}

export async function createRoom(
  ctx: AppContext,
  principal: Principal,
  genesisBytes: Uint8Array,
  welcomes: readonly WelcomeWire[],
  actAs: string[],
  inTrx?: (trx: Trx, genesis: Commit) => Promise<void>,
): Promise<{ roomId: string; event: StoredEvent }> {
  const genesis = parse(genesisBytes)
  return ctx.db.db.transaction().execute(async (trx) => {
    await checkCommitter(trx, principal, genesis, actAs)
    await checkMembersInRegion(trx, principal.regionId, genesis)
    const r = await insertGenesis(
      trx,
      ctx,
      principal.regionId,
      principal.userId,
      genesis,
      genesisBytes,
      welcomes,
    )
    await inTrx?.(trx, genesis)
    return r
  })
}

/** Validates and stores a genesis commit as a new room (caller checked who may create it). */
export async function insertGenesis(
  trx: Trx,
  ctx: AppContext,
  regionId: string,
  createdBy: string | null,
  genesis: Commit,
  genesisBytes: Uint8Array,
  welcomes: readonly WelcomeWire[],
): Promise<{ roomId: string; event: StoredEvent }> {
  let state: RoomState
  try {
    state = validateChain([genesis], await loadDirectory(trx, [genesis]))
  } catch (err) {
    chainRefused(err)
  }
  const exists = await trx
    .selectFrom('rooms')
    .select('id')
    .where('id', '=', genesis.roomId)
    .executeTakeFirst()
  if (exists) throw errors.conflict('VS_ROOM_EXISTS', 'Kamer bestaat al / Room already exists')
  const hash = commitHash(genesis)
  await trx
    .insertInto('rooms')
    .values({
      id: genesis.roomId,
      kind: genesis.kind,
      region_id: regionId,
      created_by: createdBy,
      created_at: ctx.now(),
      epoch: 0,
      head_hash: hash,
      last_seq: 0,
    })
    .execute()
  await storeMembersAndWelcomes(trx, state, welcomes)
  const [outcome] = await insertEvents(
    trx,
    [
      {
        roomId: genesis.roomId,
        kind: 'commit',
        senderId: genesis.committer.userId,
        senderDevice: genesis.committer.deviceId,
        idem: 'genesis-0000',
        body: genesisBytes,
      },
    ],
    () => undefined,
  )
  if (!outcome?.ok || !outcome.event) throw new Error('genesis insert failed')
  await trx
    .insertInto('room_commits')
    .values({
      room_id: genesis.roomId,
      epoch: 0,
      commit: genesisBytes,
      commit_hash: hash,
      seq: outcome.seq,
    })
    .execute()
  await appendAudit(trx, {
    event: 'room.created',
    actorUserId: createdBy,
    actorDeviceId: createdBy ? genesis.committer.deviceId : null,
    subjectKind: genesis.kind,
    subjectId: genesis.roomId,
  })
  return { roomId: genesis.roomId, event: outcome.event }
}

export async function loadChain(
  db: Trx | AppContext['db']['db'],
  roomId: string,
): Promise<Commit[]> {
  const rows = await db
    .selectFrom('room_commits')
    .select('commit')
    .where('room_id', '=', roomId)
    .orderBy('epoch')
    .execute()
  return rows.map((r) => parseCommit(new Uint8Array(r.commit)))
}

export async function appendCommit(
  ctx: AppContext,
  principal: Principal,
  roomId: string,
  commitBytes: Uint8Array,
  welcomes: readonly WelcomeWire[],
  idem: string,
  actAs: string[],
): Promise<{ seq: number; duplicate: boolean; event?: StoredEvent }> {
  const commit = parse(commitBytes)
  if (commit.roomId !== roomId)
    throw errors.badRequest('Commit hoort bij een andere kamer / Commit is for another room')
  return ctx.db.db.transaction().execute(async (trx) => {
    // Lock the room first: commits to one room are strictly serialised.
    const room = await trx
      .selectFrom('rooms')
      .select(['epoch', 'region_id'])
      .where('id', '=', roomId)
      .forUpdate()
      .executeTakeFirst()
    if (!room) throw errors.notFound('Kamer niet gevonden / Room not found')
    const dup = await trx
      .selectFrom('room_events')
      .select('seq')
      .where('room_id', '=', roomId)
      .where('sender_id', '=', commit.committer.userId)
      .where('sender_device', '=', commit.committer.deviceId)
      .where('idem_key', '=', idem)
      .executeTakeFirst()
    if (dup) return { seq: dup.seq, duplicate: true }
    await checkCommitter(trx, principal, commit, actAs)
    await checkMembersInRegion(trx, room.region_id, commit)
    const chain = await loadChain(trx, roomId)
    let state: RoomState
    try {
      const dir = await loadDirectory(trx, [...chain, commit])
      state = validateExtension(validateChain(chain, dir), [commit], dir)
    } catch (err) {
      chainRefused(err)
    }
    const hash = commitHash(commit)
    await trx
      .updateTable('rooms')
      .set({ epoch: commit.epoch, head_hash: hash, last_commit_at: new Date() })
      .where('id', '=', roomId)
      .execute()
    await storeMembersAndWelcomes(trx, state, welcomes)
    const [outcome] = await insertEvents(
      trx,
      [
        {
          roomId,
          kind: 'commit',
          senderId: commit.committer.userId,
          senderDevice: commit.committer.deviceId,
          idem,
          body: commitBytes,
        },
      ],
      () => undefined,
    )
    if (!outcome?.ok) throw new Error('commit insert failed')
    await trx
      .insertInto('room_commits')
      .values({
        room_id: roomId,
        epoch: commit.epoch,
        commit: commitBytes,
        commit_hash: hash,
        seq: outcome.seq,
      })
      .execute()
    await appendAudit(trx, {
      event: `room.commit.${commit.action}`,
      actorUserId: principal.userId,
      actorDeviceId: commit.committer.deviceId,
      subjectKind: 'room',
      subjectId: roomId,
      details: { epoch: commit.epoch },
    })
    return { seq: outcome.seq, duplicate: false, event: outcome.event! }
  })
}
