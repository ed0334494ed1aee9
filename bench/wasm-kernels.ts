/**
 * Benchmarks of the wasm backend's hot kernels: SGEMM 512^3 / 1024^3, conv2d forward / grad-input / grad-weight
 * on every BiT-R50 shape of ./shapes.ts (batch 8, 128 px input), GroupNorm and Weight Standardization forward +
 * backward. Each row reports the first call (module tier-up, memory growth, worker start) separately from the
 * steady time (median of the repetitions) and the median process CPU time per call (all threads; on a shared,
 * oversubscribed machine wall time swings a lot while CPU time per call stays comparable). Inputs come from a fixed-seed PRNG (seed 1). For norm rows the `gflops` column is
 * element throughput (Gelem/s).
 *
 * Run directly: `npx tsx bench/wasm-kernels.ts [only-substring]` prints machine info and a table for several
 * configurations (relaxed SIMD on/off, 1 and 2 threads for sgemm 1024). `runWasmBench` is the library entry.
 */

import os from 'node:os';
import type { Backend, BackendBuffer } from '../src/tensor/backend.js';
import { createWasmBackend } from '../src/tensor/backends/wasm/index.js';
import { relaxedSimdAvailable } from '../src/tensor/backends/wasm/kernels.js';
import { type BenchRow, CONV_SHAPES, convFlops } from './shapes.js';

export interface Row extends BenchRow {
  /** Median process CPU time (all threads) per call: steadier than wall time on a shared machine. */
  cpu_ms: number;
}

export interface WasmBenchOptions {
  /** Only benches whose name contains this substring. */
  only?: string;
  threads?: number;
  relaxedSimd?: boolean | 'auto';
  /** Steady-state repetitions (default 5). */
  reps?: number;
}

/** n floats in [-1, 1) from a fixed-seed LCG (the benches' inputs). */
export function fill(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a / 2 ** 31 - 1;
  }
  return out;
}

interface Timing {
  first: number;
  ms: number;
  cpu: number;
}

function timeIt(reps: number, fn: () => BackendBuffer[], be: Backend): Timing {
  const run = () => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const outs = fn();
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    for (const o of outs) be.free(o);
    return { t, cpu: (c.user + c.system) / 1000 };
  };
  const first = run().t;
  const runs = Array.from({ length: reps }, run);
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { first, ms: med(runs.map((r) => r.t)), cpu: med(runs.map((r) => r.cpu)) };
}

