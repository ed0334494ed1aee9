/**
 * MixUp as in BiT: one lambda ~ Beta(alpha, alpha) per step (lambda = 1, i.e. no mixing, when alpha = 0) and a
 * random permutation as partner; images are mixed as l*x + (1-l)*x[perm], and the loss side combines
 * l*CE(yA) + (1-l)*CE(yB) with yB = labels[perm]. Works on plain NCHW Float32Arrays (no engine dependency).
 */
import { ConfigError, ShapeError } from '../errors.js';
import type { Rng } from './rng.js';

/** Mixing parameters of one step. */
export interface MixupParams {
  lambda: number;
  perm: Int32Array;
}

/**
 * Draws lambda and the partner permutation for a batch.
 * @throws ConfigError when alpha < 0 or batchSize < 1
 */
export function mixupParams(batchSize: number, alpha: number, rng: Rng): MixupParams {
  if (!(alpha >= 0) || !Number.isFinite(alpha)) throw new ConfigError(`mixup alpha must be >= 0, got ${alpha}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ConfigError(`mixup batchSize must be a positive integer, got ${batchSize}`);
  }
  const lambda = alpha > 0 ? rng.beta(alpha, alpha) : 1;
  return { lambda, perm: rng.permutation(batchSize) };
}

/**
 * Returns `lambda * images + (1 - lambda) * images[perm]` over the batch axis (images NCHW or any N x rest).
 * @throws ShapeError when images.length is not a multiple of perm.length
 */
export function mixBatch(images: Float32Array, perm: Int32Array, lambda: number): Float32Array {
  const n = perm.length;
  if (n === 0 || images.length % n !== 0) {
    throw new ShapeError(`mixBatch: ${images.length} values do not split into ${n} images`);
  }
  const per = images.length / n;
  const out = new Float32Array(images.length);
  const m = 1 - lambda;
  for (let i = 0; i < n; i++) {
    const a = i * per;
    const b = perm[i]! * per;
    for (let k = 0; k < per; k++) out[a + k] = lambda * images[a + k]! + m * images[b + k]!;
  }
  return out;
}

/** Partner labels yB = labels[perm]. */
export function mixupLabels(labels: Int32Array, perm: Int32Array): Int32Array {
  return perm.map((p) => labels[p]!);
}

/**
 * Reference mixup loss from per-sample log-probabilities (N x C row-major):
 * mean over the batch of -(lambda * logp[yA] + (1 - lambda) * logp[yB]).
 */
export function mixupNll(logProbs: Float32Array, numClasses: number, yA: Int32Array, yB: Int32Array, lambda: number) {
  let s = 0;
  for (let i = 0; i < yA.length; i++) {
    s -= lambda * logProbs[i * numClasses + yA[i]!]! + (1 - lambda) * logProbs[i * numClasses + yB[i]!]!;
  }
  return s / yA.length;
}
