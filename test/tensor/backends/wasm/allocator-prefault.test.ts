/**
 * Allocator.prefault maps heap pages ahead of use (the wasm backend's `prefaultBytes` option): it grows the memory
 * past the bump pointer and leaves allocation unchanged (the next block starts where it would have, the region
 * still reads as zeros), never past the memory's maximum.
 */

import { describe, expect, it } from 'vitest';
import { Allocator, PAGE, RESERVED } from '../../../../src/tensor/backends/wasm/allocator.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { WA } from '../../../../src/tensor/backends/wasm/wasm-api.js';

describe('wasm allocator prefault', () => {
  it('grows the memory ahead of the bump pointer without changing allocation', () => {
    const mem = () => new WA.Memory({ initial: 2, maximum: 64, shared: false });
    const [m1, m2] = [mem(), mem()];
    const [plain, ahead] = [new Allocator(m1, 64), new Allocator(m2, 64)];
    expect(ahead.prefault(20 * PAGE)).toBe(20 * PAGE);
    expect(m2.buffer.byteLength).toBe(RESERVED + 20 * PAGE);
    expect(m1.buffer.byteLength).toBe(2 * PAGE);
    for (const bytes of [100, 5000, 3 * PAGE]) expect(ahead.alloc(bytes)).toEqual(plain.alloc(bytes));
    expect(new Int32Array(m2.buffer).every((v) => v === 0)).toBe(true);
    // capped at the maximum
    expect(ahead.prefault(1000 * PAGE)).toBe(64 * PAGE - ahead.highWater());
    expect(m2.buffer.byteLength).toBe(64 * PAGE);
  });

  it('a backend created with prefaultBytes computes as usual', () => {
    const be = createWasmBackend({ threads: 1, prefaultBytes: 4 * 2 ** 20 });
    try {
      const a = be.upload(Float32Array.from([1, -2, 3, -4, 5]), 'float32');
      const r = be.unary('relu', a);
      expect(Array.from(be.readSync(r))).toEqual([1, 0, 3, 0, 5]);
    } finally {
      be.dispose();
    }
  });
});
