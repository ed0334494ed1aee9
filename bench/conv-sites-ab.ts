/**
 * In-process A/B of wasm backend options on every conv call site of a small CPU model (bit-tiny / bit-small: the
 * stem, then per stage the projection, 1x1, 3x3 and 1x1 convs, each distinct geometry once), forward, grad-input
 * and grad-weight. Side A is a backend created with the options in `--off` (JSON), side B with the defaults; both
 * get the same inputs and run in alternating order (A B, B A, ...). Per site and direction it prints each side's
 * median GFLOP/s, the median of the paired time ratios A/B (> 1: B faster) and whether both sides return the same
 * bits. With one thread the times are process CPU time (steadier on a loaded machine), else wall time.
 *
 *   npx tsx bench/conv-sites-ab.ts [--model bit-tiny|bit-small] [--batch 128] [--px 32] [--threads 2] [--rounds 7]
 *     [--off '{"convSmallMaps":false}'] [--only substring] [--min-ms 0]
 */

import os from 'node:os';
import { getModelEntry } from '../src/models/registry.js';
import type { Conv2dGeom } from '../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend, type WasmBackendOptions } from '../src/tensor/backends/wasm/index.js';
import { opt } from './cli-args.js';
import { convDirections, sameBits, uploadConvInputs } from './conv-ab.js';
import { convFlops, convGeom } from './shapes.js';

const model = opt('model', 'bit-tiny');
const batch = Number(opt('batch', '128'));
const px = Number(opt('px', '32'));
const threads = Number(opt('threads', '2'));
const rounds = Number(opt('rounds', '7'));
const only = opt('only', '');
const off = JSON.parse(opt('off', '{"convSmallMaps":false}')) as WasmBackendOptions;

/** The distinct conv geometries of a BiT ResNetV2 at batch n and px input (stride on the 3x3, as in ./step.ts's models). */
function sites(name: string, n: number, size: number): { name: string; g: Conv2dGeom }[] {
  const { blockUnits, baseWidth } = getModelEntry(name).arch as {
    readonly blockUnits: readonly number[];
    readonly baseWidth: number;
  };
  const out: { name: string; g: Conv2dGeom }[] = [];
  const seen = new Set<string>();
  const add = (label: string, g: Conv2dGeom) => {
    const key = JSON.stringify(g);
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ name: `${label} ${g.cin}->${g.cout} ${g.kh}x${g.kw}/${g.stride} @${g.oh}`, g });
  };
  add('stem', convGeom(n, 3, size, baseWidth, 7, 2, 3));
  let h = size / 4;
  let cin = baseWidth;
  blockUnits.forEach((units, s) => {
    const mid = baseWidth * 2 ** s;
    const cout = 4 * mid;
    for (let u = 0; u < units; u++) {
      const stride = u === 0 && s > 0 ? 2 : 1;
      if (u === 0) add(`s${s + 1} proj`, convGeom(n, cin, h, cout, 1, stride, 0));
      add(`s${s + 1} c1`, convGeom(n, cin, h, mid, 1, 1, 0));
      add(`s${s + 1} c2`, convGeom(n, mid, h, mid, 3, stride, 1));
      h = Math.floor((h + 2 - 3) / stride) + 1;
      add(`s${s + 1} c3`, convGeom(n, mid, h, cout, 1, 1, 0));
      cin = cout;
    }
  });
  return out;
}

const sides: { label: string; be: WasmBackend }[] = [
  { label: 'A off', be: createWasmBackend({ threads, ...off }) },
  { label: 'B on', be: createWasmBackend({ threads }) },
];
await Promise.all(sides.map((s) => s.be.ready));

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Record<string, string | number>[] = [];
const totals = [0, 0];
for (const { name, g } of sites(model, batch, px).filter((s) => s.name.includes(only))) {
  const flops = convFlops(g);
  const backends = sides.map(({ be }) => be);
  const bufs = uploadConvInputs(backends, g);
  const ops = convDirections(g, ['fwd', 'gIn', 'gW']);
  for (const [dir, op] of ops) {
    const same = sameBits(backends, bufs, op);
    const times: number[][] = sides.map(() => []);
    const reps = Math.max(2, Math.round(5e7 / flops));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const be = sides[i]!.be;
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        for (let k = 0; k < reps; k++) be.free(op(be, bufs[i]!));
        const c = process.cpuUsage(c0);
        times[i]!.push((threads === 1 ? (c.user + c.system) / 1000 : performance.now() - t0) / reps);
      }
    }
    const ms = times.map(med);
    totals[0]! += ms[0]!;
    totals[1]! += ms[1]!;
    rows.push({
      site: name,
      dir,
      'A ms': +ms[0]!.toFixed(3),
      'B ms': +ms[1]!.toFixed(3),
      'A GF/s': +(flops / ms[0]! / 1e6).toFixed(1),
      'B GF/s': +(flops / ms[1]! / 1e6).toFixed(1),
      'A/B': +med(times[0]!.map((t, i) => t / times[1]![i]!)).toFixed(3),
      bits: same ? 'same' : 'DIFF',
    });
  }
  sides.forEach(({ be }, i) => {
    for (const b of bufs[i]!) be.free(b);
  });
}
console.log(
  `${model} b${batch} ${px}px | off ${JSON.stringify(off)} | threads ${threads} | rounds ${rounds} | load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} | sum of medians A ${totals[0]!.toFixed(2)} ms, B ${totals[1]!.toFixed(2)} ms`,
);
console.table(rows);
for (const { be } of sides) be.dispose();
