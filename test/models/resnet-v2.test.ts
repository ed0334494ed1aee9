/**
 * ResNetV2-BiT: golden forward and backward against an independent float64 PyTorch implementation
 * (scripts/gen-model-fixtures.py, weights in safetensors read with our reader), output shapes of a small
 * variant and of R50x1, the built R50x1's parameter list against the analytic one, freezing, BN/no-WS variants.
 * R50x1 runs at 32 px only (the reference backend's conv is slow); larger resolutions are checked through the
 * analytic spatial sizes.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createModel,
  decodeSafetensors,
  parameterShapes,
  type ResNetV2Config,
  resnetV2,
  resnetV2ParamShapes,
  resnetV2SpatialSizes,
  toFloat32,
} from '../../src/models/index.js';
import { fromTyped, noGrad, Rng, randn, tidy } from '../../src/tensor/index.js';
import { expectClose, TOL } from '../tolerances.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'models');

interface Golden {
  config: Omit<ResNetV2Config, 'seed'>;
  inputShape: number[];
  input: number[];
  logitsShape: number[];
  logits: number[];
  gradWeights: number[];
  inputGrad: number[];
  stemWeightGrad: number[];
  normWeightGrad: number[];
}

describe('ResNetV2 golden forward/backward (PyTorch float64 reference)', () => {
  it('matches logits, input gradient and weight gradients', () => {
    const g = JSON.parse(readFileSync(join(FIX, 'tiny-resnetv2.golden.json'), 'utf8')) as Golden;
    const st = decodeSafetensors(readFileSync(join(FIX, 'tiny-resnetv2.safetensors')), 'tiny-resnetv2.safetensors');
    const model = resnetV2({ ...g.config, seed: 1 });
    const sd = new Map([...st.weights].map(([k, a]) => [k, { shape: a.shape, data: toFloat32(a) }]));
    const r = model.loadStateDict(sd);
    expect(r).toEqual({ missing: [], unexpected: [] });
    tidy(() => {
      const x = fromTyped(g.input, g.inputShape, { requiresGrad: true });
      const y = model.forward(x);
      expect(y.shape).toEqual(g.logitsShape);
      expectClose(y.dataSync(), g.logits, TOL.linear, 'logits');
      y.mul(fromTyped(g.gradWeights, g.logitsShape)).sum().backward();
      expectClose(x.grad!.dataSync(), g.inputGrad, TOL.linear, 'input grad');
      const named = new Map(model.namedParameters());
      expectClose(named.get('stem.conv.weight')!.grad!.dataSync(), g.stemWeightGrad, TOL.linear, 'stem grad');
      expectClose(named.get('norm.weight')!.grad!.dataSync(), g.normWeightGrad, TOL.linear, 'norm grad');
    });
    model.dispose();
  });
});

describe('ResNetV2 shapes', () => {
  it('bit-tiny gives [N, C] at 32 and 128 px, and features without a classifier', () => {
    const m = createModel('bit-tiny', { numClasses: 10, seed: 3 });
    for (const res of [32, 128]) {
      const shape = tidy(() => noGrad(() => m.forward(randn([2, 3, res, res], { rng: new Rng(res) })).shape));
      expect(shape).toEqual([2, 10]);
    }
    const f = createModel('bit-tiny', { numClasses: 0 });
    expect(tidy(() => noGrad(() => f.forward(randn([1, 3, 32, 32])).shape))).toEqual([1, 512]);
    m.dispose();
    f.dispose();
  });

  it('spatial sizes follow the spec at 32, 128 and 224 px', () => {
    const cfg = { blockUnits: [3, 4, 6, 3], widthFactor: 1, numClasses: 1000 };
    expect(resnetV2SpatialSizes(cfg, 32)).toEqual({ stem: 8, stages: [8, 4, 2, 1] });
    expect(resnetV2SpatialSizes(cfg, 128)).toEqual({ stem: 32, stages: [32, 16, 8, 4] });
    expect(resnetV2SpatialSizes(cfg, 224)).toEqual({ stem: 56, stages: [56, 28, 14, 7] });
  });

  it('R50x1: 153 parameter tensors matching the analytic list, 25,549,352 weights, [1, 1000] at 32 px', () => {
    const m = createModel('BiT-R50x1', { numClasses: 1000, zeroHead: true });
    const built = m.namedParameters().map(([n, p]) => [n, [...p.shape]]);
    expect(built.length).toBe(153);
    expect(built).toEqual(parameterShapes('BiT-R50x1', 1000));
    expect(m.numParameters()).toBe(25_549_352);
    const y = tidy(() => noGrad(() => m.forward(randn([1, 3, 32, 32])).dataSync()));
    expect(y.length).toBe(1000);
    expect(y.every((v) => v === 0)).toBe(true); // zero head
    m.dispose();
  });
});

describe('ResNetV2 construction', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = createModel('bit-tiny', { numClasses: 3, seed: 7 });
    const b = createModel('bit-tiny', { numClasses: 3, seed: 7 });
    const c = createModel('bit-tiny', { numClasses: 3, seed: 8 });
    const w = (m: typeof a) => m.namedParameters()[0][1].dataSync();
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    for (const m of [a, b, c]) m.dispose();
  });

  it('kaiming fan_out init, GN 1/0, head N(0, 0.01) with zero bias', () => {
    const m = createModel('bit-small', { numClasses: 100, seed: 1 });
    const p = new Map(m.namedParameters());
    const std = (d: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i] * d[i];
      return Math.sqrt(s / d.length);
    };
    const c2 = p.get('stages.3.blocks.0.conv2.weight')!; // [256, 256, 3, 3]: fan_out 2304
    expect(std(c2.dataSync())).toBeCloseTo(Math.sqrt(2 / 2304), 3);
    expect(std(p.get('head.fc.weight')!.dataSync())).toBeCloseTo(0.01, 3);
    expect([...p.get('head.fc.bias')!.dataSync()].every((v) => v === 0)).toBe(true);
    expect([...p.get('norm.weight')!.dataSync()].every((v) => v === 1)).toBe(true);
    expect([...p.get('norm.bias')!.dataSync()].every((v) => v === 0)).toBe(true);
    m.dispose();
  });

  it('BN and no-WS ablation variants build, run and name BN buffers', () => {
    const cfg = { blockUnits: [1, 1, 1, 1], widthFactor: 1, baseWidth: 8, numClasses: 4, norm: 'bn' as const };
    const m = resnetV2({ ...cfg, ws: false });
    expect(m.stateDict().has('stages.0.blocks.0.norm1.running_mean')).toBe(true);
    expect(m.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual(resnetV2ParamShapes(cfg));
    expect(tidy(() => noGrad(() => m.forward(randn([2, 3, 32, 32])).shape))).toEqual([2, 4]);
    m.eval();
    expect(tidy(() => noGrad(() => m.forward(randn([1, 3, 32, 32])).shape))).toEqual([1, 4]);
    m.dispose();
  });

  it('GN group count must divide every width', () => {
    expect(() => resnetV2({ blockUnits: [1, 1, 1, 1], widthFactor: 1, baseWidth: 16, numClasses: 2 })).toThrow(
      /gnGroups/,
    );
  });

  it('frozen body: only the head gets gradients; resetClassifier gives a zero head', () => {
    const m = createModel('bit-tiny', { numClasses: 5, seed: 2 });
    m.requiresGrad_(false);
    m.resetClassifier(3);
    expect(m.numParameters(true)).toBe(512 * 3 + 3);
    tidy(() =>
      m
        .forward(randn([2, 3, 32, 32]))
        .sum()
        .backward(),
    );
    for (const [n, p] of m.namedParameters()) expect(p.grad !== null, n).toBe(n.startsWith('head.'));
    m.dispose();
  });
});
