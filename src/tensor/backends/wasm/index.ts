/**
 * The `wasm` backend: float32 only, buffers live in one shared WasmMemory, hot kernels are WebAssembly
 * modules generated at run time by ./module-builder.ts (no toolchain, no committed .wasm), run on a pool of
 * worker_threads that block-wait on Atomics so every op stays synchronous.
 *
 * Hot paths in wasm (threaded by output ranges, bit-identical for any thread count): GEMM / matmul, conv2d forward,
 * grad-input and grad-weight, GroupNorm and Weight Standardization forward/backward, relu, contiguous add/sub/mul,
 * binary ops against a broadcast scalar, max-pool forward/backward, row sums and the SGD step. Everything else is plain TypeScript over Float32Array
 * views of the shared memory (./ts-ops.ts). Buffers never alias; float64 requests raise DTypeError.
 */

import os from 'node:os';
import { BackendError, DTypeError } from '../../../errors.js';
import type { Backend, BackendBuffer } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { Allocator, CTL_BYTES, PAGE, RESERVED, SCRATCH_PTR, SCRATCH_STRIDE, ZERO_PTR } from './allocator.js';
import type { GemmContext } from './gemm.js';
import { KC, NC } from './gemm.js';
import { buildKernelModule, resolveRelaxed } from './kernels.js';
import { makeOps } from './ops.js';
import { ThreadPool } from './threads.js';
import { WA } from './wasm-api.js';

/** Options for {@link createWasmBackend}. */
export interface WasmBackendOptions {
  /** Threads including the calling one (default: os.availableParallelism(), at most 16). */
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
}

/** A buffer in the shared heap: byte offset `ptr`, `size` float32 elements. */
export class WasmBuffer implements BackendBuffer {
  readonly dtype: DType = 'float32';
  freed = false;
  constructor(
    readonly ptr: number,
    readonly size: number,
    readonly cls: number,
  ) {}
}

/** Everything the op implementations share. */
export interface WasmState extends GemmContext {
  readonly relaxed: boolean;
  /** Current Float32Array view of the whole memory (re-created after growth). */
  heap(): Float32Array;
  newBuffer(size: number, zero: boolean): WasmBuffer;
  buf(b: BackendBuffer, op: string): WasmBuffer;
  release(b: BackendBuffer): void;
  liveCount(): number;
}

/**
 * Create a wasm backend. Synchronous: the kernel module compiles on the calling thread and workers instantiate it
 * as they start (the first threaded op waits for them).
 */
export function createWasmBackend(opts: WasmBackendOptions = {}): Backend & { readonly relaxed: boolean } {
  const threads = Math.max(1, Math.min(16, Math.floor(opts.threads ?? os.availableParallelism())));
  const relaxed = resolveRelaxed(opts.relaxedSimd ?? 'auto');
  const maxPages = opts.maxPages ?? 65536;
  const initPages = 256;
  const memory = new WA.Memory({ initial: initPages, maximum: maxPages, shared: true });
  const { module, names } = buildKernelModule(relaxed, initPages, maxPages);
  const instance = new WA.Instance(module, { env: { mem: memory } });
  const alloc = new Allocator(memory, maxPages);
  let view = new Float32Array(memory.buffer);
  const heap = () => {
    if (view.byteLength !== memory.buffer.byteLength) view = new Float32Array(memory.buffer);
    return view;
  };
  if (CTL_BYTES > ZERO_PTR || SCRATCH_PTR + threads * SCRATCH_STRIDE > RESERVED || RESERVED % PAGE !== 0) {
    throw new BackendError('wasm backend: reserved area layout is inconsistent');
  }
  const temp = (bytes: number): [number, () => void] => {
    const { ptr, cls } = alloc.alloc(bytes);
    return [ptr, () => alloc.release(ptr, cls)];
  };
  const pool = new ThreadPool(threads, module, memory, instance.exports, names, relaxed, temp);
  const panels: number[] = [];
  let live = 0;

  const state: WasmState = {
    pool,
    threads,
    minParallelWork: opts.minParallelWork ?? 65536,
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
      if (!Number.isInteger(size) || size < 0) throw new BackendError(`wasm.alloc: bad size ${size}`);
      const { ptr, cls } = alloc.alloc(size * 4);
      const b = new WasmBuffer(ptr, size, cls);
      if (zero) heap().fill(0, ptr >>> 2, (ptr >>> 2) + size);
      live++;
      return b;
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
      w.freed = true;
      alloc.release(w.ptr, w.cls);
      live--;
    },
    liveCount: () => live,
  };
  const checkDtype = (op: string, dtype: DType) => {
    if (dtype !== 'float32') throw new DTypeError(`wasm.${op}: dtype ${dtype} not supported (float32 only)`);
  };
  const ops = makeOps(state);
  return {
    name: 'wasm',
    dtypes: ['float32'],
    relaxed,
    alloc(size, dtype) {
      checkDtype('alloc', dtype);
      return state.newBuffer(size, true);
    },
    upload(data, dtype) {
      checkDtype('upload', dtype);
      const b = state.newBuffer(data.length, false);
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
    dispose() {
      pool.dispose();
    },
  };
}
