/**
 * A roofline estimate, on paper, of one gpujs-webgpu training step on real GPUs (issue 20, point 5). The step's
 * launch sequence is planned exactly by running it on a dry-run gpu.js backend (same op bodies and chunking as
 * webgpu; nothing executes), and every launch gets, from its own loop sizes:
 *   FLOPs  GEMM kernels 2 * cells * k * rb; direct convs 2 * cells * (taps the kernel loops over); other kernels
 *          cells * max(1, loop bound) (one operation per loop step: reductions, norms, pools);
 *   bytes  4 * (output cells + every array argument's length): each operand read once, the floor for a kernel
 *          that caches perfectly.
 * Per launch: time = max(FLOPs / peak, bytes / min(bandwidth, threads x 4 B / latency)) + a fixed dispatch overhead
 * (the occupancy bound: a launch of few threads, e.g. one per GroupNorm row, cannot keep enough loads in flight to
 * reach the bandwidth; Little's law, see LATENCY_S); the step is the sum. Two
 * bounds are printed: at the device's fp32 peak (an unreachable floor for gpu.js's naive one-thread-per-output
 * kernels) and at 10% of it for the GEMM/conv launches (a plausible rate for untiled kernels without shared memory).
 *
 * Usage: tsx bench/gpu-roofline.ts [--configs bit-tiny:2:32,bit-small:2:32,BiT-R50x1:2:32,BiT-R50x1:32:224]
 *        [--reductions two-stage|per-row] [--latency-ns 400] [--save F]
 */

import { writeFileSync } from 'node:fs';
import { createModel } from '../src/models/index.js';
import { crossEntropy, SGD } from '../src/nn/index.js';
import { GpujsBackendImpl } from '../src/tensor/backends/gpujs/backend.js';
import type { Launch } from '../src/tensor/backends/gpujs/op-gen.js';
import * as F from '../src/tensor/index.js';

/** Named devices: fp32 peak (non-tensor-core) and memory bandwidth, from the vendors' data sheets. */
const DEVICES = [
  { name: 'NVIDIA GeForce RTX 4090', tflops: 82.6, gbs: 1008 },
  { name: 'NVIDIA H100 SXM5', tflops: 66.9, gbs: 3350 },
];
/** Per-launch cost beyond the roofline: WebGPU dispatch + uniform write + bind group, on the order of 10 us. */
const OVERHEAD_S = 10e-6;

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
/** GN / WS statistics launch plan: webgpu's default 'two-stage', or 'per-row' (one thread per row) for comparison. */
const reductions = opt('reductions', 'two-stage') as 'two-stage' | 'per-row';
/**
 * Memory latency for the occupancy bound (Little's law): a kernel thread has one load in flight (in-order issue, a
 * load feeding the next add), so a launch of T threads moves at most T x 4 B per latency. An assumption of the order
 * of published GPU global-memory latencies (several hundred cycles at ~2 GHz); --latency-ns changes it.
 */
const LATENCY_S = Number(opt('latency-ns', '400')) * 1e-9;
const configs = opt('configs', 'bit-tiny:2:32,bit-small:2:32,BiT-R50x1:2:32,BiT-R50x1:32:224')
  .split(',')
  .map((c) => {
    const [model, batch, px] = c.split(':');
    return { model: model!, batch: Number(batch), px: Number(px) };
  });

interface Cost {
  flops: number;
  bytes: number;
  heavy: boolean;
  /** Threads of the launch (one per output cell). */
  threads: number;
  /** Kernel family (spec name), for the per-family breakdown. */
  name?: string;
}

