/**
 * A progress line on stderr for long-running commands: a bar on a terminal, a plain
 * line every few seconds otherwise (CI logs), so the operator always sees it moving.
 */
export interface Progress {
  update(done: number, total?: number): void
  stop(): void
}

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true
  let last = 0
  let lastText = ''
  return {
    update(done, total) {
      const now = Date.now()
      const pct = total ? Math.floor((done / Math.max(total, 1)) * 100) : undefined
      const text = total
        ? `${label} [${'#'.repeat(Math.floor((pct ?? 0) / 5)).padEnd(20, '.')}] ${done}/${total} (${pct}%)`
        : `${label} ${done}`
      lastText = text
      if (tty) stream.write(`\r${text}`)
      else if (now - last > 2000 || done === total) {
        stream.write(`${text}\n`)
        last = now
      }
    },
    stop() {
      if (tty && lastText) stream.write('\n')
    },
  }
}
