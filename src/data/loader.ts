/**
 * `DataLoader`: an async iterator over NCHW batches of one epoch at a time, with seeded per-epoch shuffling,
 * dropLast, sampling with replacement for sets smaller than a batch (as BiT's few-shot runs), and decode +
 * augmentation in worker_threads with a prefetch window. Invariants: batch contents depend only on
 * (dataset, options, epoch, position), never on numWorkers or timing; without replacement and without dropLast
 * each epoch visits every index exactly once; `state()`/`setState()` capture (epoch, position) so a run resumes
 * at the exact next batch; workers are unref'd while idle and `close()` terminates them.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as errors from '../errors.js';
import { ConfigError, DataError } from '../errors.js';
import { type BatchData, collateBatch } from './collate.js';
import type { Dataset } from './dataset.js';
import type { Batch } from './image.js';
import type { WorkerRequest } from './loader-worker.js';
import { Rng } from './rng.js';
import { type TransformSpec, validateSpec } from './transforms.js';

const ORDER_STREAM = 0x0bde;

/** Options of `DataLoader`. */
export interface DataLoaderOptions {
  dataset: Dataset;
  batchSize: number;
  transform: TransformSpec;
  /** shuffle each epoch with a stream derived from (seed, epoch); default false */
  shuffle?: boolean;
  seed?: number;
  /** drop the last incomplete batch; default false */
  dropLast?: boolean;
  /** draw indices uniformly with replacement; default: automatic when dataset.length < batchSize */
  replacement?: boolean;
  /** samples per epoch in replacement mode; default max(batchSize, dataset.length) */
  numSamples?: number;
  /** worker threads for decode + augment; 0 = in-process; default 0 */
  numWorkers?: number;
  /** batches in flight ahead of the consumer (workers only); default 2 * numWorkers */
  prefetch?: number;
  /** leave out images that fail to read/decode (reported in Batch.skipped) instead of failing; default false */
  skipBadImages?: boolean;
}

/** Resumable iteration state: the next batch is `position` of `epoch`. */
export interface LoaderState {
  epoch: number;
  position: number;
}

interface Pending {
  resolve: (b: BatchData) => void;
  reject: (e: Error) => void;
  worker: Worker;
}

function rebuildError(name: string, message: string): Error {
  const Ctor = (errors as Record<string, unknown>)[name];
  if (typeof Ctor === 'function') return new (Ctor as new (m: string) => Error)(message);
  return new DataError(`loader worker failed: ${name}: ${message}`);
}

/** Absolute path of tsx's ESM API module (the `import` condition of its `./esm/api` export). */
function tsxEsmApi(from: string): string {
  const pkgJson = createRequire(from).resolve('tsx/package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { exports: Record<string, unknown> };
  let e = pkg.exports['./esm/api'];
  while (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    e = o.import ?? o.default;
  }
  if (typeof e !== 'string') throw new DataError(`${pkgJson}: no './esm/api' import export; cannot start .ts workers`);
  return path.join(path.dirname(pkgJson), e);
}

/**
 * Starts a loader worker: the compiled .js next to us, or, when running from TypeScript source (tsx, vitest), a
 * small eval'd bootstrap that registers tsx's ESM hooks inside the worker thread and then imports the .ts file
 * (Node 20 does not apply `--import` loaders given in worker execArgv).
 */
function startWorker(workerData: unknown): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./loader-worker.js', self), { workerData });
  const api = pathToFileURL(tsxEsmApi(self)).href;
  const entry = new URL('./loader-worker.ts', self).href;
  const boot =
    `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })` +
    `.catch((e) => { setImmediate(() => { throw e; }); });`;
  return new Worker(boot, { eval: true, workerData });
}

