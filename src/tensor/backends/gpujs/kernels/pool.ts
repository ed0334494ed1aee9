/**
 * 2-D pooling (NCHW; max-pool with virtual padding of a given value, average pool without): max-pool forward (value and first-max index within the h*w plane, as float),
 * max-pool backward as a gather (each dx cell sums dy over the windows that cover it and chose it), average pool
 * forward/backward (window mean; each covered dx cell receives dy / (kh*kw)). The backward gathers loop over the
 * at most ceil(k/stride) windows covering a cell per axis (constant bounds). Batch-chunked like conv; a plane above
 * the chunk limit runs alone in blocks of rows: forward by output rows [oy0, oy0 + ohN) reading the input rows from
 * iy0 on, backward by dx rows [y0, y0 + hN) reading dy / indices rows from oyw0 on (the window bounds are exact
 * integer math on the host; argmax indices stay plane indices); where even one output row with its kh input rows
 * (or one dx row with its dy rows) exceeds the limit, row by row in column tiles (./pool-rows.ts). Index math is integer-exact (./index-math.ts):
 * thread indices and the last covering window idiv(y, s) use idiv.
 */

import { BackendError, ShapeError } from '../../../../errors.js';
import type { MaxPool2dGeom, Pool2dGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { batchGroups, concatGroups } from './batch.js';
import { exactIndexSource } from './index-math.js';
import { bwdRowsTooBig, fwdRowsTooBig, poolBwdRows, poolFwdRows } from './pool-rows.js';
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
  const nc = idiv(t1, this.constants.ohN!);
  const oy = this.constants.oy0! + t1 - nc * this.constants.ohN!;
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
        // window-local offset: the plane index p may exceed the window (a row block of a big plane)
        const v = x[base + (iy - this.constants.iy0!) * this.constants.w! + ix]!;
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
  const nc = idiv(t1, this.constants.hN!);
  const yy = this.constants.y0! + t1 - nc * this.constants.hN!;
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
          const o = base + (oy - this.constants.oyw0!) * this.constants.ow! + ox;
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
export const padOf = (g: Pool2dGeom | MaxPool2dGeom) => ('pad' in g ? g.pad : 0);

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

/** Kernel constants of a pool geometry (whole planes; row splits override the window constants). */
export function consts(g: Pool2dGeom | MaxPool2dGeom, mode: number): Record<string, number> {
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
    ohN: g.oh,
    oy0: 0,
    iy0: 0,
    hN: g.h,
    y0: 0,
    oyw0: 0,
  };
}

/** Whether whole planes fit one launch (input and output plane under the limit). */
const planesFit = (g: Pool2dGeom | MaxPool2dGeom, limit: number) => Math.max(g.h * g.w, g.oh * g.ow) <= limit;

/** Output-row blocks of one plane: [oy0, rows, first input row, input rows], each window under the limit. */
function fwdRowBlocks(g: Pool2dGeom | MaxPool2dGeom, limit: number): [number, number, number, number][] {
  const pad = padOf(g);
  const ohc = Math.min(g.oh, Math.floor(limit / g.ow), Math.floor((Math.floor(limit / g.w) - g.kh) / g.stride) + 1);
  if (ohc < 1) throw new BackendError(`pool2d: one output row (w=${g.w}, k=${g.kh}) exceeds the chunk limit ${limit}`);
  const blocks: [number, number, number, number][] = [];
  for (let oy0 = 0; oy0 < g.oh; oy0 += ohc) {
    const n = Math.min(ohc, g.oh - oy0);
    const lo = Math.min(g.h - 1, Math.max(0, oy0 * g.stride - pad));
    const hi = Math.max(lo + 1, Math.min(g.h, (oy0 + n - 1) * g.stride - pad + g.kh));
    blocks.push([oy0, n, lo, hi - lo]);
  }
  return blocks;
}

/** dx-row blocks of one plane: [y0, rows, first dy row, dy rows]; dy rows are those of the windows covering them. */
function bwdRowBlocks(g: Pool2dGeom | MaxPool2dGeom, limit: number): [number, number, number, number][] {
  const pad = padOf(g);
  const dyRows = (y0: number, n: number): [number, number] => {
    const lo = Math.min(g.oh - 1, Math.max(0, Math.ceil((y0 + pad - g.kh + 1) / g.stride)));
    const hi = Math.max(lo + 1, Math.min(g.oh, Math.floor((y0 + n - 1 + pad) / g.stride) + 1));
    return [lo, hi - lo];
  };
  // hc dx rows are covered by at most floor((hc + kh - 2) / s) + 1 output rows: keep those under limit / ow rows
  const hc = Math.min(g.h, Math.floor(limit / g.w), Math.floor(limit / g.ow) * g.stride - g.kh + 1);
  if (hc < 1) throw new BackendError(`pool2dBackward: one row (w=${g.w}, ow=${g.ow}) exceeds the chunk limit ${limit}`);
  const blocks: [number, number, number, number][] = [];
  for (let y0 = 0; y0 < g.h; y0 += hc) {
    const n = Math.min(hc, g.h - y0);
    blocks.push([y0, n, ...dyRows(y0, n)]);
  }
  return blocks;
}

/** Forward pool; mode 0 max, 1 argmax, 2 avg. */
export function* poolFwdOp(x: Arr, g: Pool2dGeom | MaxPool2dGeom, mode: number, limit: number): OpGen<Arr> {
  check('pool2d', g, x.length, g.n * g.c * g.h * g.w, 'x');
  const ps = g.h * g.w;
  const os = g.oh * g.ow;
  if (fwdRowsTooBig(g, limit)) return yield* poolFwdRows(x, g, mode, limit);
  if (!planesFit(g, limit)) {
    const pieces: { src: Arr; at: number }[] = [];
    for (let pl = 0; pl < g.n * g.c; pl++) {
      for (const [oy0, ohN, iy0, rows] of fwdRowBlocks(g, limit)) {
        const spec = {
          name: 'pool2d.fwd',
          fn: exactIndexSource(poolFwdKernel),
          constants: { ...consts(g, mode), ohN, oy0, iy0 },
          output: ohN * g.ow,
          loops: Math.max(g.kh, g.kw),
        };
        const xw = x.subarray(pl * ps + iy0 * g.w, pl * ps + (iy0 + rows) * g.w);
        pieces.push({ src: yield { spec, args: [xw, Number.POSITIVE_INFINITY] }, at: pl * os + oy0 * g.ow });
      }
    }
    return yield* assemble(g.n * g.c * os, pieces);
  }
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
  if (bwdRowsTooBig(g, limit)) return yield* poolBwdRows(dy, idx, g, mode, limit);
  if (!planesFit(g, limit)) {
    const pieces: { src: Arr; at: number }[] = [];
    for (let pl = 0; pl < g.n * g.c; pl++) {
      for (const [y0, hN, oyw0, rows] of bwdRowBlocks(g, limit)) {
        const spec = {
          name: 'pool2d.bwd',
          fn: exactIndexSource(poolBwdKernel),
          constants: { ...consts(g, mode), hN, y0, oyw0 },
          output: hN * g.w,
          loops: Math.ceil(Math.max(g.kh, g.kw) / g.stride),
        };
        const [a, b] = [pl * os + oyw0 * g.ow, pl * os + (oyw0 + rows) * g.ow];
        pieces.push({ src: yield { spec, args: [dy.subarray(a, b), idx.subarray(a, b)] }, at: pl * ps + y0 * g.w });
      }
    }
    return yield* assemble(g.n * g.c * ps, pieces);
  }
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
