/**
 * The step governor (src/tensor/backends/wasm/step-governor.ts): (1) its decisions from synthetic step times on a
 * fake clock: a workload starts threaded, the faster mode is kept with probes of the other at a doubling interval, two winning probe steps in a row flip the decision (one lucky step does not), a change in the
 * chosen mode's own step times probes at once, cold steps are skipped, a step that runs far longer than the others
 * stops being solo; (2) a wasm backend told of step ends gives
 * the same bits as the one-thread backend and as one without the step governor, whichever mode each step ran in, and
 * one never told of a step end never runs a step solo; (3) SGD.step tells the parameters' backend once per step.
 * Nothing here depends on the machine's load or timing.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { SGD } from '../../../../src/nn/index.js';
import type { Backend } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend, type WasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { StepGovernor, type StepGovernorOptions } from '../../../../src/tensor/backends/wasm/step-governor.js';
import { clearDefaultBackend, setDefaultBackend } from '../../../../src/tensor/engine.js';
import * as F from '../../../../src/tensor/index.js';
import { convGeom, rng } from './helpers.js';

/** A fake clock driving `g` through steps; `ms(mode, i)` is step i's time in that mode. Returns the modes run. */
function drive(
  g: StepGovernor,
  steps: number,
  ms: (mode: 't' | 's', i: number) => number,
  clock = { t: 0 },
  units = 0,
): string {
  let modes = '';
  for (let i = 0; i < steps; i++) {
    const m = g.mode === 'solo' ? 's' : 't';
    modes += m;
    clock.t += 50; // idle time before the step (data, a bench's pause): not part of the step
    g.begin(clock.t);
    g.begin(clock.t + 1); // later dispatches of the same step do not move its start
    if (units > 0) g.soloNow(clock.t + 1, units); // a threaded dispatch of `units` shares: the step's signature
    clock.t += ms(m, i);
    g.stepEnded(clock.t);
  }
  return modes;
}

const on: StepGovernorOptions = { enabled: true };
const T = (n: number) => 't'.repeat(n);
const S = (n: number) => 's'.repeat(n);

