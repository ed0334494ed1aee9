/**
 * GroupNorm of a single group above the chunk limit (c/groups x h x w > 2^23 elements at full size: R50x3's stem
 * activation above 1,182 x 1,182 px), forward and backward, with the two-stage kernels of ./norm-stages.ts run
 * over windows of the group: no launch sees more than `limit` cells or elements.
 *
 * Windows: whole channel planes (k planes of hw, k*hw <= limit) when a plane fits, else segments of one plane (a
 * single plane above the limit). Every window starts a plane or lies inside one, so its first channel is a host
 * integer (`q0`) and the kernels' channel arithmetic stays local: inside a plane segment the plane size passed is
 * HUGE (the channel never steps). Statistics: stage 1 per window (the blocking restarts at each window; the mean's
 * shift is the group's first element, passed as a one-element window), the partials of all windows assembled on the
 * device, stage 2 once for the group. dgamma / dbeta: per window the runs and their per-channel combine; a plane
 * split into segments sums its segments with the compensated reduction of ./reduce.ts. Indices: thread ids and
 * element offsets stay below the window (exact idiv); host offsets are exact doubles.
 */

import { type Arr, assemble, type KernelSpec, type OpGen } from '../op-gen.js';
import { exactIndexSource } from './index-math.js';
import { normGradKernel } from './norm-grad.js';
import { normApplyKernel } from './norm-rows.js';
import {
  blockCombineKernel,
  gnParamCombine,
  gnParamRunKernel,
  gradStatBlockKernel,
  meanCombineKernel,
  meanRunKernel,
  sqBlockKernel,
} from './norm-stages.js';
import { reduceOp, sumBlocking } from './reduce.js';

/** A plane size no index reaches (exact in f32): idiv(i, HUGE) = 0, so a window inside one plane keeps its channel. */
const HUGE = 2 ** 30;

/** One window of a group: elements [start, start + len) of the group, first channel q (absolute), plane size hw. */
interface Win {
  readonly start: number;
  readonly len: number;
  readonly q: number;
  readonly hw: number;
  /** Plane segment: index of the segment within its plane (0 for whole-plane windows), and the segment count. */
  readonly seg: number;
  readonly segs: number;
}

/** The group geometry: cg channels of hw elements from channel q0 of c, eps. */
export interface BigGroup {
  readonly cg: number;
  readonly hw: number;
  readonly c: number;
  readonly q0: number;
  readonly eps: number;
}

/** Windows of at most limit / 2 elements (a stage-1 launch writes two halves of at most one output per element). */
function windows(g: BigGroup, limit: number): Win[] {
  const out: Win[] = [];
  const cap = Math.max(1, Math.floor(limit / 2));
  if (g.hw <= cap) {
    const k = Math.floor(cap / g.hw);
    for (let ch = 0; ch < g.cg; ch += k) {
      const len = Math.min(k, g.cg - ch) * g.hw;
      out.push({ start: ch * g.hw, len, q: g.q0 + ch, hw: g.hw, seg: 0, segs: 1 });
    }
    return out;
  }
  const segs = Math.ceil(g.hw / cap);
  for (let ch = 0; ch < g.cg; ch++) {
    for (let s = 0; s < segs; s++) {
      const p = s * cap;
      out.push({ start: ch * g.hw + p, len: Math.min(cap, g.hw - p), q: g.q0 + ch, hw: HUGE, seg: s, segs });
    }
  }
  return out;
}

/** Stage-1 partials of every window, assembled as [half 0 of all windows, half 1 of all windows] (or one half). */
function* partials(
  wins: readonly Win[],
  halves: 1 | 2,
  run: (w: Win) => { launch: OpGen<Arr>; n: number },
): OpGen<{ parts: Arr; n: number }> {
  const outs: { src: Arr; n: number }[] = [];
  for (const w of wins) {
    const { launch, n } = run(w);
    outs.push({ src: yield* launch, n });
  }
  const total = outs.reduce((s, o) => s + o.n, 0);
  const pieces: { src: Arr; at: number }[] = [];
  let at = 0;
  for (const o of outs) {
    for (let h = 0; h < halves; h++) pieces.push({ src: o.src.subarray(h * o.n, (h + 1) * o.n), at: h * total + at });
    at += o.n;
  }
  return { parts: yield* assemble(halves * total, pieces), n: total };
}

function* launch(spec: KernelSpec, args: (Arr | number)[]): OpGen<Arr> {
  return yield { spec, args };
}

/** mean [1] and rstd [1] of the group `xg` (its L = cg * hw elements). */
export function* bigGroupStats(xg: Arr, g: BigGroup, limit: number): OpGen<[Arr, Arr]> {
  const L = g.cg * g.hw;
  const wins = windows(g, limit);
  const shift = xg.subarray(0, 1);
  const runs = yield* partials(wins, 2, (w) => {
    const m = sumBlocking(w.len, 2);
    const constants = { L: w.len, ...m, n: m.nb, sL: 0 };
    const spec = {
      name: 'norm2.meanrun',
      fn: exactIndexSource(meanRunKernel),
      constants,
      output: 2 * m.nb,
      loops: m.B,
    };
    return { launch: launch(spec, [xg.subarray(w.start, w.start + w.len), shift]), n: m.nb };
  });
  const mc = { L, nb: runs.n, n: runs.n };
  const mean = yield* launch({ name: 'norm2.mean', fn: meanCombineKernel, constants: mc, output: 1, loops: runs.n }, [
    runs.parts,
    shift,
  ]);
  const sq = yield* partials(wins, 1, (w) => {
    const q = sumBlocking(w.len);
    const spec = {
      name: 'norm2.sq',
      fn: exactIndexSource(sqBlockKernel),
      constants: { L: w.len, ...q },
      output: q.nb,
      loops: q.B,
    };
    return { launch: launch(spec, [xg.subarray(w.start, w.start + w.len), mean]), n: q.nb };
  });
  const cc = { half: 0, n: sq.n, nb: sq.n, mode: 0, L, eps: g.eps };
  const rstd = yield* launch({ name: 'norm2.combine', fn: blockCombineKernel, constants: cc, output: 1, loops: sq.n }, [
    sq.parts,
  ]);
  return [mean, rstd];
}

