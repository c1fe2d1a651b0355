// Container health check: GET http://127.0.0.1:$PORT/readyz (or the path given as the first
// argument, e.g. /healthz) answers 2xx within 3 s. Plain Node, no curl needed in the image.
const path = process.argv[2] ?? '/readyz'
const port = process.env.PORT ?? '8080'
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) })
  process.exit(res.ok ? 0 : 1)
} catch {
  process.exit(1)
}
