/**
 * Layers: StdConv2d properties from the spec (filter mean 0 and variance v/(v+eps), invariance to W -> aW + b,
 * constant filter -> 0, gradient orthogonal to the constant direction and to W - mean), GroupNorm against the
 * composite of basic ops (forward and gradients), BatchNorm2d train/eval and running statistics, pooling, pad,
 * Linear, Dropout.
 */

import { describe, expect, it } from 'vitest';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  ConstantPad2d,
  type Conv2d,
  Dropout,
  Flatten,
  GroupNorm,
  Linear,
  StdConv2d,
} from '../../src/nn/index.js';
import { conv2d, fromTyped, Rng, randn, type Tensor, tidy } from '../../src/tensor/index.js';
import { expectClose, TOL } from '../tolerances.js';

const rnd = (shape: number[], seed: number, opts: { requiresGrad?: boolean } = {}) =>
  randn(shape, { rng: new Rng(seed), ...opts });

function setWeight(c: Conv2d, values: ArrayLike<number>) {
  c.loadStateDict({ weight: { shape: c.weight.shape, data: values } }, { strict: false });
}

/** Per-filter mean and biased variance of a [O, ...] array. */
function filterStats(d: ArrayLike<number>, o: number) {
  const k = d.length / o;
  return Array.from({ length: o }, (_, i) => {
    let m = 0;
    for (let j = 0; j < k; j++) m += d[i * k + j];
    m /= k;
    let v = 0;
    for (let j = 0; j < k; j++) v += (d[i * k + j] - m) ** 2;
    return { m, v: v / k, k };
  });
}

describe('StdConv2d', () => {
  it('standardized filters have mean 0 and variance v/(v+eps)', () => {
    const eps = 1e-2;
    const c = new StdConv2d(3, 4, 3, { eps, rng: new Rng(1) });
    const raw = c.weight.dataSync().map((v, i) => v * 0.1 * (1 + (i % 7)) + 0.05);
    setWeight(c, raw);
    const raws = filterStats(raw, 4);
    const std = tidy(() => c.effectiveWeight().dataSync());
    filterStats(std, 4).forEach((s, o) => {
      expect(Math.abs(s.m)).toBeLessThan(1e-6);
      expect(s.v).toBeCloseTo(raws[o].v / (raws[o].v + eps), 5);
    });
    c.dispose();
  });

  it('output is invariant to W -> aW + b (a > 0); a constant filter gives 0, not NaN', () => {
    const c = new StdConv2d(3, 4, 3, { padding: 1, rng: new Rng(2) });
    const x = rnd([2, 3, 6, 6], 3);
    const y0 = tidy(() => c.forward(x).dataSync());
    const w = c.weight.dataSync();
    setWeight(
      c,
      w.map((v) => 3.5 * v - 0.7),
    );
    expectClose(
      tidy(() => c.forward(x).dataSync()),
      y0,
      TOL.linear,
      'affine invariance',
    );
    setWeight(c, new Float32Array(w.length).fill(0.25));
    const yc = tidy(() => c.forward(x).dataSync());
    expect(yc.every((v) => v === 0)).toBe(true);
    c.dispose();
  });

  it('the gradient w.r.t. W is orthogonal to the constant direction and to W - mean, per filter', () => {
    const c = new StdConv2d(3, 5, 3, { rng: new Rng(4) });
    tidy(() => {
      const y = c.forward(rnd([2, 3, 7, 7], 5));
      y.mul(rnd([...y.shape], 6))
        .sum()
        .backward();
    });
    const g = c.weight.grad!.dataSync();
    const w = c.weight.dataSync();
    const stats = filterStats(w, 5);
    stats.forEach(({ m, k }, o) => {
      let sg = 0;
      let sgw = 0;
      let ng = 0;
      let nw = 0;
      for (let j = 0; j < k; j++) {
        const gi = g[o * k + j];
        const wc = w[o * k + j] - m;
        sg += gi;
        sgw += gi * wc;
        ng += gi * gi;
        nw += wc * wc;
      }
      const scale = Math.sqrt(ng);
      expect(Math.abs(sg) / (scale * Math.sqrt(k))).toBeLessThan(1e-5);
      expect(Math.abs(sgw) / (scale * Math.sqrt(nw))).toBeLessThan(1e-5);
    });
    c.dispose();
  });

  it('equals conv2d with the hand-standardized kernel; eps defaults to 1e-10', () => {
    const c = new StdConv2d(2, 3, 3, { stride: 2, padding: 1, rng: new Rng(7) });
    expect(c.eps).toBe(1e-10);
    expect(new StdConv2d(1, 1, 1, { eps: 1e-8 }).eps).toBe(1e-8);
    const w = c.weight.dataSync();
    const hat = new Float32Array(w.length);
    filterStats(w, 3).forEach(({ m, v, k }, o) => {
      for (let j = 0; j < k; j++) hat[o * k + j] = (w[o * k + j] - m) / Math.sqrt(v + 1e-10);
    });
    const x = rnd([1, 2, 5, 5], 8);
    const want = tidy(() => conv2d(x, fromTyped(hat, c.weight.shape), null, { stride: 2, padding: 1 }).dataSync());
    expectClose(
      tidy(() => c.forward(x).dataSync()),
      want,
      TOL.linear,
      'stdconv',
    );
    c.dispose();
  });
});

