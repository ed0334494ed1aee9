/**
 * Rng: determinism, ranges, derived streams, state round trip, and distribution moments (loose bounds, fixed
 * seeds) for uniform, normal, gamma, beta; permutations are permutations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mixSeed, Rng } from '../../src/data/rng.js';
import { ConfigError } from '../../src/errors.js';

function moments(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
  return [m, v];
}

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(sa);
  });

  it('derive() separates tuples and mixSeed is order-sensitive', () => {
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(Rng.derive(7, 0, 1).nextU32()).not.toBe(Rng.derive(7, 1, 0).nextU32());
    expect(Rng.derive(7, 3).nextU32()).toBe(Rng.derive(7, 3).nextU32());
    // seeds above 2^32 are not truncated
    expect(new Rng(2 ** 40).nextU32()).not.toBe(new Rng(0).nextU32());
  });

  it('state() round-trips', () => {
    const r = new Rng(5);
    r.nextFloat();
    const s = r.state();
    const x = [r.nextU32(), r.nextU32()];
    const r2 = Rng.fromState(s);
    expect([r2.nextU32(), r2.nextU32()]).toEqual(x);
  });

  it('nextFloat in [0,1) with mean 1/2, variance 1/12', () => {
    const r = new Rng(1);
    const xs = Array.from({ length: 20000 }, () => r.nextFloat());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const [m, v] = moments(xs);
    expect(m).toBeCloseTo(0.5, 1);
    expect(v).toBeCloseTo(1 / 12, 2);
  });

  it('nextInt(n) stays in range and is roughly uniform', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer(), (n, seed) => {
        const r = new Rng(seed);
        for (let i = 0; i < 50; i++) {
          const v = r.nextInt(n);
          if (!(Number.isInteger(v) && v >= 0 && v < n)) return false;
        }
        return true;
      }),
    );
    const r = new Rng(3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[r.nextInt(3)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(() => r.nextInt(0)).toThrow(ConfigError);
  });

  it('normal has mean 0 and variance 1', () => {
    const r = new Rng(11);
    const [m, v] = moments(Array.from({ length: 20000 }, () => r.normal()));
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
  });

  it.each([0.1, 0.5, 1, 3.5])('gamma(%f) has mean k and variance k', (k) => {
    const r = new Rng(13);
    const xs = Array.from({ length: 20000 }, () => r.gamma(k));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    const [m, v] = moments(xs);
    expect(Math.abs(m - k) / k).toBeLessThan(0.06);
    expect(Math.abs(v - k) / k).toBeLessThan(0.15);
  });

  it('beta(a,b) has mean a/(a+b) and lies in [0,1]', () => {
    const r = new Rng(17);
    for (const [a, b] of [
      [0.1, 0.1],
      [2, 5],
    ] as const) {
      const xs = Array.from({ length: 20000 }, () => r.beta(a, b));
      expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...xs)).toBeLessThanOrEqual(1);
      const [m, v] = moments(xs);
      expect(m).toBeCloseTo(a / (a + b), 1);
      const ev = (a * b) / ((a + b) ** 2 * (a + b + 1));
      expect(Math.abs(v - ev) / ev).toBeLessThan(0.1);
    }
  });

  it('permutation(n) is a permutation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer(), (n, seed) => {
        const p = Array.from(new Rng(seed).permutation(n)).sort((a, b) => a - b);
        return p.every((v, i) => v === i);
      }),
    );
  });

  it('rejects bad parameters with ConfigError', () => {
    expect(() => new Rng(0.5)).toThrow(ConfigError);
    expect(() => new Rng(1).gamma(0)).toThrow(ConfigError);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(ConfigError);
  });
});
