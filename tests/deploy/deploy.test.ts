/**
 * deploy/ without Docker or a cluster: the linter passes on the real files and catches broken
 * ones; the image's build recipe (deploy/build-app.sh on the context .dockerignore leaves)
 * produces a server that starts with the image's environment; the key tool rotates with overlap.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cryptoReady } from '@vs/crypto'
import { createEmptyPostgresDb, freePort } from '@vs/api/testing'
import { loadOrCreateKeys } from '../../services/api/src/keys.js'
import { DockerIgnore, lintDeploy, parseDockerfile, repoRoot, type CheckGroup } from './checks.js'
import { makeKeys, until } from './cluster.js'

const temps: string[] = []
const temp = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  temps.push(dir)
  return dir
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})

/** A checkout whose deploy/ and .dockerignore are copies (to break), the rest linked. */
function fixture(): string {
  const root = temp('vs-deploy-fixture-')
  for (const name of readdirSync(repoRoot)) {
    if (name === 'deploy' || name === '.dockerignore' || name === '.git') continue
    symlinkSync(path.join(repoRoot, name), path.join(root, name))
  }
  cpSync(path.join(repoRoot, 'deploy'), path.join(root, 'deploy'), { recursive: true })
  cpSync(path.join(repoRoot, '.dockerignore'), path.join(root, '.dockerignore'))
  return root
}

function edit(root: string, file: string, from: string | RegExp, to: string): void {
  const full = path.join(root, file)
  const text = readFileSync(full, 'utf8')
  const next = text.replace(from, to)
  if (next === text) throw new Error(`fixture edit did not apply to ${file}: ${String(from)}`)
  writeFileSync(full, next)
}

describe('deploy lint', () => {
  it('passes on deploy/ (Dockerfile, .dockerignore, compose, Caddyfile, k8s)', () => {
    const report = lintDeploy(repoRoot, ['dockerfile', 'compose', 'caddy', 'k8s'])
    expect(report.problems).toEqual([])
    expect(report.checked).toEqual(
      expect.arrayContaining([
        'deploy/Dockerfile',
        'deploy/compose.yaml',
        'deploy/Caddyfile',
        'deploy/k8s/deployment.yaml',
        'deploy/k8s/networkpolicy.yaml',
        'deploy/k8s/migrate-job.yaml',
      ]),
    )
  })

  it('finds no import the image lacks (it has only production dependencies)', () => {
    expect(lintDeploy(repoRoot, ['dependencies']).problems).toEqual([])
  })

  const broken: [string, CheckGroup, (root: string) => void, RegExp][] = [
    [
      'a root runtime stage',
      'dockerfile',
      (r) => edit(r, 'deploy/Dockerfile', /^USER 1000:1000$/m, 'USER root'),
      /non-root USER/,
    ],
    [
      'an env file in the build context',
      'dockerfile',
      (r) => {
        edit(r, '.dockerignore', /^\*\*\/\*\.env$/m, '')
        edit(r, '.dockerignore', /^deploy\/env$/m, '')
      },
      /leave out deploy\/env\/api\.env/,
    ],
    [
      'a replica missing from the proxy',
      'compose',
      (r) =>
        edit(
          r,
          'deploy/compose.yaml',
          'VS_UPSTREAMS: api-1:8080 api-2:8080',
          'VS_UPSTREAMS: api-1:8080',
        ),
      /VS_UPSTREAMS must list every API replica/,
    ],
    [
      'a password in compose.yaml',
      'compose',
      (r) =>
        edit(
          r,
          'deploy/compose.yaml',
          "TRUST_PROXY: 'true'",
          "TRUST_PROXY: 'true'\n    DATABASE_URL: postgres://x:y@db/z",
        ),
      /DATABASE_URL belongs in an env file/,
    ],
    [
      'sticky sessions',
      'caddy',
      (r) => edit(r, 'deploy/Caddyfile', 'lb_policy least_conn', 'lb_policy cookie'),
      /no sticky sessions/,
    ],
    [
      'a misspelt probe (an unknown field)',
      'k8s',
      (r) => edit(r, 'deploy/k8s/deployment.yaml', 'readinessProbe:', 'readinesProbe:'),
      /'readinesProbe' does not exist in type[\s\S]*readiness probe on \/readyz/,
    ],
    [
      'a port that is not a number (the schema)',
      'k8s',
      (r) => edit(r, 'deploy/k8s/deployment.yaml', 'containerPort: 8080', "containerPort: 'http'"),
      /containerPort must be integer/,
    ],
    [
      'a misspelt server variable',
      'k8s',
      (r) => edit(r, 'deploy/k8s/configmap.yaml', 'PUBLIC_URL:', 'PUBLIC_ULR:'),
      /PUBLIC_ULR is not a variable the server reads/,
    ],
    [
      'a rolling update that drops capacity and no drain',
      'k8s',
      (r) => {
        edit(r, 'deploy/k8s/deployment.yaml', 'maxUnavailable: 0', 'maxUnavailable: 1')
        edit(r, 'deploy/k8s/deployment.yaml', "command: ['sleep', '10']", "command: ['true']")
      },
      /maxUnavailable: 0[\s\S]*preStop must wait/,
    ],
  ]
  it.each(broken)('finds %s', (_what, group, breakIt, expected) => {
    const root = fixture()
    breakIt(root)
    const report = lintDeploy(root, [group])
    expect(report.problems.map((p) => `${p.file}: ${p.message}`).join('\n')).toMatch(expected)
  })

  it('`pnpm deploy:lint DIR` names the problem and exits 1', () => {
    const root = fixture()
    edit(root, 'deploy/k8s/service.yaml', 'targetPort: http', 'targetPort: web')
    const r = spawnSync(
      path.join(repoRoot, 'node_modules', '.bin', 'tsx'),
      [path.join(repoRoot, 'deploy', 'lint.ts'), root],
      {
        encoding: 'utf8',
      },
    )
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(
      /deploy\/k8s\/service\.yaml: Service vs-api: targetPort web is not a container port/,
    )
  }, 60_000)
})

