/**
 * WasmBackend.prefault maps heap ahead of use on a thread of its own (Node: a short-lived worker doing one
 * value-preserving Atomics.add per page): it grows the heap, counts free-list bytes as ready, only grows it for a
 * range under PREFAULT_MIN_BYTES, stops once compute starts, and never changes a value, even for a buffer allocated and written inside the range while it runs.
 */

import { describe, expect, it } from 'vitest';
import { host } from '../../../../src/tensor/backends/wasm/host-node.js';
import { createWasmBackend, PREFAULT_MIN_BYTES } from '../../../../src/tensor/backends/wasm/index.js';
import { WA } from '../../../../src/tensor/backends/wasm/wasm-api.js';

const MiB = 2 ** 20;

describe('wasm background prefault', () => {
  it('maps the asked bytes past the high-water mark and leaves allocation and values as they were', async () => {
    const be = createWasmBackend({ threads: 2 });
    try {
      await be.ready;
      const h0 = be.heapStats();
      const mapped = await be.prefault(40 * MiB);
      const h1 = be.heapStats();
      expect(mapped).toBeGreaterThan(39 * MiB);
      expect(mapped).toBeLessThanOrEqual(40 * MiB);
      expect(h1.heapBytes).toBeGreaterThanOrEqual(h0.highWater + mapped);
      expect(h1.highWater).toBe(h0.highWater); // nothing handed out
      const a = be.upload(
        Float32Array.from({ length: 1000 }, (_, i) => i - 500),
        'float32',
      );
      expect(Array.from(be.readSync(be.unary('relu', a))).slice(498, 503)).toEqual([0, 0, 0, 1, 2]);
    } finally {
      be.dispose();
    }
  });

  it('free-list bytes count as ready: a second model on freed memory maps nothing new', async () => {
    const be = createWasmBackend({ threads: 2 });
    try {
      await be.ready;
      const bufs = Array.from({ length: 4 }, () => be.alloc(MiB / 4, 'float32')); // 4 x 1 MiB
      for (const b of bufs) be.free(b);
      expect(be.heapStats().freeBytes).toBeGreaterThanOrEqual(4 * MiB);
      expect(await be.prefault(3 * MiB)).toBe(0);
    } finally {
      be.dispose();
    }
  });

  it('the toucher keeps every value, also those written while it runs, and stops when asked', async () => {
    const mem = new WA.Memory({ initial: 16, maximum: 4096, shared: true });
    mem.grow(4096 - 16); // 256 MiB: long enough to be running while this thread writes
    const words = new Int32Array(mem.buffer);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const end = mem.buffer.byteLength;
    for (let p = 0; p < end; p += 4096) words[p >>> 2] = p; // values before
    const touched = host.touchPagesInBackground(mem, 0, end, stop)!;
    expect(touched).not.toBeNull();
    // meanwhile: rewrite every page's word (a different value) for a while, as an op writing its output would
    const until = Date.now() + 30;
    let round = 0;
    while (Date.now() < until) {
      round++;
      for (let p = 0; p < end; p += 4096) words[p >>> 2] = p + round;
    }
    const reached = await touched;
    expect(reached).toBe(end);
    let same = true;
    for (let p = 0; p < end; p += 4096) if (words[p >>> 2] !== p + round) same = false;
    expect(same).toBe(true);
    // a set stop word ends it at once
    Atomics.store(stop, 0, 1);
    expect(await host.touchPagesInBackground(mem, 0, end, stop)!).toBe(0);
  });

  it('a one-thread backend prefaults too; a range under PREFAULT_MIN_BYTES is only grown', async () => {
    const be = createWasmBackend({ threads: 1 });
    try {
      expect(await be.prefault(PREFAULT_MIN_BYTES + MiB)).toBeGreaterThan(PREFAULT_MIN_BYTES);
      const h = be.heapStats();
      expect(await be.prefault(2 * MiB)).toBe(0);
      expect(be.heapStats().heapBytes).toBeGreaterThanOrEqual(h.highWater + 2 * MiB);
    } finally {
      be.dispose();
    }
  });
});