describe('StepGovernor decisions', () => {
  it('starts threaded, keeps threads where they pay, probes solo after 3, 8, 16, 32, 64, 64 steps', () => {
    const g = new StepGovernor(on);
    // the first (cold) step, then 3 threaded steps and a solo probe; threads 10 ms against 12 ms solo (a margin
    // under `shift`: the interval doubles)
    const modes = drive(g, 5 + 8 + 1 + 16 + 1 + 32 + 1 + 64 + 1 + 64 + 1, (m) => (m === 't' ? 10 : 12));
    expect(modes).toBe(`tttts${T(8)}s${T(16)}s${T(32)}s${T(64)}s${T(64)}s`);
    expect(g.decided).toBe('threads');
    expect(g.stats.flips).toBe(0);
    expect(g.stats.probes).toBe(6);
  });

  it('waits maxProbe steps after a probe that lost by more than shift (a quiet machine)', () => {
    const g = new StepGovernor(on);
    // threads 10 ms against 15 ms solo: a 50% margin; only a 25% slowdown of threads could flip it, and that probes
    const modes = drive(g, 5 + 64 + 1 + 64 + 1, (m) => (m === 't' ? 10 : 15));
    expect(modes).toBe(`tttts${T(64)}s${T(64)}s`);
    expect(g.stats.probes).toBe(3);
    expect(g.stats.steps).toBe(modes.length - 1);
    expect(g.stats.coldSteps).toBe(1);
  });

  it('goes solo where threads save less than minGain of the solo step time, probing threads', () => {
    const g = new StepGovernor(on);
    // threads 9.6 ms against 10 ms solo: 4% < 5%; two solo probe steps that each win flip to solo
    expect(drive(g, 6 + 4 + 1 + 8 + 1, (m) => (m === 't' ? 9.6 : 10))).toBe(`ttttss${S(4)}t${S(8)}t`);
    expect(g.decided).toBe('solo');
  });

  it('probes at once when the chosen mode starts losing, and flips after two winning probe steps', () => {
    const g = new StepGovernor({ ...on, firstProbe: 100 });
    const clock = { t: 0 };
    expect(drive(g, 5, (m) => (m === 't' ? 10 : 15), clock)).toBe('tttts'); // threads
    // load arrives: threads 20 ms, solo 15 ms; once the threaded median (10, 20, 20) loses against the 15 ms solo
    // estimate, two solo probe steps that each win flip the decision
    expect(drive(g, 2 + 2 + 3, (m) => (m === 't' ? 20 : 15), clock)).toBe(`ttss${S(3)}`);
    expect(g.decided).toBe('solo');
    expect(g.stats.flips).toBe(1);
  });

  it('flips back to threads after two winning threaded probe steps once the load leaves', () => {
    const g = new StepGovernor(on);
    const clock = { t: 0 };
    expect(drive(g, 6, (m) => (m === 't' ? 20 : 15), clock)).toBe('ttttss'); // solo
    // load leaves: threads 10 ms; the probe after 4 solo steps wins twice: threads, with a solo probe 4 steps later
    expect(drive(g, 4 + 2 + 4 + 1, (m) => (m === 't' ? 10 : 15), clock)).toBe(`${S(4)}tt${T(4)}s`);
    expect(g.decided).toBe('threads');
    expect(g.stats.flips).toBe(2); // to solo, and back
  });

  it('does not flip on one lucky probe step; the interval doubles as the decision holds', () => {
    const g = new StepGovernor(on);
    const clock = { t: 0 };
    expect(drive(g, 5, (m) => (m === 't' ? 10 : 15), clock)).toBe('tttts'); // threads
    let solos = 0;
    // the first solo probe step takes 5 ms (wins), the second 15 ms (loses by 50%): threads stay, next probe after 64
    const modes = drive(g, 64 + 2 + 64 + 1, (m) => (m === 't' ? 10 : solos++ === 0 ? 5 : 15), clock);
    expect(modes).toBe(`${T(64)}ss${T(64)}s`);
    expect(g.decided).toBe('threads');
    expect(g.stats.flips).toBe(0);
  });

  it('probes at once when the chosen mode slows by more than shift, not when it speeds up', () => {
    const g = new StepGovernor({ ...on, firstProbe: 100 });
    const clock = { t: 0 };
    expect(drive(g, 6, (m) => (m === 't' ? 40 : 15), clock)).toBe('ttttss'); // solo
    // solo steps now 10 ms (the JIT warmed up): no probe
    expect(drive(g, 5, (m) => (m === 't' ? 40 : 10), clock)).toBe(S(5));
    // then 20 ms: after 2 of them the median of the last 3 (10, 20, 20) is 33% above 15 ms, the median at the
    // decision (> 25%): a threaded probe step (40 ms: loses), then solo again
    expect(drive(g, 4, (m) => (m === 't' ? 40 : 20), clock)).toBe('ssts');
    expect(g.decided).toBe('solo');
  });

  it('keeps decisions per workload (signature: threaded dispatches and their shares)', () => {
    const g = new StepGovernor(on);
    const clock = { t: 0 };
    expect(drive(g, 5 + 2, (m) => (m === 't' ? 10 : 15), clock)).toBe(`tttts${T(2)}`); // workload A: threads
    // workload B (one dispatch of 5 shares a step) where solo wins: its first step is cold, then its own start
    expect(drive(g, 6 + 2, (m) => (m === 't' ? 30 : 20), clock, 5)).toBe(`ttttss${S(2)}`);
    expect(g.decided).toBe('solo');
    // back to A: its decision holds (no new start); its first step still ran B's mode, a solo probe of A that loses
    expect(drive(g, 3, (m) => (m === 't' ? 10 : 15), clock)).toBe('stt');
    expect(g.decided).toBe('threads');
    expect(g.stats.coldSteps).toBe(2);
  });

  it('skips cold steps (fresh heap) as samples, at most maxCold in a row counting the first', () => {
    let mark = 0;
    const g = new StepGovernor({ ...on, freshMark: () => mark });
    const clock = { t: 0 };
    mark = 1; // the first step: cold anyway
    drive(g, 1, () => 99, clock);
    mark = 2; // the second handed out fresh heap: skipped
    drive(g, 1, () => 99, clock);
    mark = 3; // the third too, but two cold steps in a row were skipped already: a sample
    drive(g, 1, () => 10, clock);
    expect(g.stats.coldSteps).toBe(2);
    expect(g.stats.steps).toBe(1);
    expect(g.mode).toBe('threads'); // one threaded sample so far: the first probe comes after 3
  });

  it('stops running a step solo once it lasts expiry times the larger median (at least minExpiryMs)', () => {
    const g = new StepGovernor({ ...on, expiry: 4, minExpiryMs: 50 });
    const clock = { t: 0 };
    expect(drive(g, 5, (m) => (m === 't' ? 30 : 20), clock)).toBe('tttts');
    expect(g.mode).toBe('solo'); // the second probe step
    g.begin(1000);
    expect(g.soloNow(1000 + 119)).toBe(true); // limit 4 x 30 ms
    expect(g.soloNow(1000 + 121)).toBe(false); // an evaluation pass, or no boundary any more: threads
    g.stepEnded(1000 + 500); // the long step is still a sample of the mode it started in
    expect(g.stats.soloSteps).toBe(2);
  });

  it('is inert when disabled or never told of a step end', () => {
    const off = new StepGovernor({ enabled: false });
    expect(drive(off, 20, (m) => (m === 't' ? 100 : 1))).toBe(T(20));
    expect(off.stats.steps).toBe(0);
    const never = new StepGovernor(on);
    never.begin(0);
    expect(never.soloNow(5)).toBe(false);
    expect(never.mode).toBe('threads');
  });
});

