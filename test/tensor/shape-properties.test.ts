/**
 * Property tests (fast-check) for the shape rules: broadcasting, view algebra, and the gradient of a
 * broadcast being the sum over the broadcast axes.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import * as F from '../../src/tensor/index.js';
import { broadcastShapes } from '../../src/tensor/shape.js';
import { arbShape, leaf64 } from '../helpers.js';

/** Shapes a and b that broadcast: b is a with some dims set to 1 and leading dims dropped. */
const broadcastPair = arbShape(4, 4).chain((a) =>
  fc
    .tuple(fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }), fc.integer({ min: 0, max: a.length }))
    .map(([ones, drop]) => ({ a, b: a.map((d, i) => (ones[i] ? 1 : d)).slice(drop) })),
);

describe('broadcasting', () => {
  it('result shape follows NumPy rules and is symmetric', () => {
    fc.assert(
      fc.property(broadcastPair, ({ a, b }) => {
        expect(broadcastShapes('t', a, b)).toEqual(a);
        expect(broadcastShapes('t', b, a)).toEqual(a);
      }),
    );
  });
  it('a + b equals the elementwise sum of explicitly expanded operands', () => {
    fc.assert(
      fc.property(broadcastPair, fc.integer({ min: 1, max: 1000 }), ({ a, b }, s) => {
        const x = leaf64(a, s, { grad: false });
        const y = leaf64(b, s + 1, { grad: false });
        const direct = x.add(y).dataSync();
        const expanded = x.add(y.expand(a).contiguous()).dataSync();
        expect(Array.from(direct)).toEqual(Array.from(expanded));
      }),
    );
  });
  it('mismatched dims are a ShapeError naming the op and both shapes', () => {
    expect(() => F.zeros([2, 3]).add(F.zeros([4]))).toThrow(ShapeError);
    expect(() => F.zeros([2, 3]).add(F.zeros([4]))).toThrow(/add: shapes \[2,3\] and \[4\]/);
  });
  it('the gradient of a broadcast input is the sum over the broadcast axes', () => {
    fc.assert(
      fc.property(broadcastPair, fc.integer({ min: 1, max: 1000 }), ({ a, b }, s) => {
        const x = leaf64(a, s, { grad: false });
        const y = leaf64(b, s + 1);
        const g = leaf64(a, s + 2, { grad: false });
        x.mul(1).add(y).backward(g);
        const lead = a.length - b.length;
        const axes = a.map((_, i) => i).filter((i) => i < lead || b[i - lead] === 1);
        const expected = g.sum(axes, true).reshape(b).dataSync();
        const got = y.grad!.dataSync();
        expect(got.length).toBe(expected.length);
        for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 10);
      }),
    );
  });
});

describe('view algebra', () => {
  const permOf = (n: number) =>
    fc.shuffledSubarray(
      Array.from({ length: n }, (_, i) => i),
      { minLength: n, maxLength: n },
    );
  it('permute then the inverse permutation is the identity (and shares storage)', () => {
    fc.assert(
      fc.property(
        arbShape(4, 4).chain((s) => fc.tuple(fc.constant(s), permOf(s.length))),
        ([shape, p]) => {
          const x = leaf64(shape, 3, { grad: false });
          const inv = new Array<number>(p.length);
          p.forEach((a, i) => {
            inv[a] = i;
          });
          const y = x.permute(p).permute(inv);
          expect(y.storage).toBe(x.storage);
          expect([...y.shape]).toEqual(shape);
          expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
        },
      ),
    );
  });
  it('reshape of a contiguous tensor is a view equal to a copy', () => {
    fc.assert(
      fc.property(arbShape(3, 4), (shape) => {
        const x = leaf64(shape, 4, { grad: false });
        const n = x.size;
        const v = x.reshape([n]);
        expect(v.storage).toBe(x.storage);
        expect(Array.from(v.dataSync())).toEqual(Array.from(x.clone().reshape([n]).dataSync()));
      }),
    );
  });
  it('slice of a slice equals one slice with composed bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(20), fc.nat(20), fc.nat(20), fc.nat(20), (n, a, b, c, d) => {
        const x = F.arange(0, n, 1, { dtype: 'float64' });
        const s1 = x.slice(0, Math.min(a, b), Math.max(a, b));
        const len = s1.shape[0];
        const lo = Math.min(c, d) % (len + 1);
        const hi = Math.min(Math.max(c, d), len);
        const s2 = s1.slice(0, lo, Math.max(lo, hi));
        const start = Math.min(Math.min(a, b), n) + lo;
        const direct = x.slice(0, start, start + s2.shape[0]);
        expect(Array.from(s2.dataSync())).toEqual(Array.from(direct.dataSync()));
      }),
    );
  });
  it('transpose of a transpose is the identity; contiguous() of a contiguous tensor is itself', () => {
    const x = leaf64([2, 3, 4], 5, { grad: false });
    expect(x.contiguous()).toBe(x);
    const t = x.transpose(0, 2);
    expect(t.isContiguous()).toBe(false);
    expect(Array.from(t.transpose(0, 2).dataSync())).toEqual(Array.from(x.dataSync()));
    expect(t.contiguous().isContiguous()).toBe(true);
  });
});
