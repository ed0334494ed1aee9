/**
 * Differentiable neural-network primitives built on fused backend kernels: max/avg pooling, GroupNorm and
 * weight standardization. Backward math:
 *   maxPool2d: dy scattered to the argmax position of each window (indices saved at forward time)
 *   avgPool2d: dy / (kh*kw) spread over each window
 *   groupNorm: dx = rstd*(g - mean(g) - xhat*mean(g*xhat)) per (sample, group), g = dy*gamma;
 *              dgamma = sum(dy*xhat), dbeta = sum(dy) over N and spatial dims
 *   weightStandardize: the same formula per output filter with gamma = 1 (no affine)
 */

import { ShapeError } from '../../errors.js';
import type { Pool2dGeom } from '../../tensor/backend.js';
import { checkSame, fromBuffer, withDense } from '../../tensor/raw.js';
import type { Tensor } from '../../tensor/tensor.js';
import { record } from '../graph.js';
import { pad } from './movement.js';

function poolGeom(op: string, x: Tensor, k: number, stride: number): Pool2dGeom {
  if (x.ndim !== 4) throw new ShapeError(`${op}: expected [N,C,H,W], got [${x.shape}]`);
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h - k) / stride) + 1;
  const ow = Math.floor((w - k) / stride) + 1;
  if (oh <= 0 || ow <= 0) throw new ShapeError(`${op}: window ${k} larger than input ${h}x${w}`);
  return { n, c, h, w, kh: k, kw: k, stride, oh, ow };
}

/**
 * Max pooling, window k, stride (default k), padding with -inf like PyTorch (BiT's stem pads with ZERO
 * explicitly before a padding-0 pool). [N,C,H,W] -> [N,C,OH,OW].
 */
export function maxPool2d(x: Tensor, k: number, stride = k, padding = 0): Tensor {
  const xp = padding > 0 ? pad(x, [padding, padding, padding, padding], Number.NEGATIVE_INFINITY) : x;
  const g = poolGeom('maxPool2d', xp, k, stride);
  const { out, indices } = withDense(xp, (b) => xp.backend.maxPool2d(b, g));
  const y = fromBuffer(xp.backend, out, [g.n, g.c, g.oh, g.ow]);
  const idx = fromBuffer(xp.backend, indices, y.shape);
  return record(
    'maxPool2d',
    y,
    [xp],
    (dy) => [
      fromBuffer(
        xp.backend,
        withDense(dy, (d) => xp.backend.maxPool2dBackward(d, indices, g)),
        xp.shape,
      ),
    ],
    { owned: [idx] },
  );
}

/** Average pooling without padding. [N,C,H,W] -> [N,C,OH,OW]. */
export function avgPool2d(x: Tensor, k: number, stride = k): Tensor {
  const g = poolGeom('avgPool2d', x, k, stride);
  const y = fromBuffer(
    x.backend,
    withDense(x, (b) => x.backend.avgPool2d(b, g)),
    [g.n, g.c, g.oh, g.ow],
  );
  return record('avgPool2d', y, [x], (dy) => [
    fromBuffer(
      x.backend,
      withDense(dy, (d) => x.backend.avgPool2dBackward(d, g)),
      x.shape,
    ),
  ]);
}

/**
 * GroupNorm over x [N, C, ...] with `groups` groups; gamma, beta [C]. Biased variance, eps inside the sqrt.
 * Same shape as x.
 */
export function groupNorm(x: Tensor, groups: number, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const { backend } = checkSame('groupNorm', x, gamma, beta);
  if (x.ndim < 2) throw new ShapeError(`groupNorm: expected [N,C,...], got [${x.shape}]`);
  const [n, c] = x.shape;
  if (c % groups !== 0) throw new ShapeError(`groupNorm: ${c} channels not divisible by ${groups} groups`);
  if (gamma.size !== c || beta.size !== c) {
    throw new ShapeError(`groupNorm: gamma [${gamma.shape}] / beta [${beta.shape}] must have ${c} elements`);
  }
  const hw = x.size / (n * c);
  const geom = { n, c, hw, groups, eps };
  const r = withDense(x, (xb) =>
    withDense(gamma, (gb) => withDense(beta, (bb) => backend.groupNorm(xb, gb, bb, geom))),
  );
  const y = fromBuffer(backend, r.y, x.shape);
  const mean = fromBuffer(backend, r.mean, [n * groups]);
  const rstd = fromBuffer(backend, r.rstd, [n * groups]);
  return record(
    'groupNorm',
    y,
    [x, gamma, beta],
    (dy) => {
      const d = withDense(dy, (db) =>
        withDense(x, (xb) =>
          withDense(gamma, (gb) => backend.groupNormBackward(db, xb, gb, mean.storage.buf, rstd.storage.buf, geom)),
        ),
      );
      const dx = fromBuffer(backend, d.dx, x.shape);
      const dg = fromBuffer(backend, d.dgamma, gamma.shape);
      const dbeta = fromBuffer(backend, d.dbeta, beta.shape);
      return [dx, dg, dbeta];
    },
    { save: [x, gamma], owned: [mean, rstd] },
  );
}

/**
 * Weight standardization of w [O, ...]: each filter minus its mean over the other dims, divided by
 * sqrt(biased var + eps). Same shape as w. BiT/MindCV use eps 1e-10, timm 1e-8.
 */
export function weightStandardize(w: Tensor, eps = 1e-10): Tensor {
  const backend = w.backend;
  const o = w.shape[0];
  const fanIn = w.size / o;
  const r = withDense(w, (wb) => backend.weightStandardize(wb, o, fanIn, eps));
  const y = fromBuffer(backend, r.y, w.shape);
  const mean = fromBuffer(backend, r.mean, [o]);
  const rstd = fromBuffer(backend, r.rstd, [o]);
  return record(
    'weightStandardize',
    y,
    [w],
    (dy) => [
      fromBuffer(
        backend,
        withDense(dy, (db) =>
          withDense(w, (wb) => backend.weightStandardizeBackward(db, wb, mean.storage.buf, rstd.storage.buf, o, fanIn)),
        ),
        w.shape,
      ),
    ],
    { save: [w], owned: [mean, rstd] },
  );
}
