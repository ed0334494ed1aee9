/**
 * Ghost batch norm (BatchNorm2d `ghostBatch`, the simulated devices of the miniature Table 4): statistics per
 * micro-batch of g images equal BN run separately on each chunk (outputs, input and parameter gradients of a
 * mean loss over the whole batch, running statistics), a batch that is not a multiple of g is refused, eval
 * mode is unchanged, and at model level a BN ResNetV2 with bnGhostBatch equals per-chunk forwards while a
 * GN model ignores the option; the training config refuses bn_ghost_batch without model_norm 'bn'.
 */

import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { createModel } from '../../src/models/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { fromTyped, Rng, randn, tidy } from '../../src/tensor/index.js';
import { applyConfig, defaultConfig, validateConfig } from '../../src/train/config.js';
import { expectClose, TOL } from '../tolerances.js';

const data = (shape: number[], seed: number) =>
  Float32Array.from(randn(shape, { rng: new Rng(seed) }).dataSync(), (v, i) => v * (1 + (i % 5)) + (i % 3));

/** Ghost BN with g = 4 on an [8, C, H, W] batch vs two plain BNs on its halves. */
function compare(seed: number) {
  const [n, c, h, w] = [8, 3, 3, 2];
  const per = c * h * w;
  const xd = data([n, c, h, w], seed);
  const rd = data([n, c, h, w], seed + 1);
  const ghost = new BatchNorm2d(c, { ghostBatch: 4 });
  const x = fromTyped(xd, [n, c, h, w], { requiresGrad: true });
  const y = tidy(() => {
    const out = ghost.forward(x);
    // mean loss over the whole batch: (1/n) sum_i <y_i, r_i>
    out
      .mul(fromTyped(rd, [n, c, h, w]))
      .sum()
      .div(n)
      .backward();
    return out.dataSync();
  });
  const chunks = [0, 1].map((k) => {
    const bn = new BatchNorm2d(c);
    const xk = fromTyped(xd.slice(k * 4 * per, (k + 1) * 4 * per), [4, c, h, w], { requiresGrad: true });
    const yk = tidy(() => {
      const out = bn.forward(xk);
      out
        .mul(fromTyped(rd.slice(k * 4 * per, (k + 1) * 4 * per), [4, c, h, w]))
        .sum()
        .div(n)
        .backward();
      return out.dataSync();
    });
    return { bn, xk, yk };
  });
  return { ghost, x, y, chunks, c };
}

describe('BatchNorm2d ghostBatch', () => {
  it('equals per-chunk BN: outputs, gradients of a whole-batch mean loss, running statistics', () => {
    const { ghost, x, y, chunks, c } = compare(3);
    const cat = (f: (k: (typeof chunks)[number]) => ArrayLike<number>) => [
      ...Array.from(f(chunks[0]!)),
      ...Array.from(f(chunks[1]!)),
    ];
    expectClose(
      y,
      cat((k) => k.yk),
      TOL.groupNormFwd,
      'output',
    );
    expectClose(
      x.grad!.dataSync(),
      cat((k) => k.xk.grad!.dataSync()),
      TOL.groupNormGrad,
      'dx',
    );
    const sum2 = (f: (k: (typeof chunks)[number]) => ArrayLike<number>) => {
      const a = Array.from(f(chunks[0]!));
      const b = f(chunks[1]!);
      return a.map((v, i) => v + b[i]!);
    };
    expectClose(
      ghost.weight!.grad!.dataSync(),
      sum2((k) => k.bn.weight!.grad!.dataSync()),
      TOL.groupNormGrad,
      'dw',
    );
    expectClose(
      ghost.bias!.grad!.dataSync(),
      sum2((k) => k.bn.bias!.grad!.dataSync()),
      TOL.groupNormGrad,
      'db',
    );
    // running stats move once, toward the mean of the two devices' statistics
    const avg = (f: (k: (typeof chunks)[number]) => ArrayLike<number>) => sum2(f).map((v) => v / 2);
    expectClose(
      ghost.runningMean.dataSync(),
      avg((k) => k.bn.runningMean.dataSync()),
      TOL.groupNormFwd,
      'mean',
    );
    expectClose(
      ghost.runningVar.dataSync(),
      avg((k) => k.bn.runningVar.dataSync()),
      TOL.groupNormFwd,
      'var',
    );
    expect(ghost.numBatchesTracked.dataSync()[0]).toBe(1);
    // and differs from whole-batch BN (the statistics really are per chunk)
    const whole = new BatchNorm2d(c);
    const yw = tidy(() => whole.forward(fromTyped(x.dataSync(), x.shape)).dataSync());
    expect(Math.max(...yw.map((v, i) => Math.abs(v - y[i]!)))).toBeGreaterThan(1e-2);
  });

  it('refuses a batch that is not a multiple of the ghost batch; eval mode uses running stats', () => {
    const bn = new BatchNorm2d(2, { ghostBatch: 4 });
    expect(() => tidy(() => bn.forward(fromTyped(data([6, 2, 2, 2], 1), [6, 2, 2, 2])))).toThrow(ShapeError);
    bn.eval();
    const x = data([6, 2, 2, 2], 2);
    const y = tidy(() => bn.forward(fromTyped(x, [6, 2, 2, 2])).dataSync());
    // fresh running stats (mean 0, var 1): eval output is x / sqrt(1 + eps)
    expectClose(
      y,
      x.map((v) => v / Math.sqrt(1 + 1e-5)),
      TOL.elementwise,
      'eval',
    );
  });

  it('a BN ResNetV2 with bnGhostBatch equals per-chunk forwards; GN ignores the option', () => {
    const xd = data([8, 3, 32, 32], 7);
    const per = 3 * 32 * 32;
    const run = (norm: 'bn' | 'gn', ghost: number, x: Float32Array, n: number) => {
      const m = createModel('bit-tiny', { numClasses: 5, seed: 1, norm, bnGhostBatch: ghost });
      const out = tidy(() => m.forward(fromTyped(x, [n, 3, 32, 32])).dataSync());
      m.dispose();
      return out;
    };
    const ghostOut = run('bn', 4, xd, 8);
    const halves = [...run('bn', 0, xd.slice(0, 4 * per), 4), ...run('bn', 0, xd.slice(4 * per), 4)];
    expectClose(ghostOut, halves, TOL.linear, 'bn model');
    const whole = run('bn', 0, xd, 8);
    expect(Math.max(...whole.map((v, i) => Math.abs(v - ghostOut[i]!)))).toBeGreaterThan(1e-4);
    expect(Array.from(run('gn', 4, xd, 8))).toEqual(Array.from(run('gn', 0, xd, 8)));
  });

  it('config: bn_ghost_batch needs model_norm bn and must divide the batch', () => {
    const cfg = (v: Record<string, unknown>) => validateConfig(applyConfig(defaultConfig(), v, 'test'));
    expect(() => cfg({ bn_ghost_batch: 4 })).toThrow(ConfigError);
    expect(() => cfg({ bn_ghost_batch: 5, model_norm: 'bn', batch_size: 32 })).toThrow(/divide batch_size/);
    expect(() => cfg({ bn_ghost_batch: 4, model_norm: 'bn', batch_size: 32 })).not.toThrow();
    expect(() => cfg({ model_norm: 'ln' })).toThrow(/gn or bn/);
  });
});
