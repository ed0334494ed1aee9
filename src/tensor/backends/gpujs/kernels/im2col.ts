/**
 * im2col / col2im for conv2d as GEMM (groups = 1). cols [n, K = cin*kh*kw, P = oh*ow]: row r = (ci*kh + ky)*kw + kx,
 * column p = oy*ow + ox holds x[n, ci, oy*s - pad + ky, ox*s - pad + kx] (zero outside). col2im is its adjoint: each
 * x cell sums the cols entries that sampled it, visiting only the ceil(k/s) taps per axis that can reach an output.
 * Index math is integer-exact (./index-math.ts): idiv unravels thread indices; col2im pairs tap ky0 + a*s with
 * output row idiv(y + pad, s) - a, so no quotient is assumed exact.
 */

import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

export function im2colKernel(this: KThis, x: Float32Array): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.ow!);
  const ox = t0 - t1 * this.constants.ow!;
  const t2 = idiv(t1, this.constants.oh!);
  const oy = t1 - t2 * this.constants.oh!;
  const t3 = idiv(t2, this.constants.kw!);
  const kx = t2 - t3 * this.constants.kw!;
  const t4 = idiv(t3, this.constants.kh!);
  const ky = t3 - t4 * this.constants.kh!;
  const n = idiv(t4, this.constants.cin!);
  const ci = t4 - n * this.constants.cin!;
  const iy = oy * this.constants.stride! - this.constants.pad! + ky;
  const ix = ox * this.constants.stride! - this.constants.pad! + kx;
  if (iy < 0 || iy >= this.constants.h! || ix < 0 || ix >= this.constants.w!) return 0;
  return x[((n * this.constants.cin! + ci) * this.constants.h! + iy) * this.constants.w! + ix]!;
}

export function col2imKernel(this: KThis, cols: Float32Array): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.w!);
  const xx = t0 - t1 * this.constants.w!;
  const t2 = idiv(t1, this.constants.h!);
  const yy = t1 - t2 * this.constants.h!;
  const n = idiv(t2, this.constants.cin!);
  const ci = t2 - n * this.constants.cin!;
  const s = this.constants.stride!;
  const P = this.constants.oh! * this.constants.ow!;
  const ty0 = yy + this.constants.pad!;
  const tx0 = xx + this.constants.pad!;
  const qy = idiv(ty0, s);
  const qx = idiv(tx0, s);
  const ky0 = ty0 - qy * s;
  const kx0 = tx0 - qx * s;
  const rowBase = (n * this.constants.cin! + ci) * this.constants.kh! * this.constants.kw!;
  let acc = 0;
  for (let a = 0; a < this.constants.nky!; a++) {
    const ky = ky0 + a * s;
    const oy = qy - a;
    if (ky < this.constants.kh! && oy >= 0 && oy < this.constants.oh!) {
      for (let b = 0; b < this.constants.nkx!; b++) {
        const kx = kx0 + b * s;
        const ox = qx - b;
        if (kx < this.constants.kw! && ox >= 0 && ox < this.constants.ow!) {
          acc += cols[(rowBase + ky * this.constants.kw! + kx) * P + oy * this.constants.ow! + ox]!;
        }
      }
    }
  }
  return acc;
}
