/**
 * `pnpm deploy:lint`: checks deploy/ (Dockerfile, .dockerignore, compose.yaml, Caddyfile,
 * k8s/*.yaml) without Docker or a cluster. The checks live in tests/deploy/checks.ts, where the
 * linters (@vs/tests devDependencies) resolve; tests/deploy/deploy.test.ts runs them too.
 *
 *   pnpm deploy:lint            lint this repository
 *   pnpm deploy:lint DIR        lint another checkout (its deploy/ and .dockerignore)
 */
import path from 'node:path'
import { lintDeploy, repoRoot } from '../tests/deploy/checks.js'

const root = process.argv[2] ? path.resolve(process.argv[2]) : repoRoot
const { problems, checked, skipped } = lintDeploy(root)
for (const s of skipped) process.stdout.write(`skipped: ${s}\n`)
for (const p of problems) process.stdout.write(`${p.file}: ${p.message}\n`)
process.stdout.write(
  `deploy lint: ${checked.length} files, ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`,
)
process.exitCode = problems.length ? 1 : 0
