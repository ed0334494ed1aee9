/**
 * The `wasm` backend: float32 only, buffers live in one shared WasmMemory, hot kernels are WebAssembly
 * modules generated at run time by ./module-builder.ts (no toolchain, no committed .wasm), run on a pool of
 * workers (worker_threads in Node, Web Workers in browsers: see ./host.ts) that block-wait on Atomics so every op
 * stays synchronous. In a browser the pool needs cross-origin isolation and a thread that may block (a Worker);
 * elsewhere the backend runs on one thread over an unshared memory.
 *
 * Hot paths in wasm (threaded by output ranges, bit-identical for any thread count): GEMM / matmul, conv2d forward,
 * grad-input and grad-weight, GroupNorm and Weight Standardization forward/backward, relu, contiguous add/sub/mul,
 * binary ops against a broadcast scalar, max-pool forward/backward, row sums and the SGD step. Everything else is plain TypeScript over Float32Array
 * views of the shared memory (./ts-ops.ts). Buffers never alias; float64 requests raise DTypeError.
 */

import { envOn, envVar } from '../../../env.js';
import { BackendError, DTypeError } from '../../../errors.js';
import type { Backend } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { Allocator, CTL_BYTES, PAGE, RESERVED, SCRATCH_PTR, SCRATCH_STRIDE, ZERO_PTR } from './allocator.js';
import { defaultInPlaceMaxN, defaultPackRows, defaultSmallMaps, KC, NC } from './gemm.js';
import { makePackCache, packCacheMb } from './gemm-pack-cache.js';
import { host } from './host-node.js';
import { buildKernelModule, resolveRelaxed } from './kernels.js';
import { makeOps } from './ops.js';
import type { GovernorOptions } from './pool-governor.js';
import { WasmBuffer, type WasmState } from './state.js';
import type { StepGovernorOptions } from './step-governor.js';
import { type PoolStats, ThreadPool } from './threads.js';
import { WA } from './wasm-api.js';
import { WeightCache } from './weight-cache.js';
import { parseWinogradMode, type WinogradMode } from './winograd.js';
import { workersReady } from './workers-ready.js';

export { WasmBuffer, type WasmState };

/**
 * Smallest range `prefault` touches on a thread of its own: 32 MiB is ~8k page faults (~10 ms at ~1.3 us each on
 * the bench machine), about what starting the toucher worker costs; a smaller range is only grown.
 */
export const PREFAULT_MIN_BYTES = 32 * 2 ** 20;

/** Options for {@link createWasmBackend}. */
export interface WasmBackendOptions {
  /**
   * Threads including the calling one (default: os.availableParallelism() in Node, navigator.hardwareConcurrency
   * in browsers, at most 16; 1 where the platform allows no pool, see ./host.ts).
   */
  readonly threads?: number;
  /** Use f32x4.relaxed_madd in the GEMM micro-kernel: true (required), false, or 'auto' (default: use if valid). */
  readonly relaxedSimd?: boolean | 'auto';
  /** Maximum memory in 64 KiB pages (default 65536 = 4 GiB). */
  readonly maxPages?: number;
  /**
   * Work (elements; GEMM flops / 64) below which an op stays on the calling thread (default 65536). Tests set 0
   * to force every op through the worker path.
   */
  readonly minParallelWork?: number;
  /**
   * Let the pool fall back to the calling thread while threads do not pay (an oversubscribed machine: see
   * ./pool-governor.ts); default true. False always hands out shares (tests of the pool itself, A/B runs); an
   * object turns it on with that tuning.
   */
  readonly adaptiveThreads?: boolean | GovernorOptions;
  /**
   * Choose per training step between threads and the calling thread alone from measured step times (see
   * ./step-governor.ts; the backend learns step ends through `stepEnded`). Default: off unless env
   * BIT_STEP_GOVERNOR=1 (an opt-in experiment); true turns it on (with `adaptiveThreads`); an object tunes it.
   */
  readonly stepGovernor?: boolean | StepGovernorOptions;
  /**
   * Winograd for 3x3 stride-1 pad-1 convs (forward and grad-input, ./winograd.ts; grad-weight,
   * ./winograd-grad-weight.ts, which env BIT_WINO_WGRAD=0 also turns off): 'auto' (default: the cost rules pick
   * F(4x4,3x3), F(2x2,3x3) or the GEMM path), 'f4' / 'f2' (that variant wherever it applies), 'off'.
   * Default from the environment variable BIT_WINOGRAD (0/off, f2, f4, auto/1), else 'auto'.
   */
  readonly winograd?: WinogradMode;
  /**
   * Bytes of Winograd weight transforms kept per backend (0: never cache). Default: env BIT_WINOGRAD_CACHE_MB (MiB),
   * else 64 MiB.
   */
  readonly winogradCacheBytes?: number;
  /**
   * Budget of the packed-A cache (conv weights packed once for the 5x8 GEMM kernels and reused while unchanged, from
   * their second use: inference; ./gemm-pack-cache.ts), bytes; default env BIT_GEMM_PACK_CACHE_MB (MiB) or 64 MiB;
   * 0 turns it off.
   */
  readonly gemmPackCacheBytes?: number;
  /**
   * GEMMs with at most this many columns read a plain strided A (the conv weights) in place instead of packing it
   * per call (./gemm.ts); 0 always packs. Default: env BIT_GEMM_INPLACE (0 = off, a number = the limit), else 512.
   */
  readonly gemmInPlaceMaxN?: number;
  /**
   * Pack GEMM B panels of column-contiguous sources K rows at a time (./kernels-pack.ts `pack8r`). Default: on
   * unless env BIT_GEMM_PACKROWS=0.
   */
  readonly gemmPackRows?: boolean;
  /**
   * Small-map conv lowerings (./conv-small.ts: convs whose output or input map is 1x1 run as plain [batch,
   * channels] matmuls, no per-image copy). Default: on unless env BIT_CONV_SMALLMAP=0.
   */
  readonly convSmallMaps?: boolean;
  /**
   * Bytes of heap to map at creation (grown and touched once, see Allocator.prefault), so the first training step
   * does not pay the page faults of its fresh activations. Default: env BIT_WASM_PREFAULT_MB (MiB), else 0.
   */
  readonly prefaultBytes?: number;
}

