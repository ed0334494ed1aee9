/**
 * gpu.js backend kernel benchmarks: SGEMM 512/1024, conv2d forward / gradInput / gradWeight on BiT-R50 stage shapes
 * (batch 8, 128 px input), GroupNorm and weight standardization forward/backward, per mode (webasm, cpu, webgpu).
 * Each row reports the first call (kernel build + run) apart from the steady time (mean of later calls).
 * Run: `npx tsx bench/gpujs-kernels.ts [--quick] [--modes webasm,cpu] [--only conv]`. Data is seeded (xorshift 1).
 */

import os from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Conv2dGeom } from '../src/tensor/backend.js';
import { createGpujsBackend, type GpujsBackend } from '../src/tensor/backends/gpujs/index.js';
import type { BenchRow } from './shapes.js';

/** One benchmark result row (torch columns are filled by bench/run.ts). */
export type Row = BenchRow;

interface Case {
  bench: string;
  shape: string;
  flops: number;
  /** Uploads inputs, returns the op to time (which returns the buffers to read back and free). */
  setup: (b: GpujsBackend) => () => ReturnType<GpujsBackend['alloc']>[];
}

function data(n: number, seed = 1): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function conv(n: number, cin: number, h: number, cout: number, k: number, stride: number): Conv2dGeom {
  const pad = (k - 1) / 2;
  const o = Math.floor((h + 2 * pad - k) / stride) + 1;
  return { n, cin, h, w: h, cout, kh: k, kw: k, stride, pad, groups: 1, oh: o, ow: o };
}

function cases(quick: boolean): Case[] {
  const n = quick ? 2 : 8;
  const px = quick ? 64 : 128;
  const s = px / 128;
  // BiT-R50 (ResNet-v2) at 128 px: root 7x7/2 -> 64x64, pool -> 32x32, stages at 32, 16, 8, 4.
  const convs: [string, Conv2dGeom][] = [
    ['root 7x7/2', conv(n, 3, px, 64, 7, 2)],
    ['s1 1x1 256->64', conv(n, 256, 32 * s, 64, 1, 1)],
    ['s1 3x3 64', conv(n, 64, 32 * s, 64, 3, 1)],
    ['s2 3x3/2 128', conv(n, 128, 32 * s, 128, 3, 2)],
    ['s2 1x1/2 proj 256->512', conv(n, 256, 32 * s, 512, 1, 2)],
    ['s3 3x3 256', conv(n, 256, 8 * s, 256, 3, 1)],
    ['s4 1x1 512->2048', conv(n, 512, 4 * s, 2048, 1, 1)],
  ];
  const out: Case[] = [];
  for (const m of quick ? [256, 512] : [512, 1024]) {
    out.push({
      bench: 'sgemm',
      shape: `${m}x${m}x${m}`,
      flops: 2 * m ** 3,
      setup: (b) => {
        const a = b.upload(data(m * m), 'float32');
        const c = b.upload(data(m * m, 2), 'float32');
        return () => [b.matmul(a, c, { batch: 1, m, k: m, n: m, transA: false, transB: false })];
      },
    });
  }
  for (const [name, g] of convs) {
    const flops = 2 * g.n * g.cout * g.oh * g.ow * g.cin * g.kh * g.kw;
    const shape = `${name} x[${g.n},${g.cin},${g.h},${g.w}] w[${g.cout},${g.cin},${g.kh},${g.kw}]`;
    const inputs = (b: GpujsBackend) => ({
      x: b.upload(data(g.n * g.cin * g.h * g.w), 'float32'),
      w: b.upload(data(g.cout * g.cin * g.kh * g.kw, 3), 'float32'),
      dy: b.upload(data(g.n * g.cout * g.oh * g.ow, 4), 'float32'),
    });
    out.push({ bench: 'conv2d.fwd', shape, flops, setup: (b) => ((i) => () => [b.conv2d(i.x, i.w, g)])(inputs(b)) });
    out.push({
      bench: 'conv2d.gradInput',
      shape,
      flops,
      setup: (b) => ((i) => () => [b.conv2dGradInput(i.dy, i.w, g)])(inputs(b)),
    });
    out.push({
      bench: 'conv2d.gradWeight',
      shape,
      flops,
      setup: (b) => ((i) => () => [b.conv2dGradWeight(i.x, i.dy, g)])(inputs(b)),
    });
  }
  // GroupNorm (32 groups) on the stage-1 output; WS on the stage-3 3x3 weight.
  const gg = { n, c: 256, hw: (32 * s) ** 2, groups: 32, eps: 1e-5 };
  const gsize = gg.n * gg.c * gg.hw;
  out.push({
    bench: 'groupNorm.fwd',
    shape: `x[${gg.n},${gg.c},${gg.hw}] G=32`,
    flops: 8 * gsize,
    setup: (b) => {
      const x = b.upload(data(gsize), 'float32');
      const ga = b.upload(data(gg.c, 5), 'float32');
      const be = b.upload(data(gg.c, 6), 'float32');
      return () => Object.values(b.groupNorm(x, ga, be, gg));
    },
  });
  out.push({
    bench: 'groupNorm.bwd',
    shape: `x[${gg.n},${gg.c},${gg.hw}] G=32`,
    flops: 16 * gsize,
    setup: (b) => {
      const x = b.upload(data(gsize), 'float32');
      const ga = b.upload(data(gg.c, 5), 'float32');
      const f = b.groupNorm(x, ga, b.upload(data(gg.c, 6), 'float32'), gg);
      const dy = b.upload(data(gsize, 7), 'float32');
      return () => Object.values(b.groupNormBackward(dy, x, ga, f.mean, f.rstd, gg));
    },
  });
  const [o, fanIn] = [256, 256 * 9];
  out.push({
    bench: 'ws.fwd',
    shape: `w[${o},${fanIn}]`,
    flops: 6 * o * fanIn,
    setup: (b) => {
      const w = b.upload(data(o * fanIn), 'float32');
      return () => Object.values(b.weightStandardize(w, o, fanIn, 1e-10));
    },
  });
  out.push({
    bench: 'ws.bwd',
    shape: `w[${o},${fanIn}]`,
    flops: 10 * o * fanIn,
    setup: (b) => {
      const w = b.upload(data(o * fanIn), 'float32');
      const f = b.weightStandardize(w, o, fanIn, 1e-10);
      const dy = b.upload(data(o * fanIn, 2), 'float32');
      return () => [b.weightStandardizeBackward(dy, w, f.mean, f.rstd, o, fanIn)];
    },
  });
  return out;
}

