import { beforeAll, describe, expect, it } from 'vitest'
import { cryptoReady, randomBytes, toB64 } from '@vs/crypto'
import { KeyConfigError, keysFromEnv } from './keys.js'

const keyFile = (kid: string, createdAt: number) => ({
  kid,
  seed: toB64(randomBytes(32)),
  createdAt,
})

describe('server keys from the environment', () => {
  beforeAll(() => cryptoReady())

  it('takes every token key for verifying and the newest for signing', () => {
    const keys = keysFromEnv(
      JSON.stringify([keyFile('old', 1), keyFile('new', 2)]),
      JSON.stringify(keyFile('log', 1)),
    )
    expect(keys.tokenKeys.map((k) => k.kid)).toEqual(['new', 'old'])
    expect(keys.log.publicKey).toHaveLength(32)
  })

  it.each([
    ['not json', '{}', 'TOKEN_KEYS'],
    ['[]', JSON.stringify(keyFile('l', 1)), 'TOKEN_KEYS'],
    [
      JSON.stringify([{ kid: 'x', seed: 'short', createdAt: 1 }]),
      JSON.stringify(keyFile('l', 1)),
      'TOKEN_KEYS',
    ],
    [JSON.stringify([keyFile('t', 1)]), 'nope', 'LOG_KEY'],
  ])('refuses %s / %s naming %s', (tokens, log, variable) => {
    let err: unknown
    try {
      keysFromEnv(tokens, log)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(KeyConfigError)
    expect((err as KeyConfigError).variable).toBe(variable)
  })
})
