/**
 * The small ops of a BiT training step on the wasm backend, timed per call at the shapes of bit-tiny / bit-small
 * at 32 px, batch 128 (issue 24's profile): GroupNorm + ReLU fused vs the unfused composite (forward: groupNorm
 * then relu; backward: the relu mask (ne, mul) then groupNormBackward), max-pool forward / backward, the residual
 * add, GroupNorm backward. A/B pairs run alternately in one process, several rounds; reported per op: the median
 * time of each side and the median of the paired ratios (B / A: > 1 means A is faster). A is the new path (fused,
 * the four-plane max-pool), B the old one (unfused composite; the scalar max-pool of a backend made with
 * BIT_WASM_POOL4=0).
 *
 *   npx tsx bench/small-ops.ts [--threads 1] [--rounds 7] [--reps 5] [--cpu] [--json FILE]
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Backend, BackendBuffer, GroupNormGeom, MaxPool2dGeom } from '../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { Rng } from '../src/tensor/random.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const threads = Number(opt('threads', '1'));
const rounds = Number(opt('rounds', '7'));
const reps = Number(opt('reps', '5'));
const json = opt('json', '');

const b: WasmBackend = createWasmBackend({ threads });
// the max-pool A/B: a second backend made with the scalar max-pool kernel only (BIT_WASM_POOL4=0 at creation)
process.env.BIT_WASM_POOL4 = '0';
const scalarPool: WasmBackend = createWasmBackend({ threads });
delete process.env.BIT_WASM_POOL4;
await Promise.all([b.ready, scalarPool.ready]);
const rng = new Rng(3);
const rand = (n: number) =>
  b.upload(
    Float32Array.from({ length: n }, () => rng.normal()),
    'float32',
  );
const view = (buf: BackendBuffer, n: number) => ({ buf, shape: [n], strides: [1], offset: 0 });
const zero = b.upload([0], 'float32');

/** Median ms per call of fn (reps calls, each result freed). */
/**
 * Median ms per call of fn (reps calls, each result freed): wall time, or with --cpu the process's CPU time
 * (user + system, every thread: with one thread, the steadier measure on a loaded machine).
 */
const useCpu = args.includes('--cpu');
function time(fn: () => BackendBuffer[]): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    const c = process.cpuUsage();
    const out = fn();
    const u = process.cpuUsage(c);
    t.push(useCpu ? (u.user + u.system) / 1000 : performance.now() - s);
    for (const o of out) b.free(o);
  }
  t.sort((x, y) => x - y);
  return t[Math.floor(t.length / 2)]!;
}

interface Case {
  name: string;
  a: () => BackendBuffer[];
  /** The B side of an A/B (the unfused composite, the scalar max-pool); absent for ops timed alone. */
  b?: () => BackendBuffer[];
}

function gnCases(label: string, g: GroupNormGeom): Case[] {
  const n = g.n * g.c * g.hw;
  const [x, gamma, beta, dy] = [rand(n), rand(g.c), rand(g.c), rand(n)];
  const f = b.groupNormRelu(x, gamma, beta, g);
  const flat = (r: Record<string, BackendBuffer>) => Object.values(r);
  return [
    {
      name: `gn+relu fwd ${label}`,
      a: () => flat(b.groupNormRelu(x, gamma, beta, g)),
      b: () => {
        const r = b.groupNorm(x, gamma, beta, g);
        const y = b.unary('relu', r.y);
        b.free(r.y);
        return [y, r.mean, r.rstd];
      },
    },
    {
      name: `gn+relu bwd ${label}`,
      a: () => flat(b.groupNormReluBackward(dy, f.y, x, gamma, f.mean, f.rstd, g)),
      b: () => {
        const mask = b.binary('ne', view(f.y, n), { buf: zero, shape: [n], strides: [0], offset: 0 }, [n]);
        const m = b.binary('mul', view(dy, n), view(mask, n), [n]);
        const r = b.groupNormBackward(m, x, gamma, f.mean, f.rstd, g);
        b.free(mask);
        b.free(m);
        return flat(r);
      },
    },
    { name: `gn bwd ${label}`, a: () => flat(b.groupNormBackward(dy, x, gamma, f.mean, f.rstd, g)) },
  ];
}