/** Time one case: first call (build + run) and the mean of up to `reps` later calls (fewer when slow). */
async function time(b: GpujsBackend, c: Case, reps: number): Promise<{ first: number; ms: number }> {
  const op = c.setup(b);
  const run = async () => {
    const t0 = performance.now();
    const outs = op();
    for (const o of outs) await b.read(o); // webgpu: wait for the result
    const dt = performance.now() - t0;
    for (const o of outs) b.free(o);
    return dt;
  };
  const first = await run();
  const n = first > 5000 ? 1 : reps;
  let total = 0;
  for (let i = 0; i < n; i++) total += await run();
  return { first, ms: total / n };
}

/** Run the gpu.js benchmarks. `only` filters benches by substring; `modes` defaults to webasm. */
export async function runGpujsBench(opts: { only?: string; modes?: string[]; quick?: boolean } = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for (const mode of opts.modes ?? ['webasm']) {
    let b: GpujsBackend;
    try {
      b = await createGpujsBackend(mode as 'webasm' | 'cpu' | 'webgpu');
    } catch (err) {
      console.error(`skip ${mode}: ${(err as Error).message}`);
      continue;
    }
    for (const c of cases(opts.quick ?? false)) {
      if (opts.only && !`${c.bench} ${c.shape}`.includes(opts.only)) continue;
      const { first, ms } = await time(b, c, 2);
      const row: Row = {
        bench: c.bench,
        backend: b.name,
        shape: c.shape,
        first_ms: Math.round(first * 10) / 10,
        ms: Math.round(ms * 10) / 10,
        gflops: Math.round((c.flops / (ms * 1e6)) * 1000) / 1000,
        torch_ms: null,
        ratio_to_torch: null,
      };
      rows.push(row);
      console.error(`${row.backend} ${row.bench} ${row.shape}: first ${row.first_ms} ms, ${row.ms} ms`);
    }
    const builds = b.stats().sort((x, y) => y.buildMs - x.buildMs);
    const total = builds.reduce((t, k) => t + k.buildMs, 0);
    console.error(`${b.name}: ${builds.length} kernels built, ${total.toFixed(0)} ms in first calls; slowest:`);
    for (const k of builds.slice(0, 8))
      console.error(`  ${k.name} first call ${k.buildMs.toFixed(1)} ms, ${k.calls} later calls`);
    b.dispose();
  }
  return rows;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const modes = arg('--modes')?.split(',');
  console.log(
    `machine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
      `node ${process.version}, ${os.platform()} ${os.arch()}; gpu.js 2.24.1 sync mode; seed 1; quick=${quick}`,
  );
  const rows = await runGpujsBench({ only: arg('--only'), modes, quick });
  console.table(rows.map(({ torch_ms: _t, ratio_to_torch: _r, ...r }) => r));
}
