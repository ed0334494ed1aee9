/**
 * Differentiable neural-network primitives built on fused backend kernels: max/avg pooling, GroupNorm and
 * weight standardization. Backward math:
 *   maxPool2d: dy scattered to the argmax position of each window (indices saved at forward time)
 *   avgPool2d: dy / (kh*kw) spread over each window
 *   groupNorm: dx = rstd*(g - mean(g) - xhat*mean(g*xhat)) per (sample, group), g = dy*gamma;
 *              dgamma = sum(dy*xhat), dbeta = sum(dy) over N and spatial dims
 *   groupNormRelu: groupNorm's backward of dy * (y != 0), y the saved output (relu's gradient as the op table
 *              states it: 0 where y == 0, dy at NaN), in one backend call that makes no masked dy
 *   weightStandardize: the same formula per output filter with gamma = 1 (no affine)
 */

import { ShapeError } from '../../errors.js';
import type { GroupNormGeom, Pool2dGeom } from '../../tensor/backend.js';
import { checkSame } from '../../tensor/raw.js';
import type { Tensor } from '../../tensor/tensor.js';
import { launch, launchAll, primitive } from '../dispatch.js';
import { record } from '../graph.js';

function poolGeom(op: string, x: Tensor, k: number, stride: number, pad = 0): Pool2dGeom {
  if (x.ndim !== 4) throw new ShapeError(`${op}: expected [N,C,H,W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  if (oh <= 0 || ow <= 0) throw new ShapeError(`${op}: window ${k} larger than input ${h}x${w} padded by ${pad}`);
  return { n, c, h, w, kh: k, kw: k, stride, oh, ow };
}

/**
 * Max pooling, window k, stride (default k), `padding` cells of `padValue` on every side: -Infinity (default) is
 * PyTorch's MaxPool2d padding; 0 is BiT's stem (ConstantPad2d(1, 0) then a padding-0 pool), fused here so the
 * padded copy is never made. A window whose maximum is a padding cell passes no gradient. [N,C,H,W] ->
 * [N,C,OH,OW], OH = floor((H + 2*padding - k) / stride) + 1.
 */
export function maxPool2d(x: Tensor, k: number, stride = k, padding = 0, padValue = Number.NEGATIVE_INFINITY): Tensor {
  if (!Number.isInteger(padding) || padding < 0 || padding >= k) {
    throw new ShapeError(`maxPool2d: padding ${padding} must be an integer in [0, k=${k})`);
  }
  if (Number.isNaN(padValue)) throw new ShapeError('maxPool2d: padValue is NaN');
  const p = poolGeom('maxPool2d', x, k, stride, padding);
  const g = { ...p, pad: padding, padValue };
  const oshape = [g.n, g.c, g.oh, g.ow];
  const r = launchAll([x], { out: oshape, indices: oshape }, (b, xb) => b.maxPool2d(xb, g));
  const backward = (dy: Tensor) => [launch([dy, r.indices], x.shape, (b, d, idx) => b.maxPool2dBackward(d, idx, g))];
  return record('maxPool2d', r.out, [x], backward, { owned: [r.indices] });
}

/** Average pooling without padding. [N,C,H,W] -> [N,C,OH,OW]. */
export function avgPool2d(x: Tensor, k: number, stride = k): Tensor {
  const g = poolGeom('avgPool2d', x, k, stride);
  return primitive(
    'avgPool2d',
    [x],
    [g.n, g.c, g.oh, g.ow],
    (b, xb) => b.avgPool2d(xb, g),
    (dy) => [launch([dy], x.shape, (b, d) => b.avgPool2dBackward(d, g))],
  );
}

function groupNormGeom(op: string, x: Tensor, groups: number, gamma: Tensor, beta: Tensor, eps: number): GroupNormGeom {
  checkSame(op, x, gamma, beta);
  if (x.ndim < 2) throw new ShapeError(`${op}: expected [N,C,...], got [${x.shape}]`);
  const [n, c] = x.shape;
  if (c % groups !== 0) throw new ShapeError(`${op}: ${c} channels not divisible by ${groups} groups`);
  if (gamma.size !== c || beta.size !== c) {
    throw new ShapeError(`${op}: gamma [${gamma.shape}] / beta [${beta.shape}] must have ${c} elements`);
  }
  return { n, c, hw: x.size / (n * c), groups, eps };
}

/**
 * GroupNorm over x [N, C, ...] with `groups` groups; gamma, beta [C]. Biased variance, eps inside the sqrt.
 * Same shape as x.
 */
export function groupNorm(x: Tensor, groups: number, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  return groupNormOp('groupNorm', x, groups, gamma, beta, eps);
}

/**
 * relu(groupNorm(x, groups, gamma, beta, eps)) as one fused primitive forward and backward (BiT's pre-activation:
 * every GroupNorm of ResNetV2 is followed by ReLU). Equals the composite bit for bit on every backend, which do
 * the composite's arithmetic (test/autograd/group-norm-relu.test.ts). x [N, C, ...] -> same shape.
 */
export function groupNormRelu(x: Tensor, groups: number, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  return groupNormOp('groupNormRelu', x, groups, gamma, beta, eps);
}

/** GroupNorm, or GroupNorm + ReLU (the backward then reads the saved output y as the relu mask). */
function groupNormOp(
  op: 'groupNorm' | 'groupNormRelu',
  x: Tensor,
  groups: number,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
): Tensor {
  const geom = groupNormGeom(op, x, groups, gamma, beta, eps);
  const relu = op === 'groupNormRelu';
  const stat = [geom.n * groups];
  const f = launchAll([x, gamma, beta], { y: x.shape, mean: stat, rstd: stat }, (b, xb, gb, bb) =>
    relu ? b.groupNormRelu(xb, gb, bb, geom) : b.groupNorm(xb, gb, bb, geom),
  );
  const backward = (dy: Tensor) => {
    const d = launchAll(
      [dy, x, gamma, f.mean, f.rstd, ...(relu ? [f.y] : [])],
      { dx: x.shape, dgamma: gamma.shape, dbeta: beta.shape },
      (b, db, xb, gb, mb, rb, yb) =>
        relu ? b.groupNormReluBackward(db, yb!, xb, gb, mb, rb, geom) : b.groupNormBackward(db, xb, gb, mb, rb, geom),
    );
    return [d.dx, d.dgamma, d.dbeta];
  };
  const save = relu ? [x, gamma, f.y] : [x, gamma];
  return record(op, f.y, [x, gamma, beta], backward, { save, owned: [f.mean, f.rstd] });
}

/**
 * Weight standardization of w [O, ...]: each filter minus its mean over the other dims, divided by
 * sqrt(biased var + eps). Same shape as w. BiT/MindCV use eps 1e-10, timm 1e-8.
 */
export function weightStandardize(w: Tensor, eps = 1e-10): Tensor {
  const o = w.shape[0];
  const fanIn = w.size / o;
  const f = launchAll([w], { y: w.shape, mean: [o], rstd: [o] }, (b, wb) => b.weightStandardize(wb, o, fanIn, eps));
  const backward = (dy: Tensor) => [
    launch([dy, w, f.mean, f.rstd], w.shape, (b, db, wb, mb, rb) =>
      b.weightStandardizeBackward(db, wb, mb, rb, o, fanIn),
    ),
  ];
  return record('weightStandardize', f.y, [w], backward, { save: [w], owned: [f.mean, f.rstd] });
}
