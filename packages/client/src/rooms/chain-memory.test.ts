import { beforeAll, describe, expect, it } from 'vitest'
import {
  commitHash,
  createCommit,
  createGenesis,
  cryptoReady,
  generateBoxKeyPair,
  generateSigningKeyPair,
  validateChain,
  type Commit,
  type DeviceDirectory,
  type DeviceKeys,
  type RoomState,
  type SigningKeyPair,
} from '@vs/crypto'
import { checkChainMemory } from './chain-memory.js'
import { ChainRefusedError } from './session.js'

const LOG_HEAD = new Uint8Array(32)

describe('chain memory', () => {
  let sign: SigningKeyPair
  let keys: DeviceKeys
  let chain: Commit[]
  let state: RoomState

  const rotate = (prev: Commit, at: number): Commit =>
    createCommit(prev, {
      committer: { userId: 'anna', deviceId: 'a1' },
      signPrivateKey: sign.privateKey,
      change: { action: 'rotate' },
      logHead: LOG_HEAD,
      createdAt: at,
    })
  const head = (c: Commit) => ({ epoch: c.epoch, commitHash: commitHash(c) })
  const directory: DeviceDirectory = (u, d) => (u === 'anna' && d === 'a1' ? keys : undefined)

  beforeAll(async () => {
    await cryptoReady()
    sign = generateSigningKeyPair()
    keys = { signPk: sign.publicKey, boxPk: generateBoxKeyPair().publicKey }
    const genesis = createGenesis({
      roomId: 'room-1',
      kind: 'case',
      committer: { userId: 'anna', deviceId: 'a1' },
      signPrivateKey: sign.privateKey,
      members: [{ userId: 'anna', role: 'admin', devices: ['a1'] }],
      logHead: LOG_HEAD,
      createdAt: 1,
    })
    const first = rotate(genesis, 2)
    chain = [genesis, first, rotate(first, 3)]
    state = validateChain(chain, directory)
  })

  it('accepts a chain that reaches every remembered head with the same commit', () => {
    expect(checkChainMemory('room-1', state, [])).toBeUndefined()
    expect(checkChainMemory('room-1', state, chain.map(head))).toBeUndefined()
  })

  it('refuses a chain that ends before a remembered head as a rollback', () => {
    const short = validateChain(chain.slice(0, 2), directory)
    const err = checkChainMemory('room-1', short, [head(chain[2]!)])
    expect(err).toBeInstanceOf(ChainRefusedError)
    expect(err!.code).toBe('rollback')
    expect(checkChainMemory('room-1', undefined, [head(chain[0]!)])!.code).toBe('rollback')
  })

  it('refuses another commit for a remembered epoch as a fork', () => {
    const other = rotate(chain[0]!, 99)
    expect(checkChainMemory('room-1', state, [head(other)])!.code).toBe('fork')
  })

  it('names the lowest remembered epoch the chain contradicts', () => {
    const other = rotate(chain[0]!, 99)
    expect(
      checkChainMemory('room-1', state, [
        { epoch: 5, commitHash: new Uint8Array(32) },
        head(other),
      ])!.code,
    ).toBe('fork')
  })
})
