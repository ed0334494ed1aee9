/**
 * One gpu.js context per backend instance: ONE `GPU` object (one mode), a kernel cache keyed by a signature
 * (primitive + constants + output size + argument lengths) so every kernel is built once, per-kernel stats with the
 * build (first call) timed apart from steady runs, and a check after every call that the backend which ran is the
 * one asked for (gpu.js degrades to its cpu kernel with only a console warning otherwise): the cache, its stats and
 * that check are ./kernel-cache.ts.
 *
 * Ops are written as generators that `yield` kernel launches and assemblies (see ./op-gen.ts `OpGen`): the same op
 * body then runs synchronously on host arrays (cpu, webasm: a launch returns a Float32Array) or asynchronously on
 * device arrays (webgpu: pipeline kernels whose outputs stay on the GPU as `DeviceArray`s, ./device.ts; `runAsync`
 * releases every intermediate buffer an op made and keeps exactly one reference per returned array).
 *
 * Invariants: `immutable: true` on every kernel (no output aliases a later call's), loop bounds are constants with
 * `loopMaxIterations` raised to cover them (the 1000 default caps other loops silently), output is always 1-D.
 */

import gpujs from 'gpu.js';
import { BackendError } from '../../../errors.js';
import { type BufferHandle, type Counters, DeviceArray, type DeviceMemory } from './device.js';
import { type CacheEntry, checkBackend, finishTiming, KernelCache, type KernelStat } from './kernel-cache.js';
import { type Arr, type GpujsMode, hostAssemble, type KernelSpec, type Launch, type OpGen, Rows } from './op-gen.js';

/** The single gpu.js instance of one backend, with its kernel cache. */
export class GpujsContext {
  /** How many `GPU` instances were created in this process (regression: one per backend). */
  static gpuInstances = 0;
  // biome-ignore lint/suspicious/noExplicitAny: gpu.js GPU instance.
  private readonly gpu: any;
  private readonly kernels: KernelCache;
  private disposed = false;

  constructor(
    readonly mode: GpujsMode,
    /** Launch counter (and, with `mem`, the transfer counters) of the owning backend. */
    readonly counters: Counters,
    /** webgpu: device memory; kernels run in pipeline mode and their outputs stay on the device. */
    readonly mem: DeviceMemory | null = null,
    /** LRU bound on cached kernels (./kernel-cache.ts). */
    readonly maxKernels = 256,
    /** Called with every launch before it runs (bench/gpu-roofline.ts: per-launch sizes). */
    readonly trace: ((l: Launch) => void) | null = null,
    /** cpu/webasm: run nothing, return zero outputs (a launch plan of an op sequence, for estimates). */
    readonly dryRun = false,
  ) {
    // Mode is always explicit: gpu.js's default auto-selection could silently pick another backend.
    this.gpu = new gpujs.GPU({ mode });
    GpujsContext.gpuInstances++;
    this.kernels = new KernelCache(this.gpu, mode, mem !== null, maxKernels);
  }

  private entry(spec: KernelSpec, args: readonly (Arr | Rows | number)[]): CacheEntry {
    if (this.disposed) throw new BackendError(`gpujs-${this.mode}: backend used after dispose()`);
    return this.kernels.entry(spec, args);
  }

  /** Build (once) and run one launch on host arrays (cpu, webasm; also webgpu-less async plumbing tests). */
  launch(l: Launch): Float32Array | Promise<Float32Array> {
    if (this.dryRun) {
      // Planning only (launch counts, per-launch sizes): nothing is built or run; outputs are zeros.
      this.counters.launches++;
      this.trace?.(l);
      return new Float32Array(l.spec.output);
    }
    if (l.args.some((a) => a instanceof Rows)) {
      throw new BackendError(`gpujs-${this.mode} ${l.spec.name}: rows-bound arguments are webgpu-only`);
    }
    const e = this.entry(l.spec, l.args);
    const t0 = performance.now();
    const out = this.call(e, l.spec, l.args);
    if (out instanceof Promise) return out.then((v) => this.finish(e, v, t0));
    return this.finish(e, out, t0);
  }

  private call(e: CacheEntry, spec: KernelSpec, args: readonly unknown[]): unknown {
    this.counters.launches++;
    this.trace?.({ spec, args: args as Launch['args'] });
    try {
      return e.kernel(...args);
    } catch (err) {
      // A kernel that fell back to another backend and then failed must be reported as the fallback.
      checkBackend(this.mode, e);
      throw new BackendError(`gpujs-${this.mode} ${spec.name}: kernel failed: ${(err as Error).message}`);
    }
  }

