/**
 * The identifier guard: finds details in a consultation text that could identify the
 * family (or anyone else) before the text is encrypted and sent to Veilig Thuis.
 *
 * It is a safety net for honest mistakes, not a guarantee: it cannot recognise a
 * name it was not given, a rare job, a street without a number, or a story that
 * identifies by its details. The UI says so next to the findings.
 *
 * Detectors run in a fixed order over a working copy of the text. Spans that are
 * e-mail addresses, IBAN-shaped, dates or phone numbers are blanked in that copy once
 * found, so later detectors never read the digits of a date as a phone number or the
 * digits of a phone number as a BSN. Names are looked for in the original text.
 * Everything runs in time linear in the text (no nested unbounded repetition).
 */
import { IBAN_LENGTHS, fullYear, isRealDate, isValidBsn, isValidIban } from './checks.js'
import { fold, foldText } from './fold.js'
import { MESSAGES, POSTCODE_ONLY_MESSAGE } from './messages.js'
import type { FindingKind, GuardMessage } from './messages.js'

/** One identifying detail in the text; `text.slice(start, end) === match`. */
export interface Finding {
  readonly kind: FindingKind
  readonly match: string
  readonly start: number
  readonly end: number
  readonly message: GuardMessage
}

/** Options of {@link findIdentifiers}. */
export interface FindIdentifiersOptions {
  /**
   * Names that must not appear (the family's, the child's, a partner's): matched as
   * whole words, ignoring case and diacritics, also with a possessive "s" ("Sannes").
   * Multi-word names match with any spacing.
   */
  readonly blockedNames?: readonly string[]
}

/** A finding before its `match` text is filled in. */
type Hit = Omit<Finding, 'match'>

/** When findings overlap, the merged one takes the kind earliest in this list. */
const PRIORITY: readonly FindingKind[] = [
  'email',
  'iban',
  'bsn',
  'telefoon',
  'geboortedatum',
  'postcode-huisnummer',
  'naam',
]

const SP = '[ \\u00a0\\u202f]'
const BLANK = '\u0000'

class WorkingText {
  text: string
  readonly hits: Hit[] = []

  constructor(text: string) {
    this.text = text
  }

  add(kind: FindingKind, start: number, end: number, message: GuardMessage = MESSAGES[kind]): void {
    this.hits.push({ kind, start, end, message })
  }

  /** Blanks a span so later detectors do not see it. */
  blank(start: number, end: number): void {
    this.text = this.text.slice(0, start) + BLANK.repeat(end - start) + this.text.slice(end)
  }
}

// ---- e-mail ------------------------------------------------------------------------

const EMAIL_RE =
  /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}(?![\p{L}\p{N}])/gu

function findEmails(w: WorkingText): void {
  for (const m of w.text.matchAll(EMAIL_RE)) {
    const end = m.index + m[0].length
    w.add('email', m.index, end)
    w.blank(m.index, end)
  }
}

// ---- IBAN --------------------------------------------------------------------------

const IBAN_START_RE = /(?<![\p{L}\p{N}])[A-Za-z]{2}\d{2}/gu
const isAlnum = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9]$/.test(c)
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\u00a0' || c === '\u202f'

/**
 * IBANs written with or without groups of four. Anything IBAN-shaped is blanked, also
 * with a wrong checksum (then it is not reported: it is a typo or an example, and its
 * digits must not come back as a phone number or a BSN).
 */
function findIbans(w: WorkingText): void {
  const s = w.text
  let done = 0
  for (const m of s.matchAll(IBAN_START_RE)) {
    if (m.index < done) continue
    const country = m[0].slice(0, 2).toUpperCase()
    const length = IBAN_LENGTHS[country]
    if (length === undefined) continue
    let compact = ''
    let j = m.index
    while (j < s.length && compact.length < length) {
      const c = s[j]
      if (isAlnum(c)) {
        compact += c
        j++
      } else if (isSpace(c) && isAlnum(s[j - 1]) && isAlnum(s[j + 1])) {
        j++
      } else {
        break
      }
    }
    if (compact.length !== length || isAlnum(s[j])) continue
    const upper = compact.toUpperCase()
    const digits = upper.slice(4).replace(/\D/g, '').length
    const shaped = country === 'NL' ? /^NL\d{2}[A-Z]{4}\d{10}$/.test(upper) : digits >= 8
    if (!shaped) continue
    done = j
    if (isValidIban(upper)) w.add('iban', m.index, j)
    w.blank(m.index, j)
  }
}

