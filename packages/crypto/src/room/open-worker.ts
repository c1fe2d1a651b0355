/**
 * The script of an `OpenPool` worker: verifies and decrypts the batches it is sent. Bundle
 * it as a script of its own (it pulls in libsodium) and serve it from the app's origin;
 * see open-pool.ts.
 */
import { cryptoReady } from '../sodium.js'
import { runOpenBatch, type OpenBatchRequest, type OpenBatchResponse } from './open-pool.js'

interface WorkerScope {
  onmessage: ((e: MessageEvent<OpenBatchRequest>) => void) | null
  postMessage(message: OpenBatchResponse, transfer: Transferable[]): void
}

const scope = globalThis as unknown as WorkerScope
const ready = cryptoReady()

scope.onmessage = (e) => {
  const id = e.data.id
  void ready
    .then(() => runOpenBatch(e.data))
    .catch((err: unknown): OpenBatchResponse => ({
      id,
      status: new Uint8Array(0),
      data: new ArrayBuffer(0),
      index: new Uint32Array(0),
      error: err instanceof Error ? err.message : String(err),
    }))
    .then((res) => scope.postMessage(res, [res.data, res.status.buffer, res.index.buffer]))
}
