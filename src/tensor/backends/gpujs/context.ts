/**
 * One gpu.js context per backend instance: ONE `GPU` object (one mode), a kernel cache keyed by a signature
 * (primitive + constants + output size + argument lengths) so every kernel is built once, per-kernel stats with the
 * build (first call) timed apart from steady runs, and a check after every call that the backend which ran is the
 * one asked for (gpu.js degrades to its cpu kernel with only a console warning otherwise).
 *
 * Ops are written as generators that `yield` kernel launches and assemblies (see `OpGen`): the same op body then runs
 * synchronously on host arrays (cpu, webasm: a launch returns a Float32Array) or asynchronously on device arrays
 * (webgpu: pipeline kernels whose outputs stay on the GPU as `DeviceArray`s, ./device.ts; `runAsync` releases every
 * intermediate buffer an op made and keeps exactly one reference per returned array).
 *
 * Invariants: `immutable: true` on every kernel (no output aliases a later call's), loop bounds are constants with
 * `loopMaxIterations` raised to cover them (the 1000 default caps other loops silently), output is always 1-D.
 */

import gpujs from 'gpu.js';
import { BackendError } from '../../../errors.js';
import { type BufferHandle, type Counters, DeviceArray, type DeviceMemory } from './device.js';

export type GpujsMode = 'webasm' | 'cpu' | 'webgpu';

/** A kernel body: a plain `function` reading `this.thread.x` and `this.constants`; gpu.js compiles its source. */
// biome-ignore lint/suspicious/noExplicitAny: gpu.js kernels take typed arrays and numbers positionally.
export type KernelFn = (...args: any[]) => number;

/** What one kernel launch needs; `constants` and argument lengths are part of the cache key. */
export interface KernelSpec {
  /** Family-qualified name, e.g. 'binary', 'conv2d.fwd'. */
  readonly name: string;
  /** The body, or its source text (kernels/index-math.ts `exactIndexSource`: idiv expanded inline). */
  readonly fn: KernelFn | string;
  readonly constants: Readonly<Record<string, number>>;
  /** Number of output cells (1-D output, < the chunk limit). */
  readonly output: number;
  /** Largest loop trip count the body runs (all loop bounds are constants); raises loopMaxIterations. */
  readonly loops?: number;
}

/** The data an op body sees: host arrays (cpu, webasm) or device windows (webgpu). Both have length and subarray. */
export type Arr = Float32Array | DeviceArray;

/**
 * A kernel argument bound as a 2-D array of rows of `width` elements (webgpu only): the kernel reads it as
 * `A[row][column]`, and gpu.js forms the flat index `column + width * row` in i32 from the two f32 indices, so a
 * buffer above 2^24 elements is addressed exactly with no window (../strided.ts `ChunkPlan.rowDims`).
 */
export class Rows {
  constructor(
    readonly data: Arr,
    readonly width: number,
  ) {}

  get length(): number {
    return this.data.length;
  }
}

/** One launch: a spec and its positional arguments (arrays, rows-bound arrays or scalars). */
export interface Launch {
  readonly spec: KernelSpec;
  readonly args: readonly (Arr | Rows | number)[];
}

/** A new array of `total` elements: `base` (or zeros), then each piece written at its offset (later pieces win). */
export interface Assembly {
  readonly total: number;
  readonly base: Arr | null;
  readonly pieces: readonly { readonly src: Arr; readonly at: number }[];
}

/** What an op body yields: a kernel launch, or an assembly of earlier outputs (split launches, zero results). */
export type Step = Launch | { readonly assemble: Assembly };

/** An op body: yields steps, receives each step's output, returns the op's result. */
export type OpGen<T> = Generator<Step, T, Arr>;

/** Yield an assembly (see `Assembly`): concatenation of split outputs, zeros, or pieces written over a base. */
export function* assemble(
  total: number,
  pieces: readonly { readonly src: Arr; readonly at: number }[] = [],
  base: Arr | null = null,
): OpGen<Arr> {
  return yield { assemble: { total, base, pieces } };
}

/** The host array of a synchronous run (a device array there is a bug). */
export function host(a: Arr, what: string): Float32Array {
  if (a instanceof Float32Array) return a;
  throw new BackendError(`gpujs ${what}: got a device array on a host path`);
}

/** Per-kernel statistics (one row per cache entry). */
export interface KernelStat {
  readonly key: string;
  readonly name: string;
  /** Wall time of the first call (transpile + compile + first run). */
  readonly buildMs: number;
  /** Calls after the first. */
  readonly calls: number;
  /** Total wall time of the calls after the first. */
  readonly runMs: number;
}

const EXPECTED_CLASS: Record<GpujsMode, string> = {
  webasm: 'WebAssemblyKernel',
  cpu: 'CPUKernel',
  webgpu: 'WebGPUKernel',
};

interface CacheEntry {
  // biome-ignore lint/suspicious/noExplicitAny: the gpu.js run shortcut is untyped at this level.
  readonly kernel: any;
  readonly name: string;
  buildMs: number;
  calls: number;
  runMs: number;
  built: boolean;
}

/** The single gpu.js instance of one backend, with its kernel cache. */
export class GpujsContext {
  /** How many `GPU` instances were created in this process (regression: one per backend). */
  static gpuInstances = 0;
  // biome-ignore lint/suspicious/noExplicitAny: gpu.js GPU instance.
  private readonly gpu: any;
  private readonly cache = new Map<string, CacheEntry>();
  /** Stats of every kernel ever built, including evicted ones (a rebuilt kernel adds its build time). */
  private readonly history = new Map<string, CacheEntry>();
  private disposed = false;

