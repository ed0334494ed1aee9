/**
 * Reference matmul and conv2d (forward, grad-input, grad-weight). Conv uses im2col into a [cin/g*kh*kw, oh*ow]
 * column matrix and a plain GEMM; grad-input is W^T dY followed by col2im (scatter-add), grad-weight is
 * dY col^T summed over the batch. Accumulates in the buffer's own precision (float64 for gradcheck).
 */

import type { Conv2dGeom, MatmulGeom } from '../../backend.js';
import { type DType, type TypedArray, typedArray } from '../../dtype.js';

/**
 * C[m,n] (+)= sum_k A(i,k) B(k,j) with A read as [m,k] (lda=k) or transposed [k,m]; B as [k,n] or [n,k].
 * aOff/bOff/cOff are element offsets. i-k-j loop order keeps the inner loop contiguous in the common case.
 */
export function gemm(
  a: TypedArray,
  aOff: number,
  transA: boolean,
  b: TypedArray,
  bOff: number,
  transB: boolean,
  c: TypedArray,
  cOff: number,
  m: number,
  k: number,
  n: number,
  accumulate: boolean,
): void {
  if (!accumulate) c.fill(0, cOff, cOff + m * n);
  for (let i = 0; i < m; i++) {
    const crow = cOff + i * n;
    for (let p = 0; p < k; p++) {
      const av = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
      if (av === 0) continue;
      if (transB) {
        for (let j = 0; j < n; j++) c[crow + j] += av * b[bOff + j * k + p];
      } else {
        const brow = bOff + p * n;
        for (let j = 0; j < n; j++) c[crow + j] += av * b[brow + j];
      }
    }
  }
}

export function matmul(a: TypedArray, b: TypedArray, g: MatmulGeom, dtype: DType): TypedArray {
  const out = typedArray(dtype, g.batch * g.m * g.n);
  for (let bi = 0; bi < g.batch; bi++) {
    gemm(a, bi * g.m * g.k, g.transA, b, bi * g.k * g.n, g.transB, out, bi * g.m * g.n, g.m, g.k, g.n, false);
  }
  return out;
}

/** im2col for image `ni`, group `gi`: col[(c*kh+ky)*kw+kx, oy*ow+ox]. */
function im2col(x: TypedArray, g: Conv2dGeom, ni: number, gi: number, col: TypedArray): void {
  const cpg = g.cin / g.groups;
  const plane = g.oh * g.ow;
  for (let c = 0; c < cpg; c++) {
    const xBase = (ni * g.cin + gi * cpg + c) * g.h * g.w;
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) {
        const row = ((c * g.kh + ky) * g.kw + kx) * plane;
        for (let oy = 0; oy < g.oh; oy++) {
          const iy = oy * g.stride - g.pad + ky;
          for (let ox = 0; ox < g.ow; ox++) {
            const ix = ox * g.stride - g.pad + kx;
            col[row + oy * g.ow + ox] = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? x[xBase + iy * g.w + ix] : 0;
          }
        }
      }
    }
  }
}

/** col2im: scatter-add col back into dx for image ni, group gi. */
function col2im(col: TypedArray, g: Conv2dGeom, ni: number, gi: number, dx: TypedArray): void {
  const cpg = g.cin / g.groups;
  const plane = g.oh * g.ow;
  for (let c = 0; c < cpg; c++) {
    const xBase = (ni * g.cin + gi * cpg + c) * g.h * g.w;
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) {
        const row = ((c * g.kh + ky) * g.kw + kx) * plane;
        for (let oy = 0; oy < g.oh; oy++) {
          const iy = oy * g.stride - g.pad + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (let ox = 0; ox < g.ow; ox++) {
            const ix = ox * g.stride - g.pad + kx;
            if (ix >= 0 && ix < g.w) dx[xBase + iy * g.w + ix] += col[row + oy * g.ow + ox];
          }
        }
      }
    }
  }
}

function dims(g: Conv2dGeom) {
  const cpg = g.cin / g.groups;
  const opg = g.cout / g.groups;
  return { cpg, opg, kdim: cpg * g.kh * g.kw, plane: g.oh * g.ow };
}

export function conv2d(x: TypedArray, w: TypedArray, g: Conv2dGeom, dtype: DType): TypedArray {
  const { opg, kdim, plane } = dims(g);
  const out = typedArray(dtype, g.n * g.cout * plane);
  const col = typedArray(dtype, kdim * plane);
  for (let ni = 0; ni < g.n; ni++) {
    for (let gi = 0; gi < g.groups; gi++) {
      im2col(x, g, ni, gi, col);
      gemm(w, gi * opg * kdim, false, col, 0, false, out, (ni * g.cout + gi * opg) * plane, opg, kdim, plane, false);
    }
  }
  return out;
}

export function conv2dGradInput(dy: TypedArray, w: TypedArray, g: Conv2dGeom, dtype: DType): TypedArray {
  const { opg, kdim, plane } = dims(g);
  const dx = typedArray(dtype, g.n * g.cin * g.h * g.w);
  const col = typedArray(dtype, kdim * plane);
  for (let ni = 0; ni < g.n; ni++) {
    for (let gi = 0; gi < g.groups; gi++) {
      // col[kdim, plane] = W_g^T [kdim, opg] x dY_g [opg, plane]
      gemm(w, gi * opg * kdim, true, dy, (ni * g.cout + gi * opg) * plane, false, col, 0, kdim, opg, plane, false);
      col2im(col, g, ni, gi, dx);
    }
  }
  return dx;
}

export function conv2dGradWeight(x: TypedArray, dy: TypedArray, g: Conv2dGeom, dtype: DType): TypedArray {
  const { opg, kdim, plane } = dims(g);
  const dw = typedArray(dtype, g.cout * kdim);
  const col = typedArray(dtype, kdim * plane);
  for (let ni = 0; ni < g.n; ni++) {
    for (let gi = 0; gi < g.groups; gi++) {
      im2col(x, g, ni, gi, col);
      // dW_g[opg, kdim] += dY_g [opg, plane] x col^T [plane, kdim]
      gemm(dy, (ni * g.cout + gi * opg) * plane, false, col, 0, true, dw, gi * opg * kdim, opg, plane, kdim, true);
    }
  }
  return dw;
}
