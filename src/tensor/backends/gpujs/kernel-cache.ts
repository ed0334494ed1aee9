/**
 * The kernel cache of one gpu.js context (./context.ts): every kernel is built once per signature (primitive +
 * output size + constants + argument lengths), kept in LRU order up to `maxKernels`, and timed per entry (the first
 * call, transpile + compile + run, apart from steady runs); plus the check that the kernel which ran is the mode's
 * class (gpu.js degrades to its cpu kernel with only a console warning otherwise).
 *
 * Invariants: `immutable: true` on every kernel (no output aliases a later call's); `loopMaxIterations` covers the
 * spec's loop bound (the 1000 default caps other loops silently); stats keep evicted kernels (a rebuilt kernel adds
 * its build time to the same row).
 */

import { BackendError } from '../../../errors.js';
import { type Arr, type GpujsMode, type KernelSpec, Rows } from './op-gen.js';

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

/** One cached kernel and its timing. */
export interface CacheEntry {
  // biome-ignore lint/suspicious/noExplicitAny: the gpu.js run shortcut is untyped at this level.
  readonly kernel: any;
  readonly name: string;
  buildMs: number;
  calls: number;
  runMs: number;
  built: boolean;
}

/** The kernels of one gpu.js `GPU` instance. */
export class KernelCache {
  private readonly cache = new Map<string, CacheEntry>();
  /** Stats of every kernel ever built, including evicted ones (a rebuilt kernel adds its build time). */
  private readonly history = new Map<string, CacheEntry>();

  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: gpu.js GPU instance.
    private readonly gpu: any,
    private readonly mode: GpujsMode,
    /** webgpu: kernels run in pipeline mode (outputs stay on the device). */
    private readonly pipeline: boolean,
    /** LRU bound on cached kernels (see `evict`). */
    private readonly maxKernels: number,
  ) {}

  /** The entry of a launch: refreshed in LRU order on a hit, created (built at its first call) on a miss. */
  entry(spec: KernelSpec, args: readonly (Arr | Rows | number)[]): CacheEntry {
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
      pipeline: this.pipeline,
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

  /** Number of kernels in the cache. */
  get size(): number {
    return this.cache.size;
  }

  /** Destroy every cached kernel and empty the cache. */
  destroyAll(): void {
    for (const e of this.cache.values()) {
      try {
        e.kernel.destroy();
      } catch {
        // Already released.
      }
    }
    this.cache.clear();
  }
}

/** Add a call of `e` that started at `t0`: its build time on the first call, its run time after. */
export function finishTiming(e: CacheEntry, t0: number): void {
  const ms = performance.now() - t0;
  if (e.built) {
    e.calls++;
    e.runMs += ms;
  } else {
    e.built = true;
    e.buildMs += ms;
  }
}

/** Throws BackendError if the kernel that ran is not the requested backend's class, or reports a fallback. */
export function checkBackend(mode: GpujsMode, e: CacheEntry): void {
  const inner = e.kernel.kernel;
  const cls = inner?.constructor?.name;
  const reason = inner?.fallbackReason ?? null;
  if (cls !== EXPECTED_CLASS[mode] || reason) {
    throw new BackendError(
      `gpujs-${mode} ${e.name}: kernel ran on ${cls ?? 'unknown'} instead of ${EXPECTED_CLASS[mode]}` +
        (reason ? ` (fallback: ${reason})` : ''),
    );
  }
}