describe('.dockerignore', () => {
  it('follows Docker: parent folders, ** and re-includes, last rule wins', () => {
    const ig = new DockerIgnore('**/node_modules\ndata\n*.md\n!README.md\ndeploy/env\n')
    expect(ig.excludes('node_modules/x/y.js')).toBe(true)
    expect(ig.excludes('packages/web/node_modules/x')).toBe(true)
    expect(ig.excludes('data/keys/log-key.json')).toBe(true)
    expect(ig.excludes('CHANGES.md')).toBe(true)
    expect(ig.excludes('README.md')).toBe(false)
    expect(ig.excludes('docs/a.md')).toBe(false)
    expect(ig.excludes('deploy/env/api.env')).toBe(true)
    expect(ig.excludes('deploy/Dockerfile')).toBe(false)
  })
})

describe('the image recipe, without Docker', () => {
  it('builds production-only output that starts with the image environment, serves the web client and stops on SIGTERM', async () => {
    const work = temp('vs-image-')
    const ctx = path.join(work, 'context')
    const out = path.join(work, 'app')
    // The build context: exactly what .dockerignore lets into `docker build`.
    const ignore = new DockerIgnore(readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'))
    const files = ignore.contextFiles(repoRoot)
    expect(files).not.toContain('deploy/env/api.env')
    expect(files.some((f) => f.startsWith('data/') || f.includes('node_modules/'))).toBe(false)
    for (const f of files) {
      mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true })
      cpSync(path.join(repoRoot, f), path.join(ctx, f))
    }
    const build = spawnSync('sh', ['deploy/build-app.sh', out], {
      cwd: ctx,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    })
    expect(build.status, build.stdout + build.stderr).toBe(0)

    // Only production dependencies, no tests, the web client inside.
    const store = readdirSync(path.join(out, 'node_modules', '.pnpm'))
    for (const dev of ['vitest', 'typescript', 'eslint', 'playwright-core', 'pino-pretty']) {
      expect(store.filter((p) => p.startsWith(dev))).toEqual([])
    }
    expect(existsSync(path.join(out, 'tests'))).toBe(false)
    expect(existsSync(path.join(out, 'web', 'index.html'))).toBe(true)
    expect(existsSync(path.join(out, 'healthcheck.mjs'))).toBe(true)

    // Start it as the image does: the runtime stage's ENV, ENTRYPOINT and CMD.
    const ins = parseDockerfile(readFileSync(path.join(repoRoot, 'deploy', 'Dockerfile'), 'utf8'))
    const runtime = ins.slice(ins.findLastIndex((i) => i.keyword === 'FROM'))
    const imageEnv: Record<string, string> = {}
    for (const i of runtime.filter((x) => x.keyword === 'ENV')) {
      for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) imageEnv[m[1]!] = m[2]!
    }
    const argv = [
      ...(JSON.parse(runtime.findLast((i) => i.keyword === 'ENTRYPOINT')!.args) as string[]),
      ...(JSON.parse(runtime.findLast((i) => i.keyword === 'CMD')!.args) as string[]),
    ]
    expect(argv[0]).toBe('node')
    const keys = path.join(work, 'keys')
    makeKeys(keys)
    const port = await freePort()
    const db = process.env.DATABASE_URL
      ? await createEmptyPostgresDb(process.env.DATABASE_URL)
      : undefined
    const env: Record<string, string> = {
      ...imageEnv,
      // What compose/Kubernetes mount or set in place of the image's paths:
      WEB_DIR: path.join(out, 'web'),
      KEYS_DIR: keys,
      DATA_DIR: path.join(work, 'data'),
      HOST: '127.0.0.1',
      PORT: String(port),
      ...(db ? { DATABASE_URL: db.url } : {}),
    }
    const child = spawn(process.execPath, argv.slice(1), {
      cwd: out,
      env: { PATH: process.env.PATH, HOME: work, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    child.stdout.on('data', (d: Buffer) => (log += d.toString()))
    child.stderr.on('data', (d: Buffer) => (log += d.toString()))
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
    try {
      await until(
        'the built server is ready',
        async () => {
          if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${log}`)
          const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined)
          return res?.ok === true
        },
        45_000,
      )
      const home = await fetch(`http://127.0.0.1:${port}/`)
      expect(await home.text()).toContain('Veilig Samenwerken')
      // The container HEALTHCHECK command.
      const hc = spawnSync(process.execPath, [path.join(out, 'healthcheck.mjs'), '/readyz'], {
        env: { PORT: String(port) },
      })
      expect(hc.status).toBe(0)
      child.kill('SIGTERM')
      expect(await exited, log).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      await db?.drop()
    }
  }, 90_000)
})

describe('deploy/keygen.mjs', () => {
  const keygen = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, 'deploy', 'keygen.mjs'), ...args], {
      encoding: 'utf8',
    })
  const tokenFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('token-'))

  it('rotates with overlap: an added key verifies first, signs once promoted', async () => {
    await cryptoReady()
    const dir = temp('vs-keygen-')
    const signer = () => loadOrCreateKeys(dir).tokenKeys[0]!.kid
    const kids = () =>
      loadOrCreateKeys(dir)
        .tokenKeys.map((k) => k.kid)
        .sort()
    expect(keygen('init', dir).status).toBe(0)
    expect(tokenFiles(dir)).toHaveLength(1)
    expect(readdirSync(dir)).toContain('log-key.json')
    expect(keygen('init', dir).stdout).toContain('keys exist')
    const first = signer()

    // Step 1: the new key is known to every replica before anything signs with it.
    expect(keygen('add', dir).status).toBe(0)
    expect(kids()).toHaveLength(2)
    expect(signer()).toBe(first)
    const added = kids().find((k) => k !== first)!
    expect(keygen('add', dir).stderr).toMatch(/promote it/)
    // Step 2: it signs; the old one still verifies.
    expect(keygen('promote', dir).status).toBe(0)
    expect(signer()).toBe(added)
    expect(kids()).toEqual([first, added].sort())
    expect(keygen('list', dir).stdout).toMatch(/\(signs\)[\s\S]*\(verifies\)/)
    // Step 3 waits until no token signed by the old key can still be valid.
    const early = keygen('prune', dir)
    expect(early.status).toBe(1)
    expect(early.stderr).toMatch(/only 0 min old/)
    expect(kids()).toHaveLength(2)

    // The server's loader rewrites nothing (the files may sit on a read-only Secret mount).
    const read = () =>
      Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]))
    const before = read()
    loadOrCreateKeys(dir)
    expect(read()).toEqual(before)
  })
})
