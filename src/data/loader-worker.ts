/**
 * Loader worker thread: reopens the parent's dataset from its descriptor once (workerData), then answers batch
 * requests with collated NCHW batches, transferring the image buffer. Errors are sent back with their class
 * name so the parent rethrows the same named error. Runs from TypeScript under tsx or from compiled JS.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { collateBatch } from './collate.js';
import type { SourceDescriptor } from './dataset.js';
import { openDataset } from './open.js';
import type { TransformSpec } from './transforms.js';

/** Request from the parent. */
export interface WorkerRequest {
  id: number;
  indices: Int32Array;
  seed: number;
  epoch: number;
  firstPosition: number;
}

const init = workerData as { descriptor: SourceDescriptor; spec: TransformSpec; skipBad: boolean };
const dataset = openDataset(init.descriptor);

parentPort!.on('message', (req: WorkerRequest | 'close') => {
  if (req === 'close') {
    dataset.close?.();
    parentPort!.close();
    return;
  }
  try {
    const b = collateBatch(dataset, init.spec, req.indices, req.seed, req.epoch, req.firstPosition, init.skipBad);
    parentPort!.postMessage({ id: req.id, ok: true, ...b }, [b.images.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id: req.id, ok: false, name: err.name, message: err.message });
  }
});
