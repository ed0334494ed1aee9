/**
 * conv2d forward / gradInput / gradWeight (NCHW, OIHW, symmetric zero padding, groups).
 *
 * Direct kernels (one thread per output cell, constant loop bounds) serve every k x k case (BiT: 7x7/2 pad 3,
 * 3x3/1 and 3x3/2 pad 1). 1x1 convs with groups = 1 run as GEMM (./matmul.ts): stride/pad first gathers x onto the
 * output grid; gradInput scatters the GEMM result back onto the input grid.
 * Math: dX is the full correlation of dy with the flipped kernel (stride turned into input dilation: a dy cell
 * contributes where (y + pad - ky) is a multiple of stride); dW correlates x with dy summed over the batch.
 * The batch is chunked (./batch.ts) so buffers stay under the f32-exact chunk limit; dW sums the chunk partials.
 */

import { ShapeError } from '../../../../errors.js';
import type { Conv2dGeom } from '../../../backend.js';
import type { OpGen } from '../context.js';
import { batchGroups, concatGroups, sumGroups } from './batch.js';
import { gemmOp } from './matmul.js';
import type { KThis } from './types.js';

export function convFwdKernel(this: KThis, x: Float32Array, wt: Float32Array): number {
  let t = this.thread.x;
  const ox = t % this.constants.ow!;
  t = (t - ox) / this.constants.ow!;
  const oy = t % this.constants.oh!;
  t = (t - oy) / this.constants.oh!;
  const co = t % this.constants.cout!;
  const n = (t - co) / this.constants.cout!;
  const g = Math.floor(co / this.constants.coutG!);
  const hw = this.constants.h! * this.constants.w!;
  const khw = this.constants.kh! * this.constants.kw!;
  let acc = 0;
  for (let ci = 0; ci < this.constants.cinG!; ci++) {
    const xc = (n * this.constants.cin! + g * this.constants.cinG! + ci) * hw;
    const wc = (co * this.constants.cinG! + ci) * khw;
    for (let ky = 0; ky < this.constants.kh!; ky++) {
      const iy = oy * this.constants.stride! - this.constants.pad! + ky;
      if (iy >= 0 && iy < this.constants.h!) {
        const ix0 = ox * this.constants.stride! - this.constants.pad!;
        let xi = xc + iy * this.constants.w! + ix0;
        let wi = wc + ky * this.constants.kw!;
        for (let kx = 0; kx < this.constants.kw!; kx++) {
          const ix = ix0 + kx;
          if (ix >= 0 && ix < this.constants.w!) {
            acc += x[xi]! * wt[wi]!;
          }
          xi += 1;
          wi += 1;
        }
      }
    }
  }
  return acc;
}

export function convGradInputKernel(this: KThis, dy: Float32Array, wt: Float32Array): number {
  let t = this.thread.x;
  const xx = t % this.constants.w!;
  t = (t - xx) / this.constants.w!;
  const yy = t % this.constants.h!;
  t = (t - yy) / this.constants.h!;
  const ci = t % this.constants.cin!;
  const n = (t - ci) / this.constants.cin!;
  const g = Math.floor(ci / this.constants.cinG!);
  const cil = ci - g * this.constants.cinG!;
  const s = this.constants.stride!;
  // Only taps with ky = (y + pad) mod s (mod s) reach an output row: ceil(kh/s) candidates per axis, constant bound.
  const ty0 = yy + this.constants.pad!;
  const tx0 = xx + this.constants.pad!;
  const ky0 = ty0 % s;
  const kx0 = tx0 % s;
  let acc = 0;
  for (let col = 0; col < this.constants.coutG!; col++) {
    const co = g * this.constants.coutG! + col;
    const dyc = (n * this.constants.cout! + co) * this.constants.oh! * this.constants.ow!;
    const wc = (co * this.constants.cinG! + cil) * this.constants.kh! * this.constants.kw!;
    for (let a = 0; a < this.constants.nky!; a++) {
      const ky = ky0 + a * s;
      const oy = (ty0 - ky) / s;
      if (ky < this.constants.kh! && oy >= 0 && oy < this.constants.oh!) {
        let di = dyc + oy * this.constants.ow! + (tx0 - kx0) / s;
        let wi = wc + ky * this.constants.kw! + kx0;
        for (let b = 0; b < this.constants.nkx!; b++) {
          const kx = kx0 + b * s;
          const ox = (tx0 - kx) / s;
          if (kx < this.constants.kw! && ox >= 0 && ox < this.constants.ow!) {
            acc += dy[di]! * wt[wi]!;
          }
          di -= 1;
          wi += s;
        }
      }
    }
  }
  return acc;
}

