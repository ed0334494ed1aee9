/**
 * Cache of data derived from a buffer's contents, keyed on the buffer's WasmBuffer object and a string that says
 * which derivation: the Winograd weight transforms (./winograd.ts; '2', '4', '2f', '4f': F2/F4, forward or rotated
 * for grad-input) and the GEMM's packed A operands (./gemm-pack-cache.ts: conv weights in R-row strips). A weight
 * used by several convs (inference over many batches, forward then grad-input of a step) is then transformed or
 * packed once per key.
 *
 * Invariant: an entry is valid only while its buffer's contents are unchanged. The backend calls `drop(buf)`
 * whenever a buffer is freed and whenever an op writes into an existing buffer (`copy` into dst, `fill`,
 * `sgdUpdate`'s param and momentum: every in-place path of the Backend contract; see WasmState.written). The
 * cached memory is bounded by `budgetBytes`; an entry that does not fit is not cached (the caller frees it).
 * `seen` records first uses (no memory), for callers that cache only what is used a second time; `drop` forgets
 * them too.
 */

import type { WasmBuffer } from './state.js';

/** A cached transform: its wasm memory and how to release it. */
export interface CachedTransform {
  readonly ptr: number;
  readonly qp: number;
  readonly free: () => void;
}

export class WeightCache {
  private readonly map = new Map<WasmBuffer, Map<string, { t: CachedTransform; bytes: number }>>();
  private readonly firstUse = new Map<WasmBuffer, Set<string>>();
  private used = 0;

  constructor(readonly budgetBytes: number) {}

  /** The cached transform of `buf` for `key`, if any. */
  get(buf: WasmBuffer, key: string): CachedTransform | undefined {
    return this.map.get(buf)?.get(key)?.t;
  }

  /** Whether `bytes` more would fit the budget now. */
  fits(bytes: number): boolean {
    return this.used + bytes <= this.budgetBytes;
  }

  /** Cache `t` (of `bytes`) for (buf, key); false when it would exceed the budget (then it is not kept). */
  put(buf: WasmBuffer, key: string, t: CachedTransform, bytes: number): boolean {
    if (!this.fits(bytes)) return false;
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

  /** Whether (buf, key) was used before since buf last changed; records this use. */
  seen(buf: WasmBuffer, key: string): boolean {
    let s = this.firstUse.get(buf);
    if (!s) {
      s = new Set();
      this.firstUse.set(buf, s);
    }
    if (s.has(key)) return true;
    s.add(key);
    return false;
  }

  /** Forget (and free) every transform of `buf`, and its recorded uses: it was freed or written in place. */
  drop(buf: WasmBuffer): void {
    this.firstUse.delete(buf);
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
