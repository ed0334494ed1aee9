/**
 * Base of the gpu.js Backend (./backend.ts `GpujsBackendImpl` extends it with the ops): the backend's state (mode,
 * options in effect, kernel context, device memory, transfer counters), the plumbing every op goes through and the
 * memory primitives (alloc, upload, read, readSync, free).
 *
 * Invariants: float32 only (DTypeError otherwise); in async modes every op output is a Promise chained on its
 * inputs' Promises (and, in program order, on the previous op's issue); on webgpu each input is retained for the op
 * and released once it has issued its launches; in-place replacement releases the old device reference.
 */

import { BackendError, DTypeError } from '../../../errors.js';
import type { BackendBuffer } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { type GpujsOptions, issueOrderOf, reductionsOf } from './backend-options.js';
import { asGpujs, GpujsBuffer } from './buffers.js';
import { GpujsContext } from './context.js';
import { type Counters, DeviceArray, DeviceMemory, emptyTransferStats, type TransferStats } from './device.js';
import type { KernelStat } from './kernel-cache.js';
import { type Arr, type GpujsMode, host, type OpGen } from './op-gen.js';
import { DEFAULT_CHUNK_LIMIT } from './strided.js';

let instances = 0;

/**
 * The backend's state and plumbing: buffers, the op runner (`exec`: sync, or chained on Promises in issue order),
 * outputs (`make`, `makeMany`), in-place replacement (`assign`) and the memory primitives. ./backend.ts adds the ops.
 */
export abstract class GpujsBackendBase {
  readonly name: string;
  readonly dtypes: readonly DType[] = ['float32'];
  private readonly owner: string;
  private readonly ctx: GpujsContext;
  protected readonly limit: number;
  /** GN / WS statistics in two stages (kernels/norm-stages.ts). */
  protected readonly twoStage: boolean;
  private readonly isAsync: boolean;
  /** Issue launches in program order (`GpujsOptions.issueOrder`). */
  private readonly inOrder: boolean;
  /** Settles when the last op called so far has issued its launches (or failed); never rejects. */
  private issued: Promise<unknown> = Promise.resolve();
  private readonly counters: Counters = { ...emptyTransferStats() };
  protected readonly mem: DeviceMemory | null;
  private live = 0;

  constructor(
    readonly mode: GpujsMode,
    opts: GpujsOptions = {},
    private readonly onDispose: () => void = () => {},
  ) {
    this.name = `gpujs-${mode}`;
    this.owner = `${this.name}#${++instances}`;
    this.mem = opts.webgpuContext ? new DeviceMemory(this.name, opts.webgpuContext, this.counters) : null;
    if (opts.dryRun && (mode === 'webgpu' || opts.asyncBuffers)) {
      throw new BackendError(`${this.name}: dryRun is for the synchronous cpu/webasm modes`);
    }
    this.ctx = new GpujsContext(mode, this.counters, this.mem, 256, opts.trace ?? null, opts.dryRun === true);
    this.isAsync = mode === 'webgpu' || opts.asyncBuffers === true;
    this.limit = opts.chunkLimit ?? DEFAULT_CHUNK_LIMIT;
    if (!(this.limit >= 1 && this.limit <= 2 ** 23)) throw new BackendError(`${this.name}: chunkLimit ${this.limit}`);
    this.twoStage = reductionsOf(mode, opts.reductions);
    this.inOrder = issueOrderOf(mode, opts.issueOrder);
  }

  stats(): KernelStat[] {
    return this.ctx.stats();
  }

  transfers(): TransferStats {
    return { ...this.counters };
  }

  // ---- plumbing ----
  protected buf(op: string, b: BackendBuffer): GpujsBuffer {
    return asGpujs(this.owner, op, b);
  }

  protected f32(op: string, dtype: DType): void {
    if (dtype !== 'float32') throw new DTypeError(`${this.name} ${op}: only float32 is supported, got ${dtype}`);
  }