/** GroupNorm from basic ops: reshape to [N, G, -1], mean, biased var, normalize, affine. */
function gnComposite(x: Tensor, groups: number, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const [n, c] = x.shape;
  const xr = x.reshape([n, groups, x.size / (n * groups)]);
  const mu = xr.mean(2, true);
  const xc = xr.sub(mu);
  const v = xc.mul(xc).mean(2, true);
  const xhat = xc.div(v.add(eps).sqrt()).reshape([...x.shape]);
  const bshape = [1, c, ...x.shape.slice(2).map(() => 1)];
  return xhat.mul(gamma.reshape(bshape)).add(beta.reshape(bshape));
}

describe('GroupNorm', () => {
  it('matches the composite forward and gradients (x, gamma, beta)', () => {
    const gn = new GroupNorm(4, 8);
    gn.loadStateDict({
      weight: { shape: [8], data: Array.from({ length: 8 }, (_, i) => 1 + 0.1 * i) },
      bias: { shape: [8], data: Array.from({ length: 8 }, (_, i) => 0.05 * i - 0.2) },
    });
    const xData = rnd([2, 8, 3, 3], 11)
      .dataSync()
      .map((v, i) => v * 2 + (i % 5));
    const r = rnd([2, 8, 3, 3], 12);
    const run = (f: (x: Tensor, g: Tensor, b: Tensor) => Tensor) =>
      tidy(() => {
        gn.zeroGrad();
        const x = fromTyped(xData, [2, 8, 3, 3], { requiresGrad: true });
        const y = f(x, gn.weight, gn.bias);
        y.mul(r).sum().backward();
        return [y.dataSync(), x.grad!.dataSync(), gn.weight.grad!.dataSync(), gn.bias.grad!.dataSync()];
      });
    const fused = run((x) => gn.forward(x));
    const comp = run((x, g, b) => gnComposite(x, 4, g, b, 1e-5));
    expectClose(fused[0], comp[0], TOL.groupNormFwd, 'gn forward');
    for (let i = 1; i < 4; i++) expectClose(fused[i], comp[i], TOL.groupNormGrad, `gn grad ${i}`);
    gn.dispose();
  });

  it('refuses channels not divisible by the group count', () => {
    expect(() => new GroupNorm(32, 48)).toThrow(/divisible/);
  });
});

