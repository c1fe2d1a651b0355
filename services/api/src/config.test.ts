import { describe, expect, it } from 'vitest'
import { ConfigError, envToCfg, readEnv } from './config.js'

describe('configuration', () => {
  it('uses the documented defaults', () => {
    const cfg = envToCfg({})
    expect(cfg.port).toBe(8080)
    expect(cfg.databaseUrl).toBeUndefined()
    expect(cfg.dataDir).toMatch(/data$/)
  })

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ TRUST_PROXY: 'maybe' }, 'TRUST_PROXY'],
    [{ BODY_LIMIT: '10' }, 'BODY_LIMIT'],
  ])('refuses %o naming the variable', (env, variable) => {
    let caught: unknown
    try {
      envToCfg(env)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ConfigError)
    expect((caught as ConfigError).variable).toBe(variable)
    expect((caught as Error).message).toMatch(new RegExp(`^${variable}: `))
  })

  it('treats empty variables as unset', () => {
    expect(readEnv({ PORT: '', DATABASE_URL: '' })).toMatchObject({
      PORT: undefined,
      DATABASE_URL: undefined,
    })
  })
})
