/**
 * Shared test helpers: seeded float64 leaves on the reference backend, inner products, small arbitraries.
 */

import fc from 'fast-check';
import { createReferenceBackend, fromTyped, Rng, type Tensor } from '../src/tensor/index.js';

export const ref64 = createReferenceBackend();

/** A float64 leaf on the reference backend with N(0,1) values (seeded), optionally requiring grad. */
export function leaf64(shape: number[], seed: number, opts: { grad?: boolean; positive?: boolean } = {}): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = opts.positive ? 0.5 + rng.uniform() * 2 : rng.normal();
  return fromTyped(v, shape, { dtype: 'float64', backend: ref64, requiresGrad: opts.grad ?? true });
}

/** <a, b> over flat values. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Small shapes: 1..maxDims dims of 1..maxSize. */
export function arbShape(maxDims = 3, maxSize = 4): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxSize }), { minLength: 1, maxLength: maxDims });
}
