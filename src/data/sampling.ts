/**
 * Seeded index selection over label arrays: `stratifiedSplit` (per-class train/val split) and `fewShot` (exactly
 * k examples per class, uniformly without replacement). Invariants: results depend only on (labels, arguments,
 * seed); each class uses its own derived stream, so adding a class does not change another class's draw; output
 * index lists are sorted ascending; train and val are disjoint and cover every index.
 */
import { ConfigError, DataError } from '../errors.js';
import { Rng } from './rng.js';

const SPLIT_STREAM = 0x5b1e;
const FEWSHOT_STREAM = 0xf5e7;

/** Indices of each class, in ascending order, for classes 0..numClasses-1. */
export function indicesByClass(labels: ArrayLike<number>, numClasses?: number): number[][] {
  let c = numClasses ?? 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0) throw new DataError(`labels[${i}] = ${l} is not a class index >= 0`);
    if (numClasses !== undefined && l >= numClasses) {
      throw new DataError(`labels[${i}] = ${l} is outside [0, ${numClasses})`);
    }
    if (l + 1 > c) c = l + 1;
  }
  const by: number[][] = Array.from({ length: c }, () => []);
  for (let i = 0; i < labels.length; i++) by[labels[i]!]!.push(i);
  return by;
}

/**
 * Deterministic stratified split: in every class, round(n_c * valFraction) seeded-random members go to val.
 * @returns sorted, disjoint `train` and `val` index lists covering 0..labels.length-1
 * @throws ConfigError unless 0 <= valFraction < 1
 */
export function stratifiedSplit(
  labels: ArrayLike<number>,
  valFraction: number,
  seed: number,
): { train: Int32Array; val: Int32Array } {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new ConfigError(`stratifiedSplit: valFraction must be in [0, 1), got ${valFraction}`);
  }
  const train: number[] = [];
  const val: number[] = [];
  indicesByClass(labels).forEach((idx, c) => {
    const rng = Rng.derive(seed, SPLIT_STREAM, c);
    rng.shuffleInPlace(idx);
    const nVal = Math.round(idx.length * valFraction);
    for (let k = 0; k < idx.length; k++) (k < nVal ? val : train).push(idx[k]!);
  });
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { train: sorted(train), val: sorted(val) };
}

/**
 * Stratified subset of exactly `n` indices: each class's quota is its share n * n_c / N rounded by largest
 * remainder (ties: the lower class first), so the quotas sum to n exactly; the members are the first of the class's
 * shuffle under the same streams as `stratifiedSplit` (where per-class rounding already sums to n, the same
 * members as `stratifiedSplit(labels, n / N, seed).val`).
 * @returns sorted indices, exactly min(n, labels.length) of them
 * @throws ConfigError unless n is a non-negative integer
 */
export function stratifiedSubset(labels: ArrayLike<number>, n: number, seed: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`stratifiedSubset: n must be an integer >= 0, got ${n}`);
  const by = indicesByClass(labels);
  const total = labels.length;
  const want = Math.min(n, total);
  const share = by.map((idx) => (total ? (idx.length * want) / total : 0));
  const quota = share.map((s) => Math.floor(s));
  let left = want - quota.reduce((a, b) => a + b, 0);
  const order = share.map((s, c) => ({ c, r: s - Math.floor(s) })).sort((x, y) => y.r - x.r || x.c - y.c);
  for (const { c } of order) {
    if (left <= 0) break;
    if (quota[c]! < by[c]!.length) {
      quota[c]!++;
      left--;
    }
  }
  const out: number[] = [];
  by.forEach((idx, c) => {
    Rng.derive(seed, SPLIT_STREAM, c).shuffleInPlace(idx);
    for (let k = 0; k < quota[c]!; k++) out.push(idx[k]!);
  });
  return Int32Array.from(out).sort();
}

/**
 * Few-shot subset: exactly `k` indices per class drawn uniformly without replacement (same seed, same subset).
 * @param numClasses classes expected (default: max label + 1); a class with fewer than k examples is an error
 * @returns sorted indices, k * numClasses of them
 * @throws DataError when some class has fewer than k examples; ConfigError when k is not a positive integer
 */
export function fewShot(labels: ArrayLike<number>, k: number, seed: number, numClasses?: number): Int32Array {
  if (!Number.isInteger(k) || k < 1) throw new ConfigError(`fewShot: k must be a positive integer, got ${k}`);
  const out: number[] = [];
  indicesByClass(labels, numClasses).forEach((idx, c) => {
    if (idx.length < k) {
      throw new DataError(`fewShot: class ${c} has ${idx.length} examples, fewer than k = ${k}`);
    }
    const rng = Rng.derive(seed, FEWSHOT_STREAM, c);
    // Partial Fisher-Yates: the first k slots are a uniform k-subset.
    for (let i = 0; i < k; i++) {
      const j = i + rng.nextInt(idx.length - i);
      const t = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = t;
      out.push(idx[i]!);
    }
  });
  return Int32Array.from(out).sort();
}