/** Per-window constants of the elementwise kernels (normApply / normGrad): row 0 everywhere, channels from q. */
const elemConsts = (w: Win, g: BigGroup) => ({ L: HUGE, mode: 0, eps: g.eps, affine: 1, c: g.c, hw: w.hw, q0: w.q });

/** y of the group (normApplyKernel per window). */
export function* bigGroupApply(
  xg: Arr,
  mean: Arr,
  rstd: Arr,
  gamma: Arr,
  beta: Arr,
  g: BigGroup,
  limit: number,
): OpGen<Arr> {
  const pieces: { src: Arr; at: number }[] = [];
  for (const w of windows(g, limit)) {
    const spec = {
      name: 'norm.apply',
      fn: exactIndexSource(normApplyKernel),
      constants: elemConsts(w, g),
      output: w.len,
    };
    const args = [xg.subarray(w.start, w.start + w.len), mean, rstd, gamma, beta];
    pieces.push({ src: yield* launch(spec, args), at: w.start });
  }
  return yield* assemble(g.cg * g.hw, pieces);
}

/** dx [L], dgamma [cg], dbeta [cg] of the group. */
export function* bigGroupBackward(
  dyg: Arr,
  xg: Arr,
  gamma: Arr,
  mean: Arr,
  rstd: Arr,
  g: BigGroup,
  limit: number,
): OpGen<[Arr, Arr, Arr]> {
  const L = g.cg * g.hw;
  const wins = windows(g, limit);
  const el = (a: Arr, w: Win) => a.subarray(w.start, w.start + w.len);
  const blocks = yield* partials(wins, 2, (w) => {
    const q = sumBlocking(w.len);
    const constants = { n: q.nb, nb: q.nb, B: q.B, L: w.len, hw: w.hw, q0: w.q, c: g.c, affine: 1 };
    const spec = {
      name: 'norm2.gradstat',
      fn: exactIndexSource(gradStatBlockKernel),
      constants,
      output: 2 * q.nb,
      loops: q.B,
    };
    return { launch: launch(spec, [el(dyg, w), el(xg, w), mean, rstd, gamma]), n: q.nb };
  });
  const ms: Arr[] = [];
  for (const half of [0, 1]) {
    const cc = { half, n: blocks.n, nb: blocks.n, mode: 1, L, eps: 0 };
    ms.push(
      yield* launch({ name: 'norm2.combine', fn: blockCombineKernel, constants: cc, output: 1, loops: blocks.n }, [
        blocks.parts,
      ]),
    );
  }
  const dxs: { src: Arr; at: number }[] = [];
  for (const w of wins) {
    const spec = {
      name: 'norm.grad',
      fn: exactIndexSource(normGradKernel),
      constants: elemConsts(w, g),
      output: w.len,
    };
    dxs.push({ src: yield* launch(spec, [el(dyg, w), el(xg, w), mean, rstd, gamma, ms[0]!, ms[1]!]), at: w.start });
  }
  const dx = yield* assemble(L, dxs);
  // Per window: channels' [dgamma, dbeta] (gnParamRunKernel with one sample, one group: G = 1, cg = HUGE).
  const params: [{ src: Arr; at: number }[], { src: Arr; at: number }[]] = [[], []];
  for (const w of wins) {
    const chans = w.hw === HUGE ? 1 : w.len / w.hw;
    const hw = w.hw === HUGE ? w.len : w.hw;
    const { B: Bh, nb: nbh } = sumBlocking(hw, 2);
    const n = chans * nbh;
    const constants = { n, nbh, Bh, c: chans, hw, G: 1, cg: HUGE };
    const spec = {
      name: 'groupNorm2.paramrun',
      fn: exactIndexSource(gnParamRunKernel),
      constants,
      output: 2 * n,
      loops: Bh,
    };
    const runs = yield* launch(spec, [el(dyg, w), el(xg, w), mean, rstd]);
    const sums = yield* gnParamCombine(runs, 1, chans, nbh);
    for (const half of [0, 1] as const) {
      // Plane segments: one partial per segment, at [channel * segs + seg], reduced below.
      params[half].push({ src: sums[half], at: w.segs === 1 ? w.start / g.hw : (w.q - g.q0) * w.segs + w.seg });
    }
  }
  const out: Arr[] = [];
  const segs = wins[0]!.segs;
  for (const half of [0, 1] as const) {
    const parts = yield* assemble(g.cg * segs, params[half]);
    out.push(segs === 1 ? parts : yield* reduceOp('sum', parts, g.cg, segs, limit));
  }
  return [dx, out[0]!, out[1]!];
}
