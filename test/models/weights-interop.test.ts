/**
 * The state-dict contract between our models and the weight-file layer: every parameter name of every named
 * model matches the readers' name pattern, and a model's weights survive the round trips through the official
 * BiT .npz names (HWIO) and MindCV names, reproducing the same outputs; the BiT head rule drops a head of a
 * different class count, which resetClassifier then zero-initializes.
 */

import { describe, expect, it } from 'vitest';
import {
  createModel,
  fromBitNpz,
  fromMindCV,
  listModels,
  matchStateDict,
  type NamedArray,
  OUR_NAME,
  parameterShapes,
  type ResNetV2,
  toBitNpz,
  toMindCV,
  type WeightMap,
} from '../../src/models/index.js';
import { noGrad, Rng, randn, tidy } from '../../src/tensor/index.js';

function toWeightMap(m: ResNetV2): WeightMap {
  const out: WeightMap = new Map();
  for (const [name, t] of m.stateDict()) {
    const a: NamedArray = { name, shape: [...t.shape], dtype: 'float32', data: Float32Array.from(t.dataSync()) };
    out.set(name, a);
  }
  return out;
}

const asState = (w: WeightMap) =>
  new Map([...w].map(([k, a]) => [k, { shape: a.shape, data: a.data as Float32Array }]));

const run = (m: ResNetV2) =>
  tidy(() => noGrad(() => [...m.forward(randn([2, 3, 32, 32], { rng: new Rng(5) })).dataSync()]));

describe('weights interop', () => {
  it('every parameter name of every model is one the readers know', () => {
    for (const name of listModels()) {
      for (const [k] of parameterShapes(name, 10)) expect(OUR_NAME.test(k), `${name}: ${k}`).toBe(true);
    }
  });

  it('round trips through BiT .npz and MindCV names reproduce the outputs', () => {
    const a = createModel('bit-tiny', { numClasses: 5, seed: 1 });
    const want = run(a);
    const w = toWeightMap(a);
    for (const [to, from] of [
      [toBitNpz, fromBitNpz],
      [toMindCV, fromMindCV],
    ] as const) {
      const there = to(w);
      expect(there.unexpected).toEqual([]);
      const back = from(there.weights);
      expect(back.unexpected).toEqual([]);
      const b = createModel('bit-tiny', { numClasses: 5, seed: 2 });
      expect(b.loadStateDict(asState(back.weights))).toEqual({ missing: [], unexpected: [] });
      expect(run(b)).toEqual(want);
      b.dispose();
    }
    a.dispose();
  });

  it('head rule: a 5-class file into a 3-class model drops the head; resetClassifier zeroes it', () => {
    const a = createModel('bit-tiny', { numClasses: 5, seed: 1 });
    const b = createModel('bit-tiny', { numClasses: 3, seed: 2 });
    const expected = new Map(b.namedParameters().map(([k, p]) => [k, [...p.shape]]));
    const r = matchStateDict(expected, toWeightMap(a), { numClasses: 3 });
    expect(r.headDropped).toEqual({ fileClasses: 5, numClasses: 3 });
    expect(r.missing).toEqual([]);
    const res = b.loadStateDict(asState(r.weights), { strict: false });
    expect(res.missing).toEqual(['head.fc.weight', 'head.fc.bias']);
    b.resetClassifier(3);
    expect(run(b).every((v) => v === 0)).toBe(true);
    a.dispose();
    b.dispose();
  });
});
