/**
 * Row statistics and the normalize-apply kernel shared by GroupNorm and weight standardization (./norm.ts), and the
 * GroupNorm launch plan (units of whole samples, or blocks of whole groups of one sample, and their windows) that the
 * forward (./norm.ts) and backward (./norm-grad.ts) share.
 *
 * Invariants: a row (one (n, group) block of x [n, c, hw], or one WS filter) never crosses a launch, so statistics are
 * per launch; rstd is the two-pass 1/sqrt(var + eps) with blocked sums (./reduce.ts `sumBlocking`); the channel of
 * an element comes from the exact idiv (./index-math.ts), `q0` being the window's first channel.
 */

import { ShapeError } from '../../../../errors.js';
import type { GroupNormGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { batchGroups } from './batch.js';
import { statsFitTwoStage, twoStageStats } from './norm-stages.js';
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

export interface Rows {
  readonly rows: number;
  readonly L: number;
  readonly affine: number;
  readonly c: number;
  readonly hw: number;
  readonly eps: number;
  /** First channel of the window (GroupNorm blocks of groups; 0 otherwise). */
  readonly q0: number;
}

export const rowConsts = (r: Rows, mode: number): Record<string, number> => ({
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
export function* rowStats(x: Arr, r: Rows, limit: number, twoStage: boolean): OpGen<[Arr, Arr]> {
  if (twoStage && statsFitTwoStage(r, limit)) return yield* twoStageStats(x, r);
  const mean = yield* shiftedRowMeans(x, r.rows, r.L);
  const rstd = yield {
    spec: { name: 'norm.rstd', fn: rowRstdKernel, constants: rowConsts(r, 1), output: r.rows, loops: r.L },
    args: [x, mean],
  };
  return [mean, rstd];
}

export function checkGn(op: string, g: GroupNormGeom, sizes: [string, number, number][]): void {
  if (g.groups < 1 || g.c % g.groups !== 0) throw new ShapeError(`${op}: groups ${g.groups} must divide c ${g.c}`);
  if (g.n * g.c * g.hw < 1) throw new ShapeError(`${op}: empty input n=${g.n} c=${g.c} hw=${g.hw}`);
  for (const [name, got, want] of sizes) {
    if (got !== want) throw new ShapeError(`${op}: ${name} has ${got} elements, geometry needs ${want}`);
  }
}

/** A GroupNorm launch unit: samples [n0, n0 + nc) and their groups [grp0, grp0 + gc) (gc < groups only when nc = 1). */
export type GnUnit = readonly [n0: number, nc: number, grp0: number, gc: number];

/** Whole samples per launch when one fits the limit, else blocks of whole groups of one sample. */
export function gnUnits(op: string, g: GroupNormGeom, limit: number): GnUnit[] {
  const per = g.c * g.hw;
  if (per <= limit) return batchGroups(op, g.n, [per], limit).map(([n0, nc]) => [n0, nc, 0, g.groups] as const);
  const blocks = batchGroups(op, g.groups, [(g.c / g.groups) * g.hw], limit, 'group');
  const units: GnUnit[] = [];
  for (let n = 0; n < g.n; n++) for (const [grp0, gc] of blocks) units.push([n, 1, grp0, gc]);
  return units;
}

/** Rows, element window and row window of a unit. */
export function gnWindow(g: GroupNormGeom, [n0, nc, grp0, gc]: GnUnit) {
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
export function* joined(size: number, pieces: { src: Arr; at: number }[]): OpGen<Arr> {
  return pieces.length === 1 ? pieces[0]!.src : yield* assemble(size, pieces);
}