/** The wasm backend: a Backend plus what it chose. */
export interface WasmBackend extends Backend {
  readonly relaxed: boolean;
  /** Threads in the pool, the calling one included. */
  readonly threads: number;
  /**
   * Resolves when every pool worker has started (await it before timing; ops run before it anyway, the calling thread
   * taking over the shares of workers still starting). Env BIT_WASM_READY_WAIT=0: at once in Node (./workers-ready.ts).
   */
  readonly ready: Promise<void>;
  /**
   * Pool calls that woke workers, ms the calling thread waited for them, shares it took over (see ThreadPool.sync);
   * dispatches run on the calling thread alone because threads did not pay and the back-offs that started them;
   * governor windows voided as warm-up (cold: fresh heap, pool start, idle gap; see ./pool-governor.ts); steps the
   * step governor timed, ran solo, its probes, flips and cold steps (./step-governor.ts);
   * workers alive with the module instantiated, and shares the workers ran (see ThreadPool.stats).
   */
  readonly syncStats: () => ThreadPool['sync'] & PoolStats;
  /**
   * Map about `bytes` of heap for the allocations about to come (a training step's activations: the trainer
   * estimates them from the model's plan, src/train/core/heap-estimate.ts), so the first step does not pay a page
   * fault per fresh 4 KiB page (~1.3 us each here: ~0.2 s for R50x1 at 8 x 128 px). Free-list bytes count as ready.
   * The pages are touched on another thread, in the idle time before compute, the caller running on: with a pool,
   * by its last worker (any size: nothing to start; env BIT_WASM_POOL_TOUCH=0: off), else where the platform has
   * one on a short-lived worker (Node). The next op that allocates an output or a temporary, or hands out shares,
   * stops it (uploads and zero tensors, e.g. loading weights, do not), since both would then fault pages and
   * compete for the cores. Without a pool or such a thread (browsers), or for less than PREFAULT_MIN_BYTES
   * without a pool, the memory is only grown. Resolves to the bytes mapped. Results never depend on it; only speed
   * and when the process's resident memory grows do.
   */
  readonly prefault: (bytes: number) => Promise<number>;
  /**
   * Heap accounting: bytes of wasm memory (`heapBytes`, grown so far), the bump pointer's high-water mark
   * (`highWater`), bytes sitting in free lists (`freeBytes`), the most bytes ever live at once (`peakLive`: the
   * heap a perfectly packing allocator would need) and live buffers.
   */
  readonly heapStats: () => {
    heapBytes: number;
    highWater: number;
    freeBytes: number;
    peakLive: number;
    liveBuffers: number;
  };
  /** Bytes and weight buffers held by the Winograd weight-transform cache (./weight-cache.ts). */
  readonly winogradCacheStats: () => { bytes: number; buffers: number };
  /** Bytes and weight buffers held by the packed-A cache (./gemm-pack-cache.ts; zeros when it is off). */
  readonly packCacheStats: () => { bytes: number; buffers: number };
}

