// GroupNorm's forward statistics kernel 'stats8' (src/tensor/backends/wasm/kernels-misc.ts f64Sum8: four f64x2
// accumulator chains fed by 2-element loads, an 8-element loop, a 4-element step and a scalar tail): every row
// length mod 8 and short rows, against the float64 reference (TOL.groupNormFwd), equal to the previous 'stats' kernel
// (BIT_GN_STATS8=0) within the same tolerance, bit-identical between 1 and 2 threads, and on rows whose mean is
// ten times their spread (the centered second pass keeps the variance).
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, GroupNormGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { expectClose, TOL } from '../../../tolerances.js';
import { rng } from './helpers.js';

const t1 = createWasmBackend({ threads: 1, minParallelWork: 0 });
const t2 = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
const prev = process.env.BIT_GN_STATS8;
process.env.BIT_GN_STATS8 = '0';
const old = createWasmBackend({ threads: 1, minParallelWork: 0 });
if (prev === undefined) delete process.env.BIT_GN_STATS8;
else process.env.BIT_GN_STATS8 = prev;
const ref = createReferenceBackend();
afterAll(() => {
  for (const b of [t1, t2, old]) b.dispose();
});

/** y, mean, rstd of groupNormRelu on `be` (inputs in `dtype`), as float64 arrays. */
function run(
  be: Backend,
  x: number[],
  gamma: number[],
  beta: number[],
  g: GroupNormGeom,
  dtype: 'float32' | 'float64',
) {
  const [bx, bg, bb] = [be.upload(x, dtype), be.upload(gamma, dtype), be.upload(beta, dtype)];
  const o = be.groupNormRelu(bx, bg, bb, g);
  const out = [o.y, o.mean, o.rstd].map((b) => Float64Array.from(be.readSync(b)));
  for (const b of [bx, bg, bb, o.y, o.mean, o.rstd]) be.free(b);
  return out as [Float64Array, Float64Array, Float64Array];
}

describe('wasm GroupNorm statistics (stats8)', () => {
  const lens = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 23, 31, 33, 64, 100, 1021];
  for (const offset of [0, 10]) {
    it(`rows of every length mod 8 (${lens.length} lengths), mean offset ${offset}`, () => {
      for (const [k, hw] of lens.entries()) {
        const g: GroupNormGeom = { n: 3, c: 4, hw, groups: 2, eps: 1e-5 };
        const r = rng(100 + k);
        const x = r(g.n * g.c * hw).map((v) => Math.fround(v + offset));
        const gamma = r(g.c).map((v) => Math.fround(v + 1.5));
        const beta = r(g.c);
        const [y1, m1, s1] = run(t1, x, gamma, beta, g, 'float32');
        const [y2, m2, s2] = run(t2, x, gamma, beta, g, 'float32');
        const [yo, mo, so] = run(old, x, gamma, beta, g, 'float32');
        const [yr, mr, sr] = run(ref, x, gamma, beta, g, 'float64');
        const what = `hw ${hw} offset ${offset}`;
        expect([...y2], `${what}: 2 threads`).toEqual([...y1]);
        expect([...m2]).toEqual([...m1]);
        expect([...s2]).toEqual([...s1]);
        expectClose(m1, mr, TOL.groupNormFwd, `${what}: mean`);
        expectClose(s1, sr, TOL.groupNormFwd, `${what}: rstd`);
        expectClose(y1, yr, TOL.groupNormFwd, `${what}: y`);
        expectClose(m1, mo, TOL.groupNormFwd, `${what}: mean vs stats`);
        expectClose(s1, so, TOL.groupNormFwd, `${what}: rstd vs stats`);
        expectClose(y1, yo, TOL.groupNormFwd, `${what}: y vs stats`);
        expect(y1.some((v) => v > 0) && y1.some((v) => v === 0)).toBe(true);
      }
    });
  }
});
