import { GuardFindingError } from './errors.js'
import { mergeFindings } from './identifiers.js'
import type { Finding } from './identifiers.js'
import { PLACEHOLDERS } from './messages.js'
import type { GuardMessage } from './messages.js'

/** A piece of the text for highlighting: plain text, or a finding to point out. */
export type PreviewSegment =
  | { readonly type: 'text'; readonly text: string; readonly start: number; readonly end: number }
  | {
      readonly type: 'finding'
      readonly text: string
      readonly start: number
      readonly end: number
      readonly finding: Finding
      /** What the UI may put in its place, e.g. `[BSN]`. */
      readonly placeholder: GuardMessage
    }

function checkedFindings(text: string, findings: readonly Finding[]): Finding[] {
  for (const f of findings) {
    if (
      !Number.isInteger(f.start) ||
      !Number.isInteger(f.end) ||
      f.start < 0 ||
      f.end > text.length ||
      f.start >= f.end ||
      text.slice(f.start, f.end) !== f.match
    ) {
      throw new GuardFindingError(
        `finding ${f.kind} at ${f.start}..${f.end} does not fit the text (stale findings?)`,
      )
    }
  }
  return mergeFindings(text, findings)
}

/**
 * Splits `text` into segments for highlighting: the concatenation of all segment texts
 * is `text`. Findings may come in any order and may overlap; they must fit the text,
 * or a {@link GuardFindingError} is thrown (run {@link findIdentifiers} again).
 */
export function redactionPreview(text: string, findings: readonly Finding[]): PreviewSegment[] {
  const segments: PreviewSegment[] = []
  let pos = 0
  for (const f of checkedFindings(text, findings)) {
    if (f.start > pos) {
      segments.push({ type: 'text', text: text.slice(pos, f.start), start: pos, end: f.start })
    }
    segments.push({
      type: 'finding',
      text: f.match,
      start: f.start,
      end: f.end,
      finding: f,
      placeholder: PLACEHOLDERS[f.kind],
    })
    pos = f.end
  }
  if (pos < text.length)
    segments.push({ type: 'text', text: text.slice(pos), start: pos, end: text.length })
  return segments
}

/** `text` with every finding replaced by its placeholder, e.g. `BSN [BSN]`. */
export function redactText(
  text: string,
  findings: readonly Finding[],
  language: keyof GuardMessage = 'nl',
): string {
  return redactionPreview(text, findings)
    .map((s) => (s.type === 'text' ? s.text : s.placeholder[language]))
    .join('')
}
