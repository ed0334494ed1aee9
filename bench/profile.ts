/**
 * Per-op profile of one training step (forward, cross-entropy, backward, SGD momentum) on the wasm backend:
 * every Backend method of the instance is wrapped with a timer (wasm ops are synchronous, so a method's wall time
 * is its cost), keyed by primitive and by call site (the primitive plus its geometry, e.g.
 * `conv2d 256->256 3x3/1 @1x1`: one line per distinct layer shape). Besides the primitives it reports:
 * - dispatch: step time minus the time inside backend methods (autograd tape, views, tidy, JS around the kernels);
 * - thread sync: time the calling thread waited for pool workers after finishing its own share (wake-up latency and
 *   load imbalance), from the pool's counters; it is part of the primitives' time, shown separately.
 *
 * - convolution FLOPs: GFLOP/s per conv call site and in all, and with `--ceiling G` (the 128-bit SIMD ceiling
 *   from `npm run bench:ceiling`, GFLOP/s on all cores) the fastest the step could be at that ceiling.
 *
 *   npx tsx bench/profile.ts [--model bit-tiny] [--batch 32] [--px 32] [--steps 5] [--top 25] [--ceiling G] [--json FILE]
 *     [--threads N]   (wasm pool size; default all cores)
 *     [--infer]   (inference instead: the model in eval mode, one forward under noGrad, logits read back; the
 *                  work of `bench/js-peers.ts`'s ours-infer side)
 *
 * Timings are the sum over `steps` steady steps divided by `steps` (the first, building kernels, is not counted).
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Backend, Conv2dGeom } from '../src/tensor/backend.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import type { WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { callSite, timeBackendCalls } from './backend-timer.js';
import { args, opt } from './cli-args.js';
import { convFlops } from './shapes.js';
import { makeInferStep, makeTrainStep } from './step.js';

const model = opt('model', 'bit-tiny');
const batch = Number(opt('batch', '32'));
const px = Number(opt('px', '32'));
const steps = Number(opt('steps', '5'));
const top = Number(opt('top', '25'));

interface Acc {
  ms: number;
  calls: number;
  /** Multiply-add FLOPs (2 per MAC) of the calls, for convolutions and matmuls; 0 otherwise. */
  flops: number;
}

/** FLOPs of one backend call (each conv direction does the forward's MACs), or 0. */
function flopsOf(method: string, a: unknown[]): number {
  if (method.startsWith('conv2d')) return convFlops(a[method === 'conv2dAdd' ? 3 : 2] as Conv2dGeom);
  if (method === 'matmul') {
    const g = a[2] as { batch: number; m: number; n: number; k: number };
    return 2 * g.batch * g.m * g.n * g.k;
  }
  return 0;
}

function instrument(b: Backend, on: { value: boolean }) {
  const byOp = new Map<string, Acc>();
  const bySite = new Map<string, Acc>();
  const add = (m: Map<string, Acc>, k: string, dt: number, flops: number) => {
    const e = m.get(k) ?? { ms: 0, calls: 0, flops: 0 };
    e.ms += dt;
    e.calls++;
    e.flops += flops;
    m.set(k, e);
  };
  timeBackendCalls(
    b,
    (key, a, dt) => {
      const fl = flopsOf(key, a);
      add(byOp, key, dt, fl);
      add(bySite, callSite(key, a), dt, fl);
    },
    () => on.value,
  );
  return { byOp, bySite };
}