  /**
   * Run an op body over its inputs' data. Synchronous on cpu/webasm; otherwise chained on the inputs' Promises and,
   * in program order, on the previous op's issue (so launches reach the device in call order).
   * On webgpu each input is retained (a reference of the op's own, taken in call order, so a `free` or in-place
   * replacement issued right after cannot release it first) and released when the op has issued its launches.
   */
  protected exec<T>(inputs: GpujsBuffer[], body: (...d: Arr[]) => OpGen<T>): T | Promise<T> {
    if (!this.isAsync) return this.ctx.runSync(body(...inputs.map((b) => b.data!)));
    const mem = this.mem;
    const prev = this.inOrder ? this.issued : null;
    // A rejection of `p` is handled by the caller's chain once `prev` settles; mark it handled meanwhile.
    const after = <V>(p: Promise<V>): Promise<V> => {
      if (!prev) return p;
      p.catch(() => {});
      return prev.then(() => p);
    };
    let r: Promise<T>;
    if (!mem) r = after(Promise.all(inputs.map((b) => b.pending!))).then((ds) => this.ctx.runAsync(body(...ds)));
    else {
      const held = inputs.map((b) => b.pending!.then((d) => mem.retain(d as DeviceArray)));
      r = after(Promise.all(held)).then(
        (ds) =>
          this.ctx.runAsync(body(...ds)).finally(() => {
            for (const d of ds) mem.release(d);
          }),
        (err) => {
          for (const h of held) h.then((d) => mem.release(d)).catch(() => {});
          throw err;
        },
      );
    }
    if (prev)
      this.issued = r.then(
        () => {},
        () => {},
      );
    return r;
  }

  protected make(size: number, r: Arr | Promise<Arr>): GpujsBuffer {
    this.live++;
    if (r instanceof Promise) {
      r.catch(() => {});
      return new GpujsBuffer(this.owner, size, null, r);
    }
    if (r.length !== size) throw new BackendError(`${this.name}: produced ${r.length} elements, expected ${size}`);
    return new GpujsBuffer(this.owner, size, host(r, 'make'), null);
  }

  protected makeMany(sizes: number[], r: Arr[] | Promise<Arr[]>): GpujsBuffer[] {
    if (r instanceof Promise)
      return sizes.map((s, i) =>
        this.make(
          s,
          r.then((v) => v[i]!),
        ),
      );
    return sizes.map((s, i) => this.make(s, r[i]!));
  }

  /** Replace the data `target` holds (in-place primitives); on webgpu the old device reference is released. */
  protected assign(target: GpujsBuffer, r: Arr | Promise<Arr>): void {
    if (r instanceof Promise) {
      r.catch(() => {});
      this.dropPending(target.pending);
      target.pending = r;
    } else {
      target.data = host(r, 'assign');
    }
  }

  /** Release the device reference a pending value will hold (no-op for host data). */
  protected dropPending(p: Promise<Arr> | null): void {
    const mem = this.mem;
    if (!mem || !p) return;
    p.then((d) => {
      if (d instanceof DeviceArray) mem.release(d);
    }).catch(() => {});
  }

  // ---- memory ----
  alloc(size: number, dtype: DType): BackendBuffer {
    this.f32('alloc', dtype);
    if (this.mem) return this.make(size, Promise.resolve(this.mem.zeros(size)));
    const d = new Float32Array(size);
    return this.make(size, this.isAsync ? Promise.resolve(d) : d);
  }

  upload(data: ArrayLike<number>, dtype: DType): BackendBuffer {
    this.f32('upload', dtype);
    const d = Float32Array.from(data);
    if (this.mem) return this.make(d.length, Promise.resolve(this.mem.upload(d)));
    this.counters.uploads++;
    this.counters.bytesUploaded += d.byteLength;
    return this.make(d.length, this.isAsync ? Promise.resolve(d) : d);
  }

  readSync(b: BackendBuffer): Float32Array {
    const g = this.buf('readSync', b);
    if (this.isAsync)
      throw new BackendError(`${this.name} readSync: this backend reads back asynchronously (WebGPU); use read()`);
    this.countHostRead(g.size);
    return g.data!.slice();
  }

  async read(b: BackendBuffer): Promise<Float32Array> {
    const g = this.buf('read', b);
    if (!this.isAsync) {
      this.countHostRead(g.size);
      return g.data!.slice();
    }
    const d = await g.pending!;
    if (d instanceof DeviceArray) return this.mem!.read(d);
    this.countHostRead(g.size);
    return d.slice();
  }

  private countHostRead(size: number): void {
    this.counters.readbacks++;
    this.counters.bytesRead += size * 4;
  }

  free(b: BackendBuffer): void {
    const g = this.buf('free', b);
    g.freed = true;
    g.data = null;
    this.dropPending(g.pending);
    g.pending = null;
    this.live--;
  }

  liveBuffers(): number {
    return this.live;
  }

  dispose(): void {
    this.mem?.dispose();
    this.ctx.dispose();
    this.onDispose();
  }
}
