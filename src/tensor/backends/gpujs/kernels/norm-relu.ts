/**
 * GroupNorm + ReLU on gpu.js, composed from the GroupNorm kernels (./norm.ts) and one mask kernel here: forward is
 * GroupNorm then the op table's relu kernel (./elementwise.ts, exact at NaN), backward masks dy by the saved output
 * (dy * (y === 0 ? 0 : 1): the unfused path's `ne` and `mul` forms, so a NaN dy stays NaN) and runs the GroupNorm
 * backward on it. The intermediate buffers are released by the op runner (context.ts); the primitive's semantics
 * are the reference's (src/tensor/backend.ts `groupNormRelu`).
 */

import { ShapeError } from '../../../../errors.js';
import type { GroupNormGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { linearChunks, windowOf } from '../strided.js';
import { unaryOp } from './elementwise.js';
import { groupNormOp } from './norm.js';
import { groupNormBackwardOp } from './norm-grad.js';
import type { KThis } from './types.js';

/** dy where the relu output y is not zero, else dy * 0 (the op table's relu gradient, dy * (y != 0)). */
export function reluMaskKernel(this: KThis, dy: Float32Array, y: Float32Array): number {
  const i = this.thread.x;
  return dy[i]! * (y[i]! === 0 ? 0 : 1);
}

/** dy * (y != 0) over contiguous buffers, in uniform windows of at most `limit`. */
function* reluMask(dy: Arr, y: Arr, limit: number): OpGen<Arr> {
  const { starts, len } = linearChunks(dy.length, limit);
  const spec = { name: 'groupNormRelu.mask', fn: reluMaskKernel, constants: {}, output: len };
  const pieces: { src: Arr; at: number }[] = [];
  for (const s of starts) {
    const r = yield { spec, args: [windowOf(dy, s, len), windowOf(y, s, len)] };
    if (starts.length === 1) return r;
    pieces.push({ src: r, at: s });
  }
  return yield* assemble(dy.length, pieces);
}

/** GroupNorm + ReLU forward: [relu(y), mean, rstd]. `twoStage`: GroupNorm's statistics mode (./norm.ts). */
export function* groupNormReluOp(x: Arr, gamma: Arr, beta: Arr, g: GroupNormGeom, limit: number, twoStage = false) {
  const [y, mean, rstd] = yield* groupNormOp(x, gamma, beta, g, limit, twoStage);
  const r = yield* unaryOp('relu', y, limit);
  return [r, mean, rstd] as [Arr, Arr, Arr];
}

/** GroupNorm + ReLU backward from dy and the saved output y: [dx, dgamma, dbeta] (`twoStage` as forward). */
export function* groupNormReluBackwardOp(
  dy: Arr,
  y: Arr,
  x: Arr,
  gamma: Arr,
  mean: Arr,
  rstd: Arr,
  g: GroupNormGeom,
  limit: number,
  twoStage = false,
) {
  if (y.length !== dy.length || dy.length === 0) {
    throw new ShapeError(`groupNormReluBackward: y has ${y.length} elements, dy ${dy.length} (expected equal, > 0)`);
  }
  const masked = yield* reluMask(dy, y, limit);
  return yield* groupNormBackwardOp(masked, x, gamma, mean, rstd, g, limit, twoStage);
}
