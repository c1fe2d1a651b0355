/**
 * The deploy linter's checks (run by `pnpm deploy:lint` through deploy/lint.ts, and by
 * tests/deploy/deploy.test.ts). Nothing here needs Docker or a cluster:
 *
 * - Dockerfile: dockerfile-utils (the VS Code Docker language service's validator), then our
 *   rules: multi-stage, non-root, health check, pinned bases, only production dependencies, and
 *   every file the build copies is in the context that .dockerignore leaves (and no secret is).
 * - compose.yaml: dclint (the compose-spec JSON schema and its best-practice rules), then ours.
 * - Caddyfile: `caddy validate` and `caddy adapt` when caddy is installed, else text rules.
 * - deploy/k8s: every object against the Kubernetes OpenAPI schema (kubernetes-models), unknown
 *   fields through TypeScript's excess-property check on the same models, then our rules
 *   (probes, limits, drain, selectors that match, network policy, names that resolve).
 *
 * Environment variable names anywhere in deploy/ must be ones the server reads (ServerEnv in
 * services/api/src/config.ts), so a typo cannot silently fall back to a default.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import ts from 'typescript'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { validate as validateDockerfile } from 'dockerfile-utils'
import { DCLinter } from 'dclint'

export const repoRoot = path.resolve(import.meta.dirname, '..', '..')

export interface Problem {
  file: string
  message: string
}

export interface LintReport {
  problems: Problem[]
  /** Files looked at, relative to the repository root. */
  checked: string[]
  /** Checks that could not run here (e.g. caddy not installed), with the reason. */
  skipped: string[]
  /** Milliseconds per group of checks. */
  timings?: Record<string, number>
}

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const obj = (v: unknown): Json => (isObj(v) ? v : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const get = (v: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((o, k) => (typeof k === 'number' ? arr(o)[k] : obj(o)[k]), v)

/** The variables the server reads, from `interface ServerEnv` in services/api/src/config.ts. */
export function serverEnvNames(root = repoRoot): Set<string> {
  const src = readFileSync(path.join(root, 'services', 'api', 'src', 'config.ts'), 'utf8')
  const body = /export interface ServerEnv \{([^}]*)\}/.exec(src)?.[1] ?? ''
  return new Set([...body.matchAll(/^\s*([A-Z_][A-Z0-9_]*)\?:/gm)].map((m) => m[1]!))
}

// ---------------------------------------------------------------------------------------------
// .dockerignore

/** Docker's .dockerignore rules: last match wins, `!` re-includes, a matched folder hides all. */
export class DockerIgnore {
  private readonly rules: { re: RegExp; negate: boolean }[]

  constructor(text: string) {
    this.rules = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const negate = l.startsWith('!')
        const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''))
        let re = ''
        for (let i = 0; i < pat.length; i++) {
          const c = pat[i]!
          if (c === '*' && pat[i + 1] === '*') {
            i++
            if (pat[i + 1] === '/') {
              i++
              re += '(?:.*/)?'
            } else re += '.*'
          } else if (c === '*') re += '[^/]*'
          else if (c === '?') re += '[^/]'
          else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
        }
        return { re: new RegExp(`^${re}$`), negate }
      })
  }

  /**
   * True when `rel` (a path inside the context, with /) is left out of the build context.
   * As Docker's patternmatcher: a rule applies when it matches the path or one of its parent
   * folders; the last rule that applies wins.
   */
  excludes(rel: string): boolean {
    const parts = rel.split('/')
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let excluded = false
    for (const r of this.rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate
    return excluded
  }

  /** Every file of `root` that goes into the build context (relative paths). */
  contextFiles(root: string): string[] {
    const out: string[] = []
    const walk = (rel: string) => {
      for (const name of readdirSync(path.join(root, rel))) {
        const child = rel ? `${rel}/${name}` : name
        const full = path.join(root, child)
        const st = statSync(full, { throwIfNoEntry: false })
        if (!st) continue
        if (st.isDirectory()) {
          if (!this.excludes(child) || this.rules.some((r) => r.negate)) walk(child)
        } else if (!this.excludes(child)) out.push(child)
      }
    }
    walk('')
    return out
  }
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string
  args: string
  line: number
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!
    if (!first.trim() || first.trim().startsWith('#')) continue
    const start = i
    let joined = first
    while (joined.trimEnd().endsWith('\\') && i + 1 < lines.length) {
      joined = joined.trimEnd().slice(0, -1) + ' '
      i++
      if (!lines[i]!.trim().startsWith('#')) joined += lines[i]!.trim()
    }
    const m = /^\s*(\w+)\s+(.*)$/s.exec(joined)
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 })
  }
  return out
}

function dockerArgs(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[]
  return args.split(/\s+/).filter(Boolean)
}

/** Expands `${NAME}` / `$NAME` with the ARG defaults declared before the first FROM. */
function expandArgs(s: string, vars: Map<string, string>): string {
  return s.replace(/\$\{?(\w+)\}?/g, (_, n: string) => vars.get(n) ?? `\${${n}}`)
}

