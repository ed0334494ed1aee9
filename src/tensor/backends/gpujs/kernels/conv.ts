/**
 * conv2d forward / gradInput / gradWeight (NCHW, OIHW, symmetric zero padding, groups).
 *
 * groups = 1 (every BiT conv: 7x7/2 pad 3, 3x3/1 and 3x3/2 pad 1, 1x1/1 and 1x1/2) runs as im2col + GEMM
 * (./im2col.ts, ./matmul.ts): y_n = W [cout, K] cols_n [K, P]; dW = sum_n dy_n cols_n^T; dX = col2im(W^T dy_n).
 * A 1x1/1 pad-0 conv needs no im2col (cols = x). The GEMM kernel runs 3-8x faster than a direct conv kernel on
 * webasm (fewer divergent bounds checks per multiply-add). Grouped convs use the direct kernels (./conv-direct.ts).
 * Math: dX is the full correlation of dy with the flipped kernel (stride turned into input dilation: a dy cell
 * contributes where (y + pad - ky) is a multiple of stride); dW correlates x with dy summed over the batch.
 * The batch is chunked (./batch.ts) so buffers stay under the f32-exact chunk limit; dW sums the chunk partials.
 * A sample above the limit: the GEMM path runs it alone (./matmul.ts splits its rows or summed axis); the direct
 * path runs it in channel windows (./conv-split.ts).
 */

import { ShapeError } from '../../../../errors.js';
import type { Conv2dGeom } from '../../../backend.js';
import type { Arr, OpGen } from '../op-gen.js';
import { batchGroups, concatGroups, sumGroups } from './batch.js';
import { convFwdKernel, convGradInputKernel, convGradWeightKernel } from './conv-direct.js';
import {
  conv2dDirectSplit,
  conv2dGradInputDirectSplit,
  conv2dGradWeightDirectSplit,
  convConsts,
  samplesFit,
} from './conv-split.js';
import { col2imKernel, im2colKernel } from './im2col.js';
import { exactIndexSource } from './index-math.js';
import { gemmOp } from './matmul.js';

function checkGeom(op: string, g: Conv2dGeom, sizes: [string, number, number][]): void {
  const { n, cin, h, w, cout, kh, kw, stride, pad, groups, oh, ow } = g;
  if (groups < 1 || cin % groups !== 0 || cout % groups !== 0) {
    throw new ShapeError(`${op}: groups ${groups} must divide cin ${cin} and cout ${cout}`);
  }
  if (stride < 1 || pad < 0 || oh !== Math.floor((h + 2 * pad - kh) / stride) + 1) {
    throw new ShapeError(`${op}: oh ${oh} != floor((${h} + 2*${pad} - ${kh})/${stride}) + 1`);
  }
  if (ow !== Math.floor((w + 2 * pad - kw) / stride) + 1) {
    throw new ShapeError(`${op}: ow ${ow} != floor((${w} + 2*${pad} - ${kw})/${stride}) + 1`);
  }
  if (n < 1 || oh < 1 || ow < 1) throw new ShapeError(`${op}: empty geometry n=${n} oh=${oh} ow=${ow}`);
  for (const [name, got, want] of sizes) {
    if (got !== want) throw new ShapeError(`${op}: ${name} has ${got} elements, geometry needs ${want}`);
  }
}

const consts = convConsts;

/** im2col + GEMM for groups = 1 when one sample's cols fit the chunk limit; the direct kernels otherwise. */
const isGemm = (g: Conv2dGeom, limit: number): boolean => g.groups === 1 && g.cin * g.kh * g.kw * g.oh * g.ow <= limit;
const needsCols = (g: Conv2dGeom): boolean => g.kh * g.kw !== 1 || g.stride !== 1 || g.pad !== 0;

/** cols [nc, K, P] of a batch group (x itself for a 1x1/1 pad-0 conv). */
function* im2col(x: Arr, g: Conv2dGeom, nc: number): OpGen<Arr> {
  if (!needsCols(g)) return x;
  const spec = {
    name: 'conv2d.im2col',
    fn: exactIndexSource(im2colKernel),
    constants: consts(g, nc),
    output: nc * g.cin * g.kh * g.kw * g.oh * g.ow,
  };
  return yield { spec, args: [x] };
}

/**
 * Per-sample sizes a batch group must keep under the limit. A GEMM sample whose output alone exceeds it runs by
 * itself (its GEMM splits), so that size counts as the limit.
 */
function perSample(g: Conv2dGeom, limit: number): number[] {
  const [xs, ys] = [g.cin * g.h * g.w, g.cout * g.oh * g.ow];
  return isGemm(g, limit) ? [xs, Math.min(ys, limit), g.cin * g.kh * g.kw * g.oh * g.ow] : [xs, ys];
}

