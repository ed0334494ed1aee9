/**
 * The generated strided loops (used by the wasm backend's non-contiguous elementwise ops) agree exactly with
 * the reference backend's per-element odometer, on random shapes, permuted and broadcast views, and offsets.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BinaryOp, UnaryOp } from '../../../src/tensor/backend.js';
import { binaryFns, forEachStrided, unaryFns } from '../../../src/tensor/backends/reference/elementwise.js';
import {
  collapse,
  stridedBinary,
  stridedCopy,
  stridedUnary,
  stridedWhere,
} from '../../../src/tensor/backends/strided-loops.js';
import { contiguousStrides } from '../../../src/tensor/shape.js';

/** A random view of `shape` into a heap: permuted layout, broadcast (stride 0) dims, an offset. */
const viewArb = (shape: number[]) =>
  fc
    .tuple(
      fc.shuffledSubarray(
        shape.map((_, i) => i),
        { minLength: shape.length, maxLength: shape.length },
      ),
      fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      fc.integer({ min: 0, max: 5 }),
    )
    .map(([perm, bcast, offset]) => {
      const permShape = perm.map((p) => shape[p]);
      const ps = contiguousStrides(permShape);
      const strides = shape.map((_, d) => (bcast[d] ? 0 : ps[perm.indexOf(d)]));
      return { strides, offset };
    });

const heap = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + seed) * 3);

describe('generated strided loops', () => {
  const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });
  it('binary, unary and where match the reference odometer exactly', () => {
    fc.assert(
      fc.property(
        shapeArb.chain((s) => fc.tuple(fc.constant(s), viewArb(s), viewArb(s), viewArb(s))),
        fc.constantFrom<BinaryOp>('add', 'sub', 'mul', 'div', 'maximum', 'gt', 'pow'),
        fc.constantFrom<UnaryOp>('neg', 'exp', 'relu', 'sigmoid', 'rsqrt', 'abs'),
        ([shape, av, bv, cv], bop, uop) => {
          const n = shape.reduce((p, d) => p * d, 1);
          const size = n + 8;
          const A = heap(size, 1);
          const B = heap(size, 2);
          const C = heap(size, 3).map((x) => (x > 0 ? 1 : 0));
          const want = new Float64Array(n);
          forEachStrided(shape, [av, bv], (i, o) => {
            want[i] = binaryFns[bop](A[o[0]], B[o[1]]);
          });
          const got = new Float64Array(n);
          stridedBinary(bop, shape, A, av, B, bv, got, 0);
          expect(Array.from(got)).toEqual(Array.from(want));
          forEachStrided(shape, [av], (i, o) => {
            want[i] = unaryFns[uop](A[o[0]]);
          });
          stridedUnary(uop, shape, A, av, got, 0);
          expect(Array.from(got)).toEqual(Array.from(want));
          forEachStrided(shape, [cv, av, bv], (i, o) => {
            want[i] = C[o[0]] !== 0 ? A[o[1]] : B[o[2]];
          });
          stridedWhere(shape, C, cv, A, av, B, bv, got, 0);
          expect(Array.from(got)).toEqual(Array.from(want));
        },
      ),
      { numRuns: 300 },
    );
  });
  it('copy into a strided destination (a permuted region of a larger buffer)', () => {
    fc.assert(
      fc.property(
        shapeArb.chain((s) => fc.tuple(fc.constant(s), viewArb(s))),
        ([shape, sv]) => {
          const n = shape.reduce((p, d) => p * d, 1);
          const src = heap(n + 8, 4);
          // column-major destination layout, offset 3
          const dv = { strides: contiguousStrides([...shape].reverse()).reverse(), offset: 3 };
          const want = new Float64Array(n + 3);
          const got = new Float64Array(n + 3);
          forEachStrided(shape, [sv, dv], (_i, o) => {
            want[o[1]] = src[o[0]];
          });
          stridedCopy(shape, src, sv, got, dv);
          expect(Array.from(got)).toEqual(Array.from(want));
        },
      ),
      { numRuns: 200 },
    );
  });
  it('collapses contiguous dims and drops size-1 dims', () => {
    const c = collapse(
      [2, 1, 3, 4],
      [
        { strides: [12, 12, 4, 1], offset: 0 },
        { strides: [0, 0, 4, 1], offset: 0 },
      ],
    );
    expect(c.shape).toEqual([2, 12]);
    expect(c.strides).toEqual([
      [12, 1],
      [0, 1],
    ]);
  });
});
