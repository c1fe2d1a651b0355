/**
 * V8 flags the API process runs with: deploy/Dockerfile's ENTRYPOINT passes them, the
 * benchmark starts the API with them, and the deploy checks hold the two together.
 *
 * `--single-threaded-gc`: V8 collects garbage on the main thread only, without its helper
 * threads. The API runs on one or two cores that it shares with PostgreSQL (and, in a pod, a
 * CPU quota of one core): a parallel scavenge made the process briefly take both cores, and
 * a third runnable thread on two cores waits a whole scheduler slice (about 8 ms measured
 * here). With it, in `pnpm bench --probe` A/B runs on a 2-vCPU machine, the API's p99 at
 * 1,250 msg/s fell from a median of 27.5 to 20.9 ms and its CPU by about a tenth, while the
 * bare `ws` server with the same flag did not change (docs/benchmarks.md, session 7).
 */
export const API_NODE_FLAGS: readonly string[] = ['--single-threaded-gc']
