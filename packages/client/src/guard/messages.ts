/** Kinds of identifying detail the guard looks for. */
export type FindingKind =
  'bsn' | 'postcode-huisnummer' | 'telefoon' | 'email' | 'geboortedatum' | 'iban' | 'naam'

/** A message in Dutch (shown first) and English. */
export interface GuardMessage {
  readonly nl: string
  readonly en: string
}

/** The message per kind; `postcode-huisnummer` has a second one for a bare postcode. */
export const MESSAGES: Readonly<Record<FindingKind, GuardMessage>> = {
  bsn: {
    nl: 'Dit lijkt op een BSN. Noem geen BSN: de vraag blijft anoniem.',
    en: 'This looks like a citizen service number (BSN). Leave it out: the question stays anonymous.',
  },
  'postcode-huisnummer': {
    nl: 'Dit lijkt op een adres. Noem geen postcode, straat of huisnummer: de vraag blijft anoniem.',
    en: 'This looks like an address. Leave out postcode, street and house number: the question stays anonymous.',
  },
  telefoon: {
    nl: 'Dit lijkt op een telefoonnummer. Noem geen telefoonnummer: de vraag blijft anoniem.',
    en: 'This looks like a phone number. Leave it out: the question stays anonymous.',
  },
  email: {
    nl: 'Dit lijkt op een e-mailadres. Noem geen e-mailadres: de vraag blijft anoniem.',
    en: 'This looks like an email address. Leave it out: the question stays anonymous.',
  },
  geboortedatum: {
    nl: 'Dit lijkt op een volledige datum, zoals een geboortedatum. Noem liever een leeftijd ("baby van 6 maanden") of alleen maand en jaar.',
    en: 'This looks like a full date, such as a date of birth. Prefer an age ("baby of 6 months") or only month and year.',
  },
  iban: {
    nl: 'Dit lijkt op een rekeningnummer (IBAN). Noem geen rekeningnummer: de vraag blijft anoniem.',
    en: 'This looks like a bank account number (IBAN). Leave it out: the question stays anonymous.',
  },
  naam: {
    nl: 'Dit is een naam die je niet wilt noemen. Gebruik een rol, zoals "moeder" of "het kind".',
    en: 'This is a name you chose not to mention. Use a role instead, such as "mother" or "the child".',
  },
}

/** The message for a postcode without a house number next to it. */
export const POSTCODE_ONLY_MESSAGE: GuardMessage = {
  nl: 'Dit lijkt op een postcode. Noem geen postcode: die maakt het gezin herleidbaar. Noem hooguit de gemeente.',
  en: 'This looks like a postcode. Leave it out: it makes the family traceable. Mention the municipality at most.',
}

/** Short placeholders for replacing a finding in the text. */
export const PLACEHOLDERS: Readonly<Record<FindingKind, GuardMessage>> = {
  bsn: { nl: '[BSN]', en: '[BSN]' },
  'postcode-huisnummer': { nl: '[adres]', en: '[address]' },
  telefoon: { nl: '[telefoonnummer]', en: '[phone number]' },
  email: { nl: '[e-mailadres]', en: '[email address]' },
  geboortedatum: { nl: '[datum]', en: '[date]' },
  iban: { nl: '[rekeningnummer]', en: '[account number]' },
  naam: { nl: '[naam]', en: '[name]' },
}
