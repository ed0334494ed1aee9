/**
 * Fused GroupNorm and weight standardization (WS), forward and backward, as a few gpu.js kernels each.
 *
 * Both are "normalize contiguous rows" problems: GroupNorm rows are the (n, group) blocks of cg*hw contiguous
 * elements of x [n, c, hw]; WS rows are the o filters of w [o, fanIn]. Statistics use two passes (mean, then the
 * biased variance of x - mean) and rstd = 1/sqrt(var + eps). Backward (xhat = (x - mean) * rstd, L = row length):
 *   GN: dbeta_c = sum dy, dgamma_c = sum dy*xhat (over n and hw); dx = rstd*(gamma*dy - mean(gamma*dy)
 *       - xhat*mean(gamma*dy*xhat)) with the means over the row.   WS: dw = rstd*(dy - mean(dy) - yhat*mean(dy*yhat)).
 * Each row must fit the chunk limit. GroupNorm is chunked over the batch, or, where one sample exceeds the limit,
 * over blocks of whole groups of one sample (statistics are per row, so no partial sums cross a launch; dgamma/dbeta
 * add the per-sample, per-block pieces on the device). Row and channel of an element come from the exact idiv
 * (./index-math.ts; `q0` is the window's first channel, so ch = (q0 + i / hw) mod c); inside row loops the channel
 * is stepped, not divided.
 */

import { ShapeError } from '../../../../errors.js';
import type { GroupNormGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../context.js';
import { addOp, batchGroups, concatGroups } from './batch.js';
import { exactIndexSource } from './index-math.js';
import { bigGroupApply, bigGroupBackward, bigGroupStats } from './norm-big.js';
import { paramFitsTwoStage, statsFitTwoStage, twoStageGradStats, twoStageParam, twoStageStats } from './norm-stages.js';
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
  const q = this.constants.q0! + idiv(i, this.constants.hw!);
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
  const q = this.constants.q0! + idiv(base, this.constants.hw!);
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
    const q = this.constants.q0! + idiv(i, this.constants.hw!);
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
  /** First channel of the window (GroupNorm blocks of groups; 0 otherwise). */
  readonly q0: number;
}

const rowConsts = (r: Rows, mode: number): Record<string, number> => ({
  L: r.L,
  ...sumBlocking(r.L),
  mode,
  eps: r.eps,
  affine: r.affine,
  c: r.c,
  hw: r.hw,
  q0: r.q0,
});

/** `twoStage`: the blocked launches of ./norm-stages.ts where they fit `limit` (same results, GPU-grade). */
function* rowStats(x: Arr, r: Rows, limit: number, twoStage: boolean): OpGen<[Arr, Arr]> {
  if (twoStage && statsFitTwoStage(r, limit)) return yield* twoStageStats(x, r);
  const mean = yield* shiftedRowMeans(x, r.rows, r.L);
  const rstd = yield {
    spec: { name: 'norm.rstd', fn: rowRstdKernel, constants: rowConsts(r, 1), output: r.rows, loops: r.L },
    args: [x, mean],
  };
  return [mean, rstd];
}

