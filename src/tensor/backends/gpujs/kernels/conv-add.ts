/**
 * conv2d + residual in one op (the Backend's `conv2dAdd`): the conv's launches (./conv.ts), then one elementwise add
 * of r into its output (./elementwise.ts), in that order, so the bits are those of `conv2d` followed by
 * `binary('add')`. On webgpu the conv output is an intermediate of the op: it stays on the device and is released
 * when the op has issued (context.ts `runAsync`); no second op, no host round trip. Not fused into the GEMM store:
 * two launches, one op.
 */

import { ShapeError } from '../../../../errors.js';
import type { Conv2dGeom } from '../../../backend.js';
import type { Arr, OpGen } from '../op-gen.js';
import { conv2dOp } from './conv.js';
import { binaryOp } from './elementwise.js';

/** y [n,cout,oh,ow] = conv2d(x, w) + r, r [n,cout,oh,ow]. `rows`: as binaryOp's (webgpu addresses by rows). */
export function* conv2dAddOp(x: Arr, wt: Arr, r: Arr, g: Conv2dGeom, limit: number, rows: boolean): OpGen<Arr> {
  const shape = [g.n, g.cout, g.oh, g.ow];
  const size = g.n * g.cout * g.oh * g.ow;
  if (r.length !== size) throw new ShapeError(`conv2dAdd: r has ${r.length} elements, the output ${size}`);
  const y = yield* conv2dOp(x, wt, g, limit);
  const strides = [g.cout * g.oh * g.ow, g.oh * g.ow, g.ow, 1];
  return yield* binaryOp('add', { data: y, strides, offset: 0 }, { data: r, strides, offset: 0 }, shape, limit, rows);
}
