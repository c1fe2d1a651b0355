import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isValidBsn, isValidIban } from './checks.js'
import { GuardFindingError } from './errors.js'
import { findIdentifiers } from './identifiers.js'
import type { Finding } from './identifiers.js'
import type { FindingKind } from './messages.js'
import { POSTCODE_ONLY_MESSAGE } from './messages.js'
import { redactText, redactionPreview } from './preview.js'

type Expected = [FindingKind, string][]
type Row = [text: string, expected: Expected, blockedNames?: string[]]

const summary = (findings: Finding[]): Expected => findings.map((f) => [f.kind, f.match])

/** Details that identify a family: each must be found, exactly as listed. */
const truePositives: Row[] = [
  ['Het BSN van moeder is 123456782.', [['bsn', '123456782']]],
  ['Kind staat ingeschreven onder 1234.56.782 bij de gemeente', [['bsn', '1234.56.782']]],
  ['nummer 111 222 333 staat op de brief', [['bsn', '111 222 333']]],
  ['BSN: 123456789 (klopt misschien niet)', [['bsn', '123456789']]],
  ['Gezin woont op 7511 AB 12 in Enschede', [['postcode-huisnummer', '7511 AB 12']]],
  ['adres 7511AB, nr 12', [['postcode-huisnummer', '7511AB, nr 12']]],
  [
    'Zij woont Hengelosestraat 12, 7511 AB Enschede',
    [['postcode-huisnummer', 'Hengelosestraat 12, 7511 AB']],
  ],
  ['De postcode is 7511 AB.', [['postcode-huisnummer', '7511 AB']]],
  ['woont sinds kort op 2011 VT 4', [['postcode-huisnummer', '2011 VT 4']]],
  ['postcode 7511ab klopt', [['postcode-huisnummer', '7511ab']]],
  [
    'woont aan de Oldenzaalsestraat 134a sinds kort',
    [['postcode-huisnummer', 'Oldenzaalsestraat 134a']],
  ],
  ['Vader is bereikbaar op 06-12345678', [['telefoon', '06-12345678']]],
  ['moeder: 06 1234 5678, na 17 uur', [['telefoon', '06 1234 5678']]],
  ['Bel +31 6 12345678 voor overleg', [['telefoon', '+31 6 12345678']]],
  ['oma 0031 6 12345678', [['telefoon', '0031 6 12345678']]],
  ['vast nummer 053-1234567', [['telefoon', '053-1234567']]],
  ['werk vader 088 123 4567', [['telefoon', '088 123 4567']]],
  ['huisarts (053) 123 45 67', [['telefoon', '(053) 123 45 67']]],
  ['mobiel +31 (0)6 12345678.', [['telefoon', '+31 (0)6 12345678']]],
  ['mail moeder via j.jansen@example.nl.', [['email', 'j.jansen@example.nl']]],
  ['geboren op 12-03-2024 in MST', [['geboortedatum', '12-03-2024']]],
  ['geboortedatum 3/4/23', [['geboortedatum', '3/4/23']]],
  ['zij is geboren op 3 maart 2024', [['geboortedatum', '3 maart 2024']]],
  ['geb. 03.03.2024', [['geboortedatum', '03.03.2024']]],
  ['geboren 2024-03-03', [['geboortedatum', '2024-03-03']]],
  ['born on March 3, 2024', [['geboortedatum', 'March 3, 2024']]],
  ['uitkering op NL91 ABNA 0417 1643 00 gestort', [['iban', 'NL91 ABNA 0417 1643 00']]],
  ['rekening NL91ABNA0417164300', [['iban', 'NL91ABNA0417164300']]],
  ['rekening nl91abna0417164300', [['iban', 'nl91abna0417164300']]],
  ['Belgische rekening BE68 5390 0754 7034', [['iban', 'BE68 5390 0754 7034']]],
  ['José is de vader', [['naam', 'José']], ['Jose']],
  ['Jose is de vader', [['naam', 'Jose']], ['José']],
  ['gezin DE  VRIES uit Hengelo', [['naam', 'DE  VRIES']], ['de Vries']],
  ['Sannes moeder belde', [['naam', 'Sannes']], ['Sanne']],
  [
    'Moeder (Fatma, tel. 06-12345678) woont op 7511 AB 12, kind geboren 1-2-2024.',
    [
      ['naam', 'Fatma'],
      ['telefoon', '06-12345678'],
      ['postcode-huisnummer', '7511 AB 12'],
      ['geboortedatum', '1-2-2024'],
    ],
    ['Fatma'],
  ],
]

