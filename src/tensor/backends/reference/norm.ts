/**
 * Reference fused BiT primitives: GroupNorm and weight standardization (forward and backward), plus the SGD
 * update. Statistics use a two-pass mean/variance in the buffer's precision (biased variance, eps inside sqrt).
 *
 * Backward of y = (x - mu) * r (r = 1/sqrt(var + eps), stats over a group of size M), with g = dy*gamma:
 *   dx = r * (g - mean(g) - xhat * mean(g * xhat)),  dgamma_c = sum dy*xhat,  dbeta_c = sum dy.
 */

import type { GroupNormGeom, SgdParams } from '../../backend.js';
import { type DType, type TypedArray, typedArray } from '../../dtype.js';

/** Mean and rstd of `count` rows of `len` contiguous elements. */
function rowStats(x: TypedArray, rows: number, len: number, eps: number, dtype: DType) {
  const mean = typedArray(dtype, rows);
  const rstd = typedArray(dtype, rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = r * len; i < (r + 1) * len; i++) s += x[i];
    const mu = s / len;
    let v = 0;
    for (let i = r * len; i < (r + 1) * len; i++) v += (x[i] - mu) * (x[i] - mu);
    mean[r] = mu;
    rstd[r] = 1 / Math.sqrt(v / len + eps);
  }
  return { mean, rstd };
}

export function groupNorm(x: TypedArray, gamma: TypedArray, beta: TypedArray, g: GroupNormGeom, dtype: DType) {
  const cpg = g.c / g.groups;
  const len = cpg * g.hw;
  const { mean, rstd } = rowStats(x, g.n * g.groups, len, g.eps, dtype);
  const y = typedArray(dtype, x.length);
  for (let ni = 0; ni < g.n; ni++) {
    for (let c = 0; c < g.c; c++) {
      const r = ni * g.groups + Math.floor(c / cpg);
      const base = (ni * g.c + c) * g.hw;
      for (let i = base; i < base + g.hw; i++) y[i] = (x[i] - mean[r]) * rstd[r] * gamma[c] + beta[c];
    }
  }
  return { y, mean, rstd };
}

/** GroupNorm then the op table's relu (`v < 0 ? 0 : v`) in place on the output: the composite's arithmetic. */
export function groupNormRelu(x: TypedArray, gamma: TypedArray, beta: TypedArray, g: GroupNormGeom, dtype: DType) {
  const r = groupNorm(x, gamma, beta, g, dtype);
  const y = r.y;
  for (let i = 0; i < y.length; i++) y[i] = y[i] < 0 ? 0 : y[i];
  return r;
}

/**
 * GroupNorm backward; with `reluOut` (the saved output of `groupNormRelu`) each dy is read as
 * dy * (y != 0 ? 1 : 0), the op table's relu gradient, so the result equals the unfused composite bit for bit.
 */
export function groupNormBackward(
  dy: TypedArray,
  x: TypedArray,
  gamma: TypedArray,
  mean: TypedArray,
  rstd: TypedArray,
  g: GroupNormGeom,
  dtype: DType,
  reluOut?: TypedArray,
) {
  const dyAt = (i: number) => (reluOut ? dy[i] * (reluOut[i] !== 0 ? 1 : 0) : dy[i]);
  const cpg = g.c / g.groups;
  const len = cpg * g.hw;
  const dx = typedArray(dtype, x.length);
  const dgamma = typedArray(dtype, g.c);
  const dbeta = typedArray(dtype, g.c);
  for (let ni = 0; ni < g.n; ni++) {
    for (let gr = 0; gr < g.groups; gr++) {
      const r = ni * g.groups + gr;
      let sg = 0;
      let sgx = 0;
      for (let c = gr * cpg; c < (gr + 1) * cpg; c++) {
        const base = (ni * g.c + c) * g.hw;
        for (let i = base; i < base + g.hw; i++) {
          const xh = (x[i] - mean[r]) * rstd[r];
          const d = dyAt(i);
          const gv = d * gamma[c];
          sg += gv;
          sgx += gv * xh;
          dgamma[c] += d * xh;
          dbeta[c] += d;
        }
      }
      const mg = sg / len;
      const mgx = sgx / len;
      for (let c = gr * cpg; c < (gr + 1) * cpg; c++) {
        const base = (ni * g.c + c) * g.hw;
        for (let i = base; i < base + g.hw; i++) {
          const xh = (x[i] - mean[r]) * rstd[r];
          dx[i] = rstd[r] * (dyAt(i) * gamma[c] - mg - xh * mgx);
        }
      }
    }
  }
  return { dx, dgamma, dbeta };
}

export function weightStandardize(w: TypedArray, o: number, fanIn: number, eps: number, dtype: DType) {
  const { mean, rstd } = rowStats(w, o, fanIn, eps, dtype);
  const y = typedArray(dtype, w.length);
  for (let r = 0; r < o; r++) {
    for (let i = r * fanIn; i < (r + 1) * fanIn; i++) y[i] = (w[i] - mean[r]) * rstd[r];
  }
  return { y, mean, rstd };
}

export function weightStandardizeBackward(
  dy: TypedArray,
  w: TypedArray,
  mean: TypedArray,
  rstd: TypedArray,
  o: number,
  fanIn: number,
  dtype: DType,
): TypedArray {
  const dw = typedArray(dtype, w.length);
  for (let r = 0; r < o; r++) {
    let s = 0;
    let sx = 0;
    for (let i = r * fanIn; i < (r + 1) * fanIn; i++) {
      s += dy[i];
      sx += dy[i] * (w[i] - mean[r]) * rstd[r];
    }
    const m = s / fanIn;
    const mx = sx / fanIn;
    for (let i = r * fanIn; i < (r + 1) * fanIn; i++) {
      dw[i] = rstd[r] * (dy[i] - m - (w[i] - mean[r]) * rstd[r] * mx);
    }
  }
  return dw;
}

export function sgdUpdate(param: TypedArray, grad: TypedArray, buf: TypedArray, p: SgdParams): void {
  for (let i = 0; i < param.length; i++) {
    let d = grad[i] + p.weightDecay * param[i];
    if (p.momentum !== 0) {
      buf[i] = p.firstStep ? d : p.momentum * buf[i] + (1 - p.dampening) * d;
      d = p.nesterov ? d + p.momentum * buf[i] : buf[i];
    }
    param[i] -= p.lr * d;
  }
}
