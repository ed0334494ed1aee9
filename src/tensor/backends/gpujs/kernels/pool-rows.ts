/**
 * 2-D pooling whose band of rows cannot fit the chunk limit (a single row, or the kh rows one output row reads, above
 * it: ../kernels/pool.ts splits planes only into whole rows). Pooling is separable, so it runs one input row at a
 * time, each launch bound to a contiguous column tile of one row:
 * - forward: per output row, tile and window row ky, a row pass over kw taps (value and plane index of the first
 *   maximum in tap order, x padding included as in pool.ts; or the row sum / (kh*kw)), then a combine with the
 *   running result of rows 0..ky-1 (the first maximum in row order wins, a NaN sticks), i.e. the row-major window
 *   order of pool.ts; padding rows take part when the padding value is finite;
 * - backward: per dx row, tile and covering output row (host-checked), a gather over the nx covering windows of one
 *   dy / index row segment; partials added on the device; rows reached by no window stay 0.
 * Tile bounds, row offsets and plane row bases are host integers (row bases are run-time arguments, so a kernel is
 * built per tile shape, not per row). Argmax indices are plane indices in float32, as in pool.ts.
 */

import { BackendError } from '../../../../errors.js';
import type { MaxPool2dGeom, Pool2dGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { addOp } from './batch.js';
import { exactIndexSource } from './index-math.js';
import { consts, padOf } from './pool.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

type Geom = Pool2dGeom | MaxPool2dGeom;

/**
 * One row of windows: output columns ox0 + t over kw taps of a row segment starting at column ix0. mode 0: first
 * maximum (NaN sticks), 1: its plane index (rowBase + ix; padIndex for a winning padding cell), 2: sum / (kh*kw).
 */
export function poolRowKernel(this: KThis, x: Float32Array, inf: number, rowBase: number): number {
  const ox = this.constants.ox0! + this.thread.x;
  const x0 = ox * this.constants.stride! - this.constants.pad!;
  let best = this.constants.padValue!;
  let arg = this.constants.padIndex!;
  let seen = 0;
  let nan = 0;
  let sum = 0;
  for (let kx = 0; kx < this.constants.kw!; kx++) {
    const ix = x0 + kx;
    if (ix >= 0 && ix < this.constants.w!) {
      const v = x[ix - this.constants.ix0!]!;
      sum += v;
      if (nan === 0 && (seen === 0 || v > best || !(v <= inf))) {
        best = v;
        arg = rowBase + ix;
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
  if (this.constants.mode === 0) return best;
  if (this.constants.mode === 1) return arg;
  return sum / (this.constants.kh! * this.constants.kw!);
}

/** Running (value, index) of rows 0..ky-1 and row ky's: a later row wins only on a greater value or a first NaN. */
export function poolCombineKernel(
  this: KThis,
  bv: Float32Array,
  ba: Float32Array,
  rv: Float32Array,
  ra: Float32Array,
  inf: number,
): number {
  const i = this.thread.x;
  const b = bv[i]!;
  const r = rv[i]!;
  const take = b <= inf && (r > b || !(r <= inf));
  if (this.constants.mode === 0) return take ? r : b;
  return take ? ra[i]! : ba[i]!;
}

/**
 * One dx row segment (columns xc0 + t) from one covering dy row: the nx windows covering each cell in that row,
 * dy / index segment starting at column oxw0. mode 0: max (dy where the index is the cell's plane index), 1: avg.
 */
export function poolRowBwdKernel(this: KThis, dy: Float32Array, idx: Float32Array, rowBase: number): number {
  const xx = this.constants.xc0! + this.thread.x;
  const s = this.constants.stride!;
  const tx = xx + this.constants.pad!;
  const oxHi = idiv(tx, s);
  const p = rowBase + xx;
  let acc = 0;
  for (let b = 0; b < this.constants.nx!; b++) {
    const ox = oxHi - b;
    if (ox >= 0 && ox < this.constants.ow! && tx - ox * s < this.constants.kw!) {
      const o = ox - this.constants.oxw0!;
      if (this.constants.mode === 1) {
        acc += dy[o]! / (this.constants.kh! * this.constants.kw!);
      } else if (idx[o] === p) {
        acc += dy[o]!;
      }
    }
  }
  return acc;
}

/** Whether pool.ts's whole-row blocks cannot fit (forward: an output row with its kh input rows). */
export const fwdRowsTooBig = (g: Geom, limit: number): boolean =>
  Math.min(Math.floor(limit / g.ow), Math.floor((Math.floor(limit / g.w) - g.kh) / g.stride) + 1) < 1;

/** Whether pool.ts's whole-row blocks cannot fit (backward: a dx row with the dy rows of its windows). */
export const bwdRowsTooBig = (g: Geom, limit: number): boolean =>
  Math.min(Math.floor(limit / g.w), Math.floor(limit / g.ow) * g.stride - g.kh + 1) < 1;

/** Output-column tiles [ox0, count, ix0, input columns]: count and the input segment under the limit. */
function outTiles(op: string, g: Geom, limit: number): [number, number, number, number][] {
  const pad = padOf(g);
  const oc = Math.min(g.ow, limit, Math.floor((limit - g.kw) / g.stride) + 1);
  if (oc < 1) throw new BackendError(`${op}: one window row (kw=${g.kw}) exceeds the chunk limit ${limit}`);
  const tiles: [number, number, number, number][] = [];
  for (let ox0 = 0; ox0 < g.ow; ox0 += oc) {
    const n = Math.min(oc, g.ow - ox0);
    const lo = Math.min(g.w - 1, Math.max(0, ox0 * g.stride - pad));
    const hi = Math.max(lo + 1, Math.min(g.w, (ox0 + n - 1) * g.stride - pad + g.kw));
    tiles.push([ox0, n, lo, hi - lo]);
  }
  return tiles;
}

/**
 * Pooled rows (mode 0 max, 1 argmax, 2 avg) of planes whose row bands cannot fit: out [n*c, oh, ow], assembled from
 * one piece per (plane, output row, column tile).
 */
export function* poolFwdRows(x: Arr, g: Geom, mode: number, limit: number): OpGen<Arr> {
  const [ps, os, pad] = [g.h * g.w, g.oh * g.ow, padOf(g)];
  const usable = 'padValue' in g && Number.isFinite(g.padValue);
  const inf = Number.POSITIVE_INFINITY;
  const tiles = outTiles('pool2d', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (let pl = 0; pl < g.n * g.c; pl++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (const [ox0, n, ix0, cols] of tiles) {
        const row = function* (iy: number, m: number): OpGen<Arr> {
          const spec = {
            name: 'pool2d.row',
            fn: exactIndexSource(poolRowKernel),
            constants: { ...consts(g, m), ox0, ix0 },
            output: n,
            loops: g.kw,
          };
          const a = pl * ps + iy * g.w + ix0;
          return yield { spec, args: [x.subarray(a, a + cols), inf, iy * g.w] };
        };
        // A padding row: every cell is the (finite) padding value, index padIndex; -Infinity padding never wins.
        const padRow = function* (m: number): OpGen<Arr> {
          const spec = {
            name: 'pool2d.padRow',
            fn: 'function () { return this.constants.v; }',
            constants: { v: m === 0 ? (g as MaxPool2dGeom).padValue : -1 },
            output: n,
          };
          return yield { spec, args: [] };
        };
        let v: Arr | null = null;
        let a: Arr | null = null;
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.stride - pad + ky;
          const inside = iy >= 0 && iy < g.h;
          if (!inside && (!usable || mode === 2)) continue;
          if (mode === 2) {
            const r: Arr = yield* row(iy, 2);
            v = v ? yield* addOp(v, r) : r;
            continue;
          }
          const rv: Arr = inside ? yield* row(iy, 0) : yield* padRow(0);
          const ra: Arr = inside ? yield* row(iy, 1) : yield* padRow(1);
          if (!v || !a) {
            [v, a] = [rv, ra];
            continue;
          }
          const comb = (m: number) => ({
            name: 'pool2d.combine',
            fn: poolCombineKernel,
            constants: { mode: m },
            output: n,
          });
          const nv: Arr = yield { spec: comb(0), args: [v, a, rv, ra, inf] };
          const na: Arr = yield { spec: comb(1), args: [v, a, rv, ra, inf] };
          [v, a] = [nv, na];
        }
        pieces.push({ src: mode === 1 ? a! : v!, at: pl * os + oy * g.ow + ox0 });
      }
    }
  }
  return yield* assemble(g.n * g.c * os, pieces);
}

/** dx of planes whose row bands cannot fit (mode 0 max with indices, 1 avg): one piece per (plane, row, tile). */
export function* poolBwdRows(dy: Arr, idx: Arr, g: Geom, mode: number, limit: number): OpGen<Arr> {
  const [ps, os, pad] = [g.h * g.w, g.oh * g.ow, padOf(g)];
  // dx tiles of xc columns; the dy columns of their windows: at most floor((xc + kw - 2) / s) + 2.
  let xc = Math.min(g.w, limit);
  while (xc >= 1 && Math.floor((xc + g.kw - 2) / g.stride) + 2 > limit) xc--;
  if (xc < 1) throw new BackendError(`pool2dBackward: one window row (kw=${g.kw}) exceeds the chunk limit ${limit}`);
  const pieces: { src: Arr; at: number }[] = [];
  for (let pl = 0; pl < g.n * g.c; pl++) {
    for (let y = 0; y < g.h; y++) {
      for (let x0 = 0; x0 < g.w; x0 += xc) {
        const n = Math.min(xc, g.w - x0);
        const lo = Math.min(g.ow - 1, Math.max(0, Math.floor((x0 + pad - g.kw + 1) / g.stride)));
        const hi = Math.max(lo + 1, Math.min(g.ow, Math.floor((x0 + n - 1 + pad) / g.stride) + 1));
        let acc: Arr | null = null;
        const ty = y + pad;
        for (let oy = Math.floor(ty / g.stride); oy >= 0 && ty - oy * g.stride < g.kh; oy--) {
          if (oy >= g.oh) continue;
          const spec = {
            name: 'pool2d.rowBwd',
            fn: exactIndexSource(poolRowBwdKernel),
            constants: { ...consts(g, mode), xc0: x0, oxw0: lo },
            output: n,
            loops: Math.ceil(g.kw / g.stride),
          };
          const a = pl * os + oy * g.ow;
          const part: Arr = yield { spec, args: [dy.subarray(a + lo, a + hi), idx.subarray(a + lo, a + hi), y * g.w] };
          acc = acc ? yield* addOp(acc, part) : part;
        }
        // A row reached by no window keeps the assembly's zeros.
        if (acc) pieces.push({ src: acc, at: pl * ps + y * g.w + x0 });
      }
    }
  }
  return yield* assemble(g.n * g.c * ps, pieces);
}