/** Ordinary consultation language that must not be flagged. */
const falsePositives: Row[] = [
  ['Moeder is zwanger van 14 weken.', []],
  ['Het gaat om een baby van 6 maanden.', []],
  ['moeder is 19 jaar en vader 23', []],
  ['sinds 2023 bij de huisarts bekend', []],
  ['score 12 op de ALPHA-NL', []],
  ['afspraak om 14:30 op het consultatiebureau', []],
  ['klantnummer 123456789', []],
  ['we zitten bij meldcode stap 4', []],
  ['rekening NL91 ABNA 0417 1643 01', []],
  ['geboren op 3 maart, bij 38 weken', []],
  ['in week 14 was er een huisbezoek', []],
  ['bel Veilig Thuis op 0800-2000', []],
  ['Apgar 8-9-10 na de geboorte', []],
  ['drinkt 1000ml per dag', []],
  ['tussen 06.00 en 08.00 uur huilt de baby', []],
  ['geboortegewicht 3250 gram, lengte 50 cm', []],
  ['twee kinderen van 0 tot 4 jaar', []],
  ['in de periode 2020-2023 drie meldingen', []],
  ['datum 31-02-2024 kan niet kloppen', []],
  ['controle in januari', [], ['Jan']],
  ['Huisbezoek 2 keer per week', []],
  ['sinds maart 2024 in beeld', []],
  ['weegt 4.2 kg op 6 weken', []],
  ['bij nood bel 112', []],
  ['ALPHA-NL score 12, SDQ 14, hulp sinds week 12 van 2024', []],
  ['98,5% van de afspraken nagekomen', []],
  ['gesprek van 10.15 tot 11.45 uur', []],
  ['Veilig Thuis Twente, 2 adviseurs, 3 casussen', []],
  ['het kind is 3 jaar en 4 maanden', []],
  ['moeder heeft 2 banen en werkt 36 uur', []],
  ['sinds 2019 VT betrokken', []],
  ['in 2023 GI ingeschakeld', []],
  ['Onderweg 2 keer gestopt om te voeden', []],
]

