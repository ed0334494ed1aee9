/**
 * In-process A/B of the wasm GEMM levers on conv shapes: two backends that differ only in the options under test
 * (`--lever env --env BIT_X=0,...`: side A created and called under those env vars; `--lever inplace`:
 * `gemmInPlaceMaxN` 0 = pack A per call vs the default in-place limit; `--lever packrows`: `gemmPackRows` false vs
 * true; `--lever all`: both off vs defaults), the same inputs, alternating
 * rounds (A B, B A, A B, ...). Per shape and direction (fwd / gradInput / gradWeight) it prints each side's median
 * GFLOP/s, the median of the paired time ratios A/B (> 1: B faster) and B's share of the SIMD ceiling, and checks
 * that both sides return the same bits (the levers change no summation order). With one thread the times are
 * process CPU time (steadier than wall time while other processes load the machine), else wall time.
 *
 *   npx tsx bench/gemm-ab.ts [--lever inplace|packrows|all|env] [--env K=V,...] [--threads 1] [--rounds 7]
 *     [--set r50|r50i|r50-32|small|all] [--dirs fwd,gradInput,gradWeight] [--ceiling GFLOPS] [--only substring]
 *     [--json FILE]
 * The ceiling (1 thread) comes from `npm run bench:ceiling`; pass it to get the % column.
 */

import * as fs from 'node:fs';
import os from 'node:os';
import type { Conv2dGeom } from '../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { opt } from './cli-args.js';
import { convDirections, sameBits, uploadConvInputs } from './conv-ab.js';
import { CONV_SHAPES, CONV_SHAPES_32, convFlops, convGeom } from './shapes.js';

const threads = Number(opt('threads', '1'));
const rounds = Number(opt('rounds', '7'));
const set = opt('set', 'all');
const ceiling = Number(opt('ceiling', '0'));
const only = opt('only', '');

/** The narrow-N convs of the small CPU models (bit-tiny / bit-small at 32 px: stages at 8, 4, 2, 1 px). */
const SMALL_SHAPES: { name: string; g: Conv2dGeom }[] = [
  { name: 'tiny b32 s2 1x1 64->32 @4', g: convGeom(32, 64, 4, 32, 1, 1, 0) },
  { name: 'tiny b32 s3 1x1 128->64 @2', g: convGeom(32, 128, 2, 64, 1, 1, 0) },
  { name: 'tiny b32 s3 3x3 64->64 @2', g: convGeom(32, 64, 2, 64, 3, 1, 1) },
  { name: 'tiny b32 s4 1x1 128->512 @1', g: convGeom(32, 128, 1, 512, 1, 1, 0) },
  { name: 'tiny b32 s4 1x1 256->128 @1', g: convGeom(32, 256, 1, 128, 1, 1, 0) },
  { name: 'small b32 s4 1x1 256->1024 @1', g: convGeom(32, 256, 1, 1024, 1, 1, 0) },
  { name: 'small b32 s4 1x1 1024->256 @1', g: convGeom(32, 1024, 1, 256, 1, 1, 0) },
  { name: 'small b128 s3 1x1 512->128 @2', g: convGeom(128, 512, 2, 128, 1, 1, 0) },
  { name: 'small b128 s4 1x1 1024->256 @1', g: convGeom(128, 1024, 1, 256, 1, 1, 0) },
  { name: 'small b128 s4 3x3 256->256 @1', g: convGeom(128, 256, 1, 256, 3, 1, 1) },
];

/** The 1x1 convs of BiT-R50x1 inference at batch 8, 128 px (stages at 32, 16, 8, 4 px): most of its forward. */
const R50_INFER_SHAPES: { name: string; g: Conv2dGeom }[] = [
  { name: 'i s1 1x1 64->256 @32', g: convGeom(8, 64, 32, 256, 1, 1, 0) },
  { name: 'i s1 1x1 256->64 @32', g: convGeom(8, 256, 32, 64, 1, 1, 0) },
  { name: 'i s2 1x1 128->512 @16', g: convGeom(8, 128, 16, 512, 1, 1, 0) },
  { name: 'i s2 1x1 512->128 @16', g: convGeom(8, 512, 16, 128, 1, 1, 0) },
  { name: 'i s3 1x1 256->1024 @8', g: convGeom(8, 256, 8, 1024, 1, 1, 0) },
  { name: 'i s3 1x1 1024->256 @8', g: convGeom(8, 1024, 8, 256, 1, 1, 0) },
  { name: 'i s4 1x1 512->2048 @4', g: convGeom(8, 512, 4, 2048, 1, 1, 0) },
  { name: 'i s4 1x1 2048->512 @4', g: convGeom(8, 2048, 4, 512, 1, 1, 0) },
];

