/**
 * The web client in a real Chromium against the real API process: a coordinator made by
 * the operator CLI redeems the invitation, enrols TOTP, keeps the recovery key, signs
 * out and in again, and links a second browser profile as a second device by typing the
 * code that profile shows. The app runs under the API's strict CSP, libsodium as WASM.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiProcess } from '@vs/api/testing'
import {
  TotpClock,
  buildWeb,
  createCoordinator,
  databaseEnv,
  launchChromium,
  poll,
  shot,
  startApi,
  watch,
} from './helpers.js'

describe('identity in the browser', () => {
  let api: ApiProcess | undefined
  let browser: Browser | undefined
  let cleanup: (() => Promise<void>)[] = []
  let code = ''
  const email = 'carla.coordinator@ggdtwente.example'
  const password = 'een lange zin als wachtwoord'
  const problems: string[] = []
  let carlaPage: Page | undefined

  beforeAll(async () => {
    const build = buildWeb(cleanup)
    const env = await databaseEnv(cleanup)
    code = await createCoordinator(env, {
      organisation: 'GGD Twente',
      kind: 'jgz',
      name: 'Carla Coördinator',
      email,
    })
    api = await startApi(env, await build)
    browser = await launchChromium()
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await api?.stop()
    for (const c of cleanup.reverse()) await c()
    cleanup = []
  }, 30_000)

  it('serves the app under a strict CSP', async () => {
    const res = await fetch(`${api!.url}/`)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'")
    expect(csp).not.toContain("'unsafe-inline'")
  })

  it('redeems an invitation, keeps the recovery key, signs in again, and links a second device', async () => {
    const url = api!.url
    const contextA: BrowserContext = await browser!.newContext()
    const a = await contextA.newPage()
    watch(a, problems)
    a.setDefaultTimeout(20_000)

    // The invitation link: who it is for, a password chosen twice.
    await a.goto(`${url}/#/uitnodiging/${code}`)
    await poll(() => a.locator('h2').first().textContent()).toBe('Welkom bij Veilig Samenwerken')
    await a.getByText('Carla Coördinator, coördinator bij GGD Twente').waitFor()
    await shot(a, 'invitation')
    await a.getByLabel('Nieuw wachtwoord').fill(password)
    await a.getByLabel('Herhaal het wachtwoord').fill('een andere zin als wachtwoord')
    await a.getByRole('button', { name: 'Verder' }).click()
    await poll(() => a.getByRole('alert').first().textContent()).toBe(
      'De twee wachtwoorden zijn niet gelijk.',
    )
    await a.getByLabel('Herhaal het wachtwoord').fill(password)
    await a.getByRole('button', { name: 'Verder' }).click()

    // TOTP enrolment: a QR code and the secret as text.
    const secretEl = a.getByTestId('totp-secret')
    await secretEl.waitFor()
    const secret = (await secretEl.getAttribute('data-secret')) ?? ''
    expect((await secretEl.textContent())?.replace(/\s/g, '')).toBe(secret)
    expect(await a.getByAltText(/QR-code/).getAttribute('src')).toMatch(/^data:image\/png;base64,/)
    await shot(a, 'totp')
    const clock = new TotpClock(secret)
    await a.getByLabel('Code uit je authenticator-app').fill(await clock.next())
    await a.getByRole('button', { name: 'Account aanmaken' }).click()

    // The recovery key, once, behind a checkbox.
    const keyEl = a.getByTestId('recovery-key')
    await keyEl.waitFor({ timeout: 30_000 })
    const recoveryKey = (await keyEl.textContent()) ?? ''
    expect(recoveryKey).toMatch(/^([0-9A-Z]{4} ){13}[0-9A-Z]{4}$/)
    await shot(a, 'recovery-key')
    const next = a.getByRole('button', { name: 'Verder' })
    expect(await next.isDisabled()).toBe(true)
    await a.getByLabel('Ik heb mijn herstelsleutel veilig bewaard').check()
    await next.click()
    await a.waitForURL(/#\/apparaten$/)
    await poll(() => a.getByTestId('device-row').count()).toBe(1)
    expect(await a.getByTestId('device-row').textContent()).toContain('dit apparaat')
    await shot(a, 'devices')
    expect(await a.evaluate(() => JSON.stringify(localStorage))).not.toContain(
      recoveryKey.slice(0, 14),
    )

    // Sign out and in again: the device keys stay in this browser.
    await a.getByRole('button', { name: 'Afmelden' }).click()
    await a.waitForURL(/#\/aanmelden$/)
    await shot(a, 'sign-in')
    await a.getByRole('button', { name: 'English' }).click()
    await poll(() => a.locator('h2').textContent()).toBe('Sign in')
    await a.getByRole('button', { name: 'Nederlands' }).click()
    await poll(() => a.locator('h2').textContent()).toBe('Aanmelden')
    await a.getByLabel('E-mailadres').fill(email)
    await a.getByLabel('Wachtwoord').fill(password)
    await a.getByLabel('Code uit je authenticator-app').fill(await clock.next())
    await a.getByRole('button', { name: 'Aanmelden' }).click()
    await a.waitForURL(/#\/apparaten$/)
    await poll(() => a.getByTestId('device-row').count()).toBe(1)

    // A second browser profile: same person, no device keys yet.
    const contextB = await browser!.newContext()
    const b = await contextB.newPage()
    watch(b, problems)
    b.setDefaultTimeout(20_000)
    await b.goto(url)
    await b.waitForURL(/#\/aanmelden$/)
    await b.getByLabel('E-mailadres').fill(email)
    await b.getByLabel('Wachtwoord').fill(password)
    await b.getByLabel('Code uit je authenticator-app').fill(await clock.next())
    await b.getByRole('button', { name: 'Aanmelden' }).click()
    await b.waitForURL(/#\/apparaat-instellen$/)
    await b.getByRole('heading', { name: 'Herstel met herstelsleutel' }).waitFor()
    await shot(b, 'setup-choice')
    await b.getByRole('button', { name: 'Code tonen' }).click()
    const linkCode = (await b.getByTestId('link-code').textContent()) ?? ''
    expect(linkCode).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/)
    await shot(b, 'link-code')

    // Typed into the first device's page; the new device notices and finishes.
    const input = a.getByTestId('link-code-input')
    await input.waitFor({ timeout: 15_000 })
    await shot(a, 'approve-link')
    await input.fill(linkCode)
    await a.getByTestId('approve-link').click()
    await a.getByText('Het nieuwe apparaat is gekoppeld.').waitFor()
    await b.waitForURL(/#\/apparaten$/, { timeout: 15_000 })
    await poll(() => b.getByTestId('device-row').count()).toBe(2)
    await poll(() => a.getByTestId('device-row').count()).toBe(2)
    expect(await b.getByTestId('device-row').filter({ hasText: 'dit apparaat' }).count()).toBe(1)
    await shot(b, 'linked')
    // Neither device raises a key log alert for the other.
    await a.goto(`${url}/#/mensen`)
    await a.getByRole('heading', { name: 'Mensen in je regio' }).waitFor()
    await shot(a, 'people')
    await a.goto(`${url}/#/apparaten`)
    await poll(() => a.getByTestId('device-row').count()).toBe(2)
    await poll(() => a.locator('#keylog-alerts').getAttribute('data-checked')).toBe('true')
    expect(await a.locator('#keylog-alerts').textContent()).toBe('')
    await b.reload()
    await poll(() => b.locator('#keylog-alerts').getAttribute('data-checked')).toBe('true')
    expect(await b.locator('#keylog-alerts').textContent()).toBe('')

    expect(problems).toEqual([])
    await contextB.close()
    carlaPage = a
  }, 90_000)

  it('lets two people compare safety numbers and mark each other verified', async () => {
    const url = api!.url
    const a = carlaPage!
    // Carla, a coordinator, invites Pieter from the web client.
    await a.goto(`${url}/#/uitnodigen`)
    await a.getByLabel('Naam', { exact: true }).fill('Pieter Praktijk')
    await a.getByLabel('E-mailadres').fill('pieter@huisarts.example')
    await a.getByLabel('Functie').fill('huisarts')
    await a.getByRole('button', { name: 'Uitnodiging maken' }).click()
    const link = (await a.locator('#invitation-link').textContent()) ?? ''
    expect(link).toMatch(new RegExp(`^${url}/#/uitnodiging/[A-Za-z0-9_-]{43}$`))

    const contextC = await browser!.newContext()
    const c = await contextC.newPage()
    watch(c, problems)
    c.setDefaultTimeout(20_000)
    await c.goto(link)
    await c.getByText('Pieter Praktijk, huisarts bij GGD Twente').waitFor()
    await c.getByLabel('Nieuw wachtwoord').fill('pieters eigen lange wachtwoord')
    await c.getByLabel('Herhaal het wachtwoord').fill('pieters eigen lange wachtwoord')
    await c.getByRole('button', { name: 'Verder' }).click()
    const secret = (await c.getByTestId('totp-secret').getAttribute('data-secret')) ?? ''
    await c.getByLabel('Code uit je authenticator-app').fill(await new TotpClock(secret).next())
    await c.getByRole('button', { name: 'Account aanmaken' }).click()
    await c.getByLabel('Ik heb mijn herstelsleutel veilig bewaard').check({ timeout: 30_000 })
    await c.getByRole('button', { name: 'Verder' }).click()
    await c.waitForURL(/#\/apparaten$/)

    const digits = async (page: Page, name: string) => {
      await page.goto(`${url}/#/mensen`)
      const row = page.getByRole('listitem').filter({ hasText: name })
      await row.getByRole('link', { name: 'Veiligheidsnummer bekijken' }).click()
      const groups = page.getByTestId('safety-number').getByRole('listitem')
      await poll(() => groups.count()).toBe(12)
      return (await groups.allTextContents()).join(' ')
    }
    const seenByCarla = await digits(a, 'Pieter Praktijk')
    await shot(a, 'safety-number')
    const seenByPieter = await digits(c, 'Carla Coördinator')
    expect(seenByCarla).toMatch(/^(\d{5} ){11}\d{5}$/)
    expect(seenByPieter).toBe(seenByCarla)
    expect(await a.getByAltText('QR-code van het veiligheidsnummer').getAttribute('src')).toMatch(
      /^data:image\/png;base64,/,
    )

    await a.getByRole('button', { name: 'Markeer als geverifieerd' }).click()
    await a.getByRole('button', { name: 'Verificatie intrekken' }).waitFor()
    await a.goto(`${url}/#/mensen`)
    const pieterRow = a.getByRole('listitem').filter({ hasText: 'Pieter Praktijk' })
    await poll(() => pieterRow.textContent()).toContain('Geverifieerd')
    await shot(a, 'people-verified')
    expect(problems).toEqual([])
    await contextC.close()
  }, 60_000)
})
