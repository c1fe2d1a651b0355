/** User-facing text: Dutch first, English second. */
export type Lang = 'nl' | 'en'

const strings = {
  tagline: {
    nl: 'Veilig overleggen over het jonge kind',
    en: 'Safe consultation about young children',
  },
  signInTitle: { nl: 'Aanmelden', en: 'Sign in' },
  email: { nl: 'E-mailadres', en: 'Email address' },
  password: { nl: 'Wachtwoord', en: 'Password' },
  totp: { nl: 'Code uit je authenticator-app', en: 'Code from your authenticator app' },
  signIn: { nl: 'Aanmelden', en: 'Sign in' },
  signInUnavailable: {
    nl: 'Aanmelden is nog niet beschikbaar.',
    en: 'Signing in is not available yet.',
  },
} as const

export type StringKey = keyof typeof strings

let lang: Lang = 'nl'

export function setLang(l: Lang): void {
  lang = l
  document.documentElement.lang = l
}

export function getLang(): Lang {
  return lang
}

export function t(key: StringKey): string {
  return strings[key][lang]
}
