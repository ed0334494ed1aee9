/**
 * Losses against hand-computed values: softmax CE (every label form, reductions), its gradient
 * (softmax - onehot)/N from autograd, label smoothing against PyTorch's formula, MixUp as the convex
 * combination of two CEs, sigmoid CE against the textbook formula and stable for large logits.
 */

import { describe, expect, it } from 'vitest';
import { IndexError } from '../../src/errors.js';
import { crossEntropy, mixupCrossEntropy, sigmoidCrossEntropy } from '../../src/nn/index.js';
import { fromTyped, tensor, tidy } from '../../src/tensor/index.js';
import { expectClose, TOL } from '../tolerances.js';

const L = [
  [1, 2, 3, 0.5],
  [1, 0, -1, 2],
  [-2, 4, 0.3, 0],
];
const Y = [2, 0, 1];

function logp(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}
const ce = (row: number[], y: number) => -logp(row)[y];
const smoothCe = (row: number[], y: number, eps: number) =>
  (1 - eps) * ce(row, y) + (eps * -logp(row).reduce((s, v) => s + v, 0)) / row.length;

describe('crossEntropy', () => {
  it('equals -log softmax at the label for number[], Int32Array and float Tensor labels', () => {
    const per = L.map((r, i) => ce(r, Y[i]));
    for (const labels of [Y, Int32Array.from(Y), tensor(Y)]) {
      tidy(() => {
        const lg = tensor(L);
        expectClose(crossEntropy(lg, labels, { reduction: 'none' }).dataSync(), per, TOL.elementwise, 'none');
        expect(crossEntropy(lg, labels).item()).toBeCloseTo(per.reduce((a, b) => a + b) / 3, 5);
        expect(crossEntropy(lg, labels, { reduction: 'sum' }).item()).toBeCloseTo(
          per.reduce((a, b) => a + b),
          5,
        );
      });
    }
  });

  it('gradient is (softmax - onehot) / N', () => {
    tidy(() => {
      const lg = tensor(L, { requiresGrad: true });
      crossEntropy(lg, Y).backward();
      const want = L.flatMap((r, i) => logp(r).map((v, c) => (Math.exp(v) - (c === Y[i] ? 1 : 0)) / 3));
      expectClose(lg.grad!.dataSync(), want, TOL.elementwise, 'ce grad');
    });
  });

  it('label smoothing follows (1-eps)*CE + eps*mean_c(-log p_c)', () => {
    tidy(() => {
      const per = L.map((r, i) => smoothCe(r, Y[i], 0.1));
      const got = crossEntropy(tensor(L), Y, { labelSmoothing: 0.1, reduction: 'none' }).dataSync();
      expectClose(got, per, TOL.elementwise, 'smoothing');
    });
  });

  it('soft targets [N, C] are used as probabilities', () => {
    tidy(() => {
      const t = [
        [0.5, 0.5, 0, 0],
        [0, 0, 0, 1],
        [0.25, 0.25, 0.25, 0.25],
      ];
      const want = L.map((r, i) => -logp(r).reduce((s, v, c) => s + v * t[i][c], 0));
      expectClose(crossEntropy(tensor(L), tensor(t), { reduction: 'none' }).dataSync(), want, TOL.elementwise, 'soft');
    });
  });

  it('labels out of range throw IndexError', () => {
    tidy(() => {
      expect(() => crossEntropy(tensor(L), [0, 4, 1])).toThrow(IndexError);
      expect(() => crossEntropy(tensor(L), [0, -1, 1])).toThrow(IndexError);
    });
  });
});

describe('mixupCrossEntropy', () => {
  it('equals l*CE(yA) + (1-l)*CE(yB), with and without smoothing, value and gradient', () => {
    const yB = [1, 3, 1];
    const lam = 0.3;
    tidy(() => {
      const want = L.map((r, i) => lam * ce(r, Y[i]) + (1 - lam) * ce(r, yB[i]));
      const got = mixupCrossEntropy(tensor(L), Y, yB, lam, { reduction: 'none' }).dataSync();
      expectClose(got, want, TOL.elementwise, 'mixup');
      const wantS = L.map((r, i) => lam * smoothCe(r, Y[i], 0.1) + (1 - lam) * smoothCe(r, yB[i], 0.1));
      const gotS = mixupCrossEntropy(tensor(L), Y, yB, lam, { reduction: 'none', labelSmoothing: 0.1 }).dataSync();
      expectClose(gotS, wantS, TOL.elementwise, 'mixup smoothing');

      const a = tensor(L, { requiresGrad: true });
      mixupCrossEntropy(a, Y, yB, lam).backward();
      const b = tensor(L, { requiresGrad: true });
      crossEntropy(b, Y)
        .mul(lam)
        .add(crossEntropy(b, yB).mul(1 - lam))
        .backward();
      expectClose(a.grad!.dataSync(), b.grad!.dataSync(), TOL.elementwise, 'mixup grad');
    });
  });
});

describe('sigmoidCrossEntropy', () => {
  it('matches -(t log s + (1-t) log(1-s)), mean over all elements', () => {
    const t = [
      [1, 0, 1, 0],
      [0, 0, 1, 1],
      [0.5, 1, 0, 0],
    ];
    const want = L.flatMap((r, i) =>
      r.map((x, c) => {
        const s = 1 / (1 + Math.exp(-x));
        return -(t[i][c] * Math.log(s) + (1 - t[i][c]) * Math.log(1 - s));
      }),
    );
    tidy(() => {
      expectClose(
        sigmoidCrossEntropy(tensor(L), tensor(t), { reduction: 'none' }).dataSync(),
        want,
        TOL.elementwise,
        'bce',
      );
      expect(sigmoidCrossEntropy(tensor(L), t.flat()).item()).toBeCloseTo(want.reduce((a, b) => a + b) / 12, 5);
      // gradient: (sigmoid(x) - t) / (N*C)
      const x = tensor(L, { requiresGrad: true });
      sigmoidCrossEntropy(x, tensor(t)).backward();
      const g = L.flatMap((r, i) => r.map((v, c) => (1 / (1 + Math.exp(-v)) - t[i][c]) / 12));
      expectClose(x.grad!.dataSync(), g, TOL.elementwise, 'bce grad');
    });
  });

  it('is finite for large logits', () => {
    tidy(() => {
      const v = sigmoidCrossEntropy(fromTyped([100, -100, 80, -80], [1, 4]), [0, 1, 1, 0], { reduction: 'none' });
      expectClose(v.dataSync(), [100, 100, 0, 0], TOL.elementwise, 'large');
    });
  });
});
