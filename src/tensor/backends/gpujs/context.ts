/**
 * One gpu.js context per backend instance: ONE `GPU` object (one mode), a kernel cache keyed by a signature
 * (primitive + constants + output size + argument lengths) so every kernel is built once, per-kernel stats with the
 * build (first call) timed apart from steady runs, and a check after every call that the backend which ran is the
 * one asked for (gpu.js degrades to its cpu kernel with only a console warning otherwise).
 *
 * Ops are written as generators that `yield` kernel launches (see `OpGen`): the same op body then runs synchronously
 * (cpu, webasm: a launch returns a Float32Array) or asynchronously (webgpu: a launch returns a Promise).
 *
 * Invariants: `immutable: true` on every kernel (no output aliases a later call's), loop bounds are constants with
 * `loopMaxIterations` raised to cover them (the 1000 default caps other loops silently), output is always 1-D.
 */

import gpujs from 'gpu.js';
import { BackendError } from '../../../errors.js';

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

/** One launch: a spec and its positional arguments (typed arrays or scalars). */
export interface Launch {
  readonly spec: KernelSpec;
  readonly args: readonly (Float32Array | number)[];
}

/** An op body: yields launches, receives each launch's output, returns the op's result. */
export type OpGen<T> = Generator<Launch, T, Float32Array>;

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
    /** LRU bound on cached kernels (see `evict`). */
    readonly maxKernels = 256,
  ) {
    // Mode is always explicit: gpu.js's default auto-selection could silently pick another backend.
    this.gpu = new gpujs.GPU({ mode });
    GpujsContext.gpuInstances++;
  }

  /** Build (once) and run one launch. Synchronous for cpu/webasm, a Promise for webgpu. */
  launch(l: Launch): Float32Array | Promise<Float32Array> {
    if (this.disposed) throw new BackendError(`gpujs-${this.mode}: backend used after dispose()`);
    const { spec, args } = l;
    if (!(spec.output >= 1)) throw new BackendError(`gpujs-${this.mode} ${spec.name}: empty output`);
    const lens = args.map((a) => (typeof a === 'number' ? 's' : String(a.length))).join(',');
    const key = `${spec.name}|${spec.output}|${JSON.stringify(spec.constants)}|${lens}`;
    let entry = this.cache.get(key);
    if (entry) {
      // Map order is LRU order: refresh on hit.
      this.cache.delete(key);
      this.cache.set(key, entry);
    } else {
      const loops = spec.loops ?? 0;
      if (!Number.isInteger(loops) || loops < 0) {
        throw new BackendError(`gpujs-${this.mode} ${spec.name}: bad loop bound ${loops}`);
      }
      const kernel = this.gpu.createKernel(spec.fn, {
        output: [spec.output],
        constants: spec.constants,
        immutable: true,
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
    }
    const e = entry;
    const t0 = performance.now();
    let out: unknown;
    try {
      out = e.kernel(...args);
    } catch (err) {
      // A kernel that fell back to another backend and then failed must be reported as the fallback.
      this.checkBackend(e);
      throw new BackendError(`gpujs-${this.mode} ${spec.name}: kernel failed: ${(err as Error).message}`);
    }
    if (out instanceof Promise) {
      return out.then((v) => this.finish(e, v, t0));
    }
    return this.finish(e, out, t0);
  }

  private finish(e: CacheEntry, out: unknown, t0: number): Float32Array {
    const ms = performance.now() - t0;
    this.checkBackend(e);
    if (e.built) {
      e.calls++;
      e.runMs += ms;
    } else {
      e.built = true;
      e.buildMs += ms;
    }
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
      const out = this.launch(r.value);
      if (out instanceof Promise) throw new BackendError(`gpujs-${this.mode}: synchronous run got a Promise`);
      r = gen.next(out);
    }
    return r.value;
  }

  /** Run an op body to completion, awaiting each launch (webgpu). */
  async runAsync<T>(gen: OpGen<T>): Promise<T> {
    let r = gen.next();
    while (!r.done) {
      const out = await this.launch(r.value);
      r = gen.next(out);
    }
    return r.value;
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
