/**
 * WasmBackend.prefault on a backend with a pool: the last pool worker touches the range in the background (a
 * ThreadPool touch job, ./worker-body.ts), any size, with no thread to start. It maps what was asked, does not
 * count as a worker share, keeps every value, stops at the next threaded dispatch (whose results stay the
 * one-thread ones bit for bit), and BIT_WASM_POOL_TOUCH=0 restores the toucher-thread rule (small ranges grown only).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';

const MiB = 2 ** 20;
const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 2001) - 1000);

describe('wasm prefault on the pool worker', () => {
  afterEach(() => {
    delete process.env.BIT_WASM_POOL_TOUCH;
  });

  it('touches a small range on the last worker, not as a share, and keeps values', async () => {
    const be = createWasmBackend({ threads: 2, minParallelWork: 0 });
    try {
      await be.ready;
      const a = be.upload(ramp(4096), 'float32');
      const h0 = be.heapStats();
      const shares0 = be.syncStats().workerShares;
      const mapped = await be.prefault(2 * MiB);
      expect(mapped).toBeGreaterThan(2 * MiB - 8192);
      expect(mapped).toBeLessThanOrEqual(2 * MiB);
      expect(be.syncStats().workerShares).toBe(shares0);
      expect(be.heapStats().highWater).toBe(h0.highWater);
      expect(Array.from(be.readSync(a))).toEqual(Array.from(ramp(4096)));
      const r = be.readSync(be.unary('relu', a));
      expect(Array.from(r)).toEqual(Array.from(ramp(4096), (v) => (v < 0 ? 0 : v)));
    } finally {
      be.dispose();
    }
  });

  it('a threaded dispatch stops a long touch, and its results are the one-thread ones', async () => {
    const one = createWasmBackend({ threads: 1 });
    const be = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
    try {
      await be.ready;
      const n = 1 << 18;
      const want = one.readSync(
        one.binary('mul', view(one.upload(ramp(n), 'float32'), n), view(one.upload(ramp(n), 'float32'), n), [n]),
      );
      const x = be.upload(ramp(n), 'float32');
      const touched = be.prefault(512 * MiB);
      const got = be.readSync(be.binary('mul', view(x, n), view(x, n), [n]));
      expect(Array.from(got)).toEqual(Array.from(want));
      const mapped = await touched;
      expect(mapped).toBeLessThan(512 * MiB);
      // the worker runs shares again afterwards. On a loaded machine the caller may take over every share of a
      // dispatch whose worker is descheduled, so keep dispatching, yielding between calls, until the worker has
      // run one (bounded: 400 dispatches, ~10 s): a worker still stuck touching would never run any
      const s0 = be.syncStats().workerShares;
      for (let i = 0; i < 400 && be.syncStats().workerShares === s0; i++) {
        be.free(be.unary('relu', x));
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(be.syncStats().workerShares).toBeGreaterThan(s0);
    } finally {
      be.dispose();
      one.dispose();
    }
  });

  it('BIT_WASM_POOL_TOUCH=0: a range under PREFAULT_MIN_BYTES is only grown', async () => {
    process.env.BIT_WASM_POOL_TOUCH = '0';
    const be = createWasmBackend({ threads: 2 });
    try {
      await be.ready;
      const h = be.heapStats();
      expect(await be.prefault(2 * MiB)).toBe(0);
      expect(be.heapStats().heapBytes).toBeGreaterThanOrEqual(h.highWater + 2 * MiB);
    } finally {
      be.dispose();
    }
  });
});

/** A contiguous view of the first `n` elements of `buf`. */
function view(buf: ReturnType<ReturnType<typeof createWasmBackend>['upload']>, n: number) {
  return { buf, offset: 0, shape: [n], strides: [1] };
}
