/**
 * im2col / col2im for conv2d as GEMM (groups = 1). cols [n, K = cin*kh*kw, P = oh*ow]: row r = (ci*kh + ky)*kw + kx,
 * column p = oy*ow + ox holds x[n, ci, oy*s - pad + ky, ox*s - pad + kx] (zero outside). col2im is its adjoint: each
 * x cell sums the cols entries that sampled it, visiting only the ceil(k/s) taps per axis that can reach an output.
 */

import type { KThis } from './types.js';

export function im2colKernel(this: KThis, x: Float32Array): number {
  let t = this.thread.x;
  const ox = t % this.constants.ow!;
  t = (t - ox) / this.constants.ow!;
  const oy = t % this.constants.oh!;
  t = (t - oy) / this.constants.oh!;
  const kx = t % this.constants.kw!;
  t = (t - kx) / this.constants.kw!;
  const ky = t % this.constants.kh!;
  t = (t - ky) / this.constants.kh!;
  const ci = t % this.constants.cin!;
  const n = (t - ci) / this.constants.cin!;
  const iy = oy * this.constants.stride! - this.constants.pad! + ky;
  const ix = ox * this.constants.stride! - this.constants.pad! + kx;
  if (iy < 0 || iy >= this.constants.h! || ix < 0 || ix >= this.constants.w!) return 0;
  return x[((n * this.constants.cin! + ci) * this.constants.h! + iy) * this.constants.w! + ix]!;
}

export function col2imKernel(this: KThis, cols: Float32Array): number {
  let t = this.thread.x;
  const xx = t % this.constants.w!;
  t = (t - xx) / this.constants.w!;
  const yy = t % this.constants.h!;
  t = (t - yy) / this.constants.h!;
  const ci = t % this.constants.cin!;
  const n = (t - ci) / this.constants.cin!;
  const s = this.constants.stride!;
  const P = this.constants.oh! * this.constants.ow!;
  const ty0 = yy + this.constants.pad!;
  const tx0 = xx + this.constants.pad!;
  const ky0 = ty0 % s;
  const kx0 = tx0 % s;
  const rowBase = (n * this.constants.cin! + ci) * this.constants.kh! * this.constants.kw!;
  let acc = 0;
  for (let a = 0; a < this.constants.nky!; a++) {
    const ky = ky0 + a * s;
    const oy = (ty0 - ky) / s;
    if (ky < this.constants.kh! && oy >= 0 && oy < this.constants.oh!) {
      for (let b = 0; b < this.constants.nkx!; b++) {
        const kx = kx0 + b * s;
        const ox = (tx0 - kx) / s;
        if (kx < this.constants.kw! && ox >= 0 && ox < this.constants.ow!) {
          acc += cols[(rowBase + ky * this.constants.kw! + kx) * P + oy * this.constants.ow! + ox]!;
        }
      }
    }
  }
  return acc;
}
