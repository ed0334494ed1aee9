/**
 * Two-stage (blocked) GroupNorm / weight-standardization statistics and backward sums: the GPU-grade form of
 * the one-thread-per-row kernels (./norm-rows.ts, ./norm-grad.ts). Stage 1 runs one thread per (row, block) and
 * writes each block's partial sum; stage 2 runs one thread per row (or channel) and combines that row's partials. A
 * [rows] launch is a few hundred threads each looping over a whole row; stage 1 is rows x blocks threads (tens of
 * thousands) with about sqrt(L) (means) or L^(2/3) (squares, gradient statistics) iterations each.
 *
 * Invariant: the arithmetic is the per-row kernels', step for step, only split between the two launches: the same
 * blocking (./reduce.ts `sumBlocking`), the same compensated (Neumaier) mean with its per-run compensation carried
 * to the combine unrounded (stage 1 writes run sums and their compensations as two halves of one output), the same
 * summation order. So the results are bit-identical to the per-row path (tested), and every accuracy figure of
 * ./reduce.ts and ./norm.ts holds. Indices: thread ids unravel with the exact idiv (./index-math.ts); element
 * indices stay inside the launch's window (< the chunk limit), as in the per-row kernels.
 */

import type { Arr, OpGen } from '../op-gen.js';
import { exactIndexSource } from './index-math.js';
import { sumBlocking } from './reduce.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

/**
 * Stage 1 of the shifted row mean: thread (h, row, b) over 2 x rows x nb: the compensated sum of x - x[row start]
 * over run b (B elements) of the row; h = 0 writes the run's sum, h = 1 its compensation. Constants L, B, nb, n
 * (= rows x nb), sL: the row's shift is s[row * sL] (s = a, sL = L: its first element; a window of a longer row
 * passes that row's first element, sL = 0).
 */
export function meanRunKernel(this: KThis, a: Float32Array, sh: Float32Array): number {
  const h = this.thread.x >= this.constants.n! ? 1 : 0;
  const t = this.thread.x - h * this.constants.n!;
  const row = idiv(t, this.constants.nb!);
  const b = t - row * this.constants.nb!;
  const base = row * this.constants.L!;
  const shift = sh[row * this.constants.sL!]!;
  let run = 0;
  let runC = 0;
  for (let j = 0; j < this.constants.B!; j++) {
    const i = b * this.constants.B! + j;
    if (i < this.constants.L!) {
      const v = a[base + i]! - shift;
      const s = run + v;
      if (Math.abs(run) >= Math.abs(v)) {
        runC += run - s + v;
      } else {
        runC += v - s + run;
      }
      run = s;
    }
  }
  if (h === 1) return runC;
  return run;
}

/** Stage 2 of the shifted row mean: per row, x[row start] + (compensated sum of the runs) / L. */
export function meanCombineKernel(this: KThis, runs: Float32Array, a: Float32Array): number {
  const row = this.thread.x;
  const base = row * this.constants.nb!;
  let total = 0;
  let totalC = 0;
  for (let b = 0; b < this.constants.nb!; b++) {
    const run = runs[base + b]!;
    const runC = runs[this.constants.n! + base + b]!;
    const s = total + run;
    if (Math.abs(total) >= Math.abs(run)) {
      totalC += total - s + run + runC;
    } else {
      totalC += run - s + total + runC;
    }
    total = s;
  }
  return a[row * this.constants.L!]! + (total + totalC) / this.constants.L!;
}

/** Stage 1 of the row variance: thread (row, b): sum over block b (B runs of B) of (x - mean)^2, run by run. */
export function sqBlockKernel(this: KThis, x: Float32Array, mean: Float32Array): number {
  const t = this.thread.x;
  const row = idiv(t, this.constants.nb!);
  const b = t - row * this.constants.nb!;
  const base = row * this.constants.L!;
  const s = mean[row]!;
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
  return block;
}

/**
 * Stage 2 of a blocked row sum: per row the nb block sums of half `half` added in order, then mode 0: 1 / sqrt(sum
 * / L + eps) (rstd), mode 1: sum / L (a gradient statistic's mean).
 */
export function blockCombineKernel(this: KThis, blocks: Float32Array): number {
  const base = this.constants.half! * this.constants.n! + this.thread.x * this.constants.nb!;
  let total = 0;
  for (let b = 0; b < this.constants.nb!; b++) total += blocks[base + b]!;
  if (this.constants.mode === 0) return 1 / Math.sqrt(total / this.constants.L! + this.constants.eps!);
  return total / this.constants.L!;
}

