/**
 * Case and diacritic folding with a map back to the original offsets, so a name can
 * be searched for in folded text ("jose" finds "José") and highlighted in the original.
 */

/** Letters that Unicode decomposition leaves alone but people type without the mark. */
// prettier-ignore
const EXTRA: Readonly<Record<string, string>> = {
  ø: 'o', æ: 'ae', œ: 'oe', ß: 'ss', ł: 'l', đ: 'd', ð: 'd', þ: 'th', ı: 'i', ĳ: 'ij',
}

/** Folded text plus, per folded UTF-16 unit, the original range it came from. */
export interface FoldedText {
  readonly folded: string
  readonly starts: readonly number[]
  readonly ends: readonly number[]
}

/** Lower case, no combining marks, a few extra letters mapped, NBSP as space. */
export function foldChar(ch: string): string {
  const lower = ch.toLowerCase()
  const extra = EXTRA[lower]
  if (extra !== undefined) return extra
  if (lower === '\u00a0' || lower === '\u202f') return ' '
  return lower.normalize('NFD').replace(/\p{M}/gu, '')
}

/** Folds a whole string, keeping the offset map. */
export function foldText(text: string): FoldedText {
  let folded = ''
  const starts: number[] = []
  const ends: number[] = []
  let i = 0
  for (const ch of text) {
    const f = foldChar(ch)
    folded += f
    for (let k = 0; k < f.length; k++) {
      starts.push(i)
      ends.push(i + ch.length)
    }
    i += ch.length
  }
  return { folded, starts, ends }
}

/** Folds a string without keeping offsets (for the names to look for). */
export function fold(s: string): string {
  let out = ''
  for (const ch of s) out += foldChar(ch)
  return out
}
