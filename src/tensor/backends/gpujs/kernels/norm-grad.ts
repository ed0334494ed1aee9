/**
 * Backward of the row normalizations: the gradient kernels (per-channel dgamma / dbeta sums, per-row gradient
 * means, dx per element), `rowGrad` (dx of rows, shared with weight standardization in ./norm.ts) and the
 * GroupNorm backward op. Formulas (xhat = (x - mean) * rstd, L = row length, means over the row):
 *   dbeta_c = sum dy, dgamma_c = sum dy*xhat (over n and hw); dx = rstd*(g*dy - mean(g*dy) - xhat*mean(g*dy*xhat)),
 *   g = gamma[ch] (GroupNorm) or 1 (WS).
 * Invariants: launch units and windows are the forward's (./norm-rows.ts), so per-row statistics never cross a
 * launch; dgamma / dbeta add the per-sample, per-block pieces in sample order on the device (same bits for any plan
 * of the same blocks).
 */

import type { GroupNormGeom } from '../../../backend.js';
import type { Arr, OpGen } from '../op-gen.js';
import { addOp } from './batch.js';
import { exactIndexSource } from './index-math.js';
import { bigGroupBackward } from './norm-big.js';
import { checkGn, gnUnits, gnWindow, joined, type Rows, rowConsts } from './norm-rows.js';
import { paramFitsTwoStage, statsFitTwoStage, twoStageGradStats, twoStageParam } from './norm-stages.js';
import { sumBlocking } from './reduce.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

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

export function* rowGrad(dy: Arr, x: Arr, mean: Arr, rstd: Arr, gamma: Arr, r: Rows, limit: number, twoStage: boolean) {
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