function cost(l: Launch): Cost {
  const c = l.spec.constants;
  const cells = l.spec.output;
  let bytes = cells * 4;
  for (const a of l.args) if (typeof a !== 'number') bytes += a.length * 4;
  const name = l.spec.name;
  // Combines that read a known part of an argument: one half of the stage-1 partials (the other half is the other
  // combine's), and for the mean one element of x per row (its shift) besides the partials.
  const arr = (i: number) => (typeof l.args[i] === 'number' ? 0 : (l.args[i] as { length: number }).length);
  if (name === 'norm2.combine' || name === 'groupNorm2.param') bytes = 4 * (cells + arr(0) / 2);
  if (name === 'norm2.mean') bytes = 4 * (2 * cells + arr(0));
  const heavy = (flops: number) => ({ flops, bytes, heavy: true, threads: cells });
  if (name.endsWith('.gemm') || name === 'matmul') return heavy(2 * cells * c.k! * c.rb!);
  if (name === 'conv2d.direct') return heavy(2 * cells * c.cinG! * c.kh! * c.kw!);
  if (name === 'conv2dGradInput.direct') return heavy(2 * cells * c.coutG! * c.nky! * c.nkx!);
  if (name === 'conv2dGradWeight.direct') return heavy(2 * cells * c.N! * c.oh! * c.ow!);
  return { flops: cells * Math.max(1, l.spec.loops ?? 1), bytes, heavy: false, threads: cells };
}

function plan(model: string, batch: number, px: number): Cost[] {
  const costs: Cost[] = [];
  let on = false;
  const b = new GpujsBackendImpl('cpu', {
    dryRun: true,
    reductions,
    trace: (l) => on && costs.push({ ...cost(l), name: l.spec.name }),
  });
  F.setDefaultBackend(b);
  const net = createModel(model, { numClasses: 10, seed: 0, backend: b });
  const sgd = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
  for (let s = 0; s < 2; s++) {
    on = s === 1; // the second step: momentum buffers exist, as in steady state
    F.tidy(() => {
      sgd.zeroGrad();
      const x = F.fromTyped(new Float32Array(batch * 3 * px * px), [batch, 3, px, px]);
      const l = crossEntropy(
        net.forward(x),
        Int32Array.from({ length: batch }, (_, i) => i % 10),
      );
      l.backward();
      sgd.step();
    });
  }
  sgd.dispose();
  net.dispose();
  b.dispose();
  return costs;
}

const rows: Record<string, unknown>[] = [];
for (const { model, batch, px } of configs) {
  const costs = plan(model, batch, px);
  const flops = costs.reduce((s, c) => s + c.flops, 0);
  const bytes = costs.reduce((s, c) => s + c.bytes, 0);
  const row: Record<string, unknown> = {
    model,
    batch,
    px,
    launches: costs.length,
    gflop: +(flops / 1e9).toFixed(3),
    gbytes: +(bytes / 1e9).toFixed(3),
  };
  for (const d of DEVICES) {
    const one = (c: Cost, eff: number) =>
      Math.max(
        c.flops / (d.tflops * 1e12 * (c.heavy ? eff : 1)),
        c.bytes / Math.min(d.gbs * 1e9, (c.threads * 4) / LATENCY_S),
      ) + OVERHEAD_S;
    const at = (eff: number) => costs.reduce((s, c) => s + one(c, eff), 0);
    row[`${d.name} ms (peak)`] = +(at(1) * 1e3).toFixed(2);
    row[`${d.name} ms (10% GEMM)`] = +(at(0.1) * 1e3).toFixed(2);
    if (d === DEVICES[DEVICES.length - 1]) {
      // The kernel families that cost most at 10% GEMM efficiency on the last device: ms, launches.
      const by = new Map<string, [number, number]>();
      for (const c of costs) {
        const e = by.get(c.name!) ?? [0, 0];
        by.set(c.name!, [e[0] + one(c, 0.1) * 1e3, e[1] + 1]);
      }
      const top = [...by.entries()].sort((x, y) => y[1][0] - x[1][0]).slice(0, 6);
      row[`${d.name} top kernels (ms, launches)`] = Object.fromEntries(
        top.map(([k, [ms, n]]) => [k, [+ms.toFixed(2), n]]),
      );
    }
  }
  rows.push(row);
  console.log(JSON.stringify(row));
}
if (args.includes('--save')) {
  const meta = { devices: DEVICES, overhead_s: OVERHEAD_S, latency_s: LATENCY_S, reductions };
  writeFileSync(opt('save', ''), `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
}