/** Run the wasm kernel benches on one backend configuration. */
export async function runWasmBench(opts: WasmBenchOptions = {}): Promise<Row[]> {
  const be = createWasmBackend({ threads: opts.threads, relaxedSimd: opts.relaxedSimd ?? 'auto' });
  const threads = opts.threads ?? os.availableParallelism();
  const label = `wasm(t${threads}${be.relaxed ? ',relaxed' : ''})`;
  const reps = opts.reps ?? 5;
  const rows: Row[] = [];
  const want = (name: string) => !opts.only || name.includes(opts.only);
  const add = (bench: string, shape: string, t: Timing, work: number) =>
    rows.push({
      bench,
      backend: label,
      shape,
      first_ms: +t.first.toFixed(2),
      ms: +t.ms.toFixed(3),
      cpu_ms: +t.cpu.toFixed(2),
      gflops: +(work / t.ms / 1e6).toFixed(2),
      torch_ms: null,
      ratio_to_torch: null,
    });
  const up = (n: number, seed: number) => be.upload(fill(n, seed), 'float32');
  try {
    for (const n of [512, 1024]) {
      if (!want(`sgemm ${n}`)) continue;
      const a = up(n * n, 1);
      const b = up(n * n, 2);
      const g = { batch: 1, m: n, k: n, n, transA: false, transB: false };
      add(
        `sgemm ${n}`,
        `${n}x${n}x${n}`,
        timeIt(reps, () => [be.matmul(a, b, g)], be),
        2 * n ** 3,
      );
      be.free(a);
      be.free(b);
    }
    for (const { name, g: geom } of CONV_SHAPES) {
      const c = { name, cin: geom.cin, cout: geom.cout, hw: geom.h, k: geom.kh, stride: geom.stride, pad: geom.pad };
      const oh = geom.oh;
      const flops = convFlops(geom);
      const shape = `n8 ${c.cin}->${c.cout} ${c.hw}px k${c.k} s${c.stride} -> ${oh}px`;
      if (![' fwd', ' gradInput', ' gradWeight'].some((s) => want(`conv ${c.name}${s}`))) continue;
      const x = up(8 * c.cin * c.hw * c.hw, 3);
      const w = up(c.cout * c.cin * c.k * c.k, 4);
      const dy = up(8 * c.cout * oh * oh, 5);
      if (want(`conv ${c.name} fwd`))
        add(
          `conv ${c.name} fwd`,
          shape,
          timeIt(reps, () => [be.conv2d(x, w, geom)], be),
          flops,
        );
      if (want(`conv ${c.name} gradInput`)) {
        add(
          `conv ${c.name} gradInput`,
          shape,
          timeIt(reps, () => [be.conv2dGradInput(dy, w, geom)], be),
          flops,
        );
      }
      if (want(`conv ${c.name} gradWeight`)) {
        add(
          `conv ${c.name} gradWeight`,
          shape,
          timeIt(reps, () => [be.conv2dGradWeight(x, dy, geom)], be),
          flops,
        );
      }
      for (const b of [x, w, dy]) be.free(b);
    }
    if (want('groupnorm')) {
      const gn = { n: 8, c: 256, hw: 32 * 32, groups: 32, eps: 1e-5 };
      const size = gn.n * gn.c * gn.hw;
      const [x, gamma, beta, dy] = [up(size, 6), up(gn.c, 7), up(gn.c, 8), up(size, 9)];
      const fwd = () => {
        const r = be.groupNorm(x, gamma, beta, gn);
        return [r.y, r.mean, r.rstd];
      };
      add('groupnorm fwd', 'n8 c256 32x32 g32 (Gelem/s)', timeIt(reps, fwd, be), size);
      const { y, mean, rstd } = be.groupNorm(x, gamma, beta, gn);
      const bwd = () => {
        const r = be.groupNormBackward(dy, x, gamma, mean, rstd, gn);
        return [r.dx, r.dgamma, r.dbeta];
      };
      add('groupnorm bwd', 'n8 c256 32x32 g32 (Gelem/s)', timeIt(reps, bwd, be), size);
      for (const b of [x, gamma, beta, dy, y, mean, rstd]) be.free(b);
    }
    if (want('ws')) {
      const [o, fanIn] = [512, 512 * 9];
      const [w, dy] = [up(o * fanIn, 10), up(o * fanIn, 11)];
      const fwd = () => {
        const r = be.weightStandardize(w, o, fanIn, 1e-10);
        return [r.y, r.mean, r.rstd];
      };
      add('ws fwd', '512x4608 (Gelem/s)', timeIt(reps, fwd, be), o * fanIn);
      const { y, mean, rstd } = be.weightStandardize(w, o, fanIn, 1e-10);
      add(
        'ws bwd',
        '512x4608 (Gelem/s)',
        timeIt(reps, () => [be.weightStandardizeBackward(dy, w, mean, rstd, o, fanIn)], be),
        o * fanIn,
      );
      for (const b of [w, dy, y, mean, rstd]) be.free(b);
    }
  } finally {
    be.dispose();
  }
  return rows;
}

async function main(): Promise<void> {
  const only = process.argv[2];
  const relaxedOk = relaxedSimdAvailable();
  console.log(
    `machine: ${os.cpus()[0]?.model} | cores ${os.availableParallelism()} | node ${process.version} | ` +
      `relaxed simd available: ${relaxedOk} | load avg ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} | seed 1`,
  );
  const rows: Row[] = [];
  for (const threads of [1, 2]) {
    rows.push(...(await runWasmBench({ only: only ?? 'sgemm 1024', threads, relaxedSimd: false })));
    if (relaxedOk) rows.push(...(await runWasmBench({ only: only ?? 'sgemm 1024', threads, relaxedSimd: true })));
  }
  if (!only) {
    rows.push(...(await runWasmBench({ threads: 2, relaxedSimd: false })));
    if (relaxedOk) rows.push(...(await runWasmBench({ threads: 2, relaxedSimd: true })));
  }
  console.table(rows.map(({ torch_ms, ratio_to_torch, ...r }) => r));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
