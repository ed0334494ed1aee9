/**
 * Differentiable reductions. Backward math (g = upstream gradient, re-expanded over the reduced axes):
 *   sum: g broadcast   mean: g/N broadcast   var: g * 2(x - mean)/(N - ddof)
 *   max/min over one axis: g scattered to the selected element (first occurrence, via a one-hot mask)
 *   logsumexp: g * softmax(x)   softmax: y*(g - sum(g*y))   logSoftmax: g - softmax(x)*sum(g)
 * Each reduction takes axes (number, list, or undefined = all) and keepdim.
 */

import { ShapeError } from '../../errors.js';
import { fromBuffer, rawBinary, rawBinaryScalar, rawReduce, rawUnary, reshapeRaw } from '../../tensor/raw.js';
import { normAxes, normAxis } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { record } from '../graph.js';
import { mul, sub } from './elementwise.js';
import { reshape } from './movement.js';

/** The shape a keepdim=false result has with the reduced axes re-inserted as 1. */
function keptShape(x: Tensor, axes: number[]): number[] {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** g reshaped to keepdim form (a view or copy) so it broadcasts against x. */
function unreduce(g: Tensor, x: Tensor, axes: number[]): Tensor {
  return reshapeRaw(g, keptShape(x, axes));
}

/** Broadcast g (keepdim shape) to x's shape densely. */
function expandTo(g: Tensor, x: Tensor): Tensor {
  const z = rawBinaryScalar('mul', x, 0);
  const out = rawBinary('add', z, g);
  z.dispose();
  return out;
}

/** Sum over axes. [..] -> reduced shape. */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = normAxes('sum', axes, x.ndim);
  const y = rawReduce('sum', x, ax, keepdim);
  return record('sum', y, [x], (g) => {
    const gk = unreduce(g, x, ax);
    const out = expandTo(gk, x);
    gk.dispose();
    return [out];
  });
}

/** Mean over axes. */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = normAxes('mean', axes, x.ndim);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const s = sum(x, ax, keepdim);
  const y = mul(s, 1 / n);
  if (!s.requiresGrad) s.dispose();
  return y;
}

/** Variance over axes: biased (divide by N) or unbiased (N - 1). */
export function variance(x: Tensor, axes: number | readonly number[] | undefined, unbiased: boolean, keepdim: boolean) {
  const ax = normAxes('var', axes, x.ndim);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const ddof = unbiased ? 1 : 0;
  if (n - ddof <= 0) throw new ShapeError(`var: ${n} elements over axes [${ax}] with ddof ${ddof}`);
  const m = mean(x, ax, true);
  const d = sub(x, m);
  const sq = mul(d, d);
  const s = sum(sq, ax, keepdim);
  const y = mul(s, 1 / (n - ddof));
  if (!x.requiresGrad) for (const t of [m, d, sq, s]) t.dispose();
  return y;
}

function extreme(op: 'max' | 'min', x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  if (axis === undefined) {
    const r = extreme(op, reshape(x, [x.size]), 0, false);
    return keepdim
      ? reshape(
          r,
          x.shape.map(() => 1),
        )
      : r;
  }
  const a = normAxis(op, axis, x.ndim);
  const y = rawReduce(op, x, [a], keepdim);
  const idx = rawReduce(op === 'max' ? 'argmax' : 'argmin', x, [a], true);
  return record(
    op,
    y,
    [x],
    (g) => {
      // one-hot mask of the selected index along axis a
      const ar = arangeAlong(x, a);
      const mask = rawBinary('eq', ar, idx);
      const gk = unreduce(g, x, [a]);
      const out = rawBinary('mul', mask, gk);
      for (const t of [ar, mask, gk]) if (t !== g) t.dispose();
      return [out];
    },
    { owned: [idx] },
  );
}

