/**
 * Reference pooling (max with argmax indices, average) and last-axis reductions.
 * Max-pool ties resolve to the first maximum in row-major window order (PyTorch does the same on CPU).
 */

import type { MaxPool2dGeom, Pool2dGeom, ReduceOp } from '../../backend.js';
import { type DType, type TypedArray, typedArray } from '../../dtype.js';

export function maxPool2d(x: TypedArray, g: MaxPool2dGeom, dtype: DType) {
  const out = typedArray(dtype, g.n * g.c * g.oh * g.ow);
  const indices = typedArray(dtype, out.length);
  let o = 0;
  for (let p = 0; p < g.n * g.c; p++) {
    const base = p * g.h * g.w;
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++, o++) {
        let best = Number.NEGATIVE_INFINITY;
        let bi = -1;
        let seen = false;
        scan: for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.stride - g.pad + ky;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = ox * g.stride - g.pad + kx;
            const inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            const v = inside ? x[base + iy * g.w + ix] : g.padValue;
            if (!seen || v > best || Number.isNaN(v)) {
              seen = true;
              best = v;
              bi = inside ? iy * g.w + ix : -1;
              if (Number.isNaN(v)) break scan;
            }
          }
        }
        out[o] = best;
        indices[o] = bi;
      }
    }
  }
  return { out, indices };
}

export function maxPool2dBackward(dy: TypedArray, indices: TypedArray, g: MaxPool2dGeom, dtype: DType): TypedArray {
  const dx = typedArray(dtype, g.n * g.c * g.h * g.w);
  const per = g.oh * g.ow;
  for (let o = 0; o < dy.length; o++) {
    const i = indices[o];
    if (i < 0) continue; // a padding cell won: its gradient belongs to the (virtual) padding
    const p = Math.floor(o / per);
    dx[p * g.h * g.w + i] += dy[o];
  }
  return dx;
}

export function avgPool2d(x: TypedArray, g: Pool2dGeom, dtype: DType): TypedArray {
  const out = typedArray(dtype, g.n * g.c * g.oh * g.ow);
  const inv = 1 / (g.kh * g.kw);
  let o = 0;
  for (let p = 0; p < g.n * g.c; p++) {
    const base = p * g.h * g.w;
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++, o++) {
        let s = 0;
        for (let ky = 0; ky < g.kh; ky++) {
          for (let kx = 0; kx < g.kw; kx++) s += x[base + (oy * g.stride + ky) * g.w + ox * g.stride + kx];
        }
        out[o] = s * inv;
      }
    }
  }
  return out;
}

export function avgPool2dBackward(dy: TypedArray, g: Pool2dGeom, dtype: DType): TypedArray {
  const dx = typedArray(dtype, g.n * g.c * g.h * g.w);
  const inv = 1 / (g.kh * g.kw);
  let o = 0;
  for (let p = 0; p < g.n * g.c; p++) {
    const base = p * g.h * g.w;
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++, o++) {
        const v = dy[o] * inv;
        for (let ky = 0; ky < g.kh; ky++) {
          for (let kx = 0; kx < g.kw; kx++) dx[base + (oy * g.stride + ky) * g.w + ox * g.stride + kx] += v;
        }
      }
    }
  }
  return dx;
}

export function reduce(op: ReduceOp, a: TypedArray, outer: number, inner: number, dtype: DType): TypedArray {
  const out = typedArray(dtype, outer);
  for (let r = 0; r < outer; r++) {
    const base = r * inner;
    if (op === 'sum') {
      let s = 0;
      for (let i = 0; i < inner; i++) s += a[base + i];
      out[r] = s;
      continue;
    }
    const wantMax = op === 'max' || op === 'argmax';
    let best = a[base];
    let bi = 0;
    for (let i = 1; i < inner; i++) {
      const v = a[base + i];
      if (Number.isNaN(best)) break;
      if (Number.isNaN(v) || (wantMax ? v > best : v < best)) {
        best = v;
        bi = i;
      }
    }
    out[r] = op === 'max' || op === 'min' ? best : bi;
  }
  return out;
}
