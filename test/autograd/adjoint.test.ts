/**
 * Adjoint tests <L x, y> == <x, L^T y> for every linear primitive, in float64 on the reference backend:
 * L^T y is obtained from backward with seed y, so this checks each linear backward against its forward
 * exactly (up to float64 rounding), on random shapes from fast-check.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { dot, leaf64, ref64 } from '../helpers.js';
import { TOL } from '../tolerances.js';

/** Check <L(x), y> = <x, L^T(y)> for L linear in x (other args fixed). */
function adjoint(L: (x: Tensor) => Tensor, xShape: number[], seed: number): void {
  F.tidy(() => {
    const x = leaf64(xShape, seed);
    const Lx = L(x);
    const y = leaf64([...Lx.shape], seed + 1, { grad: false });
    Lx.backward(y);
    const lhs = dot(Lx.dataSync(), y.dataSync());
    const rhs = dot(x.dataSync(), x.grad!.dataSync());
    const scale = Math.max(1, Math.abs(lhs), Math.abs(rhs));
    expect(Math.abs(lhs - rhs) / scale).toBeLessThan(TOL.adjoint.rtol);
    x.zeroGrad();
  });
}

const seed = fc.integer({ min: 1, max: 1e6 });

describe('adjoint identities', () => {
  it('conv2d w.r.t. input and w.r.t. weight (random geometry)', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 2 }),
          cin: fc.integer({ min: 1, max: 3 }),
          cout: fc.integer({ min: 1, max: 3 }),
          h: fc.integer({ min: 1, max: 7 }),
          k: fc.constantFrom(1, 3, 5, 7),
          s: fc.integer({ min: 1, max: 3 }),
          p: fc.integer({ min: 0, max: 3 }),
        }),
        seed,
        ({ n, cin, cout, h, k, s, p }, sd) => {
          fc.pre(h + 2 * p >= k);
          const w = leaf64([cout, cin, k, k], sd + 7, { grad: false });
          adjoint((x) => F.conv2d(x, w, null, { stride: s, padding: p }), [n, cin, h, h], sd);
          const x = leaf64([n, cin, h, h], sd + 9, { grad: false });
          adjoint((ww) => F.conv2d(x, ww, null, { stride: s, padding: p }), [cout, cin, k, k], sd + 3);
        },
      ),
      { numRuns: 40 },
    );
  });
  it('matmul in each operand (batched, broadcast)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 4, maxLength: 4 }),
        seed,
        ([b, m, k, n], sd) => {
          const B = leaf64([k, n], sd + 5, { grad: false });
          adjoint((x) => x.matmul(B), [b, m, k], sd);
          const A = leaf64([b, m, k], sd + 6, { grad: false });
          adjoint((x) => A.matmul(x), [k, n], sd + 2);
        },
      ),
      { numRuns: 40 },
    );
  });
  it('pad, slice, permute, expand/sum, concat', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }), seed, (shape, sd) => {
        adjoint((x) => x.pad([1, 2, 0, 1], 0), shape, sd);
        adjoint((x) => x.slice(-1, 0, shape[2], 2), shape, sd);
        adjoint((x) => x.permute([2, 0, 1]), shape, sd);
        adjoint((x) => x.unsqueeze(0).expand([3, ...shape]), shape, sd);
        adjoint((x) => x.sum([0, 2], true), shape, sd);
        adjoint((x) => F.concat([x, x.mul(2)], 1), shape, sd);
      }),
      { numRuns: 30 },
    );
  });
  it('maxPool2d with fixed indices (gather; its adjoint is maxPool2dBackward) and avgPool2d', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(0, 1),
        seed,
        (h, s, pad, sd) => {
          const x0 = leaf64([1, 2, h, h], sd, { grad: false });
          // pad 1 with value 0 (BiT's stem): windows won by padding gather nothing (index -1)
          const g = {
            n: 1,
            c: 2,
            h,
            w: h,
            kh: 3,
            kw: 3,
            stride: s,
            oh: Math.floor((h + 2 * pad - 3) / s) + 1,
            ow: Math.floor((h + 2 * pad - 3) / s) + 1,
            pad,
            padValue: pad > 0 ? 0 : Number.NEGATIVE_INFINITY,
          };
          const { out, indices } = ref64.maxPool2d(x0.storage.buf, g);
          const idx = ref64.readSync(indices);
          const x = leaf64([1, 2, h, h], sd + 1, { grad: false }).dataSync();
          const y = leaf64([1, 2, g.oh, g.ow], sd + 2, { grad: false });
          const per = g.oh * g.ow;
          const Lx = Array.from(idx, (ix, o) => (ix < 0 ? 0 : x[Math.floor(o / per) * h * h + ix]!));
          const LTy = ref64.readSync(ref64.maxPool2dBackward(y.storage.buf, indices, g));
          const lhs = dot(Lx, y.dataSync());
          const rhs = dot(x, LTy);
          expect(Math.abs(lhs - rhs) / Math.max(1, Math.abs(lhs))).toBeLessThan(TOL.adjoint.rtol);
          ref64.free(out);
          ref64.free(indices);
          adjoint((t) => F.avgPool2d(t, 2, 1), [1, 2, h, h], sd + 2);
        },
      ),
      { numRuns: 20 },
    );
  });
});
