/**
 * The tape's contract: gradients accumulate across backward calls, retainGraph allows a second backward,
 * noGrad records nothing, detach cuts the graph, retainGrad keeps a non-leaf gradient, a shared input sums the
 * gradients of its uses, and max/min report values with indices.
 */

import { describe, expect, it } from 'vitest';
import * as F from '../../src/tensor/index.js';

describe('autograd tape', () => {
  it('accumulates leaf gradients across backward calls; retainGraph allows a second pass', () => {
    const x = F.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward(undefined, { retainGraph: true });
    expect(Array.from(x.grad!.dataSync())).toEqual([2, 4, 6]);
    y.backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([4, 8, 12]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });
  it('a tensor used twice receives the sum of both gradients', () => {
    const x = F.tensor([2, -1], { requiresGrad: true });
    x.mul(3).add(x.exp()).sum().backward();
    const g = x.grad!.dataSync();
    expect(g[0]).toBeCloseTo(3 + Math.exp(2), 5);
    expect(g[1]).toBeCloseTo(3 + Math.exp(-1), 5);
  });
  it('noGrad records nothing; detach cuts the graph', () => {
    const x = F.tensor([1, 2], { requiresGrad: true });
    const y = F.noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = x.detach().mul(2).add(x).sum();
    z.backward();
    expect(Array.from(x.grad!.dataSync())).toEqual([1, 1]);
  });
  it('retainGrad keeps the gradient of a non-leaf; a seed gradient scales the result', () => {
    const x = F.tensor([1, 2], { requiresGrad: true });
    const h = x.mul(3).retainGrad();
    h.mul(h).backward(F.tensor([1, 0.5]));
    expect(Array.from(h.grad!.dataSync())).toEqual([6, 6]);
    expect(Array.from(x.grad!.dataSync())).toEqual([18, 18]);
  });
  it('max/min with indices (first occurrence), values differentiable', () => {
    const x = F.tensor(
      [
        [1, 5, 5],
        [7, 0, -2],
      ],
      { requiresGrad: true },
    );
    const { values, indices } = x.maxWithIndices(1);
    expect(values.toArray()).toEqual([5, 7]);
    expect(indices.toArray()).toEqual([1, 0]);
    values.sum().backward();
    expect(x.grad!.toArray()).toEqual([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    expect(x.minWithIndices(0).indices.toArray()).toEqual([0, 1, 1]);
  });
});
