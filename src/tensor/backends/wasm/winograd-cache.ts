/**
 * Cache of Winograd weight transforms (./winograd.ts), keyed on the weight's WasmBuffer object and the variant
 * ('2', '4', '2f', '4f': F2/F4, forward or rotated for grad-input), so a weight used by several convs (inference
 * over many batches, forward then grad-input of a step) is transformed once per variant.
 *
 * Invariant: an entry is valid only while its buffer's contents are unchanged. The backend calls `drop(buf)`
 * whenever a buffer is freed and whenever an op writes into an existing buffer (`copy` into dst, `fill`,
 * `sgdUpdate`'s param and momentum: every in-place path of the Backend contract; see WasmState.written). The
 * cached memory is bounded by `budgetBytes`; a transform that does not fit is not cached (the caller frees it).
 */

import type { WasmBuffer } from './state.js';

/** A cached transform: its wasm memory and how to release it. */
export interface CachedTransform {
  readonly ptr: number;
  readonly qp: number;
  readonly free: () => void;
}

export class WinogradCache {
  private readonly map = new Map<WasmBuffer, Map<string, { t: CachedTransform; bytes: number }>>();
  private used = 0;

  constructor(readonly budgetBytes: number) {}

  /** The cached transform of `buf` for `key`, if any. */
  get(buf: WasmBuffer, key: string): CachedTransform | undefined {
    return this.map.get(buf)?.get(key)?.t;
  }

  /** Cache `t` (of `bytes`) for (buf, key); false when it would exceed the budget (then it is not kept). */
  put(buf: WasmBuffer, key: string, t: CachedTransform, bytes: number): boolean {
    if (this.used + bytes > this.budgetBytes) return false;
    let m = this.map.get(buf);
    if (!m) {
      m = new Map();
      this.map.set(buf, m);
    }
    const old = m.get(key);
    if (old) {
      old.t.free();
      this.used -= old.bytes;
    }
    m.set(key, { t, bytes });
    this.used += bytes;
    return true;
  }

  /** Forget (and free) every transform of `buf`: it was freed or written in place. */
  drop(buf: WasmBuffer): void {
    const m = this.map.get(buf);
    if (!m) return;
    for (const e of m.values()) {
      e.t.free();
      this.used -= e.bytes;
    }
    this.map.delete(buf);
  }

  /** Cached bytes and buffers (tests, stats). */
  stats(): { bytes: number; buffers: number } {
    return { bytes: this.used, buffers: this.map.size };
  }
}
