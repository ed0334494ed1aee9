/**
 * Golden values from PyTorch (scripts/gen-fixtures.py, committed JSON): conv2d forward and gradients for the
 * BiT stride/padding cases, GroupNorm, weight standardization, the stem's zero pad + max-pool, cross-entropy.
 * Runs on the default (reference) backend in float32.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { expectClose, TOL } from '../tolerances.js';

interface Arr {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  inputs: Record<string, Arr>;
  outputs: Record<string, Arr>;
}
const golden: { torch_version: string; cases: Case[] } = JSON.parse(
  readFileSync(new URL('../fixtures/engine/golden.json', import.meta.url), 'utf8'),
);
const byName = (n: string) => golden.cases.find((c) => c.name === n)!;
const leaf = (a: Arr) => F.fromTyped(a.data, a.shape, { requiresGrad: true });
const cmp = (t: Tensor, a: Arr, what: string) => {
  expect([...t.shape]).toEqual(a.shape);
  expectClose(t.dataSync(), a.data, TOL.golden, what);
};

describe(`golden values from PyTorch ${golden.torch_version}`, () => {
  for (const c of golden.cases.filter((q) => q.name.startsWith('conv2d'))) {
    it(c.name, () => {
      const [, k, s, p] = /k(\d+)_s(\d+)_p(\d+)/.exec(c.name)!.map(Number);
      expect(k).toBe(c.inputs.w.shape[2]);
      const x = leaf(c.inputs.x);
      const w = leaf(c.inputs.w);
      const y = F.conv2d(x, w, null, { stride: s, padding: p });
      y.backward(F.fromTyped(c.inputs.gy.data, c.inputs.gy.shape));
      cmp(y, c.outputs.y, 'y');
      cmp(x.grad!, c.outputs.gx, 'gx');
      cmp(w.grad!, c.outputs.gw, 'gw');
    });
  }
  it('group_norm_4', () => {
    const c = byName('group_norm_4');
    const [x, g, b] = [leaf(c.inputs.x), leaf(c.inputs.gamma), leaf(c.inputs.beta)];
    const y = F.groupNorm(x, 4, g, b, 1e-5);
    y.backward(F.fromTyped(c.inputs.gy.data, c.inputs.gy.shape));
    cmp(y, c.outputs.y, 'y');
    cmp(x.grad!, c.outputs.gx, 'gx');
    cmp(g.grad!, c.outputs.ggamma, 'ggamma');
    cmp(b.grad!, c.outputs.gbeta, 'gbeta');
  });
  it('weight_standardize (eps 1e-10)', () => {
    const c = byName('weight_standardize');
    const w = leaf(c.inputs.w);
    const y = F.weightStandardize(w, 1e-10);
    y.backward(F.fromTyped(c.inputs.gy.data, c.inputs.gy.shape));
    cmp(y, c.outputs.y, 'y');
    cmp(w.grad!, c.outputs.gw, 'gw');
  });
  it('stem zero pad + maxpool 3x3/2', () => {
    const c = byName('stem_pad_maxpool');
    const x = leaf(c.inputs.x);
    const y = F.maxPool2d(x.pad([1, 1, 1, 1], 0), 3, 2);
    y.backward(F.fromTyped(c.inputs.gy.data, c.inputs.gy.shape));
    cmp(y, c.outputs.y, 'y');
    cmp(x.grad!, c.outputs.gx, 'gx');
  });
  it('cross_entropy via logSoftmax and a one-hot mask', () => {
    const c = byName('cross_entropy');
    const logits = leaf(c.inputs.logits);
    const [n, k] = c.inputs.logits.shape;
    const onehot = F.zeros([n, k]);
    const oh = new Float32Array(n * k);
    c.inputs.labels.data.forEach((l, i) => {
      oh[i * k + l] = 1;
    });
    onehot.copy_(F.fromTyped(oh, [n, k]));
    const loss = logits.logSoftmax(1).mul(onehot).sum(1).mean().neg();
    loss.backward();
    expectClose([loss.item()], c.outputs.loss.data, TOL.golden, 'loss');
    cmp(logits.grad!, c.outputs.glogits, 'glogits');
  });
});
