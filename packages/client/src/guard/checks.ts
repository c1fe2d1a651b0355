/**
 * Checksums and calendar checks that separate real identifiers from look-alikes.
 * Pure functions, no regular expressions.
 */

/**
 * The BSN 11-proof: `9·d1 + 8·d2 + … + 2·d8 − 1·d9 ≡ 0 (mod 11)`, not all zeros.
 * Takes exactly nine digits.
 */
export function isValidBsn(digits: string): boolean {
  if (!/^\d{9}$/.test(digits) || /^0+$/.test(digits)) return false
  let sum = 0
  for (let i = 0; i < 8; i++) sum += (9 - i) * Number(digits[i])
  sum -= Number(digits[8])
  return sum % 11 === 0
}

/** IBAN lengths of the countries a family in the Netherlands most often banks in. */
// prettier-ignore
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24,
  FI: 18, FR: 27, GB: 22, GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21,
  LT: 20, LU: 20, LV: 21, MA: 28, MT: 31, NL: 18, NO: 15, PL: 28, PT: 25, RO: 24,
  SE: 24, SI: 19, SK: 24, TR: 26, UA: 29,
}

/**
 * ISO 13616 check: the right length for its country, and mod-97 of the rearranged
 * number equals 1. Takes the IBAN without spaces, any case.
 */
export function isValidIban(iban: string): boolean {
  const s = iban.toUpperCase()
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(s)) return false
  const country = s.slice(0, 2)
  if (IBAN_LENGTHS[country] !== s.length) return false
  if (country === 'NL' && !/^NL\d{2}[A-Z]{4}\d{10}$/.test(s)) return false
  let rem = 0
  for (const ch of s.slice(4) + s.slice(0, 4)) {
    const v = ch >= 'A' ? ch.charCodeAt(0) - 55 : Number(ch)
    rem = (v > 9 ? rem * 100 + v : rem * 10 + v) % 97
  }
  return rem === 1
}

/** Whether day/month/year form a real calendar date (years 1900–2099). */
export function isRealDate(day: number, month: number, year: number): boolean {
  if (year < 1900 || year > 2099 || month < 1 || month > 12 || day < 1) return false
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!
  return day <= days
}

/** A two-digit year as a full year: `00`–`69` → 2000s, `70`–`99` → 1900s. */
export function fullYear(year: string): number {
  const y = Number(year)
  if (year.length === 4) return y
  return y < 70 ? 2000 + y : 1900 + y
}