/** Pool of loader workers, each holding a reopened copy of the dataset. */
class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly load = new Map<Worker, number>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(n: number, dataset: Dataset, spec: TransformSpec, skipBad: boolean) {
    const workerData = { descriptor: dataset.descriptor(), spec, skipBad };
    for (let i = 0; i < n; i++) {
      const w = startWorker(workerData);
      w.unref();
      this.load.set(w, 0);
      w.on('message', (m: { id: number; ok: boolean; name?: string; message?: string } & BatchData) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.settle(m.id, p);
        if (m.ok) p.resolve({ images: m.images, shape: m.shape, labels: m.labels, skipped: m.skipped, kept: m.kept });
        else p.reject(rebuildError(m.name ?? 'Error', m.message ?? ''));
      });
      w.on('error', (e) => this.failWorker(w, e));
      w.on('exit', (code) => {
        if (!this.closed) this.failWorker(w, new DataError(`loader worker exited unexpectedly with code ${code}`));
      });
      this.workers.push(w);
    }
  }

  private settle(id: number, p: Pending): void {
    this.pending.delete(id);
    const l = this.load.get(p.worker)! - 1;
    this.load.set(p.worker, l);
    if (l === 0) p.worker.unref();
  }

  private failWorker(w: Worker, e: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== w) continue;
      this.settle(id, p);
      p.reject(e instanceof errors.BitError ? e : new DataError(`loader worker crashed: ${e.message}`));
    }
  }

  /** Sends one batch request to the least-loaded worker. */
  run(req: Omit<WorkerRequest, 'id'>): Promise<BatchData> {
    if (this.closed) return Promise.reject(new DataError('DataLoader is closed'));
    let w = this.workers[0]!;
    for (const c of this.workers) if (this.load.get(c)! < this.load.get(w)!) w = c;
    const id = this.nextId++;
    return new Promise<BatchData>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      const l = this.load.get(w)! + 1;
      this.load.set(w, l);
      if (l === 1) w.ref();
      w.postMessage({ id, ...req });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(new DataError('DataLoader closed while a batch was loading'));
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** A loader batch: with skipBadImages, `skipped` lists the DataError of each image left out. */
export type LoaderBatch = Batch & { skipped?: string[] };

/** Batched, shuffled, augmented iteration over a dataset. See `DataLoaderOptions`. */
export class DataLoader implements AsyncIterable<LoaderBatch> {
  readonly batchSize: number;
  readonly seed: number;
  readonly replacement: boolean;
  readonly samplesPerEpoch: number;
  private readonly opts: DataLoaderOptions;
  private epoch = 0;
  private position = 0;
  private pool: WorkerPool | null = null;
  private closed = false;

  /** @throws ConfigError for a bad batch size, worker count, prefetch, numSamples or transform */
  constructor(opts: DataLoaderOptions) {
    const { dataset, batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ConfigError(`DataLoader batchSize must be a positive integer, got ${batchSize}`);
    }
    const nw = opts.numWorkers ?? 0;
    if (!Number.isInteger(nw) || nw < 0) throw new ConfigError(`DataLoader numWorkers must be >= 0, got ${nw}`);
    if (opts.prefetch !== undefined && !(Number.isInteger(opts.prefetch) && opts.prefetch >= 1)) {
      throw new ConfigError(`DataLoader prefetch must be a positive integer, got ${opts.prefetch}`);
    }
    if (dataset.length === 0) throw new DataError('DataLoader: the dataset is empty');
    validateSpec(opts.transform);
    this.opts = opts;
    this.batchSize = batchSize;
    this.seed = opts.seed ?? 0;
    this.replacement = opts.replacement ?? dataset.length < batchSize;
    const ns = opts.numSamples ?? Math.max(batchSize, dataset.length);
    if (!Number.isInteger(ns) || ns < 1) throw new ConfigError(`DataLoader numSamples must be >= 1, got ${ns}`);
    this.samplesPerEpoch = this.replacement ? ns : dataset.length;
  }

  /** Batches per epoch. */
  numBatches(): number {
    const n = this.samplesPerEpoch;
    return this.opts.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Dataset indices of `epoch` in visiting order (deterministic in (seed, epoch)). */
  epochOrder(epoch: number): Int32Array {
    const n = this.opts.dataset.length;
    const rng = Rng.derive(this.seed, ORDER_STREAM, epoch);
    if (this.replacement) {
      const out = new Int32Array(this.samplesPerEpoch);
      for (let i = 0; i < out.length; i++) out[i] = rng.nextInt(n);
      return out;
    }
    if (this.opts.shuffle) return rng.permutation(n);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return out;
  }

  /** Where iteration stands: the next batch is `position` of `epoch`. */
  state(): LoaderState {
    return { epoch: this.epoch, position: this.position };
  }

  /** Restores a `state()`; the next iteration starts at that exact batch. @throws ConfigError when out of range */
  setState(s: LoaderState): void {
    if (!(Number.isInteger(s.epoch) && s.epoch >= 0 && Number.isInteger(s.position) && s.position >= 0)) {
      throw new ConfigError(`DataLoader.setState: epoch and position must be integers >= 0, got ${JSON.stringify(s)}`);
    }
    if (s.position > this.numBatches()) {
      throw new ConfigError(`DataLoader.setState: position ${s.position} exceeds ${this.numBatches()} batches/epoch`);
    }
    this.epoch = s.epoch;
    this.position = s.position;
  }

  private fetch(order: Int32Array, epoch: number, pos: number): Promise<BatchData> {
    const start = pos * this.batchSize;
    const indices = order.slice(start, Math.min(start + this.batchSize, order.length));
    const nw = this.opts.numWorkers ?? 0;
    if (nw === 0) {
      try {
        const skip = this.opts.skipBadImages ?? false;
        const b = collateBatch(this.opts.dataset, this.opts.transform, indices, this.seed, epoch, start, skip);
        return Promise.resolve(b);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (!this.pool) {
      this.pool = new WorkerPool(nw, this.opts.dataset, this.opts.transform, this.opts.skipBadImages ?? false);
    }
    return this.pool.run({ indices, seed: this.seed, epoch, firstPosition: start });
  }

  /**
   * Iterates the remaining batches of the current epoch, then advances to the next epoch (position 0).
   * Breaking out early keeps the position of the next unconsumed batch.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<LoaderBatch> {
    if (this.closed) throw new DataError('DataLoader is closed');
    if (this.position >= this.numBatches()) {
      this.epoch++;
      this.position = 0;
    }
    const epoch = this.epoch;
    const order = this.epochOrder(epoch);
    const total = this.numBatches();
    const nw = this.opts.numWorkers ?? 0;
    const window = nw === 0 ? 1 : (this.opts.prefetch ?? 2 * nw);
    const inflight = new Map<number, Promise<BatchData>>();
    let next = this.position;
    try {
      for (let pos = this.position; pos < total; pos++) {
        while (next < total && next < pos + window) {
          const p = this.fetch(order, epoch, next);
          p.catch(() => {}); // rejection is observed when awaited; avoid unhandled-rejection noise for skipped ones
          inflight.set(next, p);
          next++;
        }
        const data = await inflight.get(pos)!;
        inflight.delete(pos);
        const start = pos * this.batchSize;
        const indices = data.kept ?? order.slice(start, start + data.labels.length);
        this.position = pos + 1;
        yield { ...data, indices, epoch, position: pos };
      }
      this.epoch = epoch + 1;
      this.position = 0;
    } finally {
      inflight.clear();
    }
  }

  /** Terminates the workers (idempotent); the loader cannot be iterated afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
    this.pool = null;
    this.opts.dataset.close?.();
  }
}