  /**
   * Run one launch on the device (webgpu pipeline mode): device windows bind as buffers (a window not starting at
   * 0 is copied to a buffer of its own first), host arrays are uploaded (counted), the output stays on the device.
   * Every buffer made here is pushed to `made` so the op can release the ones it does not return.
   */
  private async launchDevice(mem: DeviceMemory, l: Launch, made: DeviceArray[]): Promise<DeviceArray> {
    const args = l.args.map((a) => {
      if (typeof a === 'number') return a;
      if (a instanceof Rows) {
        const d = a.data instanceof DeviceArray ? a.data : mem.upload(a.data);
        if (d !== a.data) made.push(d);
        const m = mem.materialize(d);
        if (m !== d) made.push(m);
        return rowsHandle(m.handle, a.width);
      }
      if (a instanceof DeviceArray) {
        const m = mem.materialize(a);
        if (m !== a) made.push(m);
        return m.handle;
      }
      const arr = mem.upload(a);
      made.push(arr);
      return arr.handle;
    });
    for (const a of l.args) {
      if (a instanceof DeviceArray) mem.checkSize(l.spec.name, a.handle.output[0]!);
      if (a instanceof Rows && a.data instanceof DeviceArray) mem.checkSize(l.spec.name, a.data.handle.output[0]!);
    }
    mem.checkSize(`${l.spec.name} output`, l.spec.output);
    const e = this.entry(l.spec, l.args);
    const t0 = performance.now();
    const handle = (await this.call(e, l.spec, args)) as BufferHandle;
    finishTiming(e, t0);
    checkBackend(this.mode, e);
    // gpu.js keeps a reference of its own on an immutable kernel's latest output until the next call; drop it now,
    // so a buffer lives exactly as long as the arrays that hold it (gpu.js 2.24.1 kernel.js _ensureOutputBuffer).
    const inner = e.kernel.kernel;
    if (inner?.outputBuffer === handle.buffer) {
      (handle.buffer as unknown as { _refs: number })._refs--;
      inner.outputBuffer = null;
      inner.bindGroupDirty = true;
    }
    const out = new DeviceArray(handle, 0, l.spec.output);
    made.push(out);
    return out;
  }

  private finish(e: CacheEntry, out: unknown, t0: number): Float32Array {
    finishTiming(e, t0);
    checkBackend(this.mode, e);
    if (out instanceof Float32Array) return out;
    if (out && typeof (out as { length?: unknown }).length === 'number') {
      return Float32Array.from(out as ArrayLike<number>);
    }
    throw new BackendError(`gpujs-${this.mode} ${e.name}: kernel returned ${typeof out}, expected a Float32Array`);
  }

  /** Run an op body to completion synchronously (cpu, webasm). */
  runSync<T>(gen: OpGen<T>): T {
    let r = gen.next();
    while (!r.done) {
      const step = r.value;
      let out: Float32Array;
      if ('assemble' in step) out = hostAssemble(step.assemble);
      else {
        const o = this.launch(step);
        if (o instanceof Promise) throw new BackendError(`gpujs-${this.mode}: synchronous run got a Promise`);
        out = o;
      }
      r = gen.next(out);
    }
    return r.value;
  }

  /**
   * Run an op body to completion, awaiting each launch. With device memory (webgpu) launches stay on the device;
   * afterwards every buffer the op made and does not return is released, and every returned array holds one
   * reference of its own (an input returned as is gets a clone), starting at offset 0.
   */
  async runAsync<T>(gen: OpGen<T>): Promise<T> {
    const mem = this.mem;
    if (!mem) {
      let r = gen.next();
      while (!r.done) {
        const step = r.value;
        r = gen.next('assemble' in step ? hostAssemble(step.assemble) : await this.launch(step));
      }
      return r.value;
    }
    const made: DeviceArray[] = [];
    // Handles of `made` that the result takes over (their reference is not released).
    const kept = new Set<BufferHandle>();
    try {
      let r = gen.next();
      while (!r.done) {
        const step = r.value;
        let out: DeviceArray;
        if ('assemble' in step) {
          const a = step.assemble;
          const dev = (x: Arr): DeviceArray => {
            if (x instanceof DeviceArray) return x;
            const u = mem.upload(x);
            made.push(u);
            return u;
          };
          out = mem.assemble(
            a.total,
            a.base ? dev(a.base) : null,
            a.pieces.map((p) => ({ src: dev(p.src), at: p.at })),
          );
          made.push(out);
        } else {
          out = await this.launchDevice(mem, step, made);
        }
        r = gen.next(out);
      }
      const own = (x: unknown): unknown => {
        if (Array.isArray(x)) return x.map(own);
        if (x instanceof Float32Array) return mem.upload(x);
        if (!(x instanceof DeviceArray)) return x;
        const a = x.offset === 0 ? x : mem.materialize(x);
        if (a !== x) made.push(a);
        // An input returned as is, or one buffer returned twice: a reference of its own.
        if (kept.has(a.handle) || !made.some((m) => m.handle === a.handle)) return mem.retain(a);
        kept.add(a.handle);
        return a;
      };
      return own(r.value) as T;
    } finally {
      const released = new Set<BufferHandle>();
      for (const m of made) {
        if (released.has(m.handle)) continue;
        released.add(m.handle);
        if (!kept.has(m.handle)) mem.release(m);
      }
    }
  }

  /** Per-kernel build time and call counts, in build order (evicted kernels included). */
  stats(): KernelStat[] {
    return this.kernels.stats();
  }

  /** Number of distinct kernels built so far. */
  kernelCount(): number {
    return this.kernels.size;
  }

  /** Destroy every kernel and the GPU instance. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kernels.destroyAll();
    // gpu.destroy() returns a Promise; nothing to wait for on cpu/webasm (sync mode starts no worker pool).
    Promise.resolve(this.gpu.destroy()).catch(() => {});
  }
}

/**
 * `h` seen as a 2-D array of rows of `width` elements: same buffer and references, other logical dims (gpu.js reads
 * an argument's dims from its handle at every run, as uniforms). gpu.js types an argument by its own `type`
 * property, so the view carries one.
 */
function rowsHandle(h: BufferHandle, width: number): BufferHandle {
  const rows = Math.max(1, Math.ceil(h.output[0]! / width));
  return Object.create(h, {
    output: { value: [width, rows], enumerable: true },
    type: { value: 'WebGPUBuffer', enumerable: true },
  }) as BufferHandle;
}
