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
 * Files: row statistics, the apply kernel and the GroupNorm launch plan are ./norm-rows.ts; the gradient kernels,
 * `rowGrad` and groupNormBackwardOp are ./norm-grad.ts; this file has the forward ops and the WS backward.
 */

import { ShapeError } from '../../../../errors.js';
import type { GroupNormGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { batchGroups, concatGroups } from './batch.js';
import { exactIndexSource } from './index-math.js';
import { bigGroupApply, bigGroupStats } from './norm-big.js';
import { rowGrad } from './norm-grad.js';
import { checkGn, gnUnits, gnWindow, joined, normApplyKernel, type Rows, rowConsts, rowStats } from './norm-rows.js';

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
