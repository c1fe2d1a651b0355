/**
 * Reading decrypted timelines in the cross-process suites: the comparable shape of a
 * timeline, and the checks every suite makes (gap-free, decryptable, no duplicates).
 */
import type { RoomSession, TimelineItem } from '@vs/client/rooms'

/** One line per event, comparable across members: seq, kind, sender and content. */
export function describeItem(i: TimelineItem): string {
  if (i.kind === 'message')
    return `${i.seq} message ${i.from} ${i.content.type} ${JSON.stringify(i.content.body)}`
  if (i.kind === 'membership') return `${i.seq} membership ${i.from} ${i.action} epoch=${i.epoch}`
  if (i.kind === 'undecryptable') return `${i.seq} undecryptable ${i.from} ${i.code}`
  return `${i.seq} ${(i as { kind: string }).kind} ${i.from}`
}

/** The text messages of a timeline, in order. */
export function textsOf(items: readonly TimelineItem[]): { seq: number; text: string }[] {
  return items.flatMap((i) =>
    i.kind === 'message' && i.content.type === 'text'
      ? [{ seq: i.seq, text: (i.content.body as { text: string }).text }]
      : [],
  )
}

/** Problems with one member's timeline: gaps or repeats in seq, undecryptable events. */
export function timelineProblems(session: RoomSession, head: number): string[] {
  const problems: string[] = []
  const seqs = session.timeline.map((i) => i.seq)
  if (seqs.length !== head) problems.push(`${seqs.length} events, the room has ${head}`)
  seqs.forEach((s, i) => {
    if (s !== i + 1) problems.push(`position ${i} holds seq ${s}`)
  })
  for (const i of session.timeline)
    if (i.kind === 'undecryptable') problems.push(`seq ${i.seq} undecryptable: ${i.code}`)
  const texts = textsOf(session.timeline).map((t) => t.text)
  const dupes = texts.length - new Set(texts).size
  if (dupes > 0) problems.push(`${dupes} duplicated texts`)
  return problems.slice(0, 20)
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]!
}