// ---- dates -------------------------------------------------------------------------

const MONTHS =
  'januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|' +
  'january|february|march|may|june|july|august|october|' +
  'jan|feb|mrt|mar|apr|jun|jul|aug|sept|sep|okt|oct|nov|dec'

function monthNumber(word: string): number {
  const w = word.toLowerCase()
  if (w.startsWith('mrt') || w.startsWith('maa') || w.startsWith('mar')) return 3
  if (w === 'mei' || w === 'may') return 5
  if (w.startsWith('okt') || w.startsWith('oct')) return 10
  const i = ['jan', 'feb', '', 'apr', '', 'jun', 'jul', 'aug', 'sep', '', 'nov', 'dec'].indexOf(
    w.slice(0, 3),
  )
  return i + 1
}

const NUMERIC_DATE_RE =
  /(?<![\p{L}\p{N}.,/-])(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})(?![\p{N}]|[-/.,]\p{N})/gu
const ISO_DATE_RE = /(?<![\p{L}\p{N}.,/-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\p{N}]|[-/.,]\p{N})/gu
const TEXT_DATE_RE = new RegExp(
  `(?<![\\p{L}\\p{N}])(\\d{1,2})(?:e|ste|de|st|nd|rd|th)?${SP}+(${MONTHS})(?!\\p{L})\\.?,?${SP}+(\\d{4}|['’]\\d{2})(?!\\p{N})`,
  'giu',
)
const EN_DATE_RE = new RegExp(
  `(?<![\\p{L}\\p{N}])(${MONTHS})(?!\\p{L})\\.?${SP}+(\\d{1,2})(?:st|nd|rd|th)?,?${SP}+(\\d{4})(?!\\p{N})`,
  'giu',
)

/** Apgar scores are written like dates ("Apgar 8-9-10"): never report those. */
function afterApgar(original: string, start: number): boolean {
  return /apgar[^.\n]{0,12}$/i.test(original.slice(Math.max(0, start - 20), start))
}

/**
 * Full dates only: with day, month and year, and a real calendar date. "week 14",
 * "6 maanden", "3 maart" and "2023" are no finding: they do not single out a child.
 */