  constructor(
    readonly mode: GpujsMode,
    /** Launch counter (and, with `mem`, the transfer counters) of the owning backend. */
    readonly counters: Counters,
    /** webgpu: device memory; kernels run in pipeline mode and their outputs stay on the device. */
    readonly mem: DeviceMemory | null = null,
    /** LRU bound on cached kernels (see `evict`). */
    readonly maxKernels = 256,
    /** Called with every launch before it runs (bench/gpu-roofline.ts: per-launch sizes). */
    readonly trace: ((l: Launch) => void) | null = null,
    /** cpu/webasm: run nothing, return zero outputs (a launch plan of an op sequence, for estimates). */
    readonly dryRun = false,
  ) {
    // Mode is always explicit: gpu.js's default auto-selection could silently pick another backend.
    this.gpu = new gpujs.GPU({ mode });
    GpujsContext.gpuInstances++;
  }

  private entry(spec: KernelSpec, args: readonly (Arr | Rows | number)[]): CacheEntry {
    if (this.disposed) throw new BackendError(`gpujs-${this.mode}: backend used after dispose()`);
    if (!(spec.output >= 1)) throw new BackendError(`gpujs-${this.mode} ${spec.name}: empty output`);
    const lens = args
      .map((a) => (typeof a === 'number' ? 's' : a instanceof Rows ? `r${a.width}x${a.length}` : String(a.length)))
      .join(',');
    const key = `${spec.name}|${spec.output}|${JSON.stringify(spec.constants)}|${lens}`;
    let entry = this.cache.get(key);
    if (entry) {
      // Map order is LRU order: refresh on hit.
      this.cache.delete(key);
      this.cache.set(key, entry);
      return entry;
    }
    const loops = spec.loops ?? 0;
    if (!Number.isInteger(loops) || loops < 0) {
      throw new BackendError(`gpujs-${this.mode} ${spec.name}: bad loop bound ${loops}`);
    }
    const kernel = this.gpu.createKernel(spec.fn, {
      output: [spec.output],
      constants: spec.constants,
      immutable: true,
      // webgpu: every call returns a fresh device buffer (WebGPUBufferResult) that later kernels bind directly.
      pipeline: this.mem !== null,
      loopMaxIterations: Math.max(1000, loops + 1),
      precision: 'single',
    });
    const prev = this.history.get(key);
    entry = {
      kernel,
      name: spec.name,
      buildMs: prev?.buildMs ?? 0,
      calls: prev?.calls ?? 0,
      runMs: prev?.runMs ?? 0,
      built: false,
    };
    this.cache.set(key, entry);
    this.history.set(key, entry);
    this.evict();
    return entry;
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
      this.checkBackend(e);
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
    this.finishTiming(e, t0);
    this.checkBackend(e);
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

  private finishTiming(e: CacheEntry, t0: number): void {
    const ms = performance.now() - t0;
    if (e.built) {
      e.calls++;
      e.runMs += ms;
    } else {
      e.built = true;
      e.buildMs += ms;
    }
  }

  private finish(e: CacheEntry, out: unknown, t0: number): Float32Array {
    this.finishTiming(e, t0);
    this.checkBackend(e);
    if (out instanceof Float32Array) return out;
    if (out && typeof (out as { length?: unknown }).length === 'number') {
      return Float32Array.from(out as ArrayLike<number>);
    }
    throw new BackendError(`gpujs-${this.mode} ${e.name}: kernel returned ${typeof out}, expected a Float32Array`);
  }

  /** Throws BackendError if the kernel that ran is not the requested backend's class, or reports a fallback. */
  private checkBackend(e: CacheEntry): void {
    const inner = e.kernel.kernel;
    const cls = inner?.constructor?.name;
    const reason = inner?.fallbackReason ?? null;
    if (cls !== EXPECTED_CLASS[this.mode] || reason) {
      throw new BackendError(
        `gpujs-${this.mode} ${e.name}: kernel ran on ${cls ?? 'unknown'} instead of ${EXPECTED_CLASS[this.mode]}` +
          (reason ? ` (fallback: ${reason})` : ''),
      );
    }
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

  /**
   * Drop least-recently-used kernels beyond `maxKernels`: each webasm kernel pins a wasm memory sized to its
   * arguments and output, so an unbounded cache over many shapes holds memory the GC cannot see.
   */
  private evict(): void {
    while (this.cache.size > this.maxKernels) {
      const [oldKey, old] = this.cache.entries().next().value as [string, CacheEntry];
      this.cache.delete(oldKey);
      try {
        old.kernel.destroy();
      } catch {
        // A kernel that never built has nothing to release.
      }
    }
  }

  /** Per-kernel build time and call counts, in build order (evicted kernels included). */
  stats(): KernelStat[] {
    return [...this.history.entries()].map(([key, e]) => ({
      key,
      name: e.name,
      buildMs: e.buildMs,
      calls: e.calls,
      runMs: e.runMs,
    }));
  }

  /** Number of distinct kernels built so far. */
  kernelCount(): number {
    return this.cache.size;
  }

  /** Destroy every kernel and the GPU instance. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const e of this.cache.values()) {
      try {
        e.kernel.destroy();
      } catch {
        // Already released.
      }
    }
    this.cache.clear();
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

/** An assembly on host arrays (synchronous runs). */
function hostAssemble(a: Assembly): Float32Array {
  const out = new Float32Array(a.total);
  if (a.base) out.set(host(a.base, 'assemble'));
  for (const p of a.pieces) out.set(host(p.src, 'assemble'), p.at);
  return out;
}
