/**
 * The pool's contention governor (src/tensor/backends/wasm/pool-governor.ts): (1) its decisions from synthetic
 * timings: a window where threads saved too little starts a back-off during which every dispatch runs solo, the
 * back-off doubles while probes keep failing, stays bounded, and resets once threads pay; (2) a backend whose
 * governor has gone solo gives bit for bit the one-thread results for the split ops and the task-mode GEMM, and
 * reports the solo dispatches; (3) the per-call mode: per key it measures both modes, keeps the faster, re-measures
 * the other at a doubling interval, flips when the times flip, and a backend in that mode gives the one-thread
 * results bit for bit whichever mode each dispatch ran in. Nothing here depends on the machine's load or timing.
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../../src/tensor/backend.js';
import {
  createWasmBackend,
  type WasmBackend,
  type WasmBackendOptions,
} from '../../../../src/tensor/backends/wasm/index.js';
import { type GovernorOptions, PoolGovernor } from '../../../../src/tensor/backends/wasm/pool-governor.js';
import { convGeom, rng } from './helpers.js';

describe('PoolGovernor decisions', () => {
  // warmup off: these windows decide from the first one on (the warm-up rules have tests of their own below)
  const opts = {
    windowCalls: 4,
    minGain: 0.05,
    minBackoffMs: 10,
    maxBackoffMs: 40,
    mode: 'window' as const,
    warmup: false,
  };
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

describe('PoolGovernor warm-up windows', () => {
  const opts = { windowCalls: 4, minGain: 0.05, minBackoffMs: 10, maxBackoffMs: 40, mode: 'window' as const };
  const window = (g: PoolGovernor, actual: number, own: number, now: number) => {
    for (let i = 0; i < 4; i++) g.record(actual, own, 0.5, now);
  };

  it('voids the first window after the pool starts, then decides', () => {
    const g = new PoolGovernor(true, { ...opts, warmup: true });
    window(g, 12, 5, 100); // cold: threads look slower than alone, no back-off
    expect(g.solo(101)).toBe(false);
    expect(g.stats).toEqual({ backoffs: 0, soloCalls: 0, voidWindows: 1 });
    window(g, 12, 5, 110); // warm: backs off
    expect(g.solo(111)).toBe(true);
    expect(g.stats.backoffs).toBe(1);
  });

  it('voids windows that handed out fresh heap, at most maxVoidWindows in a row', () => {
    let top = 0;
    const g = new PoolGovernor(true, { ...opts, warmup: true, maxVoidWindows: 2, freshMark: () => top });
    window(g, 12, 5, 100); // pool start
    top = 4096;
    window(g, 12, 5, 101); // fresh heap
    expect(g.solo(102)).toBe(false);
    expect(g.stats.voidWindows).toBe(2);
    top = 8192;
    window(g, 12, 5, 103); // still fresh, but two voided in a row already: this one decides
    expect(g.solo(104)).toBe(true);
    expect(g.stats.backoffs).toBe(1);
    expect(g.stats.voidWindows).toBe(2);
  });

  it('voids a window containing an idle gap longer than idleGapMs', () => {
    const g = new PoolGovernor(true, { ...opts, warmup: true, idleGapMs: 50 });
    window(g, 6, 5, 100); // pool start (void)
    window(g, 6, 5, 120); // 20 ms gaps: warm, pays
    g.record(12, 5, 0.5, 300); // 300 - 12 - 120 = 168 ms idle before it: cold
    window(g, 12, 5, 301); // closes the cold window (4 dispatches) and leaves one open
    expect(g.solo(302)).toBe(false);
    expect(g.stats.voidWindows).toBe(2);
    window(g, 12, 5, 310); // warm again: backs off
    expect(g.solo(311)).toBe(true);
  });

  it('BIT_POOL_WARMUP semantics: warmup false decides on the first window', () => {
    const g = new PoolGovernor(true, { ...opts, warmup: false });
    window(g, 12, 5, 100);
    expect(g.solo(101)).toBe(true);
    expect(g.stats.voidWindows).toBe(0);
  });
});

describe('PoolGovernor per-call decisions', () => {
  /** The modes of the next `n` calls of `key`, each fed back with the given times ('t' threaded, 's' solo). */
  const calls = (g: PoolGovernor, key: string, n: number, thrMs: number, soloMs: number) => {
    let modes = '';
    for (let i = 0; i < n; i++) {
      const solo = g.solo(0, key);
      modes += solo ? 's' : 't';
      if (solo) g.recordSolo(key, soloMs);
      else g.record(thrMs, 0, 0.5, 0, key);
    }
    return modes;
  };

  it('measures both modes, keeps the faster per key, re-measures the other at a doubling interval', () => {
    const g = new PoolGovernor(true, { mode: 'per-call', minGain: 0.05 });
    expect(g.perCall).toBe(true);
    // threads 10 ms, solo 5 ms: call 1 threaded, call 2 solo (then solo: probes every 8, 16, 32 calls)
    const modes = calls(g, 'conv', 40, 10, 5);
    expect(modes).toBe(`t${'s'.repeat(8)}t${'s'.repeat(7)}t${'s'.repeat(15)}t${'s'.repeat(6)}`);
    // another key where threads pay stays threaded, with a solo probe at call 8
    expect(calls(g, 'gemm', 10, 3, 5)).toBe('tstttttstt');
    expect(g.stats.backoffs).toBe(1);
  });

  it('flips back to threads once the threaded time falls under the solo time', () => {
    const g = new PoolGovernor(true, { mode: 'per-call', minGain: 0.05 });
    calls(g, 'k', 6, 10, 5); // solo now; the next threaded probe is at call 10
    // threads now take 1 ms: probe at call 10 (average 10 -> 5.5, still over 95% of 5), at call 18 (3.25): flip
    expect(calls(g, 'k', 12, 1, 5)).toBe('ssstssssssst');
    // threaded from then on, with a solo probe 8 calls after the flip
    expect(calls(g, 'k', 9, 1, 5)).toBe(`${'t'.repeat(7)}st`);
  });

  it("is off with mode 'off' or enabled false", () => {
    for (const g of [new PoolGovernor(true, { mode: 'off' }), new PoolGovernor(false, { mode: 'per-call' })]) {
      expect(calls(g, 'k', 10, 100, 1)).toBe('t'.repeat(10));
      expect(g.perCall).toBe(false);
    }
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

/** The one-thread results of work() and a started 2-thread backend (every op through the pool) with `governor`. */
async function oneAndTwo(
  governor: GovernorOptions,
  extra: WasmBackendOptions = {},
): Promise<{ want: number[][]; two: WasmBackend }> {
  const one = createWasmBackend({ threads: 1 });
  made.push(one);
  const want = work(one);
  const two = createWasmBackend({ ...extra, threads: 2, minParallelWork: 0, adaptiveThreads: governor });
  made.push(two);
  await two.ready;
  return { want, two };
}

describe('wasm backend with its governor gone solo', () => {
  it('gives the one-thread results bit for bit and counts the solo dispatches', async () => {
    // minGain 2: threads never pay (they would have to save twice the solo time), so after the first window of one dispatch every dispatch runs solo
    // gemmInPlaceMaxN 0: the first threaded dispatch packs A (a run() whose first share the calling thread always
    // runs itself, so the window records it); with A read in place it would be the GEMM's runTasks, where a started
    // worker may take every task, which the window does not count (no own share), so `calls` could reach 2
    const { want, two } = await oneAndTwo(
      { windowCalls: 1, minGain: 2, minBackoffMs: 1e9, maxBackoffMs: 1e9, mode: 'window', warmup: false },
      { gemmInPlaceMaxN: 0 },
    );
    const got = work(two);
    expect(got).toEqual(want);
    const s = two.syncStats();
    expect(s.backoffs).toBe(1);
    expect(s.soloCalls).toBeGreaterThan(3);
    expect(s.calls).toBe(1);
  });
});

describe('wasm backend with the per-call governor', () => {
  it('gives the one-thread results bit for bit while dispatches switch between threaded and solo', async () => {
    // minGain 2: threads never pay, so each key runs threaded once, then solo with threaded probes
    const { want, two } = await oneAndTwo({ mode: 'per-call', minGain: 2 });
    for (let i = 0; i < 10; i++) expect(work(two)).toEqual(want);
    const s = two.syncStats();
    expect(s.soloCalls).toBeGreaterThan(s.calls);
    expect(s.calls).toBeGreaterThan(3);
  });
});
