/**
 * Migrates one database template per test run (PGlite by default, PostgreSQL when
 * DATABASE_URL is set); each test file copies it (see services/api/tests/helpers).
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { createTemplate } from '@vs/api/testing'

const repoRoot = path.resolve(import.meta.dirname, '..', '..')

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The API serves the built web client at `/`; a fresh clone has not built it yet.
  execFileSync(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'packages/web/scripts/build.ts')],
    {
      cwd: repoRoot,
      stdio: 'ignore',
    },
  )
  const dir = await mkdtemp(path.join(tmpdir(), 'vs-test-'))
  const { template, teardown } = await createTemplate(
    process.env.DATABASE_URL || undefined,
    path.join(dir, 'template.tar'),
  )
  project.provide('dbTemplate', template)
  return async () => {
    await teardown()
    await rm(dir, { recursive: true, force: true })
  }
}