/** y [n,cout,oh,ow] = conv2d(x, w). */
export function* conv2dOp(x: Arr, wt: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  checkGeom('conv2d', g, [
    ['x', x.length, g.n * xs],
    ['w', wt.length, g.cout * (g.cin / g.groups) * g.kh * g.kw],
  ]);
  if (!isGemm(g, limit) && !samplesFit(g, limit)) return yield* conv2dDirectSplit(x, wt, g, limit);
  const groups = batchGroups('conv2d', g.n, perSample(g, limit), limit);
  return yield* concatGroups(groups, ys, function* (n0, nc) {
    const xw = x.subarray(n0 * xs, (n0 + nc) * xs);
    if (isGemm(g, limit)) {
      const cols = yield* im2col(xw, g, nc);
      const [K, P] = [g.cin * g.kh * g.kw, g.oh * g.ow];
      // y_n [cout, P] = W [cout, K] cols_n [K, P]
      return yield* gemmOp(
        'conv2d.gemm',
        wt,
        cols,
        { batch: nc, m: g.cout, n: P, k: K, rb: 1, aB: 0, aR: 0, aI: K, aK: 1, bB: K * P, bR: 0, bK: P, bJ: 1 },
        limit,
      );
    }
    const spec = {
      name: 'conv2d.direct',
      fn: exactIndexSource(convFwdKernel),
      constants: consts(g, nc),
      output: nc * ys,
      loops: Math.max(g.cin / g.groups, g.kh, g.kw),
    };
    return yield { spec, args: [xw, wt] };
  });
}

/** dx [n,cin,h,w] from dy [n,cout,oh,ow] and w. */
export function* conv2dGradInputOp(dy: Arr, wt: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  checkGeom('conv2dGradInput', g, [
    ['dy', dy.length, g.n * ys],
    ['w', wt.length, g.cout * (g.cin / g.groups) * g.kh * g.kw],
  ]);
  if (!isGemm(g, limit) && !samplesFit(g, limit)) return yield* conv2dGradInputDirectSplit(dy, wt, g, limit);
  const groups = batchGroups('conv2dGradInput', g.n, perSample(g, limit), limit);
  return yield* concatGroups(groups, xs, function* (n0, nc) {
    const dyw = dy.subarray(n0 * ys, (n0 + nc) * ys);
    if (isGemm(g, limit)) {
      const [K, P] = [g.cin * g.kh * g.kw, g.oh * g.ow];
      // dcols_n [K, P] = W^T [K, cout] dy_n [cout, P]
      const dcols = yield* gemmOp(
        'conv2dGradInput.gemm',
        wt,
        dyw,
        { batch: nc, m: K, n: P, k: g.cout, rb: 1, aB: 0, aR: 0, aI: 1, aK: K, bB: g.cout * P, bR: 0, bK: P, bJ: 1 },
        limit,
      );
      if (!needsCols(g)) return dcols;
      const c = consts(g, nc);
      return yield {
        spec: {
          name: 'conv2dGradInput.col2im',
          fn: exactIndexSource(col2imKernel),
          constants: c,
          output: nc * xs,
          loops: Math.max(c.nky!, c.nkx!),
        },
        args: [dcols],
      };
    }
    const spec = {
      name: 'conv2dGradInput.direct',
      fn: exactIndexSource(convGradInputKernel),
      constants: consts(g, nc),
      output: nc * xs,
      loops: Math.max(g.cout / g.groups, g.kh, g.kw),
    };
    return yield { spec, args: [dyw, wt] };
  });
}

/** dw [cout,cin/g,kh,kw] from x and dy, summed over the batch. */
export function* conv2dGradWeightOp(x: Arr, dy: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  checkGeom('conv2dGradWeight', g, [
    ['x', x.length, g.n * xs],
    ['dy', dy.length, g.n * ys],
  ]);
  const cells = g.cout * (g.cin / g.groups) * g.kh * g.kw;
  if (!isGemm(g, limit) && (!samplesFit(g, limit) || cells > limit)) {
    return yield* conv2dGradWeightDirectSplit(x, dy, g, limit);
  }
  const groups = batchGroups('conv2dGradWeight', g.n, perSample(g, limit), limit);
  return yield* sumGroups(groups, function* (n0, nc) {
    const xw = x.subarray(n0 * xs, (n0 + nc) * xs);
    const dyw = dy.subarray(n0 * ys, (n0 + nc) * ys);
    if (isGemm(g, limit)) {
      const cols = yield* im2col(xw, g, nc);
      const [K, P] = [g.cin * g.kh * g.kw, g.oh * g.ow];
      // dw [cout, K] = sum_n dy_n [cout, P] cols_n^T [P, K]
      return yield* gemmOp(
        'conv2dGradWeight.gemm',
        dyw,
        cols,
        {
          batch: 1,
          m: g.cout,
          n: K,
          k: P,
          rb: nc,
          aB: 0,
          aR: g.cout * P,
          aI: P,
          aK: 1,
          bB: 0,
          bR: K * P,
          bK: 1,
          bJ: P,
        },
        limit,
      );
    }
    const spec = {
      name: 'conv2dGradWeight.direct',
      fn: exactIndexSource(convGradWeightKernel),
      constants: consts(g, nc),
      output: cells,
      loops: Math.max(nc, g.oh, g.ow),
    };
    return yield { spec, args: [xw, dyw] };
  });
}
