/**
 * The seeded PRNG: same seed same stream, state save/restore, and distribution moments (uniform, normal,
 * Gamma, Beta for MixUp), randperm is a permutation.
 */

import { describe, expect, it } from 'vitest';
import * as F from '../../src/tensor/index.js';
import { Rng } from '../../src/tensor/random.js';

const moments = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
  return { m, v };
};

describe('Rng', () => {
  it('same seed, same numbers; different seeds differ; state restores exactly', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xs);
    expect(new Rng(43).nextU32()).not.toBe(xs[0]);
    const st = a.getState();
    const next = [a.normal(), a.uniform(), a.int(7)];
    a.setState(st);
    expect([a.normal(), a.uniform(), a.int(7)]).toEqual(next);
  });
  it('uniform, normal, gamma, beta have the right first two moments', () => {
    const r = new Rng(7);
    const N = 20000;
    const u = moments(Array.from({ length: N }, () => r.uniform()));
    expect(u.m).toBeCloseTo(0.5, 2);
    expect(u.v).toBeCloseTo(1 / 12, 2);
    const n = moments(Array.from({ length: N }, () => r.normal()));
    expect(Math.abs(n.m)).toBeLessThan(0.03);
    expect(n.v).toBeCloseTo(1, 1);
    const g = moments(Array.from({ length: N }, () => r.gamma(0.3)));
    expect(g.m).toBeCloseTo(0.3, 1);
    const be = moments(Array.from({ length: N }, () => r.beta(0.1, 0.1)));
    expect(be.m).toBeCloseTo(0.5, 1);
    // Beta(a,a) variance = 1/(4(2a+1))
    expect(be.v).toBeCloseTo(1 / (4 * 1.2), 1);
  });
  it('randperm is a permutation and int is in range', () => {
    const r = new Rng(3);
    const p = Array.from(r.randperm(50)).sort((a, b) => a - b);
    expect(p).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (let i = 0; i < 1000; i++) {
      const k = r.int(5);
      expect(k >= 0 && k < 5).toBe(true);
    }
  });
  it('randn with a seed gives the same tensor on two backends', () => {
    const a = F.randn([10], { rng: new Rng(5), backend: F.createReferenceBackend() });
    const b = F.randn([10], { rng: new Rng(5), backend: F.createReferenceBackend() });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  });
});