export function convGradWeightKernel(this: KThis, x: Float32Array, dy: Float32Array): number {
  let t = this.thread.x;
  const kx = t % this.constants.kw!;
  t = (t - kx) / this.constants.kw!;
  const ky = t % this.constants.kh!;
  t = (t - ky) / this.constants.kh!;
  const cil = t % this.constants.cinG!;
  const co = (t - cil) / this.constants.cinG!;
  const g = Math.floor(co / this.constants.coutG!);
  const ci = g * this.constants.cinG! + cil;
  const hw = this.constants.h! * this.constants.w!;
  const ohw = this.constants.oh! * this.constants.ow!;
  let acc = 0;
  for (let n = 0; n < this.constants.N!; n++) {
    const xc = (n * this.constants.cin! + ci) * hw;
    const dyc = (n * this.constants.cout! + co) * ohw;
    for (let oy = 0; oy < this.constants.oh!; oy++) {
      const iy = oy * this.constants.stride! - this.constants.pad! + ky;
      if (iy >= 0 && iy < this.constants.h!) {
        const ix0 = kx - this.constants.pad!;
        let xi = xc + iy * this.constants.w! + ix0;
        let di = dyc + oy * this.constants.ow!;
        for (let ox = 0; ox < this.constants.ow!; ox++) {
          const ix = ix0 + ox * this.constants.stride!;
          if (ix >= 0 && ix < this.constants.w!) {
            acc += x[xi]! * dy[di]!;
          }
          xi += this.constants.stride!;
          di += 1;
        }
      }
    }
  }
  return acc;
}

/** 1x1 with stride/pad: x [n,c,h,w] -> [n,c,oh,ow] sampled at (oy*s - p, ox*s - p), zero outside. */
export function gatherGridKernel(this: KThis, x: Float32Array): number {
  let t = this.thread.x;
  const ox = t % this.constants.ow!;
  t = (t - ox) / this.constants.ow!;
  const oy = t % this.constants.oh!;
  const nc = (t - oy) / this.constants.oh!;
  const iy = oy * this.constants.stride! - this.constants.pad!;
  const ix = ox * this.constants.stride! - this.constants.pad!;
  if (iy < 0 || iy >= this.constants.h! || ix < 0 || ix >= this.constants.w!) return 0;
  return x[(nc * this.constants.h! + iy) * this.constants.w! + ix]!;
}

/** Inverse of gatherGridKernel: [n,c,oh,ow] -> [n,c,h,w] placing each value at its input position, zeros elsewhere. */
export function scatterGridKernel(this: KThis, d: Float32Array): number {
  let t = this.thread.x;
  const xx = t % this.constants.w!;
  t = (t - xx) / this.constants.w!;
  const yy = t % this.constants.h!;
  const nc = (t - yy) / this.constants.h!;
  const s = this.constants.stride!;
  const ty = yy + this.constants.pad!;
  const tx = xx + this.constants.pad!;
  const oy = Math.floor(ty / s);
  const ox = Math.floor(tx / s);
  if (oy * s !== ty || ox * s !== tx || oy >= this.constants.oh! || ox >= this.constants.ow!) return 0;
  return d[(nc * this.constants.oh! + oy) * this.constants.ow! + ox]!;
}

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

function consts(g: Conv2dGeom, nc: number): Record<string, number> {
  return {
    N: nc,
    cin: g.cin,
    cinG: g.cin / g.groups,
    cout: g.cout,
    coutG: g.cout / g.groups,
    h: g.h,
    w: g.w,
    kh: g.kh,
    kw: g.kw,
    stride: g.stride,
    pad: g.pad,
    oh: g.oh,
    ow: g.ow,
    nky: Math.ceil(g.kh / g.stride),
    nkx: Math.ceil(g.kw / g.stride),
  };
}

const isGemm = (g: Conv2dGeom): boolean => g.kh === 1 && g.kw === 1 && g.groups === 1;
const isPlainGrid = (g: Conv2dGeom): boolean => g.stride === 1 && g.pad === 0;

function* gatherGrid(x: Float32Array, g: Conv2dGeom, nc: number): OpGen<Float32Array> {
  const c = { h: g.h, w: g.w, oh: g.oh, ow: g.ow, stride: g.stride, pad: g.pad };
  return yield {
    spec: { name: 'conv2d.gather', fn: gatherGridKernel, constants: c, output: nc * g.cin * g.oh * g.ow },
    args: [x],
  };
}

