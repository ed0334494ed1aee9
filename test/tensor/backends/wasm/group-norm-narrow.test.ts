// GroupNorm (+ ReLU) on 1- and 4-pixel maps through their own kernels (src/tensor/backends/wasm/kernels-norm-c1.ts:
// vectorized across channels for hw = 1; kernels-norm-c4.ts: one vector a channel for hw = 4) and the 16-column
// batch sum of the backward's partials (colSumV): the SAME BITS as the general kernels (a backend created with
// BIT_GN_C1=0, BIT_GN_C4=0 and BIT_GN_COLSUMV=0), bit-identical between 1 and 2 threads, and close to the float64
// reference (TOL.groupNormFwd / groupNormGrad). Channels per group 1..9 and 32 cover the 4-channel steps and the
// scalar tail of hw = 1; with and without gamma / beta, with exact zeros in y (the ReLU mask) and column counts off
// the 16-column blocks.
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, GroupNormGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { expectClose, TOL } from '../../../tolerances.js';
import { rng } from './helpers.js';

const t1 = createWasmBackend({ threads: 1, minParallelWork: 0 });
const t2 = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
const SWITCHES = ['BIT_GN_C1', 'BIT_GN_C4', 'BIT_GN_COLSUMV'] as const;
const saved = SWITCHES.map((k) => process.env[k]);
for (const k of SWITCHES) process.env[k] = '0';
const general = createWasmBackend({ threads: 1, minParallelWork: 0 });
SWITCHES.forEach((k, i) => {
  const v = saved[i];
  if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});
const ref = createReferenceBackend();
afterAll(() => {
  for (const b of [t1, t2, general]) b.dispose();
});

interface Inputs {
  x: number[];
  dy: number[];
  gamma: number[] | null;
  beta: number[] | null;
}

/** Forward (y, mean, rstd) then backward (dx, dgamma, dbeta) of GroupNorm (+ ReLU) on `be`, as float64 arrays. */
function run(be: Backend, inp: Inputs, g: GroupNormGeom, relu: boolean, dtype: 'float32' | 'float64') {
  const ones = new Array<number>(g.c).fill(1);
  const zeros = new Array<number>(g.c).fill(0);
  const bx = be.upload(inp.x, dtype);
  const bdy = be.upload(inp.dy, dtype);
  const bg = be.upload(inp.gamma ?? ones, dtype);
  const bb = be.upload(inp.beta ?? zeros, dtype);
  const f = relu ? be.groupNormRelu(bx, bg, bb, g) : be.groupNorm(bx, bg, bb, g);
  const b = relu
    ? be.groupNormReluBackward(bdy, f.y, bx, bg, f.mean, f.rstd, g)
    : be.groupNormBackward(bdy, bx, bg, f.mean, f.rstd, g);
  const bufs = [f.y, f.mean, f.rstd, b.dx, b.dgamma, b.dbeta];
  const out = bufs.map((q) => Float64Array.from(be.readSync(q)));
  for (const q of [bx, bdy, bg, bb, ...bufs]) be.free(q);
  return out;
}

const NAMES = ['y', 'mean', 'rstd', 'dx', 'dgamma', 'dbeta'];

describe('wasm GroupNorm on 1- and 4-pixel maps (their own kernels)', () => {
  for (const [relu, hw] of [
    [false, 1],
    [true, 1],
    [false, 4],
    [true, 4],
  ] as const) {
    it(`${relu ? 'GroupNorm + ReLU' : 'GroupNorm'}, hw ${hw}: same bits as the general kernels, 1 = 2 threads, near float64`, () => {
      let k = 0;
      for (const cpg of [1, 2, 3, 4, 5, 7, 8, 9, 32]) {
        for (const [n, groups] of [
          [3, 2],
          [5, 4],
        ] as const) {
          const g: GroupNormGeom = { n, c: cpg * groups, hw, groups, eps: 1e-5 };
          const r = rng(700 + k++);
          const inp: Inputs = {
            x: r(n * g.c * hw).map((v) => Math.fround(v + 0.25)),
            dy: r(n * g.c * hw),
            gamma: r(g.c).map((v) => Math.fround(v + 1.5)),
            beta: r(g.c),
          };
          // the forward ReLU's zeros: a channel whose beta pushes every output below 0
          if (inp.beta) inp.beta[0] = -50;
          for (const affine of [true, false]) {
            const i2 = affine ? inp : { ...inp, gamma: null, beta: null };
            const o1 = run(t1, i2, g, relu, 'float32');
            const o2 = run(t2, i2, g, relu, 'float32');
            const og = run(general, i2, g, relu, 'float32');
            const or = run(ref, i2, g, relu, 'float64');
            const what = `cpg ${cpg} n ${n} groups ${groups} affine ${affine}`;
            for (const [j, name] of NAMES.entries()) {
              expect([...o1[j]!], `${what} ${name}: general kernels`).toEqual([...og[j]!]);
              expect([...o2[j]!], `${what} ${name}: 2 threads`).toEqual([...o1[j]!]);
              expectClose(o1[j]!, or[j]!, j < 3 ? TOL.groupNormFwd : TOL.groupNormGrad, `${what} ${name}`);
            }
          }
        }
      }
    });
  }

  it('large shapes (c1024 / c256 / c48 at hw 1, c512 at hw 4, batch 8): same bits as the general kernels, 1 = 2 threads', () => {
    for (const [c, hw] of [
      [1024, 1],
      [256, 1],
      [48, 1],
      [512, 4],
    ] as const) {
      const g: GroupNormGeom = { n: 8, c, hw, groups: c === 48 ? 3 : 32, eps: 1e-5 };
      const r = rng(c);
      const inp: Inputs = { x: r(g.n * c * hw), dy: r(g.n * c * hw), gamma: r(c), beta: r(c) };
      const o1 = run(t1, inp, g, true, 'float32');
      const o2 = run(t2, inp, g, true, 'float32');
      const og = run(general, inp, g, true, 'float32');
      for (const [j, name] of NAMES.entries()) {
        expect([...o1[j]!], `c${c} ${name}: general kernels`).toEqual([...og[j]!]);
        expect([...o2[j]!], `c${c} ${name}: 2 threads`).toEqual([...o1[j]!]);
      }
    }
  });
});
