/**
 * The pool's contention governor (src/tensor/backends/wasm/pool-governor.ts): (1) its decisions from synthetic
 * timings: a window where threads saved too little starts a back-off during which every dispatch runs solo, the
 * back-off doubles while probes keep failing, stays bounded, and resets once threads pay; (2) a backend whose
 * governor has gone solo gives bit for bit the one-thread results for the split ops and the task-mode GEMM, and
 * reports the solo dispatches. Nothing here depends on the machine's load or timing.
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { PoolGovernor } from '../../../../src/tensor/backends/wasm/pool-governor.js';
import { convGeom, rng } from './helpers.js';

describe('PoolGovernor decisions', () => {
  const opts = { windowCalls: 4, minGain: 0.05, minBackoffMs: 10, maxBackoffMs: 40 };
  /** One window of 4 dispatches, each `actual` ms against `own` ms of own work on half of the work. */
  const window = (g: PoolGovernor, actual: number, own: number, now: number) => {
    for (let i = 0; i < 4; i++) g.record(actual, own, 0.5, now);
  };

  it('keeps threads on while they save more than minGain of the solo time', () => {
    const g = new PoolGovernor(true, opts);
    window(g, 6, 5, 0); // solo estimate 10 ms, threads 6 ms
    expect(g.solo(1)).toBe(false);
    expect(g.stats.backoffs).toBe(0);
  });

  it('backs off for minBackoffMs, doubles per failed probe up to maxBackoffMs, resets when threads pay', () => {
    const g = new PoolGovernor(true, opts);
    window(g, 12, 5, 100); // threads 12 ms against 10 ms alone: back off 10 ms
    expect(g.solo(105)).toBe(true);
    expect(g.solo(110)).toBe(false);
    window(g, 12, 5, 110); // failed probe: 20 ms
    expect(g.solo(129)).toBe(true);
    expect(g.solo(130)).toBe(false);
    window(g, 12, 5, 130); // 40 ms
    window(g, 12, 5, 170); // still 40 ms (bounded)
    expect(g.solo(209)).toBe(true);
    expect(g.solo(210)).toBe(false);
    window(g, 6, 5, 210); // threads pay again: the next back-off starts from minBackoffMs
    window(g, 12, 5, 300);
    expect(g.solo(309)).toBe(true);
    expect(g.solo(310)).toBe(false);
    expect(g.stats.backoffs).toBe(5);
    expect(g.stats.soloCalls).toBe(4);
  });

  it('counts a saving just under minGain as not paying, and a disabled governor never goes solo', () => {
    const g = new PoolGovernor(true, opts);
    window(g, 9.6, 5, 0); // 4% saved < 5%
    expect(g.solo(1)).toBe(true);
    const off = new PoolGovernor(false, opts);
    window(off, 100, 5, 0);
    expect(off.solo(1)).toBe(false);
    expect(off.stats.backoffs).toBe(0);
  });
});

const made: WasmBackend[] = [];
afterAll(() => {
  for (const b of made) b.dispose();
});

function work(b: Backend): number[][] {
  const r = rng(11);
  const g = convGeom({ n: 2, cin: 8, h: 10, w: 10, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 });
  const x = b.upload(Float32Array.from(r(g.n * g.cin * g.h * g.w)), 'float32');
  const w = b.upload(Float32Array.from(r(g.cout * g.cin * 9)), 'float32');
  const a = b.upload(Float32Array.from(r(96 * 130)), 'float32');
  const y = b.conv2d(x, w, g);
  const outs = [
    y,
    b.conv2dGradWeight(x, y, g),
    b.conv2dGradInput(y, w, g),
    b.unary('relu', y),
    b.matmul(a, a, { batch: 1, m: 96, k: 130, n: 96, transA: false, transB: true }),
  ];
  return outs.map((o) => Array.from(b.readSync(o)));
}

describe('wasm backend with its governor gone solo', () => {
  it('gives the one-thread results bit for bit and counts the solo dispatches', async () => {
    const one = createWasmBackend({ threads: 1 });
    made.push(one);
    const want = work(one);
    // minGain 2: threads never pay (they would have to save twice the solo time), so after the first window of one dispatch every dispatch runs solo
    const two = createWasmBackend({
      threads: 2,
      minParallelWork: 0,
      adaptiveThreads: { windowCalls: 1, minGain: 2, minBackoffMs: 1e9, maxBackoffMs: 1e9 },
      // pack A first (a `run` dispatch, which the governor records): with A read in place the first threaded
      // dispatch would be the GEMM's `runTasks`, which wakes the worker but is not recorded, so `calls` would be 2
      gemmInPlaceMaxN: 0,
    });
    made.push(two);
    await two.ready;
    const got = work(two);
    expect(got).toEqual(want);
    const s = two.syncStats();
    expect(s.backoffs).toBe(1);
    expect(s.soloCalls).toBeGreaterThan(3);
    expect(s.calls).toBe(1);
  });
});
