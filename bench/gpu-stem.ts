/**
 * BiT-R50x3's stem at the HyperRule's 480 px on gpujs-webgpu vs wasm (issue 20, point 2), outside CI (about 6.5
 * minutes on SwiftShader): the backend ops of one sample whose activation, 192 x 240 x 240 = 11.1M cells, exceeds
 * the 2^23-cell launch limit: the 7x7/2 conv (forward, gradInput, gradWeight; direct kernels in output-channel
 * windows), GroupNorm with 32 groups (forward, backward; blocks of groups) and BiT's zero-padded 3x3/2 max-pool
 * (values, indices, backward). Each op gets the same host inputs on both backends, so a difference is that op's
 * own. Prints per op the closeness (in units of its tolerance; <= 0 passes), the wall time per backend (first call,
 * kernel builds included) and the process's peak RSS (SwiftShader's device memory is host memory).
 *
 * Usage: tsx bench/gpu-stem.ts [--px 480] [--save FILE]
 */

import { writeFileSync } from 'node:fs';
import type { Backend, BackendBuffer, Conv2dGeom, GroupNormGeom, MaxPool2dGeom } from '../src/tensor/backend.js';
import { disposeBackends, getBackend } from '../src/tensor/backends/registry.js';
import { Rng } from '../src/tensor/random.js';
import { closeness, TOL } from '../test/tolerances.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const px = Number(opt('px', '480'));
const save = opt('save', '');

/** Seeded uniform values in [-scale/2, scale/2) (the library's generator). */
function seeded(n: number, seed: number, scale: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(-scale / 2, scale / 2));
}

const [cin, cout] = [3, 192];
const o = Math.floor((px + 6 - 7) / 2) + 1;
const p = Math.floor((o + 2 - 3) / 2) + 1;
const conv: Conv2dGeom = { n: 1, cin, h: px, w: px, cout, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1, oh: o, ow: o };
const gn: GroupNormGeom = { n: 1, c: cout, hw: o * o, groups: 32, eps: 1e-5 };
const pool: MaxPool2dGeom = { n: 1, c: cout, h: o, w: o, kh: 3, kw: 3, stride: 2, pad: 1, padValue: 0, oh: p, ow: p };
const y = cout * o * o;

interface Case {
  readonly what: string;
  readonly inputs: () => Float32Array[];
  readonly run: (b: Backend, ins: BackendBuffer[]) => BackendBuffer[];
  readonly tol: { rtol: number; atol: number };
}

const cases: Case[] = [
  {
    what: 'conv 7x7/2 forward, gradInput, gradWeight',
    inputs: () => [seeded(cin * px * px, 11, 2), seeded(cout * cin * 49, 12, 0.2), seeded(y, 13, 1e-2)],
    run: (b, [x, w, dy]) => [
      b.conv2d(x!, w!, conv),
      b.conv2dGradInput(dy!, w!, conv),
      b.conv2dGradWeight(x!, dy!, conv),
    ],
    tol: TOL.linear,
  },
  {
    what: 'GroupNorm 32 groups forward, backward',
    inputs: () => [seeded(y, 14, 4), seeded(cout, 15, 1), seeded(cout, 16, 1), seeded(y, 17, 1e-2)],
    run: (b, [x, gamma, beta, dy]) => {
      const f = b.groupNorm(x!, gamma!, beta!, gn);
      const d = b.groupNormBackward(dy!, x!, gamma!, f.mean, f.rstd, gn);
      return [f.y, f.mean, f.rstd, d.dx, d.dgamma, d.dbeta];
    },
    tol: TOL.groupNormGrad,
  },
  {
    what: 'max-pool 3x3/2 (zero pad 1) values, indices, backward',
    inputs: () => [seeded(y, 18, 4), seeded(cout * p * p, 19, 1)],
    run: (b, [x, dy]) => {
      const m = b.maxPool2d(x!, pool);
      return [m.out, m.indices, b.maxPool2dBackward(dy!, m.indices, pool)];
    },
    tol: TOL.linear,
  },
];

const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);
const gpu = await getBackend('gpujs-webgpu');
const wasm = await getBackend('wasm');
const rows: Record<string, unknown>[] = [];
let failed = false;
for (const c of cases) {
  const ins = c.inputs();
  const outs: ArrayLike<number>[][] = [];
  const ms: number[] = [];
  for (const b of [gpu, wasm]) {
    const t0 = performance.now();
    const bufs = ins.map((v) => b.upload(v, 'float32'));
    const res = c.run(b, bufs);
    outs.push(await Promise.all(res.map((r) => b.read(r))));
    ms.push(Math.round(performance.now() - t0));
    for (const r of [...res, ...bufs]) b.free(r);
  }
  const worst = Math.max(...outs[0]!.map((g, i) => closeness(g, outs[1]![i]!, c.tol)));
  failed ||= !(worst <= 0);
  const row = { what: c.what, px, webgpu_ms: ms[0], wasm_ms: ms[1], closeness: worst, peak_rss_mb: rss() };
  rows.push(row);
  console.log(JSON.stringify(row));
}
if (save !== '') writeFileSync(save, `${JSON.stringify({ date: new Date().toISOString(), rows }, null, 2)}\n`);
disposeBackends();
process.exitCode = failed ? 1 : 0;