function* rowGrad(dy: Arr, x: Arr, mean: Arr, rstd: Arr, gamma: Arr, r: Rows, limit: number, twoStage: boolean) {
  const args = [dy, x, mean, rstd, gamma];
  const s0 = {
    name: 'norm.gradstat',
    fn: exactIndexSource(rowGradStatKernel),
    constants: rowConsts(r, 0),
    output: r.rows,
    loops: r.L,
  };
  let m1: Arr;
  let m2: Arr;
  if (twoStage && statsFitTwoStage(r, limit)) [m1, m2] = yield* twoStageGradStats(dy, x, mean, rstd, gamma, r);
  else {
    m1 = yield { spec: s0, args };
    m2 = yield { spec: { ...s0, constants: rowConsts(r, 1) }, args };
  }
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

/** A GroupNorm launch unit: samples [n0, n0 + nc) and their groups [grp0, grp0 + gc) (gc < groups only when nc = 1). */
type GnUnit = readonly [n0: number, nc: number, grp0: number, gc: number];

/** Whole samples per launch when one fits the limit, else blocks of whole groups of one sample. */
function gnUnits(op: string, g: GroupNormGeom, limit: number): GnUnit[] {
  const per = g.c * g.hw;
  if (per <= limit) return batchGroups(op, g.n, [per], limit).map(([n0, nc]) => [n0, nc, 0, g.groups] as const);
  const blocks = batchGroups(op, g.groups, [(g.c / g.groups) * g.hw], limit, 'group');
  const units: GnUnit[] = [];
  for (let n = 0; n < g.n; n++) for (const [grp0, gc] of blocks) units.push([n, 1, grp0, gc]);
  return units;
}

/** Rows, element window and row window of a unit. */
function gnWindow(g: GroupNormGeom, [n0, nc, grp0, gc]: GnUnit) {
  const cg = g.c / g.groups;
  const L = cg * g.hw;
  const r0 = n0 * g.groups + grp0;
  const rows = nc * gc;
  const r: Rows = { rows, L, affine: 1, c: g.c, hw: g.hw, eps: g.eps, q0: grp0 * cg };
  const el = (a: Arr) => a.subarray(r0 * L, (r0 + rows) * L);
  const row = (a: Arr) => a.subarray(r0, r0 + rows);
  return { r, r0, el, row };
}

/** One buffer from per-unit pieces (the piece itself when there is one). */
function* joined(size: number, pieces: { src: Arr; at: number }[]): OpGen<Arr> {
  return pieces.length === 1 ? pieces[0]!.src : yield* assemble(size, pieces);
}

/** GroupNorm forward: [y, mean, rstd] (`twoStage`: blocked statistics, ./norm-stages.ts). */
export function* groupNormOp(x: Arr, gamma: Arr, beta: Arr, g: GroupNormGeom, limit: number, twoStage = false) {
  const per = g.c * g.hw;
  checkGn('groupNorm', g, [
    ['x', x.length, g.n * per],
    ['gamma', gamma.length, g.c],
    ['beta', beta.length, g.c],
  ]);
  const ys: { src: Arr; at: number }[] = [];
  const means: { src: Arr; at: number }[] = [];
  const rstds: { src: Arr; at: number }[] = [];
  const cg = g.c / g.groups;
  if (cg * g.hw > limit) {
    // A single group above the limit: windows of it (./norm-big.ts).
    for (let r0 = 0; r0 < g.n * g.groups; r0++) {
      const big = { cg, hw: g.hw, c: g.c, q0: (r0 % g.groups) * cg, eps: g.eps };
      const xg = x.subarray(r0 * cg * g.hw, (r0 + 1) * cg * g.hw);
      const [m, s] = yield* bigGroupStats(xg, big, limit);
      means.push({ src: m, at: r0 });
      rstds.push({ src: s, at: r0 });
      ys.push({ src: yield* bigGroupApply(xg, m, s, gamma, beta, big, limit), at: r0 * cg * g.hw });
    }
    return [
      yield* joined(g.n * per, ys),
      yield* joined(g.n * g.groups, means),
      yield* joined(g.n * g.groups, rstds),
    ] as [Arr, Arr, Arr];
  }
  for (const u of gnUnits('groupNorm', g, limit)) {
    const { r, r0, el } = gnWindow(g, u);
    const xw = el(x);
    const [m, s] = yield* rowStats(xw, r, limit, twoStage);
    means.push({ src: m, at: r0 });
    rstds.push({ src: s, at: r0 });
    const spec = {
      name: 'norm.apply',
      fn: exactIndexSource(normApplyKernel),
      constants: rowConsts(r, 0),
      output: r.rows * r.L,
    };
    ys.push({ src: (yield { spec, args: [xw, m, s, gamma, beta] }) as Arr, at: r0 * r.L });
  }
  const y = yield* joined(g.n * per, ys);
  const mean = yield* joined(g.n * g.groups, means);
  const rstd = yield* joined(g.n * g.groups, rstds);
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
  twoStage = false,
) {
  const per = g.c * g.hw;
  checkGn('groupNormBackward', g, [
    ['dy', dy.length, g.n * per],
    ['x', x.length, g.n * per],
    ['gamma', gamma.length, g.c],
    ['mean', mean.length, g.n * g.groups],
    ['rstd', rstd.length, g.n * g.groups],
  ]);
  const cgBig = g.c / g.groups;
  if (cgBig * g.hw > limit) return yield* bigGroupsBackward(dy, x, gamma, mean, rstd, g, limit);
  const units = gnUnits('groupNormBackward', g, limit);
  const dxs: { src: Arr; at: number }[] = [];
  for (const u of units) {
    const { r, r0, el, row } = gnWindow(g, u);
    const gr = yield* rowGrad(el(dy), el(x), row(mean), row(rstd), gamma, r, limit, twoStage);
    dxs.push({ src: gr, at: r0 * r.L });
  }
  const dx = yield* joined(g.n * per, dxs);
  const cg = g.c / g.groups;
  // Two-stage: both parameters of a unit from one stage-1 launch, then assembled and summed as below.
  const two =
    twoStage && units.every(([, nc, , gc]) => paramFitsTwoStage({ N: nc, c: gc * cg, hw: g.hw, G: gc, cg }, limit));
  const pairs: [Arr, Arr][] = [];
  if (two) {
    for (const u of units) {
      const [, nc, , gc] = u;
      const { el, row } = gnWindow(g, u);
      pairs.push(yield* twoStageParam(el(dy), el(x), row(mean), row(rstd), { N: nc, c: gc * cg, hw: g.hw, G: gc, cg }));
    }
  }
  // Per channel over the unit's samples; the blocks of one sample are assembled, then samples (units) are summed.
  function* param(mode: number): OpGen<Arr> {
    let acc: Arr | null = null;
    let blocks: { src: Arr; at: number }[] = [];
    for (const [k, u] of units.entries()) {
      const [, nc, grp0, gc] = u;
      const { el, row } = gnWindow(g, u);
      if (two) {
        blocks.push({ src: pairs[k]![mode === 1 ? 0 : 1], at: grp0 * cg });
        if (grp0 + gc < g.groups) continue;
        const part: Arr = yield* joined(g.c, blocks);
        blocks = [];
        acc = acc ? yield* addOp(acc, part) : part;
        continue;
      }
      const { B: Bh, nb: nbh } = sumBlocking(g.hw, 2);
      const constants = { N: nc, c: gc * cg, hw: g.hw, G: gc, cg, mode, Bh, nbh };
      const spec = {
        name: 'groupNorm.param',
        fn: exactIndexSource(gnParamGradKernel),
        constants,
        output: gc * cg,
        loops: Math.max(nc, Bh, nbh),
      };
      blocks.push({ src: (yield { spec, args: [el(dy), el(x), row(mean), row(rstd)] }) as Arr, at: grp0 * cg });
      if (grp0 + gc < g.groups) continue;
      const part: Arr = yield* joined(g.c, blocks);
      blocks = [];
      acc = acc ? yield* addOp(acc, part) : part;
    }
    return acc!;
  }
  const dgamma = yield* param(1);
  const dbeta = yield* param(0);
  return [dx, dgamma, dbeta] as [Arr, Arr, Arr];
}

/** GroupNorm backward when a single group exceeds the limit: each group by ./norm-big.ts, dgamma / dbeta summed. */
function* bigGroupsBackward(dy: Arr, x: Arr, gamma: Arr, mean: Arr, rstd: Arr, g: GroupNormGeom, limit: number) {
  const cg = g.c / g.groups;
  const L = cg * g.hw;
  const dxs: { src: Arr; at: number }[] = [];
  let dgamma: Arr | null = null;
  let dbeta: Arr | null = null;
  let gs: { src: Arr; at: number }[] = [];
  let bs: { src: Arr; at: number }[] = [];
  for (let r0 = 0; r0 < g.n * g.groups; r0++) {
    const grp = r0 % g.groups;
    const big = { cg, hw: g.hw, c: g.c, q0: grp * cg, eps: g.eps };
    const el = (a: Arr) => a.subarray(r0 * L, (r0 + 1) * L);
    const row = (a: Arr) => a.subarray(r0, r0 + 1);
    const [dx, dg, db] = yield* bigGroupBackward(el(dy), el(x), gamma, row(mean), row(rstd), big, limit);
    dxs.push({ src: dx, at: r0 * L });
    gs.push({ src: dg, at: grp * cg });
    bs.push({ src: db, at: grp * cg });
    if (grp < g.groups - 1) continue;
    // A sample's channels are complete: add them to the batch sums (samples in order, as the per-unit path does).
    const sg: Arr = yield* joined(g.c, gs);
    const sb: Arr = yield* joined(g.c, bs);
    dgamma = dgamma ? yield* addOp(dgamma, sg) : sg;
    dbeta = dbeta ? yield* addOp(dbeta, sb) : sb;
    gs = [];
    bs = [];
  }
  return [yield* joined(g.n * g.c * g.hw, dxs), dgamma!, dbeta!] as [Arr, Arr, Arr];
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
export function* weightStandardizeOp(w: Arr, o: number, fanIn: number, eps: number, limit: number, twoStage = false) {
  checkWs('weightStandardize', w.length, o, fanIn);
  const groups = batchGroups('weightStandardize', o, [fanIn], limit);
  const means: { src: Arr; at: number }[] = [];
  const rstds: { src: Arr; at: number }[] = [];
  const y = yield* concatGroups(groups, fanIn, function* (o0, oc) {
    const r: Rows = { rows: oc, L: fanIn, affine: 0, c: 1, hw: 1, eps, q0: 0 };
    const ww = w.subarray(o0 * fanIn, (o0 + oc) * fanIn);
    const [mean, rstd] = yield* rowStats(ww, r, limit, twoStage);
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
  twoStage = false,
): OpGen<Arr> {
  checkWs('weightStandardizeBackward', w.length, o, fanIn);
  checkWs('weightStandardizeBackward dy', dy.length, o, fanIn);
  if (mean.length !== o || rstd.length !== o)
    throw new ShapeError(`weightStandardizeBackward: mean/rstd must have ${o}`);
  const groups = batchGroups('weightStandardizeBackward', o, [fanIn], limit);
  return yield* concatGroups(groups, fanIn, function* (o0, oc) {
    const win = (a: Arr, per: number) => a.subarray(o0 * per, (o0 + oc) * per);
    const r: Rows = { rows: oc, L: fanIn, affine: 0, c: 1, hw: 1, eps: 0, q0: 0 };
    const one = new Float32Array(1);
    return yield* rowGrad(win(dy, fanIn), win(w, fanIn), win(mean, 1), win(rstd, 1), one, r, limit, twoStage);
  });
}
