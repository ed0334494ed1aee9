/**
 * Small raw helpers the tape needs (gradient sums, seeds), kept apart from graph.ts to avoid import cycles.
 */

import { fromBuffer, rawBinary } from '../tensor/raw.js';
import type { Tensor } from '../tensor/tensor.js';

/** a + b of equal shapes, no graph. */
export function add(a: Tensor, b: Tensor): Tensor {
  return rawBinary('add', a, b);
}

/** A dense tensor of ones shaped like t. */
export function onesLike(t: Tensor): Tensor {
  const buf = t.backend.alloc(t.size, t.dtype);
  t.backend.fill(buf, 1);
  return fromBuffer(t.backend, buf, t.shape);
}
