/**
 * Dutch working days: Monday to Friday, without public holidays (Nieuwjaarsdag, Pasen,
 * Koningsdag, Bevrijdingsdag, Hemelvaart, Pinksteren, Kerstmis), from date-holidays.
 * Legal terms such as "veiligheidsbeoordeling binnen 5 werkdagen" count these.
 */
import Holidays from 'date-holidays'

const nl = new Holidays('NL')

/** YYYY-MM-DD of a date in Europe/Amsterdam. */
export function isoDay(d: Date): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Europe/Amsterdam',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(d)
}

function noon(day: string): Date {
  return new Date(`${day}T12:00:00Z`)
}

export function isWorkingDay(day: string): boolean {
  const d = noon(day)
  const wd = d.getUTCDay()
  if (wd === 0 || wd === 6) return false
  const h = nl.isHoliday(d)
  return !(h && h.some((x) => x.type === 'public'))
}

/** The day `n` working days after `day` (not counting `day` itself). */
export function addWorkingDays(day: string, n: number): string {
  let d = noon(day)
  let left = n
  while (left > 0) {
    d = new Date(d.getTime() + 24 * 3600 * 1000)
    if (isWorkingDay(d.toISOString().slice(0, 10))) left--
  }
  return d.toISOString().slice(0, 10)
}