async function main() {
  const threads = Number(opt('threads', '0'));
  const b = (await useBackend('wasm', threads > 0 ? { threads } : {})) as WasmBackend;
  await b.ready;
  const on = { value: false };
  const { byOp, bySite } = instrument(b, on);
  const infer = args.includes('--infer');
  const { step, dispose } = infer ? makeInferStep(model, batch, px) : makeTrainStep(model, batch, px);
  let t = performance.now();
  await step();
  const firstMs = performance.now() - t;
  on.value = true;
  // older backends (before the pool's counters) report no waiting
  const syncOf = () => b.syncStats?.() ?? { calls: 0, waitMs: 0, takenOver: 0 };
  const sync0 = syncOf();
  let wall = 0;
  const stepMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    t = performance.now();
    await step();
    const dt = performance.now() - t;
    stepMs.push(dt);
    wall += dt;
  }
  on.value = false;
  const sync1 = syncOf();
  const per = (ms: number) => ms / steps;
  const inBackend = [...byOp.values()].reduce((s, e) => s + e.ms, 0);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  const report = {
    model,
    mode: infer ? 'inference' : 'train',
    batch,
    px,
    steps,
    threads: b.threads,
    load,
    firstMs,
    stepMs: stepMs.map((v) => +v.toFixed(2)),
    meanStepMs: per(wall),
    backendMs: per(inBackend),
    dispatchMs: per(wall - inBackend),
    syncWaitMs: per(sync1.waitMs - sync0.waitMs),
    poolCalls: (sync1.calls - sync0.calls) / steps,
    ops: [...byOp.entries()]
      .map(([k, e]) => ({ op: k, ms: per(e.ms), calls: e.calls / steps }))
      .sort((p, q) => q.ms - p.ms),
    sites: [...bySite.entries()]
      .map(([k, e]) => ({ site: k, ms: per(e.ms), calls: e.calls / steps, gflops: e.flops / e.ms / 1e6 || undefined }))
      .sort((p, q) => q.ms - p.ms),
    conv: (() => {
      const cv = [...byOp.entries()].filter(([k]) => k.startsWith('conv2d') || k === 'matmul');
      const ms = per(cv.reduce((t, [, e]) => t + e.ms, 0));
      const gflop = per(cv.reduce((t, [, e]) => t + e.flops, 0)) / 1e9;
      return { ms, gflop, gflops: gflop / (ms / 1000) };
    })(),
    ceilingGflops: Number(opt('ceiling', '0')) || undefined,
  };
  const pct = (ms: number) => `${((100 * ms) / report.meanStepMs).toFixed(1).padStart(5)}%`;
  console.log(
    `${model} ${infer ? 'inference' : 'training step'} batch ${batch} ${px} px, ${b.threads} threads, load ${load}: step ${report.meanStepMs.toFixed(1)} ms ` +
      `(steps ${report.stepMs.join(', ')}; first ${firstMs.toFixed(0)} ms)`,
  );
  console.log(
    `  in backend ${report.backendMs.toFixed(1)} ms ${pct(report.backendMs)}, dispatch (outside backend) ` +
      `${report.dispatchMs.toFixed(1)} ms ${pct(report.dispatchMs)}, of the backend time waiting for workers ` +
      `${report.syncWaitMs.toFixed(1)} ms ${pct(report.syncWaitMs)} over ${report.poolCalls.toFixed(0)} pool calls`,
  );
  const cv = report.conv;
  const ceil = report.ceilingGflops;
  console.log(
    `  convolutions + matmuls: ${cv.gflop.toFixed(2)} GFLOP per step in ${cv.ms.toFixed(1)} ms ${pct(cv.ms)} = ` +
      `${cv.gflops.toFixed(1)} GFLOP/s` +
      (ceil
        ? `; at the SIMD ceiling (${ceil} GFLOP/s, npm run bench:ceiling) they would take ${((cv.gflop / ceil) * 1000).toFixed(1)} ms, ` +
          `so the step could not beat ${(report.meanStepMs - cv.ms + (cv.gflop / ceil) * 1000).toFixed(1)} ms without fewer FLOPs`
        : ''),
  );
  console.log('per primitive (ms per step, calls per step):');
  for (const o of report.ops.slice(0, top)) {
    console.log(`  ${o.op.padEnd(28)} ${o.ms.toFixed(2).padStart(8)} ${pct(o.ms)} ${String(o.calls).padStart(5)}`);
  }
  console.log('per call site:');
  for (const o of report.sites.slice(0, top)) {
    const gf = o.gflops ? ` ${o.gflops.toFixed(1).padStart(6)} GFLOP/s` : '';
    console.log(
      `  ${o.site.padEnd(44)} ${o.ms.toFixed(2).padStart(8)} ${pct(o.ms)} ${String(o.calls).padStart(5)}${gf}`,
    );
  }
  const out = opt('json', '');
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
  dispose();
}

await main();
process.exit(0);