/**
 * Create a wasm backend. Synchronous: the kernel module compiles on the calling thread and workers instantiate it
 * as they start (the first threaded op waits for them).
 */
export function createWasmBackend(opts: WasmBackendOptions = {}): WasmBackend {
  const limit = host.maxThreads();
  if (opts.threads !== undefined && Math.floor(opts.threads) > limit.n) {
    throw new BackendError(`wasm backend: threads: ${opts.threads} asked, but at most ${limit.n} here: ${limit.why}`);
  }
  const threads = Math.max(1, Math.min(16, limit.n, Math.floor(opts.threads ?? host.defaultThreads())));
  const relaxed = resolveRelaxed(opts.relaxedSimd ?? 'auto');
  const maxPages = opts.maxPages ?? 65536;
  const initPages = 256;
  const shared = host.sharedMemory();
  const memory = new WA.Memory({ initial: initPages, maximum: maxPages, shared });
  const { module, names } = buildKernelModule(relaxed, initPages, maxPages, shared);
  const instance = new WA.Instance(module, { env: { mem: memory } });
  const alloc = new Allocator(memory, maxPages);
  const prefaultEnv = Number(envVar('BIT_WASM_PREFAULT_MB') ?? 0);
  alloc.prefault(opts.prefaultBytes ?? (Number.isFinite(prefaultEnv) ? prefaultEnv : 0) * 2 ** 20);
  let view = new Float32Array(memory.buffer);
  const heap = () => {
    if (view.byteLength !== memory.buffer.byteLength) view = new Float32Array(memory.buffer);
    return view;
  };
  if (CTL_BYTES > ZERO_PTR || SCRATCH_PTR + threads * SCRATCH_STRIDE > RESERVED || RESERVED % PAGE !== 0) {
    throw new BackendError('wasm backend: reserved area layout is inconsistent');
  }
  /** End of the heap ranges earlier `prefault` calls handed to a toucher. */
  let prefaulted = 0;
  /** Stop words of background page touchers still running (prefault): compute starting stops them. */
  const touching: Int32Array[] = [];
  const stopTouching = () => {
    for (const s of touching) Atomics.store(s, 0, 1);
  };
  const temp = (bytes: number): [number, () => void] => {
    if (touching.length > 0) stopTouching();
    const { ptr, cls } = alloc.alloc(bytes);
    return [ptr, () => alloc.release(ptr, cls)];
  };
  const pool = new ThreadPool(threads, module, memory, instance.exports, names, relaxed, temp, host, {
    adaptive: opts.adaptiveThreads !== false,
    ...(opts.stepGovernor !== undefined ? { step: opts.stepGovernor } : {}),
    freshMark: () => alloc.highWater(), // a window that handed out fresh heap is a warm-up one (pool-governor.ts)
    ...(typeof opts.adaptiveThreads === 'object' ? opts.adaptiveThreads : {}),
  });
  const panels: number[] = [];
  let live = 0;
  let winoMode: WinogradMode;
  try {
    winoMode = opts.winograd ?? parseWinogradMode(envVar('BIT_WINOGRAD'));
  } catch (e) {
    throw new BackendError(`wasm backend: ${(e as Error).message}`);
  }
  const winoMb = Number(envVar('BIT_WINOGRAD_CACHE_MB') ?? 64);
  const winoBytes = opts.winogradCacheBytes ?? (Number.isFinite(winoMb) && winoMb >= 0 ? winoMb : 64) * 2 ** 20;
  const winograd = { mode: winoMode, cache: new WeightCache(winoBytes) };
  const packMb =
    opts.gemmPackCacheBytes !== undefined
      ? opts.gemmPackCacheBytes / 2 ** 20
      : packCacheMb(envVar('BIT_GEMM_PACK_CACHE_MB'));
  const packCache = makePackCache(packMb, (bytes) => new WeightCache(bytes));
  let disposed = false;
  /** A pool worker is known dead (the pool's own check, run through an empty dispatch): `ready` stops waiting. */
  const workerDied = () => {
    try {
      pool.run([[]]);
      return false;
    } catch {
      return true;
    }
  };

  /** A new buffer (uploads and zero tensors come here directly: loading weights does not stop a prefault). */
  const bufferOf = (size: number, zero: boolean): WasmBuffer => {
    if (!Number.isInteger(size) || size < 0) throw new BackendError(`wasm.alloc: bad size ${size}`);
    const { ptr, cls } = alloc.alloc(size * 4);
    const b = new WasmBuffer(ptr, size, cls);
    if (zero) heap().fill(0, ptr >>> 2, (ptr >>> 2) + size);
    live++;
    return b;
  };

  const state: WasmState = {
    pool,
    threads,
    minParallelWork: opts.minParallelWork ?? 65536,
    inPlaceMaxN: opts.gemmInPlaceMaxN ?? defaultInPlaceMaxN(),
    packRows: opts.gemmPackRows ?? defaultPackRows(),
    smallMaps: opts.convSmallMaps ?? defaultSmallMaps(),
    relaxed,
    zeroPtr: ZERO_PTR,
    scratch: (t) => SCRATCH_PTR + t * SCRATCH_STRIDE,
    bPanel(t) {
      while (panels.length <= t) panels.push(alloc.alloc(KC * NC * 4).ptr);
      return panels[t]!;
    },
    temp,
    heap,
    newBuffer(size, zero) {
      if (touching.length > 0) stopTouching(); // an op's output: compute has started
      return bufferOf(size, zero);
    },
    buf(b, op) {
      if (!(b instanceof WasmBuffer)) {
        throw new BackendError(`wasm.${op}: buffer does not belong to a wasm backend (dtype ${b.dtype})`);
      }
      if (b.freed) throw new BackendError(`wasm.${op}: buffer used after free`);
      return b;
    },
    release(b) {
      const w = state.buf(b, 'free');
      winograd.cache.drop(w);
      packCache?.drop(w);
      w.freed = true;
      alloc.release(w.ptr, w.cls);
      live--;
    },
    liveCount: () => live,
    winograd,
    packCache,
    written: (b) => {
      winograd.cache.drop(b);
      packCache?.drop(b);
    },
  };
  const checkDtype = (op: string, dtype: DType) => {
    if (dtype !== 'float32') throw new DTypeError(`wasm.${op}: dtype ${dtype} not supported (float32 only)`);
  };
  const ops = makeOps(state);
  return {
    name: 'wasm',
    dtypes: ['float32'],
    relaxed,
    threads,
    ready: pool.ready.then(() => workersReady(pool, threads - 1, () => disposed || workerDied())),
    syncStats: () => ({ ...pool.sync, ...pool.stats() }),
    prefault(bytes) {
      const [start, to] = alloc.reserve(bytes);
      const from = Math.max(start, prefaulted); // a range an earlier call already handed to a toucher: not again
      prefaulted = Math.max(prefaulted, to);
      // a pool worker idle before the first step touches any size: nothing to start (env BIT_WASM_POOL_TOUCH=0: off)
      const viaPool = !envOn('BIT_WASM_POOL_TOUCH') || to <= from ? null : pool.touchPages(from, to);
      if (viaPool) {
        touching.push(viaPool.stop);
        return viaPool.done.then((n) => {
          touching.splice(touching.indexOf(viaPool.stop), 1);
          return n;
        });
      }
      // below PREFAULT_MIN_BYTES the faults cost less than starting a toucher thread: grown only
      if (to - from < PREFAULT_MIN_BYTES) return Promise.resolve(0);
      const stop = shared ? new Int32Array(new SharedArrayBuffer(4)) : null;
      const bg = stop ? host.touchPagesInBackground(memory, from, to, stop) : null;
      if (!bg || !stop) return Promise.resolve(0); // grown, not touched: touching here would only move the cost
      touching.push(stop);
      return bg.then((end) => {
        touching.splice(touching.indexOf(stop), 1);
        return end - from;
      });
    },
    heapStats: () => ({
      heapBytes: memory.buffer.byteLength,
      highWater: alloc.highWater(),
      freeBytes: alloc.freeBytes(),
      peakLive: alloc.peakLive(),
      liveBuffers: live,
    }),
    winogradCacheStats: () => winograd.cache.stats(),
    packCacheStats: () => packCache?.stats() ?? { bytes: 0, buffers: 0 },
    alloc(size, dtype) {
      checkDtype('alloc', dtype);
      return bufferOf(size, true);
    },
    upload(data, dtype) {
      checkDtype('upload', dtype);
      const b = bufferOf(data.length, false);
      heap().set(data, b.ptr >>> 2);
      return b;
    },
    readSync(b) {
      const w = state.buf(b, 'readSync');
      return heap().slice(w.ptr >>> 2, (w.ptr >>> 2) + w.size);
    },
    async read(b) {
      return this.readSync(b);
    },
    free: (b) => state.release(b),
    liveBuffers: () => live,
    cast(a, dtype) {
      checkDtype('cast', dtype);
      const w = state.buf(a, 'cast');
      const out = state.newBuffer(w.size, false);
      heap().copyWithin(out.ptr >>> 2, w.ptr >>> 2, (w.ptr >>> 2) + w.size);
      return out;
    },
    ...ops,
    stepEnded: () => pool.stepEnded(),
    dispose() {
      disposed = true;
      pool.dispose();
    },
  };
}
