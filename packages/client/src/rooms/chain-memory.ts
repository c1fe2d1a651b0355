/**
 * What a device remembers of a room's commit chain between loads. A chain the server cut
 * back (its latest commits deleted) still validates from genesis on its own; only the
 * device's memory of how far the chain went shows the cut.
 */
import { bytesEqual, type RoomState } from '@vs/crypto'
import { ChainRefusedError } from './session.js'

/** A point of a room's commit chain: the epoch and the hash of the commit that started it. */
export interface ChainHead {
  epoch: number
  commitHash: Uint8Array
}

/**
 * Where a device remembers, per room and acting identity, the furthest commit it accepted.
 * When a room is opened, a validated chain that ends before it is refused as `'rollback'`,
 * one with another commit for that epoch as `'fork'`.
 *
 * The rooms client saves a head only after the chain up to it was validated, and only
 * when it is past the head it loaded or saved before. A store shared by several clients
 * (browser tabs) should keep the head with the higher epoch.
 */
export interface ChainHeadStore {
  /** The furthest head saved for this room and identity, or `undefined` if none. */
  load(roomId: string, as: { memberId: string; deviceId: string }): Promise<ChainHead | undefined>
  save(roomId: string, as: { memberId: string; deviceId: string }, head: ChainHead): Promise<void>
}

/**
 * Checks a validated chain (`state`, `undefined` when the server served none) against
 * heads this device accepted before. Returns the refusal, or `undefined` if the chain
 * reaches every known head with the same commit.
 */
export function checkChainMemory(
  roomId: string,
  state: RoomState | undefined,
  known: readonly ChainHead[],
): ChainRefusedError | undefined {
  const end = state?.epoch ?? -1
  for (const k of [...known].sort((a, b) => a.epoch - b.epoch)) {
    if (k.epoch > end) {
      return new ChainRefusedError(
        'rollback',
        `kamer ${roomId}: de keten eindigt bij epoch ${end}, dit apparaat accepteerde al epoch ${k.epoch} (rollback)`,
      )
    }
    const accepted = state?.history[k.epoch]
    if (!accepted || !bytesEqual(accepted.commitHash, k.commitHash)) {
      return new ChainRefusedError(
        'fork',
        `kamer ${roomId}: een andere commit voor epoch ${k.epoch} dan dit apparaat accepteerde (fork)`,
      )
    }
  }
  return undefined
}