describe('BatchNorm2d', () => {
  it('train: batch statistics normalize; running stats move with momentum 0.1 and unbiased variance', () => {
    const bn = new BatchNorm2d(3);
    const xd = rnd([4, 3, 2, 2], 21)
      .dataSync()
      .map((v, i) => v * (1 + (Math.floor(i / 4) % 3)) + 2);
    const x = fromTyped(xd, [4, 3, 2, 2]);
    const y = tidy(() => bn.forward(x).dataSync());
    const per = (d: ArrayLike<number>, c: number) => {
      const vals: number[] = [];
      for (let n = 0; n < 4; n++) for (let k = 0; k < 4; k++) vals.push(d[n * 12 + c * 4 + k]);
      return vals;
    };
    for (let c = 0; c < 3; c++) {
      const ys = per(y, c);
      const m = ys.reduce((a, b) => a + b, 0) / 16;
      const v = ys.reduce((a, b) => a + (b - m) ** 2, 0) / 16;
      expect(Math.abs(m)).toBeLessThan(1e-5);
      expect(v).toBeCloseTo(1, 3);
      const xs = per(xd, c);
      const xm = xs.reduce((a, b) => a + b, 0) / 16;
      const xv = xs.reduce((a, b) => a + (b - xm) ** 2, 0) / 15;
      expect(bn.runningMean.dataSync()[c]).toBeCloseTo(0.1 * xm, 5);
      expect(bn.runningVar.dataSync()[c]).toBeCloseTo(0.9 + 0.1 * xv, 5);
    }
    expect(bn.numBatchesTracked.item()).toBe(1);
    // eval: running statistics normalize
    bn.eval();
    const ye = tidy(() => bn.forward(x).dataSync());
    const rm = bn.runningMean.dataSync();
    const rv = bn.runningVar.dataSync();
    const want = xd.map((v, i) => {
      const c = Math.floor(i / 4) % 3;
      return (v - rm[c]) / Math.sqrt(rv[c] + 1e-5);
    });
    expectClose(ye, want, TOL.linear, 'bn eval');
    expect(bn.numBatchesTracked.item()).toBe(1);
    expect([...bn.stateDict().keys()]).toEqual([
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ]);
    bn.dispose();
  });

  it('train-mode gradient flows to x, weight and bias', () => {
    const bn = new BatchNorm2d(2);
    tidy(() => {
      const x = rnd([3, 2, 2, 2], 31, { requiresGrad: true });
      bn.forward(x)
        .mul(rnd([3, 2, 2, 2], 32))
        .sum()
        .backward();
      // the normalized output is invariant to a per-channel shift: dL/dx sums to 0 per channel
      const g = x.grad!.dataSync();
      for (let c = 0; c < 2; c++) {
        let s = 0;
        for (let n = 0; n < 3; n++) for (let k = 0; k < 4; k++) s += g[n * 8 + c * 4 + k];
        expect(Math.abs(s)).toBeLessThan(1e-5);
      }
    });
    expect(bn.weight!.grad).not.toBeNull();
    expect(bn.bias!.grad).not.toBeNull();
    bn.dispose();
  });
});

describe('simple layers', () => {
  it('ConstantPad2d pads with its value; AdaptiveAvgPool2d averages; Flatten flattens', () => {
    const x = fromTyped([1, 2, 3, 4], [1, 1, 2, 2]);
    const p = tidy(() => new ConstantPad2d(1, 0).forward(x).dataSync());
    expect([...p]).toEqual([0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0]);
    const a = tidy(() => new AdaptiveAvgPool2d(1).forward(x));
    expect(a.shape).toEqual([1, 1, 1, 1]);
    expect(a.item()).toBeCloseTo(2.5, 6);
    expect(tidy(() => new Flatten().forward(a).shape)).toEqual([1, 1]);
  });

  it('Linear computes x W^T + b', () => {
    const l = new Linear(3, 2, { rng: new Rng(3) });
    const x = fromTyped([1, 2, 3, -1, 0, 1], [2, 3]);
    const w = l.weight.dataSync();
    const b = l.bias!.dataSync();
    const want = [0, 1].flatMap((n) =>
      [0, 1].map((o) => b[o] + [0, 1, 2].reduce((s, i) => s + x.dataSync()[n * 3 + i] * w[o * 3 + i], 0)),
    );
    expectClose(
      tidy(() => l.forward(x).dataSync()),
      want,
      TOL.linear,
      'linear',
    );
    l.dispose();
  });

  it('Dropout: identity in eval; zeros about p and scales the rest by 1/(1-p) in train; seeded', () => {
    const x = fromTyped(new Float32Array(4000).fill(1), [4000]);
    const d = new Dropout(0.25, new Rng(9));
    const y = tidy(() => d.forward(x).dataSync());
    const zeros = y.filter((v) => v === 0).length;
    expect(Math.abs(zeros / 4000 - 0.25)).toBeLessThan(0.03);
    expect(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
    expect([...tidy(() => new Dropout(0.25, new Rng(9)).forward(x).dataSync())]).toEqual([...y]);
    d.eval();
    expect(d.forward(x)).toBe(x);
  });
});
