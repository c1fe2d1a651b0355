import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cryptoReady, generateBoxKeyPair, generateSigningKeyPair } from '@vs/crypto'
import {
  FileKeyStore,
  KeyStoreError,
  LocalStorageKeyStore,
  MemoryKeyStore,
  parseLinkCode,
  type KeyStore,
} from '../src/index.js'
import { openDeskGrant, sealDeskGrant } from '../src/desk-grant.js'
import { checkLinkMac, linkMac, newLinkCode } from '../src/link-code.js'

async function roundTrip(store: KeyStore): Promise<void> {
  expect(await store.get('a')).toBeUndefined()
  await store.set('a', 'één')
  await store.set('b', '{"x":1}')
  expect(await store.get('a')).toBe('één')
  await store.delete('a')
  await store.delete('never')
  expect(await store.get('a')).toBeUndefined()
  expect(await store.get('b')).toBe('{"x":1}')
}

describe('key stores', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vs-store-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('MemoryKeyStore keeps values for the process', () => roundTrip(new MemoryKeyStore()))

  it('LocalStorageKeyStore keeps values under its prefix', async () => {
    const map = new Map<string, string>()
    const storage = {
      getItem: (k: string) => map.get(k) ?? null,
      setItem: (k: string, v: string) => void map.set(k, v),
      removeItem: (k: string) => void map.delete(k),
    }
    await roundTrip(new LocalStorageKeyStore({ storage, prefix: 'vs1:' }))
    expect([...map.keys()]).toEqual(['vs1:b'])
    expect(() => new LocalStorageKeyStore()).toThrow(KeyStoreError)
  })

  it('FileKeyStore writes a 0600 file that a new instance reads back', async () => {
    const file = path.join(dir, 'sub', 'keys.json')
    const store = new FileKeyStore(file)
    await roundTrip(store)
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`k${i}`, String(i))))
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const again = new FileKeyStore(file)
    expect(await again.get('k19')).toBe('19')
    expect(await again.get('b')).toBe('{"x":1}')
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')) as object)).toHaveLength(21)
  })

  it('FileKeyStore refuses a file that is not a key store', async () => {
    const file = path.join(dir, 'broken.json')
    await writeFile(file, 'nee')
    await expect(new FileKeyStore(file).get('a')).rejects.toMatchObject({
      code: 'VS_STORE_CORRUPT',
    })
  })
})

describe('link codes', () => {
  beforeAll(() => cryptoReady())

  it('reads codes as people type them', () => {
    const code = newLinkCode()
    expect(code).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/)
    expect(parseLinkCode(code.toLowerCase().replace('-', '  '))).toBe(code.replace('-', ''))
    expect(parseLinkCode('OIL00-abcde')).toBe('01100ABCDE')
    expect(() => parseLinkCode('ABCDE-1234')).toThrow(/10 tekens/)
    expect(() => parseLinkCode('ABCDE-1234U')).toThrow(/10 tekens/)
  })

  it('binds the mac to the code and to every key', () => {
    const code = newLinkCode()
    const s = generateSigningKeyPair().publicKey
    const b = generateBoxKeyPair().publicKey
    const mac = linkMac(code, 'device-1234', s, b)
    expect(() => checkLinkMac(code, 'device-1234', s, b, mac)).not.toThrow()
    const other = generateBoxKeyPair().publicKey
    expect(() => checkLinkMac(code, 'device-1234', s, other, mac)).toThrow(/past niet/)
    expect(() => checkLinkMac(code, 'device-9999', s, b, mac)).toThrow(/past niet/)
    expect(() => checkLinkMac(newLinkCode(), 'device-1234', s, b, mac)).toThrow(/past niet/)
  })
})

describe('desk grants', () => {
  beforeAll(() => cryptoReady())

  it('open only for the desk, version and device they were sealed for', () => {
    const device = generateBoxKeyPair()
    const grant = {
      deskId: 'desk-0001',
      version: 3,
      userId: 'user-0001',
      deviceId: 'device-0001',
      sign: generateSigningKeyPair(),
      box: generateBoxKeyPair(),
    }
    const sealed = sealDeskGrant(grant, device.publicKey)
    const expectFor = {
      deskId: 'desk-0001',
      version: 3,
      userId: 'user-0001',
      deviceId: 'device-0001',
    }
    const opened = openDeskGrant(sealed, device, expectFor)
    expect(opened.sign).toEqual(grant.sign)
    expect(opened.box).toEqual(grant.box)
    expect(() => openDeskGrant(sealed, device, { ...expectFor, version: 4 })).toThrow(/desksleutel/)
    expect(() => openDeskGrant(sealed, device, { ...expectFor, deskId: 'desk-0002' })).toThrow()
    expect(() => openDeskGrant(sealed, generateBoxKeyPair(), expectFor)).toThrow()
  })
})
