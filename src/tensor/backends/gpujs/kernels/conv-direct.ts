/**
 * Direct conv2d kernels (one thread per output cell, constant loop bounds), used for grouped convolutions; the
 * groups = 1 case runs as im2col + GEMM (./conv.ts). Forward: y = sum over the group's input channels and taps.
 * gradInput: a dy cell contributes to x where (y + pad - ky) is a multiple of stride, so only ceil(k/s) taps per
 * axis are visited. gradWeight: correlation of x with dy summed over the batch. Inner loops use incremental indices.
 */

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