describe('identifier guard', () => {
  it('has enough examples', () => {
    expect(truePositives.length + falsePositives.length).toBeGreaterThanOrEqual(40)
  })

  it.each(truePositives)('finds %j', (text, expected, blockedNames) => {
    expect(summary(findIdentifiers(text, { blockedNames: blockedNames ?? [] }))).toEqual(expected)
  })

  it.each(falsePositives)('leaves %j alone', (text, expected, blockedNames) => {
    expect(summary(findIdentifiers(text, { blockedNames: blockedNames ?? [] }))).toEqual(expected)
  })

  it('gives positions that point at the match, sorted, without overlaps', () => {
    const text =
      'Mail j.jansen@example.nl of bel 06-12345678; BSN 123456782, NL91ABNA0417164300, 7511 AB 12.'
    const found = findIdentifiers(text, { blockedNames: ['jansen'] })
    expect(found.map((f) => f.kind)).toEqual([
      'email',
      'telefoon',
      'bsn',
      'iban',
      'postcode-huisnummer',
    ])
    for (const [i, f] of found.entries()) {
      expect(text.slice(f.start, f.end)).toBe(f.match)
      if (i > 0) expect(f.start).toBeGreaterThanOrEqual(found[i - 1]!.end)
    }
  })

  it('merges a blocked name inside an e-mail address into the e-mail finding', () => {
    const found = findIdentifiers('mail j.jansen@example.nl', { blockedNames: ['Jansen'] })
    expect(summary(found)).toEqual([['email', 'j.jansen@example.nl']])
  })

  it('speaks Dutch first, with an English translation', () => {
    const [bsn] = findIdentifiers('BSN 123456782')
    expect(bsn!.message.nl).toBe('Dit lijkt op een BSN. Noem geen BSN: de vraag blijft anoniem.')
    expect(bsn!.message.en).toMatch(/BSN/)
    const [postcode] = findIdentifiers('postcode 7511 AB')
    expect(postcode!.message).toEqual(POSTCODE_ONLY_MESSAGE)
  })

  it('ignores blocked names that are empty or a single letter', () => {
    expect(findIdentifiers('a b c', { blockedNames: ['', ' ', 'a'] })).toEqual([])
  })

  it('finds every valid BSN in any of its usual spellings', () => {
    const validBsn = fc
      .array(fc.integer({ min: 0, max: 9 }), { minLength: 8, maxLength: 8 })
      .map((d) => d.join(''))
      .chain((eight) => {
        const last = [...Array(10).keys()].find((x) => isValidBsn(eight + x))
        return last === undefined ? fc.constant(undefined) : fc.constant(eight + last)
      })
      .filter((s): s is string => s !== undefined)
    fc.assert(
      fc.property(validBsn, fc.constantFrom('plain', 'dots', 'spaces'), (bsn, style) => {
        const written =
          style === 'plain'
            ? bsn
            : style === 'dots'
              ? `${bsn.slice(0, 4)}.${bsn.slice(4, 6)}.${bsn.slice(6)}`
              : `${bsn.slice(0, 3)} ${bsn.slice(3, 6)} ${bsn.slice(6)}`
        const found = findIdentifiers(`het nummer is ${written} volgens moeder`)
        expect(summary(found)).toEqual([['bsn', written]])
      }),
    )
  })

  it('never flags plain counts of weeks, months, years or hours', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2100 }),
        fc.constantFrom('weken', 'maanden', 'jaar', 'uur', 'dagen', 'keer', 'kg', 'cm'),
        (n, unit) => {
          expect(findIdentifiers(`het kind is ${n} ${unit} en in week ${n % 53}`)).toEqual([])
        },
      ),
    )
  })

  it('returns within a linear budget on long hostile input', () => {
    const text = `${'a.'.repeat(20_000)}@${'1-'.repeat(20_000)}`
    const t0 = performance.now()
    findIdentifiers(text, { blockedNames: ['Anna'] })
    expect(performance.now() - t0).toBeLessThan(2_000)
  })
})

describe('checks', () => {
  it('implements the 11-proof and mod-97', () => {
    expect(isValidBsn('123456782')).toBe(true)
    expect(isValidBsn('123456789')).toBe(false)
    expect(isValidBsn('000000000')).toBe(false)
    expect(isValidIban('NL91ABNA0417164300')).toBe(true)
    expect(isValidIban('NL91ABNA0417164301')).toBe(false)
    expect(isValidIban('NL91ABNA041716430')).toBe(false)
  })
})

describe('redaction preview', () => {
  const text = 'Moeder Fatma, 06-12345678, woont op 7511 AB 12.'
  const findings = findIdentifiers(text, { blockedNames: ['Fatma'] })

  it('splits the text into segments that join back to it', () => {
    const segments = redactionPreview(text, findings)
    expect(segments.map((s) => s.text).join('')).toBe(text)
    expect(segments.filter((s) => s.type === 'finding').map((s) => s.text)).toEqual([
      'Fatma',
      '06-12345678',
      '7511 AB 12',
    ])
    expect(segments[0]).toEqual({ type: 'text', text: 'Moeder ', start: 0, end: 7 })
  })

  it('replaces findings with placeholders', () => {
    expect(redactText(text, findings)).toBe('Moeder [naam], [telefoonnummer], woont op [adres].')
    expect(redactText(text, findings, 'en')).toBe(
      'Moeder [name], [phone number], woont op [address].',
    )
  })

  it('accepts unsorted findings and gives the whole text for none', () => {
    expect(redactionPreview(text, [...findings].reverse())).toEqual(
      redactionPreview(text, findings),
    )
    expect(redactionPreview(text, [])).toEqual([{ type: 'text', text, start: 0, end: text.length }])
  })

  it('refuses findings that do not fit the text', () => {
    expect(() => redactionPreview(`${text} extra`.slice(3), findings)).toThrow(GuardFindingError)
  })
})
