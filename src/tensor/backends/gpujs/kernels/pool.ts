/**
 * 2-D pooling (NCHW; max-pool with virtual padding of a given value, average pool without): max-pool forward (value and first-max index within the h*w plane, as float),
 * max-pool backward as a gather (each dx cell sums dy over the windows that cover it and chose it), average pool
 * forward/backward (window mean; each covered dx cell receives dy / (kh*kw)). The backward gathers loop over the
 * at most ceil(k/stride) windows covering a cell per axis (constant bounds). Batch-chunked like conv. Index math
 * is integer-exact (./index-math.ts): thread indices and the last covering window idiv(y, s) use idiv.
 */

import { ShapeError } from '../../../../errors.js';
import type { MaxPool2dGeom, Pool2dGeom } from '../../../backend.js';
import type { Arr, OpGen } from '../context.js';
import { batchGroups, concatGroups } from './batch.js';
import { exactIndexSource } from './index-math.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

/**
 * mode 0: max value, 1: argmax index (iy*w + ix in the unpadded plane; padIndex = -1 where a padding cell won),
 * 2: average (pad 0). Padding cells take part only when padUsable (a finite padValue; -Infinity padding never
 * wins, so it is skipped), in window order like every cell: the first maximum wins. NaN propagates: the window's
 * first NaN wins and sticks (`!(v <= inf)`, inf = +Infinity passed at run time so no compiler can fold the test).
 */
export function poolFwdKernel(this: KThis, x: Float32Array, inf: number): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.ow!);
  const ox = t0 - t1 * this.constants.ow!;
  const nc = idiv(t1, this.constants.oh!);
  const oy = t1 - nc * this.constants.oh!;
  const base = nc * this.constants.h! * this.constants.w!;
  const y0 = oy * this.constants.stride! - this.constants.pad!;
  const x0 = ox * this.constants.stride! - this.constants.pad!;
  let best = this.constants.padValue!;
  let arg = this.constants.padIndex!;
  let seen = 0;
  let nan = 0;
  let sum = 0;
  for (let ky = 0; ky < this.constants.kh!; ky++) {
    const iy = y0 + ky;
    for (let kx = 0; kx < this.constants.kw!; kx++) {
      const ix = x0 + kx;
      if (iy >= 0 && iy < this.constants.h! && ix >= 0 && ix < this.constants.w!) {
        const p = iy * this.constants.w! + ix;
        const v = x[base + p]!;
        sum += v;
        if (nan === 0 && (seen === 0 || v > best || !(v <= inf))) {
          best = v;
          arg = p;
          seen = 1;
          if (!(v <= inf)) nan = 1;
        }
      } else if (this.constants.padUsable === 1) {
        if (nan === 0 && (seen === 0 || this.constants.padValue! > best)) {
          best = this.constants.padValue!;
          arg = this.constants.padIndex!;
          seen = 1;
        }
      }
    }
  }
  if (this.constants.mode === 0) return best;
  if (this.constants.mode === 1) return arg;
  return sum / (this.constants.kh! * this.constants.kw!);
}

/** mode 0: max-pool backward (needs indices; -1 never matches a cell), 1: avg-pool backward (pad 0). */
export function poolBwdKernel(this: KThis, dy: Float32Array, idx: Float32Array): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.w!);
  const xx = t0 - t1 * this.constants.w!;
  const nc = idiv(t1, this.constants.h!);
  const yy = t1 - nc * this.constants.h!;
  const s = this.constants.stride!;
  // windows are counted in padded coordinates: window oy covers padded rows [oy*s, oy*s + kh)
  const ty = yy + this.constants.pad!;
  const tx = xx + this.constants.pad!;
  const oyHi = idiv(ty, s);
  const oxHi = idiv(tx, s);
  const base = nc * this.constants.oh! * this.constants.ow!;
  const p = yy * this.constants.w! + xx;
  let acc = 0;
  for (let a = 0; a < this.constants.ny!; a++) {
    const oy = oyHi - a;
    if (oy >= 0 && oy < this.constants.oh! && ty - oy * s < this.constants.kh!) {
      for (let b = 0; b < this.constants.nx!; b++) {
        const ox = oxHi - b;
        if (ox >= 0 && ox < this.constants.ow! && tx - ox * s < this.constants.kw!) {
          const o = base + oy * this.constants.ow! + ox;
          if (this.constants.mode === 1) {
            acc += dy[o]! / (this.constants.kh! * this.constants.kw!);
          } else if (idx[o] === p) {
            acc += dy[o]!;
          }
        }
      }
    }
  }
  return acc;
}

