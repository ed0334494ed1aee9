/**
 * Differentiable reductions. Backward math (g = upstream gradient, broadcast back over the reduced axes by a
 * real broadcast copy, so an infinite input still gets gradient 1 from sum):
 *   sum: g broadcast   mean: g/N broadcast   var: g * 2(x - mean)/(N - ddof)
 *   max/min over one axis: g scattered to the selected element (first occurrence, via a one-hot mask)
 *   logsumexp: g * softmax(x)   softmax: y*(g - sum(g*y))   logSoftmax: g - softmax(x)*sum(g)
 * Numerics (as ONNX's reference and PyTorch): with m = max(x), e = exp(x - m), s = sum(e):
 *   softmax = e / s,  logSoftmax = (x - m) - log(s),  logsumexp = m + log(s),
 * so a large common offset (logits near 1e4) costs no precision: x - m is exact before anything else.
 * Each reduction takes axes (number, list, or undefined = all) and keepdim.
 */

import { ShapeError } from '../../errors.js';
import { tidy } from '../../tensor/engine.js';
import { expandDense, fromBuffer, rawBinary, rawReduce, rawUnary, reshapeRaw } from '../../tensor/raw.js';
import { normAxes, normAxis } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { composite } from '../dispatch.js';
import { record } from '../graph.js';
import { mul, sub } from './elementwise.js';
import { reshape } from './movement.js';

/** g (reduced over `axes`, keepdim or not) reshaped to keepdim form so it broadcasts against x. */
function unreduce(g: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return reshapeRaw(
    g,
    x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  );
}

/** Sum over axes. [..] -> reduced shape. */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = normAxes('sum', axes, x.ndim);
  const y = rawReduce('sum', x, ax, keepdim);
  return record('sum', y, [x], (g) => [expandDense(unreduce(g, x, ax), x.shape)]);
}

/** Mean over axes. */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const ax = normAxes('mean', axes, x.ndim);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return composite([x], () => mul(sum(x, ax, keepdim), 1 / n));
}

/** Variance over axes: biased (divide by N) or unbiased (N - 1). */
export function variance(x: Tensor, axes: number | readonly number[] | undefined, unbiased: boolean, keepdim: boolean) {
  const ax = normAxes('var', axes, x.ndim);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  const ddof = unbiased ? 1 : 0;
  if (n - ddof <= 0) throw new ShapeError(`var: ${n} elements over axes [${ax}] with ddof ${ddof}`);
  return composite([x], () => {
    const d = sub(x, mean(x, ax, true));
    return mul(sum(mul(d, d), ax, keepdim), 1 / (n - ddof));
  });
}

function extreme(op: 'max' | 'min', x: Tensor, axis: number | undefined, keepdim: boolean): Tensor {
  if (axis === undefined) {
    return composite([x], () => {
      const r = extreme(op, reshape(x, [x.size]), 0, false);
      return keepdim
        ? reshape(
            r,
            x.shape.map(() => 1),
          )
        : r;
    });
  }
  const a = normAxis(op, axis, x.ndim);
  const y = rawReduce(op, x, [a], keepdim);
  const idx = rawReduce(op === 'max' ? 'argmax' : 'argmin', x, [a], true);
  // g lands on the one-hot mask of the selected index along axis a
  const backward = (g: Tensor) => [rawBinary('mul', rawBinary('eq', arangeAlong(x, a), idx), unreduce(g, x, [a]))];
  return record(op, y, [x], backward, { owned: [idx] });
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
  if (axis === undefined) return tidy(() => rawReduce(op, reshapeRaw(x, [x.size]), [0], keepdim));
  return rawReduce(op, x, [normAxis(op, axis, x.ndim)], keepdim);
}

/** Along axis a (keepdim): the shifted input x - max and log(sum(exp(x - max))), from one max and one sum. */
function shiftedRaw(x: Tensor, a: number): { m: Tensor; shifted: Tensor; logSum: Tensor } {
  return tidy(() => {
    const m = rawReduce('max', x, [a], true);
    const shifted = rawBinary('sub', x, m);
    const logSum = rawUnary('log', rawReduce('sum', rawUnary('exp', shifted), [a], true));
    return { m, shifted, logSum };
  });
}

/** softmax along a (raw): exp(x - m) / sum(exp(x - m)). */
function softmaxRaw(x: Tensor, a: number): Tensor {
  return tidy(() => {
    const e = rawUnary('exp', rawBinary('sub', x, rawReduce('max', x, [a], true)));
    return rawBinary('div', e, rawReduce('sum', e, [a], true));
  });
}

/** Numerically stable log(sum(exp(x))) along axis: max + log(sum(exp(x - max))). */
export function logsumexp(x: Tensor, axis: number, keepdim = false): Tensor {
  const a = normAxis('logsumexp', axis, x.ndim);
  const y = tidy(() => {
    const { m, logSum } = shiftedRaw(x, a);
    const lse = rawBinary('add', m, logSum);
    return keepdim
      ? lse
      : reshapeRaw(
          lse,
          x.shape.filter((_, i) => i !== a),
        );
  });
  const backward = (g: Tensor) => [rawBinary('mul', softmaxRaw(x, a), unreduce(g, x, [a]))];
  return record('logsumexp', y, [x], backward, { save: [x] });
}

/** softmax along axis: exp(x - max) / sum(exp(x - max)). Same shape as x. */
export function softmax(x: Tensor, axis: number): Tensor {
  const a = normAxis('softmax', axis, x.ndim);
  const y = softmaxRaw(x, a);
  return record('softmax', y, [x], (g) => {
    const s = rawReduce('sum', rawBinary('mul', g, y), [a], true);
    return [rawBinary('mul', y, rawBinary('sub', g, s))];
  });
}

/** log(softmax(x)) along axis: (x - max) - log(sum(exp(x - max))). Same shape as x. */
export function logSoftmax(x: Tensor, axis: number): Tensor {
  const a = normAxis('logSoftmax', axis, x.ndim);
  const y = tidy(() => {
    const { shifted, logSum } = shiftedRaw(x, a);
    return rawBinary('sub', shifted, logSum);
  });
  return record('logSoftmax', y, [x], (g) => {
    const s = rawReduce('sum', g, [a], true);
    return [rawBinary('sub', g, rawBinary('mul', rawUnary('exp', y), s))];
  });
}