/** A tensor of shape [1,..,n,..,1] holding 0..n-1 along axis a. */
function arangeAlong(x: Tensor, a: number): Tensor {
  const n = x.shape[a];
  const buf = x.backend.upload(
    Array.from({ length: n }, (_, i) => i),
    x.dtype,
  );
  return fromBuffer(
    x.backend,
    buf,
    x.shape.map((d, i) => (i === a ? d : 1)),
  );
}

/** Max over one axis (or all). Gradient flows to the first maximal element. */
export function maxReduce(x: Tensor, axis?: number, keepdim = false): Tensor {
  return extreme('max', x, axis, keepdim);
}
/** Min over one axis (or all). */
export function minReduce(x: Tensor, axis?: number, keepdim = false): Tensor {
  return extreme('min', x, axis, keepdim);
}

/** Index of the max/min along axis (all axes flattened when undefined), as a float tensor. Not differentiable. */
export function argReduce(op: 'argmax' | 'argmin', x: Tensor, axis?: number, keepdim = false): Tensor {
  if (axis === undefined) {
    const flat = reshapeRaw(x, [x.size]);
    const r = rawReduce(op, flat, [0], keepdim);
    if (flat !== x) flat.dispose();
    return r;
  }
  return rawReduce(op, x, [normAxis(op, axis, x.ndim)], keepdim);
}

/** Numerically stable log(sum(exp(x))) along axis. */
export function logsumexp(x: Tensor, axis: number, keepdim = false): Tensor {
  const a = normAxis('logsumexp', axis, x.ndim);
  const { lse } = lseRaw(x, a);
  const y = keepdim
    ? lse
    : reshapeRaw(
        lse,
        x.shape.filter((_, i) => i !== a),
      );
  if (y !== lse) lse.dispose();
  return record(
    'logsumexp',
    y,
    [x],
    (g) => {
      const sm = softmaxRaw(x, a);
      const gk = unreduce(g, x, [a]);
      const out = rawBinary('mul', sm, gk);
      sm.dispose();
      if (gk !== g) gk.dispose();
      return [out];
    },
    { save: [x] },
  );
}

/** keepdim logsumexp along a (raw). */
function lseRaw(x: Tensor, a: number) {
  const m = rawReduce('max', x, [a], true);
  const sh = rawBinary('sub', x, m);
  const e = rawUnary('exp', sh);
  const s = rawReduce('sum', e, [a], true);
  const l = rawUnary('log', s);
  const lse = rawBinary('add', l, m);
  for (const t of [sh, e, s, l, m]) t.dispose();
  return { lse };
}

function softmaxRaw(x: Tensor, a: number): Tensor {
  const { lse } = lseRaw(x, a);
  const sh = rawBinary('sub', x, lse);
  const y = rawUnary('exp', sh);
  lse.dispose();
  sh.dispose();
  return y;
}

/** softmax along axis. Same shape as x. */
export function softmax(x: Tensor, axis: number): Tensor {
  const a = normAxis('softmax', axis, x.ndim);
  const y = softmaxRaw(x, a);
  return record('softmax', y, [x], (g) => {
    const gy = rawBinary('mul', g, y);
    const s = rawReduce('sum', gy, [a], true);
    const d = rawBinary('sub', g, s);
    const out = rawBinary('mul', y, d);
    for (const t of [gy, s, d]) t.dispose();
    return [out];
  });
}

/** log(softmax(x)) along axis, computed stably. Same shape as x. */
export function logSoftmax(x: Tensor, axis: number): Tensor {
  const a = normAxis('logSoftmax', axis, x.ndim);
  const { lse } = lseRaw(x, a);
  const y = rawBinary('sub', x, lse);
  lse.dispose();
  return record('logSoftmax', y, [x], (g) => {
    const sm = rawUnary('exp', y);
    const s = rawReduce('sum', g, [a], true);
    const t = rawBinary('mul', sm, s);
    const out = rawBinary('sub', g, t);
    for (const z of [sm, s, t]) z.dispose();
    return [out];
  });
}
