/**
 * Bad input gets a named error naming the op and the shapes, never a silent NaN or a wrong shape.
 */

import { describe, expect, it } from 'vitest';
import { AutogradError, BackendError, DTypeError, IndexError, ShapeError } from '../../src/errors.js';
import * as F from '../../src/tensor/index.js';

describe('named errors', () => {
  it('shape mismatches', () => {
    expect(() => F.zeros([2, 3]).matmul(F.zeros([4, 2]))).toThrow(ShapeError);
    expect(() => F.zeros([2, 3]).matmul(F.zeros([4, 2]))).toThrow(/matmul: inner dims differ: \[2,3\] x \[4,2\]/);
    expect(() => F.zeros([2, 3]).reshape([4, 2])).toThrow(/reshape: cannot reshape \[2,3\]/);
    expect(() => F.conv2d(F.zeros([1, 3, 4, 4]), F.zeros([2, 2, 3, 3]))).toThrow(ShapeError);
    expect(() => F.conv2d(F.zeros([1, 3, 2, 2]), F.zeros([2, 3, 7, 7]))).toThrow(/kernel 7x7 larger/);
    expect(() => F.groupNorm(F.zeros([1, 6, 2]), 4, F.ones([6]), F.zeros([6]))).toThrow(/not divisible by 4 groups/);
    expect(() => F.zeros([2, 3]).transpose(0, 1).view([6])).toThrow(/not contiguous/);
    expect(() => F.fromTyped([1, 2, 3], [2, 2])).toThrow(ShapeError);
  });
  it('wrong dtypes', () => {
    expect(() => F.zeros([2]).add(F.zeros([2], { dtype: 'float64' }))).toThrow(DTypeError);
  });
  it('out-of-range axes', () => {
    expect(() => F.zeros([2, 3]).sum(2)).toThrow(IndexError);
    expect(() => F.zeros([2, 3]).sum(2)).toThrow(/sum: axis 2 out of range for a tensor of 2 dims/);
    expect(() => F.zeros([2, 3]).permute([0, 0])).toThrow(ShapeError);
    expect(() => F.zeros([2]).item()).toThrow(/item: tensor has 2 elements/);
  });
  it('backward through a non-differentiable path or twice through a freed graph', () => {
    const x = F.ones([3], { requiresGrad: true });
    expect(() => x.gt(0).sum().backward()).toThrow(AutogradError);
    const y = x.mul(2).sum();
    y.backward();
    expect(() => y.backward()).toThrow(/already freed/);
    expect(() => x.mul(2).backward()).toThrow(/gradient is needed for non-scalar output of shape \[3\]/);
  });
  it('in-place writes that would corrupt autograd', () => {
    const w = F.ones([3], { requiresGrad: true });
    expect(() => w.add_(1)).toThrow(AutogradError);
    const a = F.ones([3], { requiresGrad: true });
    const b = F.ones([3]);
    const y = a.mul(b).sum();
    b.add_(1);
    expect(() => y.backward()).toThrow(/modified in place/);
    F.noGrad(() => w.add_(1));
    expect(Array.from(w.dataSync())).toEqual([2, 2, 2]);
  });
  it('use after dispose', () => {
    const t = F.ones([2]);
    t.dispose();
    expect(() => t.add(1)).toThrow(BackendError);
  });
});