const made: WasmBackend[] = [];
afterAll(() => {
  for (const b of made) b.dispose();
});

/** A few threaded ops (split conv, GEMM in task mode, elementwise) and their results. */
function work(b: Backend): number[][] {
  const r = rng(5);
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
  const vals = outs.map((o) => Array.from(b.readSync(o)));
  for (const o of [x, w, a, ...outs]) b.free(o);
  return vals;
}

describe('wasm backend with the step governor', () => {
  it('gives the one-thread bits, and those of a backend without it, while whole steps run solo', async () => {
    const one = createWasmBackend({ threads: 1 });
    const plain = createWasmBackend({ threads: 2, minParallelWork: 0, stepGovernor: false });
    // minGain 2: threads never pay, so after the first measured steps whole steps run solo, with threaded probes
    const stepped = createWasmBackend({ threads: 2, minParallelWork: 0, stepGovernor: { enabled: true, minGain: 2 } });
    made.push(one, plain, stepped);
    await Promise.all([plain.ready, stepped.ready]);
    const want = work(one);
    expect(work(plain)).toEqual(want);
    for (let i = 0; i < 12; i++) {
      expect(work(stepped)).toEqual(want);
      stepped.stepEnded();
    }
    const s = stepped.syncStats();
    expect(s.steps).toBeGreaterThan(5);
    expect(s.soloSteps).toBeGreaterThan(5);
    expect(s.soloSteps).toBeLessThan(12);
    expect(plain.syncStats().soloSteps).toBe(0);
  });

  it('never runs a step solo without step ends (inference, tests)', async () => {
    const b = createWasmBackend({ threads: 2, minParallelWork: 0, stepGovernor: { enabled: true, minGain: 2 } });
    made.push(b);
    await b.ready;
    for (let i = 0; i < 4; i++) work(b);
    const s = b.syncStats();
    expect(s.steps + s.soloSteps).toBe(0);
    expect(s.calls).toBeGreaterThan(0);
  });
});

describe('SGD.step and the step end', () => {
  it("tells the parameters' backend once per step", () => {
    let ends = 0;
    const spy: Backend = { ...createReferenceBackend(), stepEnded: () => ends++ };
    const prev = setDefaultBackend(spy);
    try {
      const w = F.tensor([1, 2, 3], { requiresGrad: true });
      const v = F.tensor([4, 5], { requiresGrad: true });
      const opt = new SGD([w, v], { lr: 0.1 });
      for (let i = 0; i < 3; i++) {
        w.mul(v.sum()).sum().backward();
        opt.step();
        opt.zeroGrad();
      }
      expect(ends).toBe(3);
      // the first update: w -= 0.1 * sum(v) = 0.9 (the later ones differ: v moved too)
      expect(w.dataSync()[0]).toBeLessThan(0.2);
    } finally {
      if (prev) setDefaultBackend(prev);
      else clearDefaultBackend(spy);
    }
  });
});
