/**
 * Differentiable matmul and conv2d.
 *   matmul  C = A B:   dA = dC B^T (summed over broadcast batch dims),  dB = A^T dC.
 *   conv2d  y = x * w: dx = conv2dGradInput(dy, w) (full correlation of dy with the flipped kernel, channels
 *           swapped, stride turned into input dilation, padding k-1-p); dw = conv2dGradWeight(x, dy)
 *           (correlation of x with dy summed over the batch); dbias = sum of dy over N, H, W.
 * Shapes: matmul [..., m, k] x [..., k, n] -> [..., m, n] (1-D operands promoted, batch dims broadcast);
 *         conv2d x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], bias [Cout] -> [N, Cout, OH, OW].
 */

import { ShapeError } from '../../errors.js';
import type { Conv2dGeom } from '../../tensor/backend.js';
import { checkSame, fromBuffer, permuteView, rawMatmul, reshapeRaw, sumTo, withDense } from '../../tensor/raw.js';
import type { Tensor } from '../../tensor/tensor.js';
import { record } from '../graph.js';
import { add } from './elementwise.js';
import { reshape } from './movement.js';

/** Batched matrix product with NumPy semantics. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const y = rawMatmul(a, b);
  return record(
    'matmul',
    y,
    [a, b],
    (g) => {
      const a2 = reshapeRaw(a, a.ndim === 1 ? [1, a.shape[0]] : a.shape);
      const b2 = reshapeRaw(b, b.ndim === 1 ? [b.shape[0], 1] : b.shape);
      const gShape = [...y.shape];
      if (a.ndim === 1) gShape.splice(gShape.length - (b.ndim === 1 ? 0 : 1), 0, 1);
      if (b.ndim === 1) gShape.push(1);
      const g2 = reshapeRaw(g, gShape);
      const tr = (t: Tensor) => {
        const p = [...t.shape.keys()];
        const k = p.length;
        [p[k - 2], p[k - 1]] = [p[k - 1], p[k - 2]];
        return permuteView(t, p);
      };
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (a.requiresGrad) {
        const bt = tr(b2);
        const full = rawMatmul(g2, bt);
        bt.dispose();
        const s = sumTo(full, a2.shape);
        if (s !== full) full.dispose();
        ga = reshapeRaw(s, a.shape);
        if (ga !== s) s.dispose();
      }
      if (b.requiresGrad) {
        const at = tr(a2);
        const full = rawMatmul(at, g2);
        at.dispose();
        const s = sumTo(full, b2.shape);
        if (s !== full) full.dispose();
        gb = reshapeRaw(s, b.shape);
        if (gb !== s) s.dispose();
      }
      for (const t of [a2, b2, g2]) if (t !== a && t !== b && t !== g) t.dispose();
      return [ga, gb];
    },
    { save: [a, b] },
  );
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
}

/** Conv geometry from shapes, validated. */
export function convGeom(x: Tensor, w: Tensor, o: Conv2dOptions): Conv2dGeom {
  const stride = o.stride ?? 1;
  const pad = o.padding ?? 0;
  const groups = o.groups ?? 1;
  if (x.ndim !== 4 || w.ndim !== 4) {
    throw new ShapeError(`conv2d: expected x [N,C,H,W] and w [O,C/g,kh,kw], got [${x.shape}] and [${w.shape}]`);
  }
  const [n, cin, h, wd] = x.shape;
  const [cout, cpg, kh, kw] = w.shape;
  if (cin % groups !== 0 || cout % groups !== 0 || cpg * groups !== cin) {
    throw new ShapeError(`conv2d: input [${x.shape}], weight [${w.shape}] and groups ${groups} do not fit`);
  }
  if (!(stride >= 1) || !(pad >= 0) || !Number.isInteger(stride) || !Number.isInteger(pad)) {
    throw new ShapeError(`conv2d: bad stride ${stride} or padding ${pad}`);
  }
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  if (oh <= 0 || ow <= 0) {
    throw new ShapeError(
      `conv2d: kernel ${kh}x${kw} larger than padded input ${h}x${wd} (pad ${pad}) for [${x.shape}]`,
    );
  }
  return { n, cin, h, w: wd, cout, kh, kw, stride, pad, groups, oh, ow };
}

/** 2-D convolution (cross-correlation, PyTorch's conv2d), optional bias. */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  const { backend } = checkSame('conv2d', x, w);
  const g = convGeom(x, w, o);
  const buf = withDense(x, (xb) => withDense(w, (wb) => backend.conv2d(xb, wb, g)));
  const y = fromBuffer(backend, buf, [g.n, g.cout, g.oh, g.ow]);
  const out = record(
    'conv2d',
    y,
    [x, w],
    (dy) =>
      withDense(dy, (db) => [
        x.requiresGrad
          ? fromBuffer(
              backend,
              withDense(w, (wb) => backend.conv2dGradInput(db, wb, g)),
              x.shape,
            )
          : null,
        w.requiresGrad
          ? fromBuffer(
              backend,
              withDense(x, (xb) => backend.conv2dGradWeight(xb, db, g)),
              w.shape,
            )
          : null,
      ]),
    { save: [x, w] },
  );
  if (!bias) return out;
  if (bias.ndim !== 1 || bias.shape[0] !== g.cout) {
    throw new ShapeError(`conv2d: bias shape [${bias.shape}] does not match ${g.cout} output channels`);
  }
  const b4 = reshape(bias, [1, g.cout, 1, 1]);
  return add(out, b4);
}