function checkDockerfile(root: string, problems: Problem[]): void {
  const file = 'deploy/Dockerfile'
  const text = readFileSync(path.join(root, file), 'utf8')
  const bad = (message: string) => problems.push({ file, message })
  for (const d of validateDockerfile(text)) {
    bad(`line ${d.range.start.line + 1}: ${d.message} (dockerfile-utils)`)
  }
  const ins = parseDockerfile(text)
  const globalArgs = new Map<string, string>()
  for (const i of ins) {
    if (i.keyword === 'FROM') break
    if (i.keyword === 'ARG') {
      const [name, value] = i.args.split('=')
      if (name && value !== undefined) globalArgs.set(name.trim(), value.trim())
    }
  }
  const stages: { image: string; name: string | undefined; body: Instruction[] }[] = []
  for (const i of ins) {
    if (i.keyword === 'FROM') {
      const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'))
      const image = expandArgs(parts[0] ?? '', globalArgs)
      const name = /^as$/i.test(parts[1] ?? '') ? parts[2] : undefined
      stages.push({ image, name, body: [] })
    } else stages.at(-1)?.body.push(i)
  }
  if (stages.length < 2) bad('must be a multi-stage build (a build stage and a runtime stage)')
  const stageNames = new Set(stages.map((s) => s.name))
  for (const s of stages) {
    if (stageNames.has(s.image) && s.image !== undefined) continue
    const tag = /^[^@]+:([^:/@]+)$/.exec(s.image)?.[1]
    if (!/@sha256:[0-9a-f]{64}$/.test(s.image) && (!tag || /^(latest|lts|current)$/.test(tag))) {
      bad(`base image "${s.image}" needs an explicit version tag or digest`)
    }
  }
  const final = stages.at(-1)
  if (!final) return
  const users = final.body.filter((i) => i.keyword === 'USER')
  const user = users.at(-1)?.args.split(':')[0]
  if (!user || user === 'root' || user === '0') bad('the runtime stage must end as a non-root USER')
  else if (!/^\d+$/.test(user)) bad('USER should be numeric so runAsNonRoot can check it')
  const health = final.body.find((i) => i.keyword === 'HEALTHCHECK')
  if (!health) bad('the runtime stage needs a HEALTHCHECK')
  else if (!/\/(readyz|healthz)\b/.test(health.args))
    bad('HEALTHCHECK must probe /readyz or /healthz')
  if (!final.body.some((i) => i.keyword === 'COPY' && /--from=/.test(i.args))) {
    bad('the runtime stage must copy the built app from the build stage')
  }
  if (final.body.some((i) => i.keyword === 'RUN' && /pnpm|npm (ci|install)/.test(i.args))) {
    bad('the runtime stage must not install dependencies (copy the pruned build instead)')
  }
  const env = new Map<string, string>()
  for (const i of final.body.filter((x) => x.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1]!, m[2]!)
  }
  if (env.get('NODE_ENV') !== 'production') bad('the runtime stage must set NODE_ENV=production')
  const known = serverEnvNames(root)
  for (const name of env.keys()) {
    if (name !== 'NODE_ENV' && !known.has(name))
      bad(`ENV ${name} is not a variable the server reads`)
  }
  for (const name of ['WEB_DIR', 'KEYS_DIR', 'PORT']) {
    if (!env.has(name)) bad(`the runtime stage must set ${name}`)
  }
  const cmd = [
    ...dockerArgs(final.body.findLast((i) => i.keyword === 'ENTRYPOINT')?.args ?? '[]'),
    ...dockerArgs(final.body.findLast((i) => i.keyword === 'CMD')?.args ?? '[]'),
  ]
  if (!cmd.includes('src/index.ts')) bad('ENTRYPOINT + CMD must start src/index.ts')
  if (ins.some((i) => i.keyword === 'ADD')) bad('use COPY, not ADD')

  // The build stage runs deploy/build-app.sh; it must produce production dependencies only.
  const build = readFileSync(path.join(root, 'deploy', 'build-app.sh'), 'utf8')
  if (!/pnpm --filter @vs\/api deploy --prod/.test(build)) {
    bad('deploy/build-app.sh must deploy @vs/api with --prod (only production dependencies)')
  }
  if (!ins.some((i) => i.keyword === 'RUN' && i.args.includes('deploy/build-app.sh'))) {
    bad('the build stage must run deploy/build-app.sh (the script the dry-build test runs)')
  }

  // Every source the build copies must be in the context .dockerignore leaves.
  const ignore = new DockerIgnore(readFileSync(path.join(root, '.dockerignore'), 'utf8'))
  const needed = [
    'package.json',
    'pnpm-lock.yaml',
    'pnpm-workspace.yaml',
    'deploy/build-app.sh',
    'deploy/healthcheck.mjs',
    'services/api/package.json',
    'services/api/src/index.ts',
    'services/api/src/cli.ts',
    'packages/web/package.json',
    'packages/web/scripts/build.ts',
    'packages/crypto/package.json',
    'packages/protocol/package.json',
    'migrations/index.ts',
  ]
  for (const i of ins.filter((x) => x.keyword === 'COPY' && !/--from=/.test(x.args))) {
    const parts = dockerArgs(i.args.replace(/--\S+/g, ''))
    for (const src of parts.slice(0, -1)) if (src !== '.') needed.push(src)
  }
  for (const f of needed) {
    if (!existsSync(path.join(root, f))) bad(`the build needs ${f}, which does not exist`)
    else if (ignore.excludes(f)) bad(`.dockerignore leaves out ${f}, which the build needs`)
  }
  for (const secret of [
    '.git/config',
    'data/keys/log-key.json',
    'deploy/env/api.env',
    'deploy/env/postgres.env',
    'deploy/secrets/keys/log-key.json',
    'services/api/.env',
    'node_modules/x/index.js',
    'packages/web/node_modules/x/index.js',
    'packages/web/dist/app.js',
  ]) {
    if (!ignore.excludes(secret)) bad(`.dockerignore must leave out ${secret}`)
  }
}

