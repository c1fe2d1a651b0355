/** User-facing text: Dutch first, English second. `{name}` placeholders are filled by `t`. */
import { workStrings } from './i18n-work.js'

export type Lang = 'nl' | 'en'

const baseStrings = {
  tagline: {
    nl: 'Veilig overleggen over het jonge kind',
    en: 'Safe consultation about young children',
  },
  skip: { nl: 'Naar de inhoud', en: 'Skip to content' },
  navDevices: { nl: 'Apparaten', en: 'Devices' },
  navPeople: { nl: 'Mensen', en: 'People' },
  navSessions: { nl: 'Sessies', en: 'Sessions' },
  navInvite: { nl: 'Uitnodigen', en: 'Invite' },
  navLabel: { nl: 'Hoofdmenu', en: 'Main menu' },
  signOut: { nl: 'Afmelden', en: 'Sign out' },
  language: { nl: 'Taal', en: 'Language' },
  loading: { nl: 'Even geduld…', en: 'One moment…' },
  busy: { nl: 'Bezig…', en: 'Working…' },
  cancel: { nl: 'Annuleren', en: 'Cancel' },
  save: { nl: 'Opslaan', en: 'Save' },
  continue: { nl: 'Verder', en: 'Continue' },
  retry: { nl: 'Opnieuw proberen', en: 'Try again' },
  unexpected: {
    nl: 'Er ging iets mis. Probeer het opnieuw.',
    en: 'Something went wrong. Please try again.',
  },
  sessionEnded: {
    nl: 'Je sessie is beëindigd. Meld je opnieuw aan.',
    en: 'Your session has ended. Please sign in again.',
  },

  // sign-in
  signInTitle: { nl: 'Aanmelden', en: 'Sign in' },
  signInIntro: {
    nl: 'Meld je aan met je e-mailadres, je wachtwoord en de code uit je authenticator-app.',
    en: 'Sign in with your email address, your password and the code from your authenticator app.',
  },
  email: { nl: 'E-mailadres', en: 'Email address' },
  password: { nl: 'Wachtwoord', en: 'Password' },
  totp: { nl: 'Code uit je authenticator-app', en: 'Code from your authenticator app' },
  totpHint: { nl: '6 cijfers, elke 30 seconden nieuw', en: '6 digits, new every 30 seconds' },
  signIn: { nl: 'Aanmelden', en: 'Sign in' },
  signInInvitationHint: {
    nl: 'Nieuw hier? Open de uitnodigingslink die je van je coördinator hebt gekregen.',
    en: 'New here? Open the invitation link your coordinator gave you.',
  },
  totpFormat: { nl: 'Vul de 6 cijfers uit je app in.', en: 'Enter the 6 digits from your app.' },

  // invitation
  invitationTitle: { nl: 'Welkom bij Veilig Samenwerken', en: 'Welcome to Veilig Samenwerken' },
  invitationFor: {
    nl: 'Uitnodiging voor {name}, {discipline} bij {organisation}.',
    en: 'Invitation for {name}, {discipline} at {organisation}.',
  },
  invitationRole: { nl: 'Je rol: {role}.', en: 'Your role: {role}.' },
  roleProfessional: { nl: 'professional', en: 'professional' },
  roleAdvisor: { nl: 'adviseur', en: 'advisor' },
  roleCoordinator: { nl: 'coördinator', en: 'coordinator' },
  choosePassword: { nl: 'Kies een wachtwoord', en: 'Choose a password' },
  passwordRule: {
    nl: 'Minstens 12 tekens. Een zin van een paar woorden is sterk en goed te onthouden.',
    en: 'At least 12 characters. A sentence of a few words is strong and easy to remember.',
  },
  passwordNew: { nl: 'Nieuw wachtwoord', en: 'New password' },
  passwordAgain: { nl: 'Herhaal het wachtwoord', en: 'Repeat the password' },
  passwordTooShort: {
    nl: 'Het wachtwoord moet minstens 12 tekens hebben.',
    en: 'The password must have at least 12 characters.',
  },
  passwordMismatch: {
    nl: 'De twee wachtwoorden zijn niet gelijk.',
    en: 'The two passwords are not the same.',
  },
  totpTitle: { nl: 'Stel je authenticator-app in', en: 'Set up your authenticator app' },
  totpIntro: {
    nl: 'Scan deze QR-code met je authenticator-app (bijvoorbeeld Microsoft Authenticator of Google Authenticator). Vul daarna de code in die de app laat zien.',
    en: 'Scan this QR code with your authenticator app (for example Microsoft Authenticator or Google Authenticator). Then enter the code the app shows.',
  },
  totpQrAlt: {
    nl: 'QR-code om je authenticator-app in te stellen',
    en: 'QR code to set up your authenticator app',
  },
  totpManual: {
    nl: 'Kun je niet scannen? Voer deze sleutel met de hand in:',
    en: 'Cannot scan? Enter this key by hand:',
  },
  confirmAccount: { nl: 'Account aanmaken', en: 'Create account' },
  settingUpDevice: {
    nl: 'Je account is aangemaakt. Dit apparaat wordt ingesteld…',
    en: 'Your account was created. Setting up this device…',
  },

  // recovery key
  recoveryTitle: { nl: 'Je herstelsleutel', en: 'Your recovery key' },
  recoveryIntro: {
    nl: 'Met deze herstelsleutel zet je je account op een nieuw apparaat als je geen ander apparaat meer hebt. Niemand anders heeft hem, ook wij niet. Je ziet hem maar één keer.',
    en: 'With this recovery key you set up your account on a new device when you have no other device left. Nobody else has it, not even us. You see it only once.',
  },
  recoveryKeep: {
    nl: 'Schrijf hem op papier of bewaar hem in een wachtwoordmanager. Niet in je e-mail.',
    en: 'Write it on paper or keep it in a password manager. Not in your email.',
  },
  copy: { nl: 'Kopiëren', en: 'Copy' },
  copied: { nl: 'Gekopieerd', en: 'Copied' },
  print: { nl: 'Afdrukken', en: 'Print' },
  recoverySaved: {
    nl: 'Ik heb mijn herstelsleutel veilig bewaard',
    en: 'I have stored my recovery key safely',
  },

  // device setup
  setupTitle: { nl: 'Dit apparaat instellen', en: 'Set up this device' },
  setupFirstIntro: {
    nl: 'Dit is je eerste apparaat. We maken je sleutels aan; die blijven op dit apparaat.',
    en: 'This is your first device. We create your keys; they stay on this device.',
  },
  deviceName: { nl: 'Naam van dit apparaat', en: 'Name of this device' },
  setUpDevice: { nl: 'Apparaat instellen', en: 'Set up device' },
  setupChoiceIntro: {
    nl: 'Je bent aangemeld, maar dit apparaat heeft nog geen sleutels. Kies hoe je dit apparaat toevoegt.',
    en: 'You are signed in, but this device has no keys yet. Choose how to add this device.',
  },
  linkWithOther: { nl: 'Koppel met een ander apparaat', en: 'Link with another device' },
  linkWithOtherIntro: {
    nl: 'Je hebt een ander apparaat dat al werkt. Dit apparaat laat een code zien die je daar intypt.',
    en: 'You have another device that already works. This device shows a code that you type there.',
  },
  startLink: { nl: 'Code tonen', en: 'Show code' },
  linkCodeTitle: { nl: 'Je koppelcode', en: 'Your link code' },
  linkCodeIntro: {
    nl: 'Open Veilig Samenwerken op je andere apparaat, ga naar Apparaten → Nieuw apparaat koppelen, en typ deze code in.',
    en: 'Open Veilig Samenwerken on your other device, go to Devices → Link a new device, and type this code.',
  },
  linkCodeSecret: {
    nl: 'Deel deze code met niemand. Hij is 15 minuten geldig.',
    en: 'Do not share this code with anyone. It is valid for 15 minutes.',
  },
  linkWaiting: { nl: 'Wachten op je andere apparaat…', en: 'Waiting for your other device…' },
  linkDone: { nl: 'Dit apparaat is gekoppeld.', en: 'This device is linked.' },
  stopLink: { nl: 'Stoppen', en: 'Stop' },
  recoverWithKey: { nl: 'Herstel met herstelsleutel', en: 'Recover with recovery key' },
  recoverIntro: {
    nl: 'Heb je geen ander apparaat meer? Vul de herstelsleutel in die je bij het aanmaken van je account hebt bewaard.',
    en: 'No other device left? Enter the recovery key you stored when you created your account.',
  },
  recoveryKeyLabel: {
    nl: 'Herstelsleutel (14 groepen van 4 tekens)',
    en: 'Recovery key (14 groups of 4 characters)',
  },
  recover: { nl: 'Herstellen', en: 'Recover' },

  // devices
  devicesTitle: { nl: 'Je apparaten', en: 'Your devices' },
  devicesIntro: {
    nl: 'Alleen deze apparaten kunnen je berichten lezen. Herken je een apparaat niet? Verwijder het.',
    en: 'Only these devices can read your messages. Do not recognise a device? Remove it.',
  },
  thisDevice: { nl: 'dit apparaat', en: 'this device' },
  addedOn: { nl: 'Toegevoegd op {date}', en: 'Added on {date}' },
  removedOn: { nl: 'Verwijderd op {date}', en: 'Removed on {date}' },
  notCertified: {
    nl: 'Niet ondertekend met je sleutel: wordt genegeerd',
    en: 'Not signed with your key: ignored',
  },
  rename: { nl: 'Naam wijzigen', en: 'Rename' },
  remove: { nl: 'Verwijderen', en: 'Remove' },
  removeConfirm: {
    nl: '{name} verwijderen? Dit apparaat kan daarna niets meer lezen.',
    en: 'Remove {name}? That device can no longer read anything.',
  },
  removeThisConfirm: {
    nl: 'Dit is het apparaat dat je nu gebruikt. Na verwijderen moet je het opnieuw koppelen.',
    en: 'This is the device you are using. After removing it you have to link it again.',
  },
  yesRemove: { nl: 'Ja, verwijderen', en: 'Yes, remove' },
  linkNewTitle: { nl: 'Nieuw apparaat koppelen', en: 'Link a new device' },
  linkNewIntro: {
    nl: 'Meld je aan op het nieuwe apparaat en kies "Koppel met een ander apparaat". Typ hieronder de code die het nieuwe apparaat laat zien.',
    en: 'Sign in on the new device and choose "Link with another device". Type the code the new device shows below.',
  },
  noPendingLinks: {
    nl: 'Er wacht nu geen nieuw apparaat. Deze lijst ververst vanzelf.',
    en: 'No new device is waiting right now. This list refreshes by itself.',
  },
  pendingLinkAt: { nl: 'Verzoek van {time}', en: 'Request from {time}' },
  linkCodeInput: { nl: 'Code van het nieuwe apparaat', en: 'Code from the new device' },
  approveLink: { nl: 'Koppelen', en: 'Link' },
  linkApproved: {
    nl: 'Het nieuwe apparaat is gekoppeld.',
    en: 'The new device is linked.',
  },
  alertUnknownDevice: {
    nl: 'Er is een apparaat aan je account toegevoegd dat niet via dit apparaat is gekoppeld: {name}. Was jij dit?',
    en: 'A device was added to your account that was not linked through this device: {name}. Was this you?',
  },
  alertUnknownMaster: {
    nl: 'Er staat een hoofdsleutel op je account die niet van jou is. Meld dit direct bij je coördinator.',
    en: 'Your account shows a master key that is not yours. Tell your coordinator right away.',
  },
  alertOther: {
    nl: 'De sleutellijst bevat iets over je account dat dit apparaat niet herkent. Meld dit bij je coördinator.',
    en: 'The key log contains something about your account this device does not recognise. Tell your coordinator.',
  },
  itWasMe: { nl: 'Ja, dit was ik', en: 'Yes, this was me' },
  notMeRemove: { nl: 'Nee, verwijder het', en: 'No, remove it' },

  // people
  peopleTitle: { nl: 'Mensen in je regio', en: 'People in your region' },
  peopleIntro: {
    nl: 'Verifieer de mensen met wie je samenwerkt: vergelijk samen het veiligheidsnummer, bijvoorbeeld tijdens een casusoverleg. Dan weet je zeker dat niemand meeleest.',
    en: 'Verify the people you work with: compare the safety number together, for example during a case meeting. Then you know for sure nobody is listening in.',
  },
  you: { nl: 'jij', en: 'you' },
  verified: { nl: 'Geverifieerd', en: 'Verified' },
  unverified: { nl: 'Niet geverifieerd', en: 'Not verified' },
  keyChanged: { nl: 'Sleutel gewijzigd', en: 'Key changed' },
  noKey: { nl: 'Nog geen apparaat', en: 'No device yet' },
  safetyNumber: { nl: 'Veiligheidsnummer', en: 'Safety number' },
  showSafetyNumber: { nl: 'Veiligheidsnummer bekijken', en: 'View safety number' },
  safetyTitle: { nl: 'Veiligheidsnummer met {name}', en: 'Safety number with {name}' },
  safetyIntro: {
    nl: 'Vergelijk dit nummer met {name}, het liefst samen in één ruimte of via een telefoontje waarin je elkaars stem herkent. {name} ziet op zijn of haar scherm precies hetzelfde nummer. Of scan elkaars QR-code.',
    en: 'Compare this number with {name}, preferably together in one room or in a call where you recognise each other’s voice. {name} sees exactly the same number on their screen. Or scan each other’s QR code.',
  },
  safetyQrAlt: { nl: 'QR-code van het veiligheidsnummer', en: 'QR code of the safety number' },
  markVerified: { nl: 'Markeer als geverifieerd', en: 'Mark as verified' },
  unmarkVerified: { nl: 'Verificatie intrekken', en: 'Withdraw verification' },
  verifiedOn: {
    nl: 'Je hebt {name} geverifieerd.',
    en: 'You verified {name}.',
  },
  keyChangedWarning: {
    nl: 'Let op: de sleutel van {name} is veranderd sinds je die hebt geverifieerd. Misschien heeft {name} een nieuw account of apparaat, maar het kan ook betekenen dat iemand probeert mee te lezen. Deel niets met {name} tot je het nieuwe veiligheidsnummer samen hebt vergeleken.',
    en: 'Warning: the key of {name} changed since you verified it. Maybe {name} has a new account or device, but it can also mean someone is trying to listen in. Share nothing with {name} until you have compared the new safety number together.',
  },
  keyChangedList: {
    nl: 'De sleutel van {names} is veranderd. Vergelijk het veiligheidsnummer opnieuw.',
    en: 'The key of {names} changed. Compare the safety number again.',
  },
  keyNotInLog: { nl: 'Sleutel niet te controleren', en: 'Key cannot be checked' },
  keyNotInLogList: {
    nl: 'De server toont voor {names} een sleutel die niet in de sleutellijst staat. Deel niets met deze persoon en meld dit bij je coördinator.',
    en: 'The server shows a key for {names} that the key log does not record. Share nothing with this person and tell your coordinator.',
  },
  backToPeople: { nl: '← Terug naar mensen', en: '← Back to people' },

  // sessions
  sessionsTitle: { nl: 'Waar je bent aangemeld', en: 'Where you are signed in' },
  sessionsIntro: {
    nl: 'Herken je een sessie niet? Beëindig hem, of meld je overal af en wijzig je wachtwoord.',
    en: 'Do not recognise a session? End it, or sign out everywhere and change your password.',
  },
  thisSession: { nl: 'deze sessie', en: 'this session' },
  sessionSince: {
    nl: 'Aangemeld op {created}, laatst actief {used}',
    en: 'Signed in on {created}, last active {used}',
  },
  endSession: { nl: 'Beëindigen', en: 'End' },
  signOutEverywhere: { nl: 'Overal afmelden', en: 'Sign out everywhere' },
  signOutEverywhereConfirm: {
    nl: 'Je wordt op al je apparaten afgemeld, ook hier. Je apparaten blijven gekoppeld.',
    en: 'You will be signed out on all your devices, including this one. Your devices stay linked.',
  },
  unknownBrowser: { nl: 'Onbekende browser', en: 'Unknown browser' },

  // invite (coordinator)
  inviteTitle: { nl: 'Iemand uitnodigen', en: 'Invite someone' },
  inviteIntro: {
    nl: 'De uitnodigingslink is 72 uur geldig en werkt één keer. Geef hem persoonlijk of via een ander kanaal door.',
    en: 'The invitation link is valid for 72 hours and works once. Pass it on in person or through another channel.',
  },
  fullName: { nl: 'Naam', en: 'Name' },
  discipline: { nl: 'Functie', en: 'Discipline' },
  organisation: { nl: 'Organisatie', en: 'Organisation' },
  role: { nl: 'Rol', en: 'Role' },
  createInvitation: { nl: 'Uitnodiging maken', en: 'Create invitation' },
  invitationLink: {
    nl: 'Uitnodigingslink voor {name} (je ziet hem maar één keer):',
    en: 'Invitation link for {name} (shown only once):',
  },
} as const