function findDates(w: WorkingText, original: string): void {
  const report = (start: number, end: number, d: number, mo: number, y: number): void => {
    if (!isRealDate(d, mo, y)) return
    w.add('geboortedatum', start, end)
    w.blank(start, end)
  }
  for (const m of w.text.matchAll(NUMERIC_DATE_RE)) {
    if (afterApgar(original, m.index)) continue
    report(m.index, m.index + m[0].length, Number(m[1]), Number(m[3]), fullYear(m[4]!))
  }
  for (const m of w.text.matchAll(ISO_DATE_RE)) {
    report(m.index, m.index + m[0].length, Number(m[3]), Number(m[2]), Number(m[1]))
  }
  for (const m of w.text.matchAll(TEXT_DATE_RE)) {
    const year = m[3]!.replace(/['’]/, '')
    report(m.index, m.index + m[0].length, Number(m[1]), monthNumber(m[2]!), fullYear(year))
  }
  for (const m of w.text.matchAll(EN_DATE_RE)) {
    report(m.index, m.index + m[0].length, Number(m[2]), monthNumber(m[1]!), Number(m[3]))
  }
}

// ---- phone numbers -----------------------------------------------------------------

const PHONE_START_RE = /(?<![\p{L}\p{N}_+])(?:\+31|0031|\(0|0)/gu
const PHONE_SEP_RE = /[ \u00a0\u202f]?[-./–][ \u00a0\u202f]?|[ \u00a0\u202f]/y
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'

function sepLength(s: string, j: number): number {
  PHONE_SEP_RE.lastIndex = j
  return PHONE_SEP_RE.exec(s)?.[0].length ?? 0
}

/**
 * Reads a Dutch phone number starting at `start`: ten digits from a leading 0, or
 * nine after +31/0031 (with an optional "(0)"), separated by single spaces, dashes,
 * dots or slashes, with the area code optionally in parentheses. Returns its end.
 */
function readPhone(s: string, start: number): number | undefined {
  let j = start
  let international = false
  if (s.startsWith('+31', j) || s.startsWith('0031', j)) {
    international = true
    j += s[j] === '+' ? 3 : 4
    j += sepLength(s, j)
    if (s.startsWith('(0)', j)) j += 3 + sepLength(s, j + 3)
    if (!isDigit(s[j])) return undefined
  }
  const target = international && s[j] !== '0' ? 9 : 10
  let digits = ''
  let open = false
  let usedParens = false
  while (j < s.length && digits.length < target) {
    const c = s[j]
    if (isDigit(c)) {
      digits += c
      j++
    } else if (c === '(' && !usedParens && !international && digits.length === 0) {
      open = usedParens = true
      j++
    } else if (c === ')' && open && digits.length >= 2 && digits.length <= 4) {
      open = false
      j++
    } else {
      const n = sepLength(s, j)
      if (n === 0 || digits.length === 0 || !isDigit(s[j + n])) break
      j += n
    }
  }
  if (open || digits.length !== target || isDigit(s[j])) return undefined
  const national = target === 10 ? digits : `0${digits}`
  if (!/^0[1-9]\d{8}$/.test(national)) return undefined
  // Service numbers (0800, 0900, 0906, 0909) and machine numbers (097) name no family:
  // "bel Veilig Thuis 0800-2000" must pass.
  if (/^0(?:800|90[069]|97)/.test(national)) return undefined
  return j
}

function findPhones(w: WorkingText): void {
  const s = w.text
  let done = 0
  for (const m of s.matchAll(PHONE_START_RE)) {
    if (m.index < done) continue
    const end = readPhone(s, m.index)
    if (end === undefined) continue
    done = end
    w.add('telefoon', m.index, end)
    w.blank(m.index, end)
  }
}

// ---- BSN ---------------------------------------------------------------------------

const BSN_RE =
  /(?<![\p{L}\p{N}_]|\p{N}[-./])\d(?:[ \u00a0\u202f.-]?\d){7,8}(?![\p{N}]|[-./]\p{N})/gu
const BSN_KEYWORD_RE = /(?:bsn|burgerservicenummer|sofi-?nummer)(?:-?nummer)?[^.\n\d]{0,12}$/i

/**
 * Nine digits (also written 1234.56.782 or 123 456 782) that pass the 11-proof.
 * Right after the word "BSN" any eight or nine digits count, so a mistyped BSN that
 * fails the 11-proof is still caught.
 */
function findBsns(w: WorkingText): void {
  for (const m of w.text.matchAll(BSN_RE)) {
    const digits = m[0].replace(/\D/g, '')
    const afterKeyword = BSN_KEYWORD_RE.test(w.text.slice(Math.max(0, m.index - 40), m.index))
    if ((digits.length === 9 && isValidBsn(digits)) || afterKeyword) {
      w.add('bsn', m.index, m.index + m[0].length)
      w.blank(m.index, m.index + m[0].length)
    }
  }
}

// ---- postcode, street and house number ----------------------------------------------

const POSTCODE_RE = new RegExp(
  `(?<![\\p{L}\\p{N}])[1-9]\\d{3}(?:${SP}?([A-Z]{2})|([a-z]{2}))(?![\\p{L}\\p{N}])`,
  'gu',
)
const NUMBER_WORD = '(?:[Hh]uisnummer|[Nn]ummer|[Nn][Rr]|[Nn][Oo])\\.?'
const HOUSE_NUMBER = `\\d{1,5}(?:${SP}?[a-zA-Z](?![\\p{L}\\p{N}])|-\\d{1,4})?(?![\\p{N}]|[,.:]\\p{N})`
const NUMBER_AFTER_RE = new RegExp(`${SP}*,?${SP}*(?:${NUMBER_WORD}${SP}*)?${HOUSE_NUMBER}`, 'iuy')
const NUMBER_BEFORE_RE = new RegExp(`${NUMBER_WORD}${SP}*\\d{1,5}[a-zA-Z]?${SP}*,?${SP}*$`, 'iu')
/** Lower-case letter pairs after four digits that are units, not postcodes ("1000ml"). */
const UNITS = new Set(['ml', 'mg', 'kg', 'cm', 'mm', 'km', 'gr', 'kb', 'mb', 'gb', 'am', 'pm'])

/** Abbreviations from the field that follow a year as often as letters follow a postcode. */
const FIELD_ABBREVIATIONS = new Set(['VT', 'GI', 'WT', 'JB', 'KB', 'RB', 'ZH', 'PO', 'VO'])
const TIME_WORD_BEFORE_RE =
  /(?:^|[^\p{L}])(?:sinds|in|vanaf|tot|per|medio|begin|eind|najaar|voorjaar|zomer|winter|jaar|t\/m)[ \u00a0\u202f]*$/iu

/**
 * A year followed by two capitals ("sinds 2019 VT betrokken") reads like a postcode.
 * Without a house number such a match is dropped when a time word comes before it or
 * the letters are a common abbreviation in the field.
 */
function looksLikeYear(s: string, start: number, digits: string, letters: string): boolean {
  const year = Number(digits)
  if (year < 1900 || year > 2099) return false
  return (
    FIELD_ABBREVIATIONS.has(letters.toUpperCase()) ||
    TIME_WORD_BEFORE_RE.test(s.slice(Math.max(0, start - 12), start))
  )
}

function findPostcodes(w: WorkingText): void {
  const s = w.text
  for (const m of s.matchAll(POSTCODE_RE)) {
    const letters = m[1] ?? m[2]!
    if (['SA', 'SD', 'SS'].includes(letters.toUpperCase())) continue
    if (m[2] !== undefined && UNITS.has(m[2])) continue
    let start = m.index
    let end = m.index + m[0].length
    NUMBER_AFTER_RE.lastIndex = end
    const after = NUMBER_AFTER_RE.exec(s)
    const before = NUMBER_BEFORE_RE.exec(s.slice(Math.max(0, start - 30), start))
    const withNumber = after !== null || before !== null
    if (!withNumber && looksLikeYear(s, start, m[0].slice(0, 4), letters)) continue
    if (after !== null) end += after[0].length
    if (before !== null) start -= before[0].length
    w.add('postcode-huisnummer', start, end, withNumber ? undefined : POSTCODE_ONLY_MESSAGE)
  }
}

/** Endings of Dutch street names; a capitalised word with one, then a number, is an address. */
const STREET_SUFFIXES = [
  'straat',
  'laan',
  'weg',
  'plein',
  'singel',
  'gracht',
  'kade',
  'dijk',
  'steeg',
  'dreef',
  'markt',
  'allee',
  'boulevard',
  'hof',
  'park',
  'wal',
]
/** Street words that are also whole street names ("Oude Markt 5"). */
const STANDALONE_STREETS = new Set(['markt', 'plein', 'singel', 'kade', 'gracht', 'boulevard'])
const STREET_RE = new RegExp(
  `(?<![\\p{L}\\p{N}])\\p{Lu}[\\p{L}'’-]*${SP}+(?:${NUMBER_WORD}${SP}*)?${HOUSE_NUMBER}`,
  'gu',
)

function isStreetWord(word: string): boolean {
  const w = word.toLowerCase()
  if (STANDALONE_STREETS.has(w)) return true
  return STREET_SUFFIXES.some((suffix) => w.length > suffix.length + 1 && w.endsWith(suffix))
}

/** Words after a number that make it a count, not a house number ("Onderweg 2 keer"). */
const COUNT_AFTER_RE = new RegExp(
  `^${SP}*(?:keer|x|maal|weken|week|maanden|maand|jaar|jaren|dagen|dag|uur|uren|minuten|kinderen|kind|kg|cm|%)(?![\\p{L}])`,
  'iu',
)
const NOT_STREETS = new Set(['onderweg', 'halfweg', 'zijweg', 'achterweg'])

function findStreets(w: WorkingText): void {
  for (const m of w.text.matchAll(STREET_RE)) {
    const word = /^[\p{L}'’-]+/u.exec(m[0])?.[0] ?? ''
    const end = m.index + m[0].length
    if (!isStreetWord(word) || NOT_STREETS.has(word.toLowerCase())) continue
    if (COUNT_AFTER_RE.test(w.text.slice(end, end + 16))) continue
    w.add('postcode-huisnummer', m.index, end)
  }
}

// ---- names -------------------------------------------------------------------------

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function findNames(w: WorkingText, original: string, names: readonly string[]): void {
  const patterns = names
    .map((n) => fold(n).trim())
    .filter((n) => n.replace(/[^\p{L}]/gu, '').length >= 2)
    .map((n) => n.split(/\s+/).map(escapeRegExp).join('\\s+'))
  if (patterns.length === 0) return
  const { folded, starts, ends } = foldText(original)
  // An optional "s" catches the Dutch possessive ("Sannes moeder").
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${patterns.join('|')})s?(?![\\p{L}\\p{N}])`, 'gu')
  for (const m of folded.matchAll(re)) {
    if (m[0].length === 0) continue
    w.add('naam', starts[m.index]!, ends[m.index + m[0].length - 1]!)
  }
}

// ---- merging -----------------------------------------------------------------------

function rank(kind: FindingKind): number {
  return PRIORITY.indexOf(kind)
}

/**
 * Sorts findings by start and merges overlapping ones into one finding with the
 * highest-priority kind. Address parts separated only by a comma or spaces
 * ("Hengelosestraat 12, 7511 AB") become one address.
 */
export function mergeFindings(text: string, findings: readonly Hit[]): Finding[] {
  const sorted = [...findings].sort((a, b) => a.start - b.start || b.end - a.end)
  const out: Hit[] = []
  for (const f of sorted) {
    const last = out[out.length - 1]
    const addressParts =
      last !== undefined &&
      last.kind === 'postcode-huisnummer' &&
      f.kind === 'postcode-huisnummer' &&
      /^[\s,]{0,3}$/.test(text.slice(last.end, f.start))
    if (last !== undefined && (f.start < last.end || addressParts)) {
      const winner = rank(f.kind) < rank(last.kind) ? f : last
      const message =
        addressParts && winner.kind === 'postcode-huisnummer'
          ? MESSAGES['postcode-huisnummer']
          : winner.message
      out[out.length - 1] = {
        kind: winner.kind,
        start: last.start,
        end: Math.max(last.end, f.end),
        message,
      }
    } else {
      out.push(f)
    }
  }
  return out.map((f) => ({ ...f, match: text.slice(f.start, f.end) }))
}

/**
 * Finds details in `text` that could identify a family: BSN, postcode and house
 * number or street and number, Dutch phone numbers, e-mail addresses, full dates,
 * IBANs, and the caller's blocked names. Returns findings sorted by start, without
 * overlaps, each with a Dutch and an English message.
 */
export function findIdentifiers(text: string, opts: FindIdentifiersOptions = {}): Finding[] {
  const w = new WorkingText(text)
  findEmails(w)
  findIbans(w)
  findDates(w, text)
  findPhones(w)
  findBsns(w)
  findPostcodes(w)
  findStreets(w)
  findNames(w, text, opts.blockedNames ?? [])
  return mergeFindings(text, w.hits)
}
