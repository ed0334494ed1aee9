/**
 * float64 gradcheck (central differences, PyTorch defaults) for every differentiable op on the reference
 * backend, including conv2d with every stride/padding BiT uses and max-pool after the stem's zero pad.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertGradcheck } from '../../src/autograd/gradcheck.js';
import type { Tensor } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { leaf64, ref64 } from '../helpers.js';
import { TOL } from '../tolerances.js';

const check = (f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) => assertGradcheck(f, inputs, TOL.gradcheck);

describe('gradcheck: elementwise with broadcasting', () => {
  const a = () => leaf64([2, 3], 1);
  const b = () => leaf64([3], 2);
  const pos = (s: number[], seed: number) => leaf64(s, seed, { positive: true });
  it('add, sub, mul, div', () => {
    check((x, y) => x.add(y), [a(), b()]);
    check((x, y) => x.sub(y), [a(), b()]);
    check((x, y) => x.mul(y), [a(), leaf64([2, 1], 3)]);
    check((x, y) => x.div(y), [a(), pos([3], 4)]);
  });
  it('pow (both operands), scalar operands', () => {
    check((x, y) => x.pow(y), [pos([2, 3], 5), leaf64([3], 6)]);
    check((x) => x.pow(3).add(2).mul(0.5).sub(1).div(4), [a()]);
  });
  it('maximum, minimum (no ties)', () => {
    check((x, y) => x.maximum(y), [a(), b()]);
    check((x, y) => x.minimum(y), [a(), b()]);
  });
  it('unary ops', () => {
    check((x) => x.neg(), [a()]);
    check((x) => x.abs(), [a()]);
    check((x) => x.exp(), [a()]);
    check((x) => x.log(), [pos([2, 3], 7)]);
    check((x) => x.sqrt(), [pos([2, 3], 8)]);
    check((x) => x.rsqrt(), [pos([2, 3], 9)]);
    check((x) => x.relu(), [a()]);
    check((x) => x.sigmoid(), [a()]);
    check((x) => x.tanh(), [a()]);
  });
  it('where', () => {
    const c = leaf64([2, 3], 10, { grad: false }).gt(0);
    check((x, y) => F.where(c, x, y), [a(), b()]);
  });
});

describe('gradcheck: reductions', () => {
  const x = () => leaf64([2, 3, 4], 11);
  it('sum, mean over axes, keepdim', () => {
    check((t) => t.sum(), [x()]);
    check((t) => t.sum([0, 2], true), [x()]);
    check((t) => t.mean(1), [x()]);
  });
  it('var biased and unbiased', () => {
    check((t) => t.var(2, { unbiased: false }), [x()]);
    check((t) => t.var([0, 1], { unbiased: true, keepdim: true }), [x()]);
  });
  it('max, min over an axis and over all', () => {
    check((t) => t.max(1), [x()]);
    check((t) => t.min(2, true), [x()]);
    check((t) => t.max(), [x()]);
  });
  it('logsumexp, softmax, logSoftmax', () => {
    check((t) => t.logsumexp(1), [x()]);
    check((t) => t.softmax(2), [x()]);
    check((t) => t.logSoftmax(1), [x()]);
  });
});

describe('gradcheck: movement', () => {
  const x = () => leaf64([2, 3, 4], 12);
  it('reshape, permute, transpose, expand, slice, squeeze, unsqueeze, flatten', () => {
    check((t) => t.reshape([4, 6]).mul(t.reshape([4, 6])), [x()]);
    check((t) => t.permute([2, 0, 1]).contiguous(), [x()]);
    check((t) => t.transpose(0, 2).mul(2), [x()]);
    check((t) => t.expand([5, 3, 4]).mul(1), [leaf64([3, 1], 13)]);
    check((t) => t.slice(2, 1, 4, 2).mul(3), [x()]);
    check((t) => t.unsqueeze(1).squeeze(1).flatten().mul(1), [x()]);
  });
  it('pad, concat, stack, clone, cast', () => {
    check((t) => t.pad([1, 2, 0, 1], 0.5), [x()]);
    check((a, b) => F.concat([a, b], 1), [x(), leaf64([2, 2, 4], 14)]);
    check((a, b) => F.stack([a, b], 0), [x(), leaf64([2, 3, 4], 15)]);
    check((t) => t.clone().mul(2), [leaf64([3], 16)]);
  });
  it('cast: float32 round trip is not finite-differenceable; its gradient is cast back exactly', () => {
    const t = leaf64([3], 17);
    t.to('float32').mul(2).sum().backward();
    expect(t.grad!.dtype).toBe('float64');
    expect(Array.from(t.grad!.dataSync())).toEqual([2, 2, 2]);
  });
});

describe('gradcheck: matmul', () => {
  it('2-D, batched with broadcast batch dims, 1-D operands', () => {
    check((a, b) => a.matmul(b), [leaf64([3, 4], 20), leaf64([4, 2], 21)]);
    check((a, b) => a.matmul(b), [leaf64([2, 1, 3, 4], 22), leaf64([3, 4, 2], 23)]);
    check((a, b) => a.matmul(b), [leaf64([4], 24), leaf64([4, 3], 25)]);
    check((a, b) => a.matmul(b), [leaf64([2, 4], 26), leaf64([4], 27)]);
  });
});

describe('gradcheck: conv2d with every BiT stride/padding', () => {
  const cases = [
    { name: 'stem 7x7/2 pad 3', k: 7, s: 2, p: 3, h: 9 },
    { name: '3x3/1 pad 1', k: 3, s: 1, p: 1, h: 5 },
    { name: '3x3/2 pad 1', k: 3, s: 2, p: 1, h: 6 },
    { name: '1x1/1', k: 1, s: 1, p: 0, h: 4 },
    { name: '1x1/2', k: 1, s: 2, p: 0, h: 5 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const x = leaf64([2, 2, c.h, c.h], 30);
      const w = leaf64([3, 2, c.k, c.k], 31);
      const b = leaf64([3], 32);
      check((xx, ww, bb) => F.conv2d(xx, ww, bb, { stride: c.s, padding: c.p }), [x, w, b]);
    });
  }
  it('grouped conv (groups 2)', () => {
    check(
      (xx, ww) => F.conv2d(xx, ww, null, { stride: 1, padding: 1, groups: 2 }),
      [leaf64([1, 4, 4, 4], 33), leaf64([4, 2, 3, 3], 34)],
    );
  });
});

describe('gradcheck: BiT layers', () => {
  it('maxPool2d 3x3/2 after a zero pad of 1 (the stem), explicit and fused', () => {
    check((x) => F.maxPool2d(x.pad([1, 1, 1, 1], 0), 3, 2), [leaf64([2, 2, 6, 6], 40)]);
    check((x) => F.maxPool2d(x, 3, 2, 1, 0), [leaf64([2, 2, 6, 6], 40)]);
  });
  it('the fused zero-padded max-pool equals pad + pool exactly, values and gradients', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 1e6 }),
        (h, w, sd) => {
          // shifted down so the zero padding wins many windows
          const x1 = leaf64([2, 3, h, w], sd).sub(0.6).detach().requiresGrad_();
          const x2 = x1.detach().requiresGrad_();
          const y1 = F.maxPool2d(x1.pad([1, 1, 1, 1], 0), 3, 2);
          const y2 = F.maxPool2d(x2, 3, 2, 1, 0);
          expect(y2.shape).toEqual(y1.shape);
          expect(Array.from(y2.dataSync())).toEqual(Array.from(y1.dataSync()));
          const dy = leaf64([...y1.shape], sd + 1, { grad: false });
          y1.mul(dy).sum().backward();
          y2.mul(dy).sum().backward();
          expect(Array.from(x2.grad!.dataSync())).toEqual(Array.from(x1.grad!.dataSync()));
        },
      ),
      { numRuns: 40 },
    );
  });
  it('maxPool2d with -inf padding and avgPool2d', () => {
    check((x) => F.maxPool2d(x, 2, 2, 1), [leaf64([1, 2, 5, 5], 41)]);
    check((x) => F.avgPool2d(x, 2, 1), [leaf64([1, 2, 4, 4], 42)]);
  });
  it('groupNorm (x, gamma, beta)', () => {
    check((x, g, b) => F.groupNorm(x, 2, g, b, 1e-5), [leaf64([2, 4, 3, 3], 43), leaf64([4], 44), leaf64([4], 45)]);
  });
  it('weightStandardize', () => {
    check((w) => F.weightStandardize(w, 1e-10), [leaf64([3, 2, 3, 3], 46)]);
  });
  it('StdConv -> GN -> ReLU chain', () => {
    check(
      (x, w) =>
        F.groupNorm(
          F.conv2d(x, F.weightStandardize(w), null, { padding: 1 }),
          2,
          F.ones([4], { dtype: 'float64', backend: ref64 }),
          F.zeros([4], { dtype: 'float64', backend: ref64 }),
        ).relu(),
      [leaf64([1, 2, 4, 4], 47), leaf64([4, 2, 3, 3], 48)],
    );
  });
});

describe('gradcheck itself', () => {
  it('detects a wrong gradient', async () => {
    const { gradcheck } = await import('../../src/autograd/gradcheck.js');
    // abs has gradient sign(x); |x| near a kink with eps larger than |x| disagrees numerically
    const x = F.tensor([1e-8, 2], { dtype: 'float64', requiresGrad: true });
    const r = gradcheck((t) => t.abs(), [x], { eps: 1e-3 });
    expect(r.ok).toBe(false);
  });
});