// ---------------------------------------------------------------------------------------------
// compose.yaml

function readEnvFile(file: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (m) out.set(m[1]!, m[2]!)
  }
  return out
}

function checkCompose(root: string, problems: Problem[]): void {
  const file = 'deploy/compose.yaml'
  const full = path.join(root, file)
  const bad = (message: string) => problems.push({ file, message })
  const linter = new DCLinter({ rules: {}, quiet: false, debug: false, exclude: [] })
  for (const r of linter.lintFiles([full], false)) {
    for (const m of r.messages) bad(`line ${m.line}: ${m.message} (dclint ${m.rule})`)
  }
  const doc = obj(parseYaml(readFileSync(full, 'utf8'), { merge: true }))
  const services = obj(doc.services)
  const known = serverEnvNames(root)
  const svc = Object.entries(services).map(([name, s]) => ({ name, s: obj(s) }))
  const image = (s: Json) => String(s.image ?? '')

  const pg = svc.find(({ s }) => /^postgres:16(\b|[.-])/.test(image(s)))
  if (!pg) bad('needs a postgres:16 service')
  else {
    const vols = arr(pg.s.volumes).map(String)
    const named = Object.keys(obj(doc.volumes))
    if (
      !vols.some((v) => named.includes(v.split(':')[0]!) && v.includes(':/var/lib/postgresql/data'))
    )
      bad('PostgreSQL needs a named volume at /var/lib/postgresql/data')
    if (!pg.s.healthcheck) bad('PostgreSQL needs a healthcheck (the API waits for it)')
  }

  const apis = svc.filter(({ s }) => get(s, 'healthcheck', 'test')?.toString().includes('/readyz'))
  if (apis.length < 2) bad('needs two API replicas (services with a /readyz healthcheck)')
  if (new Set(apis.map(({ s }) => image(s))).size > 1) bad('the API replicas must run one image')
  for (const { name, s } of apis) {
    const vols = arr(s.volumes).map(String)
    if (!vols.some((v) => /:\/run\/secrets\/vs-keys:ro$/.test(v))) {
      bad(`${name}: mount the key folder read-only at /run/secrets/vs-keys (the image's KEYS_DIR)`)
    }
    if (!s.env_file) bad(`${name}: secrets come from an env_file`)
    for (const dep of [pg?.name]) {
      if (dep && get(s, 'depends_on', dep, 'condition') !== 'service_healthy')
        bad(`${name}: wait for ${dep} to be healthy`)
    }
  }
  const proxy = svc.find(({ s }) => /^caddy:/.test(image(s)))
  if (!proxy) bad('needs the Caddy reverse proxy')
  else {
    const up = String(get(proxy.s, 'environment', 'VS_UPSTREAMS') ?? '')
    const want = apis.map(({ name }) => `${name}:8080`).sort()
    if (up.split(/\s+/).sort().join(' ') !== want.join(' ')) {
      bad(`caddy: VS_UPSTREAMS must list every API replica (${want.join(' ')}), got "${up}"`)
    }
    if (
      !arr(proxy.s.volumes)
        .map(String)
        .some((v) => v.startsWith('./Caddyfile:/etc/caddy/Caddyfile'))
    )
      bad('caddy: mount ./Caddyfile at /etc/caddy/Caddyfile')
    if (
      !arr(proxy.s.ports)
        .map(String)
        .some((p) => /:443$/.test(p))
    )
      bad('caddy: publish 443')
  }
  for (const { name, s } of svc) {
    if (s.ports && name !== proxy?.name) bad(`${name}: only the proxy publishes ports`)
    for (const k of Object.keys(obj(s.environment))) {
      if (/PASSWORD|SECRET|DATABASE_URL|TOKEN/.test(k)) {
        bad(`${name}: ${k} belongs in an env file, not in compose.yaml`)
      }
    }
    for (const f of arr(s.env_file).map(String)) {
      const example = path.join(root, 'deploy', `${f}.example`)
      if (!existsSync(example)) bad(`${name}: ${f} has no ${f}.example next to it`)
      else if (apis.some((a) => a.name === name)) {
        for (const k of readEnvFile(example).keys()) {
          if (!known.has(k)) bad(`${f}.example: ${k} is not a variable the server reads`)
        }
      }
    }
    for (const k of Object.keys(obj(s.environment))) {
      if (apis.some((a) => a.name === name) && !known.has(k))
        bad(`${name}: ${k} is not a variable the server reads`)
    }
  }
  const backend = obj(get(doc, 'networks', 'backend'))
  if (pg && backend.internal !== true) bad('the database network must be internal')
}

