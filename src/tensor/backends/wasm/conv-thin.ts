/**
 * Thin-input convolutions (groups 1, cin <= 4, cout a multiple of 8, not 1x1: the BiT stem, 3 -> C 7x7/2 pad 3)
 * run as direct kernels (./kernels-thin.ts) instead of the im2col GEMM, whose packing of a K = cin*kh*kw <= 196
 * column matrix costs more than its multiply. Forward and grad-weight only: a thin conv's grad-input (the image's
 * gradient) keeps the general path. The input is first copied with its zero padding made explicit, so the
 * kernels have no bounds checks; the weights are transposed to [tap][cout] (forward) and dy to channels-last
 * (grad-weight). All pointers are byte offsets into the shared memory; temporaries are freed before returning.
 */

import type { Conv2dGeom } from '../../backend.js';
import { runSplit } from './split.js';
import type { WasmState } from './state.js';

/** True when the direct thin-input kernels serve this conv. */
export const isThin = (g: Conv2dGeom): boolean => g.groups === 1 && g.cin <= 4 && g.cout % 8 === 0 && g.kh * g.kw > 1;

export interface Padded {
  ptr: number;
  hp: number;
  wp: number;
  free: () => void;
}

/** x with its padding materialized ([n, cin, h + 2 pad, w + 2 pad]); x itself when pad is 0. */
export function padInput(ctx: WasmState, x: number, g: Conv2dGeom): Padded {
  if (g.pad === 0) return { ptr: x, hp: g.h, wp: g.w, free: () => {} };
  const hp = g.h + 2 * g.pad;
  const wp = g.w + 2 * g.pad;
  const planes = g.n * g.cin;
  const [ptr, free] = ctx.temp(planes * hp * wp * 4);
  runSplit(ctx, planes, planes * hp * wp, 1, (lo, hi) => ({
    fn: 'padPlanes',
    args: [x, ptr, g.h, g.w, g.pad, lo, hi],
  }));
  return { ptr, hp, wp, free };
}

/** Byte offsets of the taps (ci, ky, kx) inside a padded image; `count` >= cin*kh*kw entries (the rest 0). */
function tapTable(ctx: WasmState, g: Conv2dGeom, p: Padded, count: number): [number, () => void] {
  const [ptr, free] = ctx.temp(count * 4);
  const t = new Int32Array(ctx.heap().buffer, ptr, count);
  t.fill(0);
  let i = 0;
  for (let ci = 0; ci < g.cin; ci++) {
    for (let ky = 0; ky < g.kh; ky++) {
      for (let kx = 0; kx < g.kw; kx++) t[i++] = ((ci * p.hp + ky) * p.wp + kx) * 4;
    }
  }
  return [ptr, free];
}

const strides = (g: Conv2dGeom, p: Padded) => ({
  imgB: g.cin * p.hp * p.wp * 4,
  rowB: g.stride * p.wp * 4,
  ps: g.stride * 4,
});

/** y [n, cout, oh, ow] (bytes) = conv(x, w). */
export function thinForward(ctx: WasmState, x: number, w: number, y: number, g: Conv2dGeom): void {
  const nTaps = g.cin * g.kh * g.kw;
  const p = padInput(ctx, x, g);
  const [taps, freeTaps] = tapTable(ctx, g, p, nTaps);
  const [wt, freeWt] = ctx.temp(nTaps * g.cout * 4);
  try {
    const h = ctx.heap();
    const src = w >>> 2;
    const dst = wt >>> 2;
    for (let c = 0; c < g.cout; c++) for (let t = 0; t < nTaps; t++) h[dst + t * g.cout + c] = h[src + c * nTaps + t]!;
    const { imgB, rowB, ps } = strides(g, p);
    const rows = g.n * g.oh;
    runSplit(ctx, rows, 2 * rows * g.ow * g.cout * nTaps, 1, (lo, hi) => ({
      fn: 'thinFwd',
      args: [p.ptr, wt, taps, y, nTaps, imgB, rowB, ps, g.oh, g.ow, g.cout, lo, hi],
    }));
  } finally {
    freeWt();
    freeTaps();
    p.free();
  }
}

/** dw [cout, cin, kh, kw] (bytes) = sum over the batch of dy x im2col(x)^T; overwrites dw. */
export function thinGradWeight(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): void {
  const nTaps = g.cin * g.kh * g.kw;
  const tPad = Math.ceil(nTaps / 4) * 4;
  const ohw = g.oh * g.ow;
  const p = padInput(ctx, x, g);
  const [taps, freeTaps] = tapTable(ctx, g, p, tPad);
  const [dyT, freeDyT] = ctx.temp(g.n * ohw * g.cout * 4);
  const [dwT, freeDwT] = ctx.temp(tPad * g.cout * 4);
  try {
    runSplit(ctx, g.n, g.n * ohw * g.cout, 1, (lo, hi) => ({ fn: 'chanLast', args: [dy, dyT, g.cout, ohw, lo, hi] }));
    const { imgB, rowB, ps } = strides(g, p);
    runSplit(ctx, g.cout / 8, 2 * g.n * ohw * g.cout * tPad, 1, (lo, hi) => ({
      fn: 'thinGw',
      args: [p.ptr, dyT, taps, dwT, imgB, rowB, ps, g.n, g.oh, g.ow, g.cout, tPad / 4, lo, hi],
    }));
    const h = ctx.heap();
    const src = dwT >>> 2;
    const dst = dw >>> 2;
    for (let c = 0; c < g.cout; c++) for (let t = 0; t < nTaps; t++) h[dst + c * nTaps + t] = h[src + t * g.cout + c]!;
  } finally {
    freeDwT();
    freeDyT();
    freeTaps();
    p.free();
  }
}