const shapes = [
  ...(set === 'r50i' ? R50_INFER_SHAPES : []),
  ...(set === 'r50' || set === 'all' ? CONV_SHAPES.filter((s) => s.g.cin > 4) : []),
  ...(set === 'r50-32' || set === 'all' ? CONV_SHAPES_32.filter((s) => s.g.cin > 4) : []),
  ...(set === 'small' || set === 'all' ? SMALL_SHAPES : []),
].filter((s) => s.name.includes(only));

/** Which lever side A turns off (B has the defaults); `--lever env --env K=V,...`: side A under those env vars. */
const lever = opt('lever', 'inplace');
const dirs = opt('dirs', 'fwd,gradInput,gradWeight').split(',');
const envA = Object.fromEntries(
  opt('env', '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);
const offOpts =
  lever === 'packrows'
    ? { gemmPackRows: false }
    : lever === 'all'
      ? { gemmPackRows: false, gemmInPlaceMaxN: 0 }
      : lever === 'env'
        ? {}
        : { gemmInPlaceMaxN: 0 };
/** `f()` with envA set, then the environment restored (env levers are read at backend creation or per call). */
function underEnvA<T>(f: () => T): T {
  const saved = Object.fromEntries(Object.keys(envA).map((k) => [k, process.env[k]]));
  Object.assign(process.env, envA);
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
const createA = () => underEnvA(() => createWasmBackend({ threads, ...offOpts }));
const sides: { label: string; be: WasmBackend }[] = [
  { label: 'A off', be: createA() },
  { label: 'B on', be: createWasmBackend({ threads }) },
];
await Promise.all(sides.map((s) => s.be.ready));

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Record<string, string | number>[] = [];
for (const { name, g } of shapes) {
  const flops = convFlops(g);
  const backends = sides.map(({ be }) => be);
  const bufs = uploadConvInputs(backends, g);
  const ops = convDirections(g, ['fwd', 'gradInput', 'gradWeight']).filter(([d]) => dirs.includes(d));
  for (const [dir, op0] of ops) {
    // side A's calls run under envA too (levers read per call)
    const op: typeof op0 = (be, b) => (be === sides[0]!.be ? underEnvA(() => op0(be, b)) : op0(be, b));
    const same = sameBits(backends, bufs, op);
    const times: number[][] = sides.map(() => []);
    for (let r = 0; r < rounds; r++) {
      // A then B on even rounds, B then A on odd ones: neither side always runs on the other's warm caches
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      order.forEach((i) => {
        const be = sides[i]!.be;
        const reps = Math.max(1, Math.round(2e8 / flops));
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        for (let k = 0; k < reps; k++) be.free(op(be, bufs[i]!));
        const c = process.cpuUsage(c0);
        // one thread: process CPU time (steadier than wall time on a loaded machine); else wall time
        times[i]!.push((threads === 1 ? (c.user + c.system) / 1000 : performance.now() - t0) / reps);
      });
    }
    const gf = times.map((t) => flops / med(t) / 1e6);
    const ratio = med(times[0]!.map((t, i) => t / times[1]![i]!));
    rows.push({
      shape: name,
      dir,
      'A GF/s': +gf[0]!.toFixed(1),
      'B GF/s': +gf[1]!.toFixed(1),
      'A/B': +ratio.toFixed(3),
      ...(ceiling > 0 ? { 'B %ceil': +((100 * gf[1]!) / ceiling).toFixed(0) } : {}),
      bitsEqual: same ? 'yes' : 'NO',
    });
  }
  sides.forEach(({ be }, i) => {
    for (const b of bufs[i]!) be.free(b);
  });
}
console.log(
  `${os.cpus()[0]?.model} | lever ${lever} | threads ${threads} | rounds ${rounds} | load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.table(rows);
const json = opt('json', '');
if (json) fs.writeFileSync(json, JSON.stringify({ lever, threads, rounds, load: os.loadavg(), rows }, null, 2));
for (const { be } of sides) be.dispose();