/** Padding of a max-pool geometry; average pooling has none. */
const padOf = (g: Pool2dGeom | MaxPool2dGeom) => ('pad' in g ? g.pad : 0);

function check(op: string, g: Pool2dGeom | MaxPool2dGeom, got: number, want: number, what: string): void {
  const pad = padOf(g);
  if (
    g.stride < 1 ||
    g.oh !== Math.floor((g.h + 2 * pad - g.kh) / g.stride) + 1 ||
    g.ow !== Math.floor((g.w + 2 * pad - g.kw) / g.stride) + 1
  ) {
    throw new ShapeError(
      `${op}: oh/ow ${g.oh}x${g.ow} do not match h=${g.h} w=${g.w} k=${g.kh}x${g.kw} s=${g.stride} pad=${pad}`,
    );
  }
  if (g.oh < 1 || g.ow < 1 || g.n * g.c < 1) throw new ShapeError(`${op}: empty geometry`);
  if (got !== want) throw new ShapeError(`${op}: ${what} has ${got} elements, geometry needs ${want}`);
}

function consts(g: Pool2dGeom | MaxPool2dGeom, mode: number): Record<string, number> {
  const padValue = 'padValue' in g ? g.padValue : Number.NEGATIVE_INFINITY;
  const usable = Number.isFinite(padValue);
  return {
    pad: padOf(g),
    padValue: usable ? padValue : 0,
    padUsable: usable ? 1 : 0,
    padIndex: -1,
    h: g.h,
    w: g.w,
    oh: g.oh,
    ow: g.ow,
    kh: g.kh,
    kw: g.kw,
    stride: g.stride,
    ny: Math.ceil(g.kh / g.stride),
    nx: Math.ceil(g.kw / g.stride),
    mode,
  };
}

/** Forward pool; mode 0 max, 1 argmax, 2 avg. */
export function* poolFwdOp(x: Arr, g: Pool2dGeom | MaxPool2dGeom, mode: number, limit: number): OpGen<Arr> {
  check('pool2d', g, x.length, g.n * g.c * g.h * g.w, 'x');
  const ps = g.h * g.w;
  const os = g.oh * g.ow;
  const groups = batchGroups('pool2d', g.n * g.c, [ps, os], limit);
  return yield* concatGroups(groups, os, function* (n0, nc) {
    const spec = {
      name: 'pool2d.fwd',
      fn: exactIndexSource(poolFwdKernel),
      constants: consts(g, mode),
      output: nc * os,
      loops: Math.max(g.kh, g.kw),
    };
    return yield { spec, args: [x.subarray(n0 * ps, (n0 + nc) * ps), Number.POSITIVE_INFINITY] };
  });
}

/** Backward pool; mode 0 max (with indices), 1 avg (indices ignored: pass dy). */
export function* poolBwdOp(dy: Arr, idx: Arr, g: Pool2dGeom | MaxPool2dGeom, mode: number, limit: number): OpGen<Arr> {
  check('pool2dBackward', g, dy.length, g.n * g.c * g.oh * g.ow, 'dy');
  if (idx.length !== dy.length) throw new ShapeError(`maxPool2dBackward: indices ${idx.length} != dy ${dy.length}`);
  const ps = g.h * g.w;
  const os = g.oh * g.ow;
  const groups = batchGroups('pool2dBackward', g.n * g.c, [ps, os], limit);
  return yield* concatGroups(groups, ps, function* (n0, nc) {
    const c = consts(g, mode);
    const spec = {
      name: 'pool2d.bwd',
      fn: exactIndexSource(poolBwdKernel),
      constants: c,
      output: nc * ps,
      loops: Math.max(c.ny!, c.nx!),
    };
    return yield { spec, args: [dy.subarray(n0 * os, (n0 + nc) * os), idx.subarray(n0 * os, (n0 + nc) * os)] };
  });
}
