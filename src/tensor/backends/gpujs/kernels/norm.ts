/**
 * Fused GroupNorm and weight standardization (WS), forward and backward, as a few gpu.js kernels each.
 *
 * Both are "normalize contiguous rows" problems: GroupNorm rows are the (n, group) blocks of cg*hw contiguous
 * elements of x [n, c, hw]; WS rows are the o filters of w [o, fanIn]. Statistics use two passes (mean, then the
 * biased variance of x - mean) and rstd = 1/sqrt(var + eps). Backward (xhat = (x - mean) * rstd, L = row length):
 *   GN: dbeta_c = sum dy, dgamma_c = sum dy*xhat (over n and hw); dx = rstd*(gamma*dy - mean(gamma*dy)
 *       - xhat*mean(gamma*dy*xhat)) with the means over the row.   WS: dw = rstd*(dy - mean(dy) - yhat*mean(dy*yhat)).
 * Each row (per-sample block) must fit the chunk limit; GroupNorm is chunked over the batch. Row and channel of an
 * element come from the exact idiv (./index-math.ts); inside row loops the channel is stepped, not divided.
 */

import { ShapeError } from '../../../../errors.js';
import type { GroupNormGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../context.js';
import { batchGroups, concatGroups, sumGroups } from './batch.js';
import { exactIndexSource } from './index-math.js';
import { shiftedRowMeans, sumBlocking } from './reduce.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

/**
 * Row rstd = 1/sqrt(mean((x - mean)^2) + eps) (the two-pass variance; the mean comes from ./reduce.ts's
 * compensated `shiftedRowMeans`), the squares summed by a three-level blocked sum (runs of B, B runs to a block, nb
 * blocks: ./reduce.ts `sumBlocking`). Rows of length L in x.
 * Why the mean is that one: two near-equivalent forms, an unshifted compensated mean and a shifted mean with a plain
 * sum, each moved the webgpu training test (test/train/webgpu-train.test.ts: 5 steps equal to wasm) off wasm by
 * 4e-5 at step 2 through ReLU / max-pool ties; the shifted compensated one keeps it within 2.4e-7, as before.
 */
export function rowRstdKernel(this: KThis, x: Float32Array, mean: Float32Array): number {
  const base = this.thread.x * this.constants.L!;
  const s = mean[this.thread.x]!;
  let total = 0;
  for (let b = 0; b < this.constants.nb!; b++) {
    let block = 0;
    for (let r = 0; r < this.constants.B!; r++) {
      let run = 0;
      const i0 = (b * this.constants.B! + r) * this.constants.B!;
      for (let j = 0; j < this.constants.B!; j++) {
        if (i0 + j < this.constants.L!) {
          const d = x[base + i0 + j]! - s;
          run += d * d;
        }
      }
      block += run;
    }
    total += block;
  }
  return 1 / Math.sqrt(total / this.constants.L! + this.constants.eps!);
}

/** y = (x - mean_row) * rstd_row * gamma_ch + beta_ch; row = floor(i / L), ch = floor(i / hw) % c (GN). */
export function normApplyKernel(
  this: KThis,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
): number {
  const i = this.thread.x;
  const row = idiv(i, this.constants.L!);
  const xhat = (x[i]! - mean[row]!) * rstd[row]!;
  if (this.constants.affine === 0) return xhat;
  const q = idiv(i, this.constants.hw!);
  const ch = q - idiv(q, this.constants.c!) * this.constants.c!;
  return xhat * gamma[ch]! + beta[ch]!;
}

/**
 * Per channel: mode 0 dbeta = sum dy, mode 1 dgamma = sum dy*xhat, over the batch and hw. Blocked: per sample,
 * runs of Bh cells summed apart (nbh runs cover hw), the per-sample sums added over the batch.
 */
export function gnParamGradKernel(
  this: KThis,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
): number {
  const ch = this.thread.x;
  const grp = idiv(ch, this.constants.cg!);
  let acc = 0;
  for (let n = 0; n < this.constants.N!; n++) {
    const base = (n * this.constants.c! + ch) * this.constants.hw!;
    const row = n * this.constants.G! + grp;
    const m = mean[row]!;
    const r = rstd[row]!;
    let sample = 0;
    for (let b = 0; b < this.constants.nbh!; b++) {
      let run = 0;
      for (let j = 0; j < this.constants.Bh!; j++) {
        const p = b * this.constants.Bh! + j;
        if (p < this.constants.hw!) {
          if (this.constants.mode === 0) {
            run += dy[base + p]!;
          } else {
            run += dy[base + p]! * (x[base + p]! - m) * r;
          }
        }
      }
      sample += run;
    }
    acc += sample;
  }
  return acc;
}

/** Per row: mode 0 mean(g*dy), mode 1 mean(g*dy*xhat), with g = gamma[ch] (GN, affine 1) or 1 (WS, affine 0). */
export function rowGradStatKernel(
  this: KThis,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
): number {
  const row = this.thread.x;
  const base = row * this.constants.L!;
  const m = mean[row]!;
  const r = rstd[row]!;
  // Channel of element base + i: (base + i) / hw mod c, stepped along the row (p counts hw cells per channel).
  const q = idiv(base, this.constants.hw!);
  let ch = q - idiv(q, this.constants.c!) * this.constants.c!;
  let p = 0;
  let total = 0;
  // Blocked like rowRstdKernel; i = i0 + j runs through the row in order, so the channel steps as before.
  for (let b = 0; b < this.constants.nb!; b++) {
    let block = 0;
    for (let k = 0; k < this.constants.B!; k++) {
      let run = 0;
      const i0 = (b * this.constants.B! + k) * this.constants.B!;
      for (let j = 0; j < this.constants.B!; j++) {
        if (i0 + j < this.constants.L!) {
          let gdy = dy[base + i0 + j]!;
          if (this.constants.affine === 1) gdy = gdy * gamma[ch]!;
          if (this.constants.mode === 0) {
            run += gdy;
          } else {
            run += gdy * (x[base + i0 + j]! - m) * r;
          }
          p += 1;
          if (p === this.constants.hw!) {
            p = 0;
            ch += 1;
          }
        }
      }
      block += run;
    }
    total += block;
  }
  return total / this.constants.L!;
}

/** dx = rstd * (g*dy - m1 - xhat * m2) per element. */
export function normGradKernel(
  this: KThis,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  m1: Float32Array,
  m2: Float32Array,
): number {
  const i = this.thread.x;
  const row = idiv(i, this.constants.L!);
  const r = rstd[row]!;
  const xhat = (x[i]! - mean[row]!) * r;
  let gdy = dy[i]!;
  if (this.constants.affine === 1) {
    const q = idiv(i, this.constants.hw!);
    gdy = gdy * gamma[q - idiv(q, this.constants.c!) * this.constants.c!]!;
  }
  return r * (gdy - m1[row]! - xhat * m2[row]!);
}

interface Rows {
  readonly rows: number;
  readonly L: number;
  readonly affine: number;
  readonly c: number;
  readonly hw: number;
  readonly eps: number;
}

const rowConsts = (r: Rows, mode: number): Record<string, number> => ({
  L: r.L,
  ...sumBlocking(r.L),
  mode,
  eps: r.eps,
  affine: r.affine,
  c: r.c,
  hw: r.hw,
});

function* rowStats(x: Arr, r: Rows): OpGen<[Arr, Arr]> {
  const mean = yield* shiftedRowMeans(x, r.rows, r.L);
  const rstd = yield {
    spec: { name: 'norm.rstd', fn: rowRstdKernel, constants: rowConsts(r, 1), output: r.rows, loops: r.L },
    args: [x, mean],
  };
  return [mean, rstd];
}

function* rowGrad(dy: Arr, x: Arr, mean: Arr, rstd: Arr, gamma: Arr, r: Rows) {
  const args = [dy, x, mean, rstd, gamma];
  const s0 = {
    name: 'norm.gradstat',
    fn: exactIndexSource(rowGradStatKernel),
    constants: rowConsts(r, 0),
    output: r.rows,
    loops: r.L,
  };
  const m1: Arr = yield { spec: s0, args };
  const m2: Arr = yield { spec: { ...s0, constants: rowConsts(r, 1) }, args };
  const spec = {
    name: 'norm.grad',
    fn: exactIndexSource(normGradKernel),
    constants: rowConsts(r, 0),
    output: r.rows * r.L,
  };
  return (yield { spec, args: [...args, m1, m2] }) as Arr;
}

function checkGn(op: string, g: GroupNormGeom, sizes: [string, number, number][]): void {
  if (g.groups < 1 || g.c % g.groups !== 0) throw new ShapeError(`${op}: groups ${g.groups} must divide c ${g.c}`);
  if (g.n * g.c * g.hw < 1) throw new ShapeError(`${op}: empty input n=${g.n} c=${g.c} hw=${g.hw}`);
  for (const [name, got, want] of sizes) {
    if (got !== want) throw new ShapeError(`${op}: ${name} has ${got} elements, geometry needs ${want}`);
  }
}

/** GroupNorm forward: [y, mean, rstd]. */
export function* groupNormOp(x: Arr, gamma: Arr, beta: Arr, g: GroupNormGeom, limit: number) {
  const per = g.c * g.hw;
  checkGn('groupNorm', g, [
    ['x', x.length, g.n * per],
    ['gamma', gamma.length, g.c],
    ['beta', beta.length, g.c],
  ]);
  const groups = batchGroups('groupNorm', g.n, [per], limit);
  const means: { src: Arr; at: number }[] = [];
  const rstds: { src: Arr; at: number }[] = [];
  const y = yield* concatGroups(groups, per, function* (n0, nc) {
    const xw = x.subarray(n0 * per, (n0 + nc) * per);
    const r: Rows = { rows: nc * g.groups, L: (g.c / g.groups) * g.hw, affine: 1, c: g.c, hw: g.hw, eps: g.eps };
    const [m, s] = yield* rowStats(xw, r);
    means.push({ src: m, at: n0 * g.groups });
    rstds.push({ src: s, at: n0 * g.groups });
    const spec = {
      name: 'norm.apply',
      fn: exactIndexSource(normApplyKernel),
      constants: rowConsts(r, 0),
      output: nc * per,
    };
    return (yield { spec, args: [xw, m, s, gamma, beta] }) as Arr;
  });
  const one = groups.length === 1;
  const mean = one ? means[0]!.src : yield* assemble(g.n * g.groups, means);
  const rstd = one ? rstds[0]!.src : yield* assemble(g.n * g.groups, rstds);
  return [y, mean, rstd] as [Arr, Arr, Arr];
}

/** GroupNorm backward: [dx, dgamma, dbeta]. */
export function* groupNormBackwardOp(
  dy: Arr,
  x: Arr,
  gamma: Arr,
  mean: Arr,
  rstd: Arr,
  g: GroupNormGeom,
  limit: number,
) {
  const per = g.c * g.hw;
  checkGn('groupNormBackward', g, [
    ['dy', dy.length, g.n * per],
    ['x', x.length, g.n * per],
    ['gamma', gamma.length, g.c],
    ['mean', mean.length, g.n * g.groups],
    ['rstd', rstd.length, g.n * g.groups],
  ]);
  const groups = batchGroups('groupNormBackward', g.n, [per], limit);
  const win = (a: Arr, n0: number, nc: number, s: number) => a.subarray(n0 * s, (n0 + nc) * s);
  const dx = yield* concatGroups(groups, per, function* (n0, nc) {
    const r: Rows = { rows: nc * g.groups, L: (g.c / g.groups) * g.hw, affine: 1, c: g.c, hw: g.hw, eps: g.eps };
    return yield* rowGrad(
      win(dy, n0, nc, per),
      win(x, n0, nc, per),
      win(mean, n0, nc, g.groups),
      win(rstd, n0, nc, g.groups),
      gamma,
      r,
    );
  });
  const param = (mode: number) =>
    sumGroups(groups, function* (n0, nc) {
      const { B: Bh, nb: nbh } = sumBlocking(g.hw, 2);
      const constants = { N: nc, c: g.c, hw: g.hw, G: g.groups, cg: g.c / g.groups, mode, Bh, nbh };
      const spec = {
        name: 'groupNorm.param',
        fn: exactIndexSource(gnParamGradKernel),
        constants,
        output: g.c,
        loops: Math.max(nc, Bh, nbh),
      };
      return (yield {
        spec,
        args: [win(dy, n0, nc, per), win(x, n0, nc, per), win(mean, n0, nc, g.groups), win(rstd, n0, nc, g.groups)],
      }) as Arr;
    });
  const dgamma = yield* param(1);
  const dbeta = yield* param(0);
  return [dx, dgamma, dbeta] as [Arr, Arr, Arr];
}

function checkWs(op: string, size: number, o: number, fanIn: number): void {
  if (o < 1 || fanIn < 1 || size !== o * fanIn) {
    throw new ShapeError(`${op}: buffer of ${size} elements is not [o=${o}, fanIn=${fanIn}]`);
  }
}

/**
 * Weight standardization forward: [y, mean, rstd]. Rows = filters; a weight above the chunk limit runs in groups
 * of whole filters (each group's window and launch under the limit), its pieces assembled on the device.
 */
export function* weightStandardizeOp(w: Arr, o: number, fanIn: number, eps: number, limit: number) {
  checkWs('weightStandardize', w.length, o, fanIn);
  const groups = batchGroups('weightStandardize', o, [fanIn], limit);
  const means: { src: Arr; at: number }[] = [];
  const rstds: { src: Arr; at: number }[] = [];
  const y = yield* concatGroups(groups, fanIn, function* (o0, oc) {
    const r: Rows = { rows: oc, L: fanIn, affine: 0, c: 1, hw: 1, eps };
    const ww = w.subarray(o0 * fanIn, (o0 + oc) * fanIn);
    const [mean, rstd] = yield* rowStats(ww, r);
    means.push({ src: mean, at: o0 });
    rstds.push({ src: rstd, at: o0 });
    const one = new Float32Array(1);
    const spec = {
      name: 'norm.apply',
      fn: exactIndexSource(normApplyKernel),
      constants: rowConsts(r, 0),
      output: oc * fanIn,
    };
    return (yield { spec, args: [ww, mean, rstd, one, one] }) as Arr;
  });
  const single = groups.length === 1;
  const mean = single ? means[0]!.src : yield* assemble(o, means);
  const rstd = single ? rstds[0]!.src : yield* assemble(o, rstds);
  return [y, mean, rstd] as [Arr, Arr, Arr];
}

/** Weight standardization backward: dw (filter groups as in the forward). */
export function* weightStandardizeBackwardOp(
  dy: Arr,
  w: Arr,
  mean: Arr,
  rstd: Arr,
  o: number,
  fanIn: number,
  limit: number,
): OpGen<Arr> {
  checkWs('weightStandardizeBackward', w.length, o, fanIn);
  checkWs('weightStandardizeBackward dy', dy.length, o, fanIn);
  if (mean.length !== o || rstd.length !== o)
    throw new ShapeError(`weightStandardizeBackward: mean/rstd must have ${o}`);
  const groups = batchGroups('weightStandardizeBackward', o, [fanIn], limit);
  return yield* concatGroups(groups, fanIn, function* (o0, oc) {
    const win = (a: Arr, per: number) => a.subarray(o0 * per, (o0 + oc) * per);
    const r: Rows = { rows: oc, L: fanIn, affine: 0, c: 1, hw: 1, eps: 0 };
    return yield* rowGrad(win(dy, fanIn), win(w, fanIn), win(mean, 1), win(rstd, 1), new Float32Array(1), r);
  });
}