/**
 * Stage 1 of the gradient statistics: thread (h, row, b) over 2 x rows x nb: block b's sum of g*dy (h = 0) or
 * g*dy*xhat (h = 1), g = gamma[channel] (affine 1) or 1. The channel at the block's start comes from the exact idiv
 * of its element index, then steps along the block as in ./norm-grad.ts `rowGradStatKernel`.
 */
export function gradStatBlockKernel(
  this: KThis,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
): number {
  const h = this.thread.x >= this.constants.n! ? 1 : 0;
  const t = this.thread.x - h * this.constants.n!;
  const row = idiv(t, this.constants.nb!);
  const b = t - row * this.constants.nb!;
  const base = row * this.constants.L!;
  const m = mean[row]!;
  const r = rstd[row]!;
  const start = base + b * this.constants.B! * this.constants.B!;
  const cells = idiv(start, this.constants.hw!);
  let p = start - cells * this.constants.hw!;
  const q = this.constants.q0! + cells;
  let ch = q - idiv(q, this.constants.c!) * this.constants.c!;
  let block = 0;
  for (let k = 0; k < this.constants.B!; k++) {
    let run = 0;
    const i0 = (b * this.constants.B! + k) * this.constants.B!;
    for (let j = 0; j < this.constants.B!; j++) {
      if (i0 + j < this.constants.L!) {
        let gdy = dy[base + i0 + j]!;
        if (this.constants.affine === 1) gdy = gdy * gamma[ch]!;
        if (h === 0) {
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
  return block;
}

/**
 * Stage 1 of GroupNorm's dgamma / dbeta: thread (h, n, ch, b) over 2 x N x c x nbh: run b (Bh cells) of channel ch
 * of sample n, summing dy*xhat (h = 0: dgamma) or dy (h = 1: dbeta).
 */
export function gnParamRunKernel(
  this: KThis,
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
): number {
  const h = this.thread.x >= this.constants.n! ? 1 : 0;
  const t = this.thread.x - h * this.constants.n!;
  const rest = idiv(t, this.constants.nbh!);
  const b = t - rest * this.constants.nbh!;
  const n = idiv(rest, this.constants.c!);
  const ch = rest - n * this.constants.c!;
  const base = (n * this.constants.c! + ch) * this.constants.hw!;
  const row = n * this.constants.G! + idiv(ch, this.constants.cg!);
  const m = mean[row]!;
  const r = rstd[row]!;
  let run = 0;
  for (let j = 0; j < this.constants.Bh!; j++) {
    const p = b * this.constants.Bh! + j;
    if (p < this.constants.hw!) {
      if (h === 1) {
        run += dy[base + p]!;
      } else {
        run += dy[base + p]! * (x[base + p]! - m) * r;
      }
    }
  }
  return run;
}

/** Stage 2 of GroupNorm's dgamma / dbeta: thread (h, n, ch) over 2 x N x c sums its channel's nbh runs in order. */
export function gnParamSampleKernel(this: KThis, runs: Float32Array): number {
  const base = this.thread.x * this.constants.nbh!;
  let sample = 0;
  for (let b = 0; b < this.constants.nbh!; b++) sample += runs[base + b]!;
  return sample;
}

/** Stage 3 of GroupNorm's dgamma / dbeta: per channel, the per-sample sums of half `half` added over samples. */
export function gnParamCombineKernel(this: KThis, samples: Float32Array): number {
  const base = this.constants.half! * this.constants.N! * this.constants.c! + this.thread.x;
  let acc = 0;
  for (let n = 0; n < this.constants.N!; n++) acc += samples[base + n * this.constants.c!]!;
  return acc;
}

/**
 * [dgamma, dbeta] from stage-1 runs laid out [half][n][ch][run]: per (half, sample, channel) sums (one launch), then
 * per channel over the samples (one launch per half). Same order as one loop over samples of loops over runs.
 */
export function* gnParamCombine(runs: Arr, N: number, c: number, nbh: number): OpGen<[Arr, Arr]> {
  const samples: Arr = yield {
    spec: {
      name: 'groupNorm2.paramsample',
      fn: gnParamSampleKernel,
      constants: { nbh },
      output: 2 * N * c,
      loops: nbh,
    },
    args: [runs],
  };
  const out: Arr[] = [];
  for (const half of [0, 1]) {
    out.push(
      yield {
        spec: { name: 'groupNorm2.param', fn: gnParamCombineKernel, constants: { half, N, c }, output: c, loops: N },
        args: [samples],
      },
    );
  }
  return [out[0]!, out[1]!];
}

/** The rows of one statistics launch (as ./norm.ts passes them): rows of L contiguous elements of x. */
export interface StatRows {
  readonly rows: number;
  readonly L: number;
  readonly affine: number;
  readonly c: number;
  readonly hw: number;
  readonly eps: number;
  /** First channel of the window (GroupNorm blocks of groups; 0 otherwise). */
  readonly q0: number;
}

/** Whether the stage-1 launches of `r` (two halves of rows x blocks threads) fit the chunk limit. */
export function statsFitTwoStage(r: StatRows, limit: number): boolean {
  const n2 = r.rows * sumBlocking(r.L, 2).nb;
  const n3 = r.rows * sumBlocking(r.L).nb;
  return 2 * Math.max(n2, n3) <= limit;
}

/** Row mean and rstd of `x` in two stages: [mean, rstd] (4 launches). */
export function* twoStageStats(x: Arr, r: StatRows): OpGen<[Arr, Arr]> {
  const m = sumBlocking(r.L, 2);
  const n = r.rows * m.nb;
  const runs: Arr = yield {
    spec: {
      name: 'norm2.meanrun',
      fn: exactIndexSource(meanRunKernel),
      constants: { L: r.L, ...m, n, sL: r.L },
      output: 2 * n,
      loops: m.B,
    },
    args: [x, x],
  };
  const mean: Arr = yield {
    spec: {
      name: 'norm2.mean',
      fn: meanCombineKernel,
      constants: { L: r.L, nb: m.nb, n },
      output: r.rows,
      loops: m.nb,
    },
    args: [runs, x],
  };
  const q = sumBlocking(r.L);
  const blocks: Arr = yield {
    spec: {
      name: 'norm2.sq',
      fn: exactIndexSource(sqBlockKernel),
      constants: { L: r.L, ...q },
      output: r.rows * q.nb,
      loops: q.B,
    },
    args: [x, mean],
  };
  const combine = { half: 0, n: r.rows * q.nb, nb: q.nb, mode: 0, L: r.L, eps: r.eps };
  const rstd: Arr = yield {
    spec: { name: 'norm2.combine', fn: blockCombineKernel, constants: combine, output: r.rows, loops: q.nb },
    args: [blocks],
  };
  return [mean, rstd];
}

/** mean(g*dy) and mean(g*dy*xhat) per row in two stages: [m1, m2] (3 launches). */
export function* twoStageGradStats(dy: Arr, x: Arr, mean: Arr, rstd: Arr, gamma: Arr, r: StatRows): OpGen<[Arr, Arr]> {
  const q = sumBlocking(r.L);
  const n = r.rows * q.nb;
  const constants = { n, nb: q.nb, B: q.B, L: r.L, hw: r.hw, q0: r.q0, c: r.c, affine: r.affine };
  const blocks: Arr = yield {
    spec: { name: 'norm2.gradstat', fn: exactIndexSource(gradStatBlockKernel), constants, output: 2 * n, loops: q.B },
    args: [dy, x, mean, rstd, gamma],
  };
  const out: Arr[] = [];
  for (const half of [0, 1]) {
    const combine = { half, n, nb: q.nb, mode: 1, L: r.L, eps: 0 };
    out.push(
      yield {
        spec: { name: 'norm2.combine', fn: blockCombineKernel, constants: combine, output: r.rows, loops: q.nb },
        args: [blocks],
      },
    );
  }
  return [out[0]!, out[1]!];
}

/** GroupNorm param-gradient geometry of one launch unit (N samples of c channels, G groups of cg, hw cells). */
export interface ParamGeom {
  readonly N: number;
  readonly c: number;
  readonly hw: number;
  readonly G: number;
  readonly cg: number;
}

/** Whether the stage-1 launch of the param gradients (two halves of N x c x runs threads) fits the limit. */
export function paramFitsTwoStage(g: ParamGeom, limit: number): boolean {
  return 2 * g.N * g.c * sumBlocking(g.hw, 2).nb <= limit;
}

/** GroupNorm's per-channel [dgamma, dbeta] over one unit, in three stages (4 launches). */
export function* twoStageParam(dy: Arr, x: Arr, mean: Arr, rstd: Arr, g: ParamGeom): OpGen<[Arr, Arr]> {
  const { B: Bh, nb: nbh } = sumBlocking(g.hw, 2);
  const n = g.N * g.c * nbh;
  const constants = { n, nbh, Bh, c: g.c, hw: g.hw, G: g.G, cg: g.cg };
  const runs: Arr = yield {
    spec: { name: 'groupNorm2.paramrun', fn: exactIndexSource(gnParamRunKernel), constants, output: 2 * n, loops: Bh },
    args: [dy, x, mean, rstd],
  };
  return yield* gnParamCombine(runs, g.N, g.c, nbh);
}