const strings = { ...baseStrings, ...workStrings }

export type StringKey = keyof typeof strings

const STORAGE_KEY = 'vs-lang'
let lang: Lang = 'nl'

/** Reads the saved language choice (Dutch unless English was chosen). */
export function initLang(): Lang {
  let saved: string | null = null
  try {
    saved = localStorage.getItem(STORAGE_KEY)
  } catch {
    saved = null
  }
  setLang(saved === 'en' ? 'en' : 'nl')
  return lang
}

export function setLang(l: Lang): void {
  lang = l
  document.documentElement.lang = l
  try {
    localStorage.setItem(STORAGE_KEY, l)
  } catch {
    // private mode: the choice lasts for this page only
  }
}

export function getLang(): Lang {
  return lang
}

export function t(key: StringKey, vars: Record<string, string> = {}): string {
  return strings[key][lang].replace(/\{(\w+)\}/g, (m, name: string) => vars[name] ?? m)
}

/**
 * Server and SDK messages come as `"Nederlands / English"`: pick the current language.
 */
export function localize(message: string): string {
  const i = message.indexOf(' / ')
  if (i < 0) return message
  return lang === 'nl' ? message.slice(0, i) : message.slice(i + 3)
}

/** A date and time in the current language. */
export function formatDate(iso: string | number): string {
  return new Date(iso).toLocaleString(lang === 'nl' ? 'nl-NL' : 'en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
  })
}

/** A calendar day (`YYYY-MM-DD`) in the current language, e.g. "24 nov 2026". */
export function formatDay(day: string): string {
  const d = new Date(`${day}T12:00:00`)
  if (Number.isNaN(d.getTime())) return day
  return d.toLocaleDateString(lang === 'nl' ? 'nl-NL' : 'en-GB', { dateStyle: 'medium' })
}

/** A short time for messages: "14:05" today, else "3 dec 14:05". */
export function formatWhen(ms: number): string {
  const d = new Date(ms)
  const locale = lang === 'nl' ? 'nl-NL' : 'en-GB'
  const time = d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
  if (d.toDateString() === new Date().toDateString()) return time
  return `${d.toLocaleDateString(locale, { day: 'numeric', month: 'short' })} ${time}`
}

/** Today as `YYYY-MM-DD` in local time, optionally shifted by whole days. */
export function isoToday(shiftDays = 0): string {
  const d = new Date()
  d.setDate(d.getDate() + shiftDays)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
}

/** A `{nl, en}` pair (as the SDK and server give them) in the current language. */
export function pick(pair: { nl: string; en: string }): string {
  return pair[lang]
}
