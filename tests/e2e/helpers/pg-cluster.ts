/**
 * A private PostgreSQL server for one test file, so it can be killed and restarted
 * without touching the server every other suite shares. `initdb` makes a fresh cluster in
 * a temporary directory; the postmaster listens on 127.0.0.1 only, on a free port, with
 * its socket in that directory, trust authentication and fsync on.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, initdb and the server run
 * as the `postgres` OS user (the directory is handed to it). `kill9()` SIGKILLs the
 * postmaster and every process under it at once (backends and auxiliary processes each
 * run in a session of their own, so a process-group kill would miss them), like a machine
 * losing the server; the next `start()` then runs crash recovery.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freePort } from '@vs/api/testing'

/** Where Debian and Ubuntu put the server binaries; PG_BIN overrides. */
function findBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : []
  for (const v of versions) {
    const dir = path.join(root, v, 'bin')
    if (existsSync(path.join(dir, 'initdb'))) return dir
  }
  return path.join(root, '15', 'bin')
}

/** uid and gid to run PostgreSQL as: `postgres` when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' })
    if (r.status !== 0)
      throw new Error(
        'The private PostgreSQL cluster cannot run as root and there is no `postgres` OS user ' +
          `to run it as (id ${flag} postgres: ${r.stderr.trim() || r.status}).`,
      )
    return Number(r.stdout.trim())
  }
  return { uid: id('-u'), gid: id('-g') }
}

/** State, parent and process group of every process (Linux /proc). */
function processTable(): { pid: number; state: string; ppid: number; pgrp: number }[] {
  const out: { pid: number; state: string; ppid: number; pgrp: number }[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
      const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.push({ pid: Number(name), state: state!, ppid: Number(ppid), pgrp: Number(pgrp) })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** `pid` and all its descendants. */
function processTree(pid: number): number[] {
  const table = processTable()
  const tree = [pid]
  for (let i = 0; i < tree.length; i++)
    for (const p of table) if (p.ppid === tree[i] && !tree.includes(p.pid)) tree.push(p.pid)
  return tree
}

/** Which of `pids` still run (exited ones may linger as zombies until reaped: not counted). */
function alive(pids: readonly number[]): number[] {
  const table = new Map(processTable().map((p) => [p.pid, p]))
  return pids.filter((pid) => {
    const p = table.get(pid)
    return p !== undefined && p.state !== 'Z' && p.state !== 'X'
  })
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch {
    return undefined
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres (the same across restarts). */
  readonly url: string
  readonly port: number
  /** The temporary directory: data directory, socket and nothing else. */
  readonly dir: string
  /** Pid of the running postmaster, if any. */
  readonly pid: number | undefined
  /** Starts the server (after a kill: with crash recovery) and waits until it accepts queries. */
  start(): Promise<void>
  /**
   * SIGKILL to the postmaster and every process under it, no shutdown at all; resolves
   * when none of them is left. The postmaster's pid is taken from postmaster.pid.
   */
  kill9(): Promise<void>
  /** `start()` after `kill9()` or `stop()`. */
  restart(): Promise<void>
  /** Fast shutdown (SIGINT), SIGKILL to the whole tree if it takes longer than 10 s. */
  stop(): Promise<void>
  /** Stops the server if it runs and removes the directory; safe to call more than once. */
  cleanup(): Promise<void>
  /** What the server printed (its log goes to stderr). */
  log(): string
}

export async function createPgCluster(): Promise<PgCluster> {
  const bin = findBinDir()
  for (const tool of ['initdb', 'postgres'])
    if (!existsSync(path.join(bin, tool)))
      throw new Error(
        `The PostgreSQL fault test needs a private server, but ${path.join(bin, tool)} does not ` +
          `exist. Install the PostgreSQL server binaries (e.g. apt-get install postgresql-15) ` +
          `or set PG_BIN to the directory holding initdb and postgres.`,
      )
  const user = serverUser()
  const dir = await mkdtemp(path.join(tmpdir(), 'vs-pg-'))
  const data = path.join(dir, 'data')
  const port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let logText = ''
  const append = (d: Buffer) => {
    logText += d.toString()
    if (logText.length > 200_000) logText = logText.slice(-100_000)
  }
  // Belt and braces: a worker that dies without running afterAll leaves no server behind.
  const onExit = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      for (const p of processTree(child.pid)) {
        try {
          process.kill(p, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', onExit)

  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' }
  const asUser = user ? { uid: user.uid, gid: user.gid } : {}

  const postmasterPid = async (): Promise<number | undefined> => {
    try {
      const first = (await readFile(path.join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]
      const pid = Number(first)
      return Number.isInteger(pid) && pid > 0 ? pid : undefined
    } catch {
      return undefined
    }
  }

  const waitGone = async (pids: readonly number[], ms: number): Promise<boolean> => {
    const end = Date.now() + ms
    while (alive(pids).length > 0) {
      if (Date.now() > end) return false
      await sleep(20)
    }
    return true
  }

  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined
    },

    async start() {
      if (cluster.pid !== undefined) throw new Error('the private PostgreSQL is already running')
      const c = spawn(
        path.join(bin, 'postgres'),
        [
          '-D',
          data,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `unix_socket_directories=${dir}`,
          '-c',
          'fsync=on',
          '-c',
          'synchronous_commit=on',
          '-c',
          'full_page_writes=on',
          '-c',
          'max_connections=100',
          '-c',
          'logging_collector=off',
          // Before crash recovery PostgreSQL syncs the data directory; one syncfs() instead
          // of an fsync per file (seconds on a busy machine). Commits still fsync the WAL.
          '-c',
          'recovery_init_sync_method=syncfs',
        ],
        { cwd: dir, env, ...asUser, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      child = c
      c.stdout!.on('data', append)
      c.stderr!.on('data', append)
      exited = new Promise((resolve) => c.once('exit', () => resolve()))
      let spawnError: Error | undefined
      c.once('error', (err) => (spawnError = err))
      const deadline = Date.now() + 30_000
      for (;;) {
        if (spawnError) throw new Error(`cannot start postgres: ${spawnError.message}`)
        if (c.exitCode !== null || c.signalCode !== null)
          throw new Error(`postgres exited (${c.exitCode ?? c.signalCode}):\n${logText}`)
        const client = new pg.Client({
          connectionString: cluster.url,
          connectionTimeoutMillis: 1000,
        })
        client.on('error', () => {})
        try {
          await client.connect()
          await client.query('select 1')
          return
        } catch {
          // starting up, or in crash recovery
        } finally {
          await client.end().catch(() => {})
        }
        if (Date.now() > deadline) {
          await cluster.kill9()
          throw new Error(`postgres did not accept connections within 30 s:\n${logText}`)
        }
        await sleep(50)
      }
    },

    async kill9() {
      const c = child
      if (c?.pid === undefined || cluster.pid === undefined) return
      const pid = (await postmasterPid()) ?? c.pid
      if (c.pid !== pid)
        throw new Error(`postmaster.pid says ${pid}, but the postmaster we started is ${c.pid}`)
      // Every backend and auxiliary process calls setsid(), so they are not in the
      // postmaster's process group: freeze the postmaster (no new children), collect its
      // whole tree, and SIGKILL all of it at once, so no backend lives on to notice the
      // postmaster's death and exit cleanly.
      try {
        process.kill(pid, 'SIGSTOP')
      } catch {
        return
      }
      for (let i = 0; i < 100 && processState(pid) !== 'T'; i++) await sleep(5)
      const tree = processTree(pid)
      for (const p of tree) {
        try {
          process.kill(p, 'SIGKILL')
        } catch {
          // already gone
        }
      }
      await exited
      if (!(await waitGone(tree, 10_000)))
        throw new Error(`PostgreSQL processes survived SIGKILL: ${alive(tree).join(', ')}`)
    },

    async restart() {
      await cluster.start()
    },

    async stop() {
      const c = child
      if (c?.pid === undefined || c.exitCode !== null || c.signalCode !== null) return
      const tree = processTree(c.pid)
      c.kill('SIGINT')
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
      if (!stopped) {
        for (const p of processTree(c.pid)) {
          try {
            process.kill(p, 'SIGKILL')
          } catch {
            // already gone
          }
        }
        await exited
      }
      await waitGone(tree, 10_000)
    },

    async cleanup() {
      try {
        await cluster.stop()
      } finally {
        process.removeListener('exit', onExit)
        await rm(dir, { recursive: true, force: true })
      }
    },

    log() {
      return logText
    },
  }

  try {
    if (user) await chown(dir, user.uid, user.gid)
    const init = spawnSync(
      path.join(bin, 'initdb'),
      [
        '-D',
        data,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        // Durability of the cluster's own files on disk is not what is tested (a killed
        // process loses no page cache); the server itself runs with fsync on.
        '--no-sync',
      ],
      { cwd: dir, env, ...asUser, encoding: 'utf8', timeout: 60_000 },
    )
    if (init.status !== 0)
      throw new Error(
        `initdb failed (${init.status ?? init.signal ?? init.error?.message}):\n${init.stdout}\n${init.stderr}`,
      )
    await cluster.start()
  } catch (err) {
    await cluster.cleanup()
    throw err
  }
  return cluster
}
