#!/bin/sh
# Builds the API for production into OUT (default /out): the web client built into OUT/web,
# only production dependencies (pnpm deploy --prod), no tests. The Dockerfile's build stage runs
# this; tests/deploy/deploy.test.ts runs it too, without Docker, and starts the result.
# Needs the pnpm store to hold every package already (the Dockerfile runs `pnpm fetch` first),
# and the registry (or a metadata cache) for the deploy step below.
set -eu
out="${1:-/out}"
export CI=true
pnpm install --frozen-lockfile --offline --filter '@vs/api...' --filter '@vs/web...'
pnpm --filter @vs/web build
rm -rf "$out"
# --prefer-offline, not --offline: the legacy deploy resolves versions again and needs the
# registry metadata, which a frozen-lockfile install never caches (pnpm fetch does not either).
pnpm --filter @vs/api deploy --prod --legacy --prefer-offline "$out"
cp -R packages/web/dist "$out/web"
cp deploy/healthcheck.mjs "$out/healthcheck.mjs"
rm -rf "$out/tests"
find "$out/src" -name '*.test.ts' -delete
