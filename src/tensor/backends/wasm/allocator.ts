/**
 * Heap allocator over the shared WasmMemory: a bump pointer plus free lists keyed by size class (64-byte
 * granules up to 4 KiB, then 8 classes per power of two). Blocks are 64-byte aligned, so every buffer can be read
 * with aligned v128 loads. Memory only grows (memory.grow on a shared memory, up to its maximum); freed blocks are
 * reused for requests of the same class.
 *
 * The first RESERVED bytes hold the thread-pool control block, a zeroed word area and per-thread scratch tiles.
 */

import { BackendError } from '../../../errors.js';
import type { WasmMemory } from './wasm-api.js';

export const PAGE = 65536;
/** Bytes below the heap: control block [0, 4096), zero area [4096, 4160), scratch tiles from 8192. */
export const RESERVED = 65536;
export const CTL_BYTES = 4096;
export const ZERO_PTR = 4096;
export const SCRATCH_PTR = 8192;
export const SCRATCH_STRIDE = 256;

/** Size class (bytes) for a request of `bytes`. */
export function sizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.max(64, Math.ceil(bytes / 64) * 64);
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 8;
  return Math.ceil(bytes / step) * step;
}

export class Allocator {
  private top = RESERVED;
  private readonly free = new Map<number, number[]>();
  private live = 0;
  private peak = 0;

  constructor(
    private readonly memory: WasmMemory,
    private readonly maxPages: number,
  ) {}

  /** Allocate `bytes` (rounded to its size class); returns the byte offset. Contents are NOT cleared. */
  alloc(bytes: number): { ptr: number; cls: number } {
    const cls = sizeClass(Math.max(bytes, 1));
    this.live += cls;
    if (this.live > this.peak) this.peak = this.live;
    const list = this.free.get(cls);
    if (list && list.length > 0) return { ptr: list.pop()!, cls };
    const ptr = this.top;
    const end = ptr + cls;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const needPages = Math.ceil((end - have) / PAGE);
      const curPages = have / PAGE;
      const growPages = Math.min(Math.max(needPages, Math.ceil(curPages / 2)), this.maxPages - curPages);
      if (growPages < needPages) {
        throw new BackendError(
          `wasm backend: out of memory allocating ${bytes} bytes (heap ${have} bytes, maximum ${this.maxPages * PAGE})`,
        );
      }
      this.memory.grow(growPages);
    }
    this.top = end;
    return { ptr, cls };
  }

  /**
   * Grow the memory so that the next `bytes` of the bump region exist, and touch each of their pages once (write a
   * zero to a word past the bump pointer, never handed out yet, so still zero), so the OS maps them now instead of
   * on the first write of some op. Allocation itself is unchanged. Returns the bytes made ready.
   */
  prefault(bytes: number): number {
    const want = Math.min(this.top + Math.max(0, bytes), this.maxPages * PAGE);
    const have = this.memory.buffer.byteLength;
    if (want > have) this.memory.grow(Math.ceil((want - have) / PAGE));
    const words = new Int32Array(this.memory.buffer);
    for (let b = this.top; b < want; b += 4096) words[b >>> 2] = 0;
    return Math.max(0, want - this.top);
  }

  /**
   * Grow the memory so that about `bytes` are ready for the coming allocations, counting the free lists' bytes as
   * ready (so memory freed by an earlier model is not mapped twice; the free lists may hold other classes, so this
   * errs towards touching too little, never towards a larger heap than the allocations will reach). Returns the
   * bump-region range [from, to) that is new to the allocator and still untouched, for the caller to map.
   */
  reserve(bytes: number): [number, number] {
    const need = Math.max(0, Math.floor(bytes) - this.freeBytes());
    const want = Math.min(this.top + need, this.maxPages * PAGE);
    const have = this.memory.buffer.byteLength;
    if (want > have) this.memory.grow(Math.ceil((want - have) / PAGE));
    return [Math.ceil(this.top / 4096) * 4096, want];
  }

  /** Return a block to its size-class free list. */
  release(ptr: number, cls: number): void {
    this.live -= cls;
    let list = this.free.get(cls);
    if (!list) {
      list = [];
      this.free.set(cls, list);
    }
    list.push(ptr);
  }

  /** Most bytes (size classes) ever handed out at once: what a perfect allocator's heap would need. */
  peakLive(): number {
    return this.peak;
  }

  /** Bytes held in the free lists (released, not yet reused). */
  freeBytes(): number {
    let n = 0;
    for (const [cls, list] of this.free) n += cls * list.length;
    return n;
  }

  /** Bytes handed out by the bump pointer so far (heap high-water mark). */
  highWater(): number {
    return this.top;
  }
}
