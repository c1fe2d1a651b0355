/** Runs the real API process on a free port, for end-to-end and shutdown tests. */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import path from 'node:path'

export const apiRoot = path.resolve(import.meta.dirname, '..', '..')
export const repoRoot = path.resolve(apiRoot, '..', '..')

export async function freePort(): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const addr = srv.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  srv.close()
  await once(srv, 'close')
  return port
}

export interface ApiProcess {
  child: ChildProcess
  url: string
  port: number
  output(): string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export function runScript(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // Node itself with tsx as a loader (not the tsx wrapper), so a signal, SIGKILL
  // included, reaches the server process and not just a wrapper around it.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(apiRoot, 'src', script), ...args],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

/** Starts `services/api/src/index.ts` and waits until /healthz answers. */
export async function startApiProcess(
  env: Record<string, string | undefined>,
): Promise<ApiProcess> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const proc = runScript('index.ts', [], {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    ...env,
  })
  const deadline = Date.now() + 60_000
  let exitCode: number | null | undefined
  void proc.exited.then((c) => (exitCode = c))
  for (;;) {
    if (exitCode !== undefined) throw new Error(`API exited with ${exitCode}: ${proc.output()}`)
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) break
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL')
      throw new Error(`API did not start in time: ${proc.output()}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    ...proc,
    url,
    port,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.child.exitCode === null) proc.child.kill(signal)
      return proc.exited
    },
  }
}