// ---------------------------------------------------------------------------------------------
// Caddyfile

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : undefined
}

function checkCaddyfile(root: string, problems: Problem[], skipped: string[]): void {
  const file = 'deploy/Caddyfile'
  const full = path.join(root, file)
  const text = readFileSync(full, 'utf8')
  const bad = (message: string) => problems.push({ file, message })
  if (/lb_policy\s+(cookie|ip_hash|client_ip_hash|header)/.test(text)) {
    bad('no sticky sessions: any replica serves any client')
  }
  if (!/reverse_proxy\s+\{\$VS_UPSTREAMS/.test(text)) bad('upstreams come from {$VS_UPSTREAMS}')
  if (/^\s*log\b/m.test(text)) bad('no access log (anonymous consultations must not log addresses)')
  const caddy = which('caddy')
  if (!caddy) {
    skipped.push('caddy validate (caddy is not installed: apt-get install caddy)')
    if (!/health_uri\s+\/readyz/.test(text)) bad('active health checks on /readyz')
    return
  }
  const home = mkdtempSync(path.join(tmpdir(), 'vs-caddy-lint-'))
  try {
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      XDG_DATA_HOME: home,
      XDG_CONFIG_HOME: home,
      SITE_ADDRESS: 'http://127.0.0.1:8443',
      VS_UPSTREAMS: '127.0.0.1:18081 127.0.0.1:18082',
      CADDY_ADMIN: 'off',
      CADDY_BIND: '127.0.0.1',
    }
    const args = ['--config', full, '--adapter', 'caddyfile']
    const v = spawnSync(caddy, ['validate', ...args], { env, encoding: 'utf8' })
    if (v.status !== 0) {
      bad(`caddy validate: ${(v.stderr || v.stdout).trim().split('\n').at(-1)}`)
      return
    }
    const fmt = spawnSync(caddy, ['fmt', full], { env, encoding: 'utf8' })
    if (fmt.status === 0 && fmt.stdout !== text) bad('not formatted: run `caddy fmt --overwrite`')
    const a = spawnSync(caddy, ['adapt', ...args], { env, encoding: 'utf8' })
    const json: unknown = JSON.parse(a.stdout)
    const proxies: Json[] = []
    const walk = (v: unknown) => {
      if (isObj(v) && v.handler === 'reverse_proxy') proxies.push(v)
      if (isObj(v) || Array.isArray(v)) Object.values(v).forEach(walk)
    }
    walk(json)
    const rp = proxies[0]
    if (proxies.length !== 1 || !rp) {
      bad('expected exactly one reverse_proxy')
      return
    }
    const dials = arr(rp.upstreams).map((u) => String(obj(u).dial))
    if (dials.join(' ') !== env.VS_UPSTREAMS)
      bad(`VS_UPSTREAMS did not reach the upstreams: ${dials}`)
    if (get(rp, 'health_checks', 'active', 'uri') !== '/readyz')
      bad('active health checks on /readyz')
    if (!get(rp, 'load_balancing', 'try_duration')) bad('lb_try_duration: retry another replica')
    const policy = String(get(rp, 'load_balancing', 'selection_policy', 'policy') ?? 'random')
    if (/cookie|hash|header/.test(policy)) bad(`no sticky sessions (lb_policy ${policy})`)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

interface K8sDoc {
  file: string
  doc: Json
  apiVersion: string
  kind: string
  name: string
}

const requireModel = createRequire(import.meta.url)

function modelPath(apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`
}

/** Schema validation (types, required fields, enums, formats) through kubernetes-models. */
function validateSchema(d: K8sDoc): string | undefined {
  let mod: Record<string, new (data: unknown) => { validate(): void }>
  try {
    mod = requireModel(modelPath(d.apiVersion, d.kind)) as typeof mod
  } catch {
    return `unknown kind ${d.apiVersion} ${d.kind}`
  }
  const Model = mod[d.kind]
  if (!Model) return `unknown kind ${d.apiVersion} ${d.kind}`
  try {
    new Model(d.doc).validate()
    return undefined
  } catch (err) {
    return `schema: ${(err as Error).message.split('\n').slice(0, 3).join('; ')}`
  }
}

/**
 * Unknown fields: the OpenAPI schemas do not forbid them, but a misspelt `readinessProbe` is
 * silently dropped by the API server. TypeScript's excess-property check on the same models
 * finds them: each object becomes a typed literal in a virtual file.
 */
function unknownFields(docs: K8sDoc[]): Problem[] {
  const virtual = path.join(import.meta.dirname, '__k8s_fields__.ts')
  const lines: string[] = []
  const where: { from: number; d: K8sDoc }[] = []
  docs.forEach((d, i) => {
    lines.push(`import type { I${d.kind} as T${i} } from '${modelPath(d.apiVersion, d.kind)}'`)
  })
  docs.forEach((d, i) => {
    where.push({ from: lines.length, d })
    lines.push(...`export const d${i}: T${i} = ${JSON.stringify(d.doc, null, 2)}`.split('\n'))
  })
  const source = lines.join('\n')
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === virtual
      ? ts.createSourceFile(name, source, lang)
      : getSourceFile(name, lang, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => path.resolve(name) === virtual || fileExists(name)
  const program = ts.createProgram([virtual], options, host)
  const sf = program.getSourceFile(virtual)!
  const out: Problem[] = []
  for (const diag of ts.getPreEmitDiagnostics(program, sf)) {
    const line = diag.start !== undefined ? sf.getLineAndCharacterOfPosition(diag.start).line : 0
    const at = where.findLast((w) => w.from <= line)
    const message = ts.flattenDiagnosticMessageText(diag.messageText, '\n').split('\n')[0]!
    out.push({
      file: at?.d.file ?? 'deploy/k8s',
      message: `${at ? `${at.d.kind} ${at.d.name}: ` : ''}${message.replace(/'"([^"]+)"'/g, "'$1'")}`,
    })
  }
  return out
}

function loadK8s(root: string, problems: Problem[]): { docs: K8sDoc[]; files: string[] } {
  const dir = path.join(root, 'deploy', 'k8s')
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
  const docs: K8sDoc[] = []
  for (const f of files) {
    const file = `deploy/k8s/${f}`
    // Kubernetes reads YAML 1.1 (0440 is octal there); parse it the same way.
    for (const parsed of parseAllDocuments(readFileSync(path.join(dir, f), 'utf8'), {
      version: '1.1',
    })) {
      for (const e of parsed.errors) problems.push({ file, message: `YAML: ${e.message}` })
      const doc = obj(parsed.toJS())
      if (Object.keys(doc).length === 0) continue
      const apiVersion = String(doc.apiVersion ?? '')
      const kind = String(doc.kind ?? '')
      const name = String(get(doc, 'metadata', 'name') ?? '')
      if (!apiVersion || !kind)
        problems.push({ file, message: 'a document without apiVersion/kind' })
      else docs.push({ file, doc, apiVersion, kind, name })
    }
  }
  return { docs, files }
}

function matches(selector: unknown, labels: unknown): boolean {
  const want = obj(get(selector, 'matchLabels') ?? selector)
  const have = obj(labels)
  return Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => have[k] === v)
}

function checkK8s(root: string, problems: Problem[]): string[] {
  const { docs: all, files } = loadK8s(root, problems)
  const kust = all.filter((d) => d.kind === 'Kustomization')
  const docs = all.filter((d) => d.kind !== 'Kustomization')
  const bad = (d: K8sDoc | string, message: string) =>
    problems.push(
      typeof d === 'string'
        ? { file: d, message }
        : { file: d.file, message: `${d.kind} ${d.name}: ${message}` },
    )
  for (const d of docs) {
    const err = validateSchema(d)
    if (err) bad(d, err)
  }
  problems.push(...unknownFields(docs))

  const known = serverEnvNames(root)
  const of = (kind: string) => docs.filter((d) => d.kind === kind)
  const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.name === name)
  const namespaces = new Set(
    docs
      .filter((d) => d.kind !== 'Namespace')
      .map((d) => String(get(d.doc, 'metadata', 'namespace'))),
  )
  if (namespaces.size !== 1)
    bad('deploy/k8s', `one namespace for everything, got ${[...namespaces]}`)
  const ns = [...namespaces][0]
  if (!find('Namespace', String(ns))) bad('deploy/k8s', `no Namespace ${ns}`)

  // Secrets and ConfigMaps that pods use must exist (the examples count for Secrets).
  const checkRefs = (d: K8sDoc, podSpec: unknown) => {
    for (const c of [...arr(get(podSpec, 'containers')), ...arr(get(podSpec, 'initContainers'))]) {
      for (const e of arr(get(c, 'env'))) {
        const n = String(get(e, 'name'))
        if (!known.has(n)) bad(d, `env ${n} is not a variable the server reads`)
        const ref = get(e, 'valueFrom', 'secretKeyRef')
        if (ref) {
          const s = find('Secret', String(get(ref, 'name')))
          if (!s) bad(d, `env ${n}: no Secret ${String(get(ref, 'name'))} (secret.example.yaml)`)
          else if (!(String(get(ref, 'key')) in obj(s.doc.stringData ?? s.doc.data)))
            bad(d, `env ${n}: Secret ${s.name} has no key ${String(get(ref, 'key'))}`)
        }
      }
      for (const e of arr(get(c, 'envFrom'))) {
        const cm = get(e, 'configMapRef', 'name')
        if (cm && !find('ConfigMap', String(cm))) bad(d, `no ConfigMap ${String(cm)}`)
      }
      const sec = get(c, 'securityContext')
      if (get(sec, 'allowPrivilegeEscalation') !== false) bad(d, 'allowPrivilegeEscalation: false')
      if (get(sec, 'readOnlyRootFilesystem') !== true) bad(d, 'readOnlyRootFilesystem: true')
      if (!arr(get(sec, 'capabilities', 'drop')).includes('ALL')) bad(d, 'drop ALL capabilities')
      if (!get(c, 'resources', 'limits', 'memory') || !get(c, 'resources', 'limits', 'cpu'))
        bad(d, 'resource limits for cpu and memory')
      if (!get(c, 'resources', 'requests', 'memory') || !get(c, 'resources', 'requests', 'cpu'))
        bad(d, 'resource requests for cpu and memory')
    }
    for (const v of arr(get(podSpec, 'volumes'))) {
      const s = get(v, 'secret', 'secretName')
      if (s && !find('Secret', String(s))) bad(d, `no Secret ${String(s)} (secret.example.yaml)`)
    }
    if (get(podSpec, 'securityContext', 'runAsNonRoot') !== true) bad(d, 'runAsNonRoot: true')
    if (get(podSpec, 'automountServiceAccountToken') !== false) {
      bad(d, 'automountServiceAccountToken: false (the API needs no Kubernetes API)')
    }
  }
  for (const cm of of('ConfigMap')) {
    for (const k of Object.keys(obj(cm.doc.data))) {
      if (!known.has(k)) bad(cm, `${k} is not a variable the server reads`)
    }
  }

  const deployments = of('Deployment')
  if (deployments.length !== 1) bad('deploy/k8s', 'expected one Deployment (the API)')
  const dep = deployments[0]
  const podLabels = obj(get(dep?.doc, 'spec', 'template', 'metadata', 'labels'))
  const apiImage = String(get(dep?.doc, 'spec', 'template', 'spec', 'containers', 0, 'image') ?? '')
  if (dep) {
    const spec = obj(dep.doc.spec)
    const pod = obj(get(spec, 'template', 'spec'))
    const c = obj(get(pod, 'containers', 0))
    checkRefs(dep, pod)
    if (!matches(spec.selector, podLabels)) bad(dep, 'selector does not match the pod labels')
    if (get(c, 'readinessProbe', 'httpGet', 'path') !== '/readyz')
      bad(dep, 'readiness probe on /readyz')
    if (get(c, 'livenessProbe', 'httpGet', 'path') !== '/healthz')
      bad(dep, 'liveness probe on /healthz')
    const portNames = new Set(arr(c.ports).map((p) => get(p, 'name')))
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const port = get(c, probe, 'httpGet', 'port')
      if (port !== undefined && typeof port === 'string' && !portNames.has(port))
        bad(dep, `${probe} uses port ${port}, which the container does not name`)
    }
    if (get(spec, 'strategy', 'type') !== 'RollingUpdate') bad(dep, 'strategy RollingUpdate')
    if (get(spec, 'strategy', 'rollingUpdate', 'maxUnavailable') !== 0) {
      bad(dep, 'rollingUpdate.maxUnavailable: 0 (a new pod is ready before an old one drains)')
    }
    if (Number(spec.replicas ?? 1) < 2) bad(dep, 'at least two replicas')
    const preStop = get(c, 'lifecycle', 'preStop')
    const sleep = Number(
      get(preStop, 'sleep', 'seconds') ??
        arr(get(preStop, 'exec', 'command'))
          .map(String)
          .join(' ')
          .match(/sleep (\d+)/)?.[1] ??
        NaN,
    )
    if (!Number.isFinite(sleep) || sleep < 5) {
      bad(dep, 'preStop must wait (≥ 5 s) so the pod leaves the endpoints before SIGTERM')
    }
    // The server's own shutdown deadline is 10 s (services/api/src/config.ts).
    const grace = Number(pod.terminationGracePeriodSeconds ?? 30)
    if (Number.isFinite(sleep) && grace < sleep + 10 + 5) {
      bad(dep, `terminationGracePeriodSeconds ${grace} < preStop ${sleep} + shutdown 10 + 5`)
    }
    const mounts = arr(c.volumeMounts)
    const keysDir = String(obj(find('ConfigMap', 'vs-api-config')?.doc.data).KEYS_DIR ?? '')
    const keyMount = mounts.find((m) => get(m, 'mountPath') === keysDir)
    if (!keyMount || get(keyMount, 'readOnly') !== true) {
      bad(dep, `mount the keys Secret read-only at KEYS_DIR (${keysDir || 'unset'})`)
    }
    if (!mounts.some((m) => get(m, 'mountPath') === '/tmp')) {
      bad(dep, 'mount an emptyDir at /tmp (tsx cache; the root filesystem is read-only)')
    }
  }

  for (const svc of of('Service')) {
    if (!dep || !matches(get(svc.doc, 'spec', 'selector'), podLabels)) {
      bad(svc, 'selector does not match the API pods')
    }
    const aff = get(svc.doc, 'spec', 'sessionAffinity')
    if (aff !== undefined && aff !== 'None') bad(svc, 'no session affinity')
    const names = new Set(
      arr(get(dep?.doc, 'spec', 'template', 'spec', 'containers', 0, 'ports')).map((p) =>
        get(p, 'name'),
      ),
    )
    for (const p of arr(get(svc.doc, 'spec', 'ports'))) {
      const t = get(p, 'targetPort')
      if (typeof t === 'string' && !names.has(t))
        bad(svc, `targetPort ${t} is not a container port`)
    }
  }

  for (const ing of of('Ingress')) {
    const ann = obj(get(ing.doc, 'metadata', 'annotations'))
    for (const rule of arr(get(ing.doc, 'spec', 'rules'))) {
      for (const p of arr(get(rule, 'http', 'paths'))) {
        const name = String(get(p, 'backend', 'service', 'name'))
        const svc = find('Service', name)
        if (!svc) {
          bad(ing, `backend Service ${name} does not exist`)
          continue
        }
        const port = get(p, 'backend', 'service', 'port', 'name')
        if (port && !arr(get(svc.doc, 'spec', 'ports')).some((x) => get(x, 'name') === port))
          bad(ing, `Service ${name} has no port ${String(port)}`)
      }
    }
    if (!arr(get(ing.doc, 'spec', 'tls')).length) bad(ing, 'TLS at the Ingress')
    if (ann['nginx.ingress.kubernetes.io/enable-access-log'] !== 'false') {
      bad(ing, 'no access log (anonymous consultations must not log addresses)')
    }
    const servesWs = arr(get(ing.doc, 'spec', 'rules')).some((r) =>
      arr(get(r, 'http', 'paths')).some((p) => '/ws'.startsWith(String(get(p, 'path')))),
    )
    if (servesWs) {
      for (const k of ['proxy-read-timeout', 'proxy-send-timeout']) {
        const v = Number(ann[`nginx.ingress.kubernetes.io/${k}`] ?? 60)
        if (v < 300) bad(ing, `${k} ≥ 300 s for WebSockets (got ${v})`)
      }
      for (const k of ['affinity', 'upstream-hash-by', 'session-cookie-name']) {
        if (ann[`nginx.ingress.kubernetes.io/${k}`]) bad(ing, `no sticky sessions (${k})`)
      }
    }
  }

  for (const hpa of of('HorizontalPodAutoscaler')) {
    const ref = obj(get(hpa.doc, 'spec', 'scaleTargetRef'))
    if (ref.kind !== 'Deployment' || ref.name !== dep?.name)
      bad(hpa, 'must scale the API Deployment')
    if (Number(get(hpa.doc, 'spec', 'minReplicas') ?? 1) < 2) bad(hpa, 'minReplicas ≥ 2')
  }
  if (!of('HorizontalPodAutoscaler').length) bad('deploy/k8s', 'no HorizontalPodAutoscaler')
  for (const pdb of of('PodDisruptionBudget')) {
    if (!matches(get(pdb.doc, 'spec', 'selector'), podLabels))
      bad(pdb, 'selector must match the API pods')
  }
  if (!of('PodDisruptionBudget').length) bad('deploy/k8s', 'no PodDisruptionBudget')

  // Network policy: deny by default; API ↔ database only.
  const nps = of('NetworkPolicy')
  const denyAll = nps.find(
    (n) =>
      Object.keys(obj(get(n.doc, 'spec', 'podSelector'))).length === 0 &&
      arr(get(n.doc, 'spec', 'policyTypes')).includes('Ingress') &&
      arr(get(n.doc, 'spec', 'policyTypes')).includes('Egress') &&
      !get(n.doc, 'spec', 'ingress') &&
      !get(n.doc, 'spec', 'egress'),
  )
  if (!denyAll) bad('deploy/k8s/networkpolicy.yaml', 'a default-deny policy for the namespace')
  const egressTo5432 = nps.filter((n) =>
    arr(get(n.doc, 'spec', 'egress')).some((e) =>
      arr(get(e, 'ports')).some((p) => get(p, 'port') === 5432),
    ),
  )
  const dbClients = egressTo5432.map((n) => get(n.doc, 'spec', 'podSelector'))
  if (!dep || !dbClients.some((s) => matches(s, podLabels))) {
    bad('deploy/k8s/networkpolicy.yaml', 'the API pods must be allowed to reach PostgreSQL (5432)')
  }
  const pgIngress = nps.filter((n) =>
    arr(get(n.doc, 'spec', 'ingress')).some((i) =>
      arr(get(i, 'ports')).some((p) => get(p, 'port') === 5432),
    ),
  )
  if (!pgIngress.length)
    bad('deploy/k8s/networkpolicy.yaml', 'PostgreSQL accepts only database clients')
  for (const n of pgIngress) {
    for (const rule of arr(get(n.doc, 'spec', 'ingress'))) {
      for (const from of arr(get(rule, 'from'))) {
        if (!get(from, 'podSelector') || get(from, 'namespaceSelector') || get(from, 'ipBlock')) {
          bad(n, 'PostgreSQL accepts connections only from database-client pods of this namespace')
        }
      }
    }
  }

  const jobs = of('Job')
  const migrate = jobs.find((j) =>
    arr(get(j.doc, 'spec', 'template', 'spec', 'containers', 0, 'args'))
      .join(' ')
      .includes('migrate up'),
  )
  if (!migrate) bad('deploy/k8s', 'a migration Job (args: src/cli.ts migrate up)')
  else {
    const pod = get(migrate.doc, 'spec', 'template', 'spec')
    checkRefs(migrate, pod)
    if (!['Never', 'OnFailure'].includes(String(get(pod, 'restartPolicy'))))
      bad(migrate, 'restartPolicy Never')
    const img = String(get(pod, 'containers', 0, 'image'))
    if (img !== apiImage)
      bad(migrate, `runs ${img}, the Deployment runs ${apiImage}: use one release`)
    const labels = get(migrate.doc, 'spec', 'template', 'metadata', 'labels')
    if (!dbClients.some((s) => matches(s, labels)))
      bad(migrate, 'must be allowed to reach PostgreSQL')
  }

  for (const k of kust) {
    const listed = arr(k.doc.resources).map(String)
    for (const r of listed) if (!files.includes(r)) bad(k, `resource ${r} does not exist`)
    for (const f of files) {
      if (f === 'kustomization.yaml' || f === 'secret.example.yaml' || f === 'migrate-job.yaml')
        continue
      if (!listed.includes(f)) bad(k, `${f} is not listed in resources`)
    }
    if (listed.includes('secret.example.yaml')) bad(k, 'never apply the example Secrets')
  }
  if (!kust.length) bad('deploy/k8s', 'no kustomization.yaml')
  return files.map((f) => `deploy/k8s/${f}`)
}

// ---------------------------------------------------------------------------------------------
// Production dependencies: the image has only these, so the server must import nothing else.

function checkProdDependencies(root: string, problems: Problem[]): void {
  const pkgs = [
    ['services/api', 'src'],
    ['packages/crypto', 'src'],
    ['packages/protocol', 'src'],
    ['migrations', '.'],
  ] as const
  for (const [dir, srcDir] of pkgs) {
    const manifest = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
    }
    const deps = new Set(Object.keys(manifest.dependencies ?? {}))
    const walk = (rel: string): string[] =>
      readdirSync(path.join(root, dir, rel), { withFileTypes: true }).flatMap((e) => {
        const child = path.join(rel, e.name)
        if (e.isDirectory())
          return e.name === 'node_modules' || e.name === 'tests' ? [] : walk(child)
        return /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [child] : []
      })
    for (const f of walk(srcDir)) {
      const text = readFileSync(path.join(root, dir, f), 'utf8')
      for (const m of text.matchAll(/^\s*import\s+(?!type\b)[^'"]*?['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!
        if (spec.startsWith('.') || spec.startsWith('node:') || spec.startsWith('#')) continue
        const name = spec.startsWith('@')
          ? spec.split('/').slice(0, 2).join('/')
          : spec.split('/')[0]!
        if (!deps.has(name)) {
          problems.push({
            file: `${dir}/package.json`,
            message: `${dir}/${f} imports ${name}, which is not in "dependencies": the image (pnpm deploy --prod) will not have it`,
          })
        }
      }
    }
  }
}

export type CheckGroup = 'dockerfile' | 'compose' | 'caddy' | 'k8s' | 'dependencies'

export function lintDeploy(
  root = repoRoot,
  only: readonly CheckGroup[] = ['dockerfile', 'compose', 'caddy', 'k8s', 'dependencies'],
): LintReport {
  const problems: Problem[] = []
  const skipped: string[] = []
  const checked = ['deploy/Dockerfile', '.dockerignore', 'deploy/compose.yaml', 'deploy/Caddyfile']
  for (const f of checked) {
    if (!existsSync(path.join(root, f))) problems.push({ file: f, message: 'missing' })
  }
  if (problems.length) return { problems, checked, skipped }
  const timings: Record<string, number> = {}
  const run = (group: CheckGroup, fn: () => void) => {
    if (!only.includes(group)) return
    const t = performance.now()
    fn()
    timings[group] = Math.round(performance.now() - t)
  }
  run('dockerfile', () => checkDockerfile(root, problems))
  run('compose', () => checkCompose(root, problems))
  run('caddy', () => checkCaddyfile(root, problems, skipped))
  run('k8s', () => {
    checked.push(...checkK8s(root, problems))
  })
  run('dependencies', () => checkProdDependencies(root, problems))
  return { problems, checked, skipped, timings }
}
