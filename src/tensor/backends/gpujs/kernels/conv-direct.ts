/**
 * Direct conv2d kernels (one thread per output cell, constant loop bounds), used for grouped convolutions; the
 * groups = 1 case runs as im2col + GEMM (./conv.ts). Forward: y = sum over the group's input channels and taps.
 * gradInput: a dy cell contributes to x where (y + pad - ky) is a multiple of stride, so only ceil(k/s) taps per
 * axis are visited. gradWeight: correlation of x with dy summed over the batch. Inner loops use incremental indices.
 * Index math is integer-exact (./index-math.ts): thread indices unravel with idiv, and the tap/output pairing of
 * gradInput needs no division (oy = idiv(y + pad, s) - a).
 * Channel windows (for a sample above the chunk limit, ./conv.ts): a launch covers output channels
 * [co0, co0 + coutN) (forward, gradWeight) or input channels [ci0, ci0 + cinN) (gradInput), and its dy / weight
 * buffers are windows starting at channel co0 holding coutN channels; gradInput sums only the co of its window (the
 * caller adds the windows' partials). Forward and gradWeight also take an input-channel window: x holds channels
 * [ci0, ci0 + cinN) of each sample, forward sums only those (partials added by the caller), gradWeight writes 0 for
 * weights of other input channels (so adding the windows' results is exact). Whole samples: co0 = ci0 = 0,
 * coutN = cout, cinN = cin.
 * Row bands (./conv-rows.ts, a channel plane above the chunk limit): `h` / `oh` are the rows of the band's x / dy / y
 * windows and `py` the padding on the y axis as seen from the band's first row (`pad` on the x axis); whole planes:
 * py = pad.
 */

import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

export function convFwdKernel(this: KThis, x: Float32Array, wt: Float32Array): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.ow!);
  const ox = t0 - t1 * this.constants.ow!;
  const t2 = idiv(t1, this.constants.oh!);
  const oy = t1 - t2 * this.constants.oh!;
  const n = idiv(t2, this.constants.coutN!);
  const col = t2 - n * this.constants.coutN!;
  const g = idiv(this.constants.co0! + col, this.constants.coutG!);
  const hw = this.constants.h! * this.constants.w!;
  const khw = this.constants.kh! * this.constants.kw!;
  let acc = 0;
  for (let ci = 0; ci < this.constants.cinG!; ci++) {
    // Input channels outside the window [ci0, ci0 + cinN) are another launch's (their partials are added).
    const ca = g * this.constants.cinG! + ci - this.constants.ci0!;
    if (ca >= 0 && ca < this.constants.cinN!) {
      const xc = (n * this.constants.cinN! + ca) * hw;
      const wc = (col * this.constants.cinG! + ci) * khw;
      for (let ky = 0; ky < this.constants.kh!; ky++) {
        const iy = oy * this.constants.stride! - this.constants.py! + ky;
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
  }
  return acc;
}

export function convGradInputKernel(this: KThis, dy: Float32Array, wt: Float32Array): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.w!);
  const xx = t0 - t1 * this.constants.w!;
  const t2 = idiv(t1, this.constants.h!);
  const yy = t1 - t2 * this.constants.h!;
  const n = idiv(t2, this.constants.cinN!);
  const ci = this.constants.ci0! + t2 - n * this.constants.cinN!;
  const g = idiv(ci, this.constants.cinG!);
  const cil = ci - g * this.constants.cinG!;
  const s = this.constants.stride!;
  // Only taps with ky = (y + pad) mod s (mod s) reach an output row: ceil(kh/s) candidates per axis, constant bound.
  // Tap ky0 + a*s pairs with output row (y + pad - ky0)/s - a = qy - a: no division assumed exact.
  const ty0 = yy + this.constants.py!;
  const tx0 = xx + this.constants.pad!;
  const qy = idiv(ty0, s);
  const qx = idiv(tx0, s);
  const ky0 = ty0 - qy * s;
  const kx0 = tx0 - qx * s;
  let acc = 0;
  for (let col = 0; col < this.constants.coutG!; col++) {
    const cw = g * this.constants.coutG! + col - this.constants.co0!;
    const dyc = (n * this.constants.coutN! + cw) * this.constants.oh! * this.constants.ow!;
    const wc = (cw * this.constants.cinG! + cil) * this.constants.kh! * this.constants.kw!;
    for (let a = 0; a < this.constants.nky!; a++) {
      const ky = ky0 + a * s;
      const oy = qy - a;
      if (cw >= 0 && cw < this.constants.coutN! && ky < this.constants.kh! && oy >= 0 && oy < this.constants.oh!) {
        let di = dyc + oy * this.constants.ow! + qx;
        let wi = wc + ky * this.constants.kw! + kx0;
        for (let b = 0; b < this.constants.nkx!; b++) {
          const kx = kx0 + b * s;
          const ox = qx - b;
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
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.kw!);
  const kx = t0 - t1 * this.constants.kw!;
  const t2 = idiv(t1, this.constants.kh!);
  const ky = t1 - t2 * this.constants.kh!;
  const col = idiv(t2, this.constants.cinG!);
  const cil = t2 - col * this.constants.cinG!;
  const g = idiv(this.constants.co0! + col, this.constants.coutG!);
  // Input channel relative to the x window [ci0, ci0 + cinN); outside it the weight is another launch's: 0 here.
  const ca = g * this.constants.cinG! + cil - this.constants.ci0!;
  if (ca < 0 || ca >= this.constants.cinN!) return 0;
  const hw = this.constants.h! * this.constants.w!;
  const ohw = this.constants.oh! * this.constants.ow!;
  let acc = 0;
  for (let n = 0; n < this.constants.N!; n++) {
    const xc = (n * this.constants.cinN! + ca) * hw;
    const dyc = (n * this.constants.coutN! + col) * ohw;
    for (let oy = 0; oy < this.constants.oh!; oy++) {
      const iy = oy * this.constants.stride! - this.constants.py! + ky;
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