function poolCases(label: string, g: MaxPool2dGeom): Case[] {
  const x = rand(g.n * g.c * g.h * g.w);
  const x0 = scalarPool.upload(b.readSync(x), 'float32');
  const r = b.maxPool2d(x, g);
  const dy = rand(g.n * g.c * g.oh * g.ow);
  return [
    {
      name: `maxPool fwd ${label}`,
      a: () => Object.values(b.maxPool2d(x, g)),
      b: () => {
        const o = scalarPool.maxPool2d(x0, g);
        scalarPool.free(o.out);
        scalarPool.free(o.indices);
        return [];
      },
    },
    { name: `maxPool bwd ${label}`, a: () => [b.maxPool2dBackward(dy, r.indices, g)] },
  ];
}

function addCase(label: string, n: number): Case {
  const [x, y] = [rand(n), rand(n)];
  return { name: `add ${label}`, a: () => [b.binary('add', view(x, n), view(y, n), [n])] };
}

const pool = (n: number, c: number, h: number): MaxPool2dGeom => {
  const o = Math.floor((h + 2 - 3) / 2) + 1;
  return { n, c, h, w: h, kh: 3, kw: 3, stride: 2, oh: o, ow: o, pad: 1, padValue: 0 };
};
const cases: Case[] = [
  // bit-tiny b128 (stem 16, 8 groups): norm1 of stage 1 at 8x8; bit-small b128 (stem 32, 16 groups)
  ...gnCases('tiny c16 hw64', { n: 128, c: 16, hw: 64, groups: 8, eps: 1e-5 }),
  ...gnCases('small c32 hw64', { n: 128, c: 32, hw: 64, groups: 16, eps: 1e-5 }),
  ...gnCases('small c128 hw64', { n: 128, c: 128, hw: 64, groups: 16, eps: 1e-5 }),
  ...gnCases('small c256 hw16', { n: 128, c: 256, hw: 16, groups: 16, eps: 1e-5 }),
  ...poolCases('tiny 16x16x16', pool(128, 16, 16)),
  ...poolCases('small 32x16x16', pool(128, 32, 16)),
  addCase('small 128x128x64', 128 * 128 * 64),
  addCase('small 128x512x4', 128 * 512 * 4),
];

const results = cases.map((c) => ({ name: c.name, a: [] as number[], b: [] as number[] }));
for (const c of cases) {
  c.a();
  c.b?.();
}
for (let r = 0; r < rounds; r++) {
  cases.forEach((c, i) => {
    const first = r % 2 === 0;
    if (c.b && !first) results[i]!.b.push(time(c.b));
    results[i]!.a.push(time(c.a));
    if (c.b && first) results[i]!.b.push(time(c.b));
  });
}
const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
const load = os.loadavg().map((l) => l.toFixed(1));
console.log(
  `${useCpu ? 'CPU' : 'wall'} time, wasm, ${threads} thread(s), ${rounds} rounds x ${reps} reps, load ${load.join(' ')}, ${os.cpus()[0]?.model}`,
);
const rows = results.map((r) => {
  const row = {
    op: r.name,
    aMs: med(r.a),
    bMs: r.b.length ? med(r.b) : null,
    ratio: r.b.length ? med(r.a.map((a, i) => r.b[i]! / a)) : null,
  };
  const ab = row.bMs === null ? '' : `  B ${row.bMs.toFixed(3)} ms  B/A ${row.ratio!.toFixed(2)}x`;
  console.log(`${row.op.padEnd(28)} ${row.aMs.toFixed(3)} ms${ab}`);
  return row;
});
if (json)
  writeFileSync(
    json,
    JSON.stringify(
      { clock: useCpu ? 'cpu' : 'wall', threads, rounds, reps, load, cpu: os.cpus()[0]?.model, rows },
      null,
      1,
    ),
  );
(b as Backend).dispose();
scalarPool.dispose();