/** y [n,cout,oh,ow] = conv2d(x, w). */
export function* conv2dOp(x: Float32Array, wt: Float32Array, g: Conv2dGeom, limit: number): OpGen<Float32Array> {
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  checkGeom('conv2d', g, [
    ['x', x.length, g.n * xs],
    ['w', wt.length, g.cout * (g.cin / g.groups) * g.kh * g.kw],
  ]);
  const groups = batchGroups('conv2d', g.n, [xs, ys, g.cin * g.oh * g.ow], limit);
  return yield* concatGroups(groups, ys, function* (n0, nc) {
    const xw = x.subarray(n0 * xs, (n0 + nc) * xs);
    if (isGemm(g)) {
      const xg = isPlainGrid(g) ? xw : yield* gatherGrid(xw, g, nc);
      const p = g.oh * g.ow;
      // y_n [cout, p] = W [cout, cin] x_n [cin, p]
      return yield* gemmOp(
        'conv2d.gemm',
        wt,
        xg,
        {
          batch: nc,
          m: g.cout,
          n: p,
          k: g.cin,
          rb: 1,
          aB: 0,
          aR: 0,
          aI: g.cin,
          aK: 1,
          bB: g.cin * p,
          bR: 0,
          bK: p,
          bJ: 1,
        },
        limit,
      );
    }
    const spec = {
      name: 'conv2d.fwd',
      fn: convFwdKernel,
      constants: consts(g, nc),
      output: nc * ys,
      loops: Math.max(g.cin / g.groups, g.kh, g.kw),
    };
    return yield { spec, args: [xw, wt] };
  });
}

/** dx [n,cin,h,w] from dy [n,cout,oh,ow] and w. */
export function* conv2dGradInputOp(
  dy: Float32Array,
  wt: Float32Array,
  g: Conv2dGeom,
  limit: number,
): OpGen<Float32Array> {
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  checkGeom('conv2dGradInput', g, [
    ['dy', dy.length, g.n * ys],
    ['w', wt.length, g.cout * (g.cin / g.groups) * g.kh * g.kw],
  ]);
  const groups = batchGroups('conv2dGradInput', g.n, [xs, ys, g.cin * g.oh * g.ow], limit);
  return yield* concatGroups(groups, xs, function* (n0, nc) {
    const dyw = dy.subarray(n0 * ys, (n0 + nc) * ys);
    if (isGemm(g)) {
      const p = g.oh * g.ow;
      // dxg_n [cin, p] = W^T [cin, cout] dy_n [cout, p]
      const dxg = yield* gemmOp(
        'conv2dGradInput.gemm',
        wt,
        dyw,
        {
          batch: nc,
          m: g.cin,
          n: p,
          k: g.cout,
          rb: 1,
          aB: 0,
          aR: 0,
          aI: 1,
          aK: g.cin,
          bB: g.cout * p,
          bR: 0,
          bK: p,
          bJ: 1,
        },
        limit,
      );
      if (isPlainGrid(g)) return dxg;
      const c = { h: g.h, w: g.w, oh: g.oh, ow: g.ow, stride: g.stride, pad: g.pad };
      return yield {
        spec: { name: 'conv2dGradInput.scatter', fn: scatterGridKernel, constants: c, output: nc * xs },
        args: [dxg],
      };
    }
    const spec = {
      name: 'conv2dGradInput.direct',
      fn: convGradInputKernel,
      constants: consts(g, nc),
      output: nc * xs,
      loops: Math.max(g.cout / g.groups, g.kh, g.kw),
    };
    return yield { spec, args: [dyw, wt] };
  });
}

/** dw [cout,cin/g,kh,kw] from x and dy, summed over the batch. */
export function* conv2dGradWeightOp(
  x: Float32Array,
  dy: Float32Array,
  g: Conv2dGeom,
  limit: number,
): OpGen<Float32Array> {
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  checkGeom('conv2dGradWeight', g, [
    ['x', x.length, g.n * xs],
    ['dy', dy.length, g.n * ys],
  ]);
  const groups = batchGroups('conv2dGradWeight', g.n, [xs, ys, g.cin * g.oh * g.ow], limit);
  return yield* sumGroups(groups, function* (n0, nc) {
    const xw = x.subarray(n0 * xs, (n0 + nc) * xs);
    const dyw = dy.subarray(n0 * ys, (n0 + nc) * ys);
    if (isGemm(g)) {
      const xg = isPlainGrid(g) ? xw : yield* gatherGrid(xw, g, nc);
      const p = g.oh * g.ow;
      // dw [cout, cin] = sum_n dy_n [cout, p] xg_n^T [p, cin]
      return yield* gemmOp(
        'conv2dGradWeight.gemm',
        dyw,
        xg,
        {
          batch: 1,
          m: g.cout,
          n: g.cin,
          k: p,
          rb: nc,
          aB: 0,
          aR: g.cout * p,
          aI: p,
          aK: 1,
          bB: 0,
          bR: g.cin * p,
          bK: 1,
          bJ: p,
        },
        limit,
      );
    }
    const spec = {
      name: 'conv2dGradWeight.direct',
      fn: convGradWeightKernel,
      constants: consts(g, nc),
      output: g.cout * (g.cin / g.groups) * g.kh * g.kw,
      loops: Math.max(nc, g.oh, g.ow),
    };
    return yield { spec, args: [xw, dyw] };
  });
}
