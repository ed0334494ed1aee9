/**
 * The one seeded PRNG of bit-ts: init, shuffling, few-shot draws, augmentation, MixUp, dropout all use it.
 * xoshiro128** on 32-bit words (Math.imul arithmetic), seeded through splitmix32 so any integer seed (and any
 * tuple of integers via `Rng.derive`) gives a well-mixed state; the same seed yields the same stream on every
 * platform and every backend (numbers are drawn on the host and uploaded). Pure module: no engine imports, so
 * the data layer (which must not depend on the engine) uses it too.
 *
 * State is four uint32 words: `state()`/`Rng.fromState` (or `getState`/`setState`) make resumed runs exact.
 * Distributions: uniform with 53 random bits, unbiased integers (rejection), normal (Box-Muller, one value per
 * call), Gamma (Marsaglia-Tsang, boosted for k < 1), Beta from two Gammas, permutations (Fisher-Yates).
 */

import { ConfigError } from '../errors.js';

/** splitmix32 step: returns the next mixed 32-bit word for the given counter state. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Splits an integer (up to 2^53 in magnitude) into two 32-bit words; non-integers are rejected. */
function seedWords(seed: number): [number, number] {
  if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
    throw new ConfigError(`Rng seed must be a finite integer, got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/** Mixes a sequence of integers into one 32-bit hash (order-sensitive). */
export function mixSeed(...parts: number[]): number {
  let h = 0x6a09e667;
  for (const p of parts) {
    const [lo, hi] = seedWords(p);
    h = splitmix32(h ^ lo);
    h = splitmix32(h ^ hi ^ 0x5bd1e995);
  }
  return h >>> 0;
}

/** Serializable generator state (checkpoint metadata). */
export interface RngState {
  s: [number, number, number, number];
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** Seeds from one integer (any magnitude up to 2^53). */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Reset the stream from an integer seed. */
  seed(seed: number): void {
    this.reseed(mixSeed(seed));
  }

  /** A generator seeded from a tuple, e.g. `Rng.derive(seed, epoch, index)`; distinct tuples give independent streams. */
  static derive(...parts: number[]): Rng {
    const r = new Rng(0);
    r.reseed(mixSeed(...parts));
    return r;
  }

  /** Restores a generator from `state()`. */
  static fromState(state: readonly number[]): Rng {
    const r = new Rng(0);
    r.setState({ s: state as RngState['s'] });
    return r;
  }

  private reseed(h: number): void {
    let x = h;
    this.s0 = x = splitmix32(x);
    this.s1 = x = splitmix32(x);
    this.s2 = x = splitmix32(x);
    this.s3 = splitmix32(x);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The 4-word internal state (restore with `Rng.fromState`). */
  state(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** The state as an object (for checkpoint metadata). */
  getState(): RngState {
    return { s: this.state() as RngState['s'] };
  }

  /** Restore a state from `getState()`. */
  setState(st: RngState): void {
    const s = st.s;
    if (s.length !== 4 || s.every((v) => v === 0)) {
      throw new ConfigError(`Rng state must be 4 words not all zero, got [${s.join(', ')}]`);
    }
    [this.s0, this.s1, this.s2, this.s3] = s.map((v) => v >>> 0) as [number, number, number, number];
  }

  /** Next raw 32-bit unsigned integer. */
  nextU32(): number {
    const s1 = this.s1;
    const t = s1 << 9;
    let r = Math.imul(s1, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r >>> 0;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform float in [lo, hi) (default [0, 1)). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.nextFloat();
  }

  /** Uniform integer in [0, n) without modulo bias; n must be an integer in [1, 2^32]. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new ConfigError(`Rng.nextInt(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    if (n === 1) return 0;
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Alias of nextInt. */
  int(n: number): number {
    return this.nextInt(n);
  }

  /** Standard normal sample (Box-Muller, one value per call). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(k, 1) sample for shape k > 0 (Marsaglia-Tsang; boosted for k < 1). */
  gamma(k: number): number {
    if (!(k > 0) || !Number.isFinite(k)) throw new ConfigError(`Rng.gamma(k) needs k > 0, got ${k}`);
    if (k < 1) {
      const g = this.gamma(k + 1);
      let u = 0;
      while (u === 0) u = this.nextFloat();
      return g * u ** (1 / k);
    }
    const d = k - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.nextFloat();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) sample in [0, 1] via two gamma draws. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    const s = x + y;
    // Both gammas can underflow to 0 for tiny shapes; fall back to a coin, the limit of Beta(a,b) as a,b -> 0.
    if (s === 0) return this.nextFloat() < a / (a + b) ? 1 : 0;
    return x / s;
  }

  /** Random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffleInPlace(p);
  }

  /** Alias of permutation (PyTorch's randperm). */
  randperm(n: number): Int32Array {
    return this.permutation(n);
  }

  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffleInPlace<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** Fill an array with uniform [lo, hi) draws. */
  fillUniform(out: Float32Array | Float64Array, lo = 0, hi = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * this.nextFloat();
  }

  /** Fill an array with N(mean, std^2) draws. */
  fillNormal(out: Float32Array | Float64Array, mean = 0, std = 1): void {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
  }
}

/** The global generator used when no explicit Rng is passed. `manualSeed` resets it. */
export const globalRng = new Rng(0);

/** Reset the global generator (PyTorch's torch.manual_seed). */
export function manualSeed(seed: number): void {
  globalRng.seed(seed);
}
