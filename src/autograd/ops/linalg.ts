/**
 * Differentiable matmul and conv2d.
 *   matmul  C = A B:   dA = dC B^T (summed over broadcast batch dims),  dB = A^T dC.
 *   conv2d  y = x * w: dx = conv2dGradInput(dy, w) (full correlation of dy with the flipped kernel, channels
 *           swapped, stride turned into input dilation, padding k-1-p); dw = conv2dGradWeight(x, dy)
 *           (correlation of x with dy summed over the batch); dbias = sum of dy over N, H, W.
 *   conv2dAdd  y = x * w + r (the residual add folded into the conv, one backend primitive): dx, dw as conv2d's
 *           for dy, and dr = dy.
 * Shapes: matmul [..., m, k] x [..., k, n] -> [..., m, n] (1-D operands promoted, batch dims broadcast);
 *         conv2d x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], bias [Cout] -> [N, Cout, OH, OW];
 *         conv2dAdd the same with r [N, Cout, OH, OW] in place of the bias.
 */

import { ShapeError } from '../../errors.js';
import type { Conv2dGeom } from '../../tensor/backend.js';
import { checkSame, permuteView, rawMatmul, reshapeRaw, sumTo } from '../../tensor/raw.js';
import type { Tensor } from '../../tensor/tensor.js';
import { composite, launch, primitive } from '../dispatch.js';
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
      // promote 1-D operands (and g) to matrices, take the two products, sum broadcast batch dims away
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
      return [
        a.requiresGrad ? reshapeRaw(sumTo(rawMatmul(g2, tr(b2)), a2.shape), a.shape) : null,
        b.requiresGrad ? reshapeRaw(sumTo(rawMatmul(tr(a2), g2), b2.shape), b.shape) : null,
      ];
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
  checkSame('conv2d', x, w);
  const g = convGeom(x, w, o);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== g.cout)) {
    throw new ShapeError(`conv2d: bias shape [${bias.shape}] does not match ${g.cout} output channels`);
  }
  const y = () =>
    primitive(
      'conv2d',
      [x, w],
      [g.n, g.cout, g.oh, g.ow],
      (b, xb, wb) => b.conv2d(xb, wb, g),
      (dy) => convGrads(x, w, g, dy),
      { save: [x, w] },
    );
  if (!bias) return y();
  return composite([x, w, bias], () => add(y(), reshape(bias, [1, g.cout, 1, 1])));
}

/** conv2d's input and weight gradients for output gradient dy (null where the input needs none). */
function convGrads(x: Tensor, w: Tensor, g: Conv2dGeom, dy: Tensor): (Tensor | null)[] {
  return [
    x.requiresGrad ? launch([dy, w], x.shape, (b, d, wb) => b.conv2dGradInput(d, wb, g)) : null,
    w.requiresGrad ? launch([x, dy], w.shape, (b, xb, d) => b.conv2dGradWeight(xb, d, g)) : null,
  ];
}

/**
 * conv2d(x, w) + r in one primitive (the backend's `conv2dAdd`): the residual add of a ResNet unit folded into the
 * conv that produces it. x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], r [N, Cout, OH, OW] (exactly the output's
 * shape: no broadcasting) -> [N, Cout, OH, OW]. Same values as `add(conv2d(x, w), r)` (the backends add in that
 * order); backward: conv2d's dx, dw for dy, and dr = dy.
 */
export function conv2dAdd(x: Tensor, w: Tensor, r: Tensor, o: Conv2dOptions = {}): Tensor {
  checkSame('conv2dAdd', x, w, r);
  const g = convGeom(x, w, o);
  const shape = [g.n, g.cout, g.oh, g.ow];
  if (r.ndim !== 4 || r.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`conv2dAdd: r shape [${r.shape}] does not match the output [${shape}]`);
  }
  return primitive(
    'conv2dAdd',
    [x, w, r],
    shape,
    (b, xb, wb, rb) => b.conv2dAdd(xb, wb, rb, g),
    (dy) => [...convGrads(x, w, g, dy), r.requiresGrad ? dy.detach() : null],
    { save: [x, w] },
  );
}
