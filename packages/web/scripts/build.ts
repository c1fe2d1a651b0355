/**
 * Builds the web client to static files in dist/ (served by the API at `/`).
 * Usage: pnpm --filter @vs/web build [--watch] [--outdir <dir>]
 * libsodium is bundled with its WebAssembly inline, so the app runs under the API's
 * CSP (`script-src 'self' 'wasm-unsafe-eval'`) with no eval. Two scripts: app.js, and
 * open-worker.js (the SDK's workers that verify and decrypt room histories).
 */
import { cp, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import * as esbuild from 'esbuild'

if (process.argv.includes('--help')) {
  process.stdout.write(
    'Builds packages/web to packages/web/dist. Options: --watch, --outdir <dir> (another folder)\n',
  )
  process.exit(0)
}
const root = path.resolve(import.meta.dirname, '..')
const outIdx = process.argv.indexOf('--outdir')
const outArg = outIdx >= 0 ? process.argv[outIdx + 1] : undefined
if (outIdx >= 0 && !outArg) {
  process.stderr.write('--outdir needs a folder\n')
  process.exit(2)
}
const dist = outArg ? path.resolve(outArg) : path.join(root, 'dist')
await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })
await cp(path.join(root, 'public'), dist, { recursive: true })
const options: esbuild.BuildOptions = {
  entryPoints: [path.join(root, 'src', 'main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outfile: path.join(dist, 'app.js'),
  sourcemap: true,
  minify: true,
  logLevel: 'warning',
  conditions: ['browser'],
}
// The SDK's open workers: verify and decrypt long room histories off the main thread.
const workerOptions: esbuild.BuildOptions = {
  ...options,
  entryPoints: [path.join(root, '..', 'crypto', 'src', 'room', 'open-worker.ts')],
  format: 'iife',
  outfile: path.join(dist, 'open-worker.js'),
}
if (process.argv.includes('--watch')) {
  const c = await esbuild.context(options)
  const w = await esbuild.context(workerOptions)
  await Promise.all([c.watch(), w.watch()])
  process.stdout.write('watching packages/web…\n')
} else {
  await Promise.all([esbuild.build(options), esbuild.build(workerOptions)])
  process.stdout.write(`web client built in ${path.relative(process.cwd(), dist) || dist}\n`)
}
