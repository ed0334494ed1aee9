/**
 * Few-shot selection and stratified splits (property tests): exact per-class counts, no repeats, determinism per
 * seed, variation across seeds, DataError for short classes; and MixUp parameters, mixing and the reference loss.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mixBatch, mixupLabels, mixupNll, mixupParams } from '../../src/data/mixup.js';
import { Rng } from '../../src/data/rng.js';
import { fewShot, stratifiedSplit, stratifiedSubset } from '../../src/data/sampling.js';
import { ConfigError, DataError, ShapeError } from '../../src/errors.js';

const labelsArb = fc
  .record({ classes: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 200 }), seed: fc.integer() })
  .map(({ classes, n, seed }) => {
    const r = new Rng(seed);
    return Int32Array.from({ length: n }, () => r.nextInt(classes));
  });

function counts(labels: ArrayLike<number>, idx: ArrayLike<number>): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < idx.length; i++) m.set(labels[idx[i]!]!, (m.get(labels[idx[i]!]!) ?? 0) + 1);
  return m;
}

describe('fewShot', () => {
  it('exactly k distinct indices per class, same subset for the same seed (property)', () => {
    fc.assert(
      fc.property(labelsArb, fc.integer({ min: 1, max: 5 }), fc.integer(), (labels, k, seed) => {
        const per = counts(
          labels,
          labels.map((_, i) => i),
        );
        const minCount = Math.min(...per.values());
        const present = Math.max(...labels) + 1;
        if (per.size < present || minCount < k) {
          try {
            fewShot(labels, k, seed);
            return false;
          } catch (e) {
            return e instanceof DataError;
          }
        }
        const a = fewShot(labels, k, seed);
        const b = fewShot(labels, k, seed);
        if (a.length !== k * present || new Set(a).size !== a.length) return false;
        if ([...counts(labels, a).values()].some((c) => c !== k)) return false;
        return a.every((v, i) => v === b[i]);
      }),
      { numRuns: 200 },
    );
  });

  it('draws uniformly: each member of a class is picked with probability k/n', () => {
    const labels = new Int32Array(20); // one class of 20
    const hits = new Array(20).fill(0);
    for (let s = 0; s < 2000; s++) for (const i of fewShot(labels, 5, s)) hits[i]++;
    for (const h of hits) expect(Math.abs(h - 500)).toBeLessThan(90);
  });

  it('different seeds give different subsets; short or missing classes are DataErrors', () => {
    const labels = Int32Array.from({ length: 100 }, (_, i) => i % 2);
    expect(Array.from(fewShot(labels, 3, 1))).not.toEqual(Array.from(fewShot(labels, 3, 2)));
    expect(() => fewShot(Int32Array.from([0, 0, 1]), 2, 0)).toThrow(/class 1 has 1 examples, fewer than k = 2/);
    expect(() => fewShot(Int32Array.from([0, 0]), 1, 0, 2)).toThrow(/class 1 has 0 examples/);
    expect(() => fewShot(labels, 0, 0)).toThrow(ConfigError);
  });
});

describe('stratifiedSplit', () => {
  it('disjoint, complete, per-class round(n*f) in val, deterministic (property)', () => {
    fc.assert(
      fc.property(labelsArb, fc.double({ min: 0, max: 0.9, noNaN: true }), fc.integer(), (labels, f, seed) => {
        const { train, val } = stratifiedSplit(labels, f, seed);
        const all = [...train, ...val].sort((a, b) => a - b);
        if (all.length !== labels.length || !all.every((v, i) => v === i)) return false;
        const per = counts(
          labels,
          labels.map((_, i) => i),
        );
        const vc = counts(labels, val);
        for (const [c, n] of per) if ((vc.get(c) ?? 0) !== Math.round(n * f)) return false;
        const again = stratifiedSplit(labels, f, seed);
        return again.val.every((v, i) => v === val[i]);
      }),
      { numRuns: 200 },
    );
    expect(() => stratifiedSplit([0, 1], 1, 0)).toThrow(ConfigError);
  });
});

describe('mixup', () => {
  it('alpha = 0 gives lambda 1 (no mixing); alpha > 0 gives Beta(a,a) lambdas in [0,1]', () => {
    const rng = new Rng(3);
    const p = mixupParams(8, 0, rng);
    expect(p.lambda).toBe(1);
    expect(Array.from(p.perm).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const ls = Array.from({ length: 4000 }, () => mixupParams(4, 0.1, rng).lambda);
    expect(ls.every((l) => l >= 0 && l <= 1)).toBe(true);
    const mean = ls.reduce((a, b) => a + b, 0) / ls.length;
    expect(mean).toBeCloseTo(0.5, 1);
    // Beta(0.1, 0.1) is U-shaped: most mass near 0 or 1
    expect(ls.filter((l) => l < 0.1 || l > 0.9).length / ls.length).toBeGreaterThan(0.6);
    expect(() => mixupParams(4, -1, rng)).toThrow(ConfigError);
  });

  it('mixBatch mixes whole images with their partners', () => {
    const images = Float32Array.from([1, 1, 2, 2, 3, 3]); // 3 images of 2 values
    const perm = Int32Array.from([2, 0, 1]);
    expect(Array.from(mixBatch(images, perm, 0.25))).toEqual([2.5, 2.5, 1.25, 1.25, 2.25, 2.25]);
    expect(Array.from(mixBatch(images, perm, 1))).toEqual(Array.from(images));
    expect(() => mixBatch(new Float32Array(5), perm, 0.5)).toThrow(ShapeError);
    expect(Array.from(mixupLabels(Int32Array.from([7, 8, 9]), perm))).toEqual([9, 7, 8]);
  });

  it('mixupNll = lambda*CE(yA) + (1-lambda)*CE(yB)', () => {
    const logp = Float32Array.from([
      Math.log(0.5),
      Math.log(0.25),
      Math.log(0.25),
      Math.log(0.1),
      Math.log(0.2),
      Math.log(0.7),
    ]);
    const v = mixupNll(logp, 3, Int32Array.from([0, 2]), Int32Array.from([1, 0]), 0.75);
    const expected =
      (0.75 * -Math.log(0.5) + 0.25 * -Math.log(0.25) + (0.75 * -Math.log(0.7) + 0.25 * -Math.log(0.1))) / 2;
    expect(v).toBeCloseTo(expected, 5);
  });
});

// Issue 23 case 10: val_limit 64 gave 63 images and train_limit 10000 gave 10001 (per-class rounding).
describe('stratifiedSubset: exactly n (the train_limit / val_limit cap)', () => {
  it('exactly min(n, N) distinct sorted indices, each class within 1 of its share, deterministic', () => {
    fc.assert(
      fc.property(labelsArb, fc.integer({ min: 0, max: 250 }), fc.integer(), (labels, n, seed) => {
        const s = stratifiedSubset(labels, n, seed);
        expect(s.length).toBe(Math.min(n, labels.length));
        for (let i = 1; i < s.length; i++) expect(s[i]!).toBeGreaterThan(s[i - 1]!);
        const all = counts(
          labels,
          Array.from(labels, (_, i) => i),
        );
        const got = counts(labels, s);
        for (const [c, nc] of all) {
          const share = (nc * s.length) / labels.length;
          expect(Math.abs((got.get(c) ?? 0) - share)).toBeLessThan(1);
        }
        expect(stratifiedSubset(labels, n, seed)).toEqual(s);
      }),
      { numRuns: 200 },
    );
  });

  it('the cases of the issue: 3 equal classes capped at 64, 10 classes of 1001 capped at 10000', () => {
    const three = Int32Array.from({ length: 300 }, (_, i) => i % 3);
    expect(stratifiedSplit(three, 64 / 300, 1).val.length).toBe(63); // the old cap, per-class rounding
    expect(stratifiedSubset(three, 64, 1).length).toBe(64);
    const ten = Int32Array.from({ length: 10010 }, (_, i) => i % 10);
    expect(stratifiedSubset(ten, 10000, 2).length).toBe(10000);
    // where per-class rounding already sums to n, the members are stratifiedSplit's
    expect(stratifiedSubset(three, 60, 1)).toEqual(stratifiedSplit(three, 60 / 300, 1).val);
  });
});
