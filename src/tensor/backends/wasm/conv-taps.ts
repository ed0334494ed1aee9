/**
 * Kernel taps that only ever read padding, for the wasm convs (./conv.ts). On small feature maps whole rows and
 * columns of a kernel never touch the image for any output (a 3x3 pad 1 conv on a 1x1 map reads only its centre;
 * 3x3/2 pad 1 from 2x2 to 1x1 reads only the lower-right 2x2). Skipping them drops w*0 products only: the sums
 * keep their non-zero terms in the same order (rounding may differ from the full kernel's blocking), and a
 * non-finite weight at a skipped tap no longer makes the output NaN, as in oneDNN, which skips padding too.
 *
 * `WLayout` says where the live taps' weights are, element (co, ci, t) at off + co*rowK + ci*ciStride + t
 * (t < taps); the GEMM's A sources are built from it. Dense kernels use taps = ciStride = kh*kw (the plain
 * [cout, cin*kh*kw] matrix, same pack arguments as before).
 */

import type { Conv2dGeom } from '../../backend.js';
import type { GemmContext, PanelSrc } from './gemm.js';
import type { Command } from './threads.js';

const NOSEG = 2 ** 30;

export interface WLayout {
  readonly off: number;
  readonly rowK: number;
  readonly ciStride: number;
  readonly taps: number;
}

export const dense = (g: Conv2dGeom): WLayout => ({
  off: 0,
  rowK: g.cin * g.kh * g.kw,
  ciStride: g.kh * g.kw,
  taps: g.kh * g.kw,
});

/** Forward's A operand, W as [cout, cin*taps]: s = co, d = (ci, t). */
export function forwardA(w: number, wl: WLayout): PanelSrc {
  const ptr = w + wl.off * 4;
  if (wl.taps === wl.ciStride) return { kind: 'strided', ptr, sStride: wl.rowK, dStride: 1 };
  if (wl.taps === 1) return { kind: 'strided', ptr, sStride: wl.rowK, dStride: wl.ciStride };
  return { kind: 'strided', ptr, sStride: wl.rowK, dStride: 1, dSeg: wl.taps, dSegStride: wl.ciStride };
}

/** Grad-input's A operand, W^T as [cin*taps, cout]: s = (ci, t), d = co. */
export function gradInputA(w: number, wl: WLayout): PanelSrc {
  const ptr = w + wl.off * 4;
  if (wl.taps === wl.ciStride) return { kind: 'strided', ptr, sStride: 1, dStride: wl.rowK };
  if (wl.taps === 1) return { kind: 'strided', ptr, sStride: wl.ciStride, dStride: wl.rowK };
  return { kind: 'strided', ptr, sStride: 1, sSeg: wl.taps, sSegStride: wl.ciStride, dStride: wl.rowK };
}

/** The live tap box: rows y0..y1 and columns x0..x1 that some output reads inside the image. */
export function liveBox(g: Conv2dGeom) {
  const y0 = Math.max(0, g.pad - (g.oh - 1) * g.stride);
  const y1 = Math.min(g.kh - 1, g.pad + g.h - 1);
  const x0 = Math.max(0, g.pad - (g.ow - 1) * g.stride);
  const x1 = Math.min(g.kw - 1, g.pad + g.w - 1);
  return { y0, x0, kh: y1 - y0 + 1, kw: x1 - x0 + 1 };
}

/**
 * The 1x1 stride-1 conv equal to `g` when every output reads only one kernel tap (e.g. 3x3 pad 1 on a 1x1 map),
 * with that tap's weights read in place; null otherwise.
 */
export function singleTap(g: Conv2dGeom): { g1: Conv2dGeom; wl: WLayout } | null {
  if (g.kh * g.kw === 1 || g.oh !== g.h || g.ow !== g.w || !(g.stride === 1 || (g.h === 1 && g.w === 1))) return null;
  const b = liveBox(g);
  if (b.kh !== 1 || b.kw !== 1 || b.y0 !== g.pad || b.x0 !== g.pad) return null;
  return {
    g1: { ...g, kh: 1, kw: 1, stride: 1, pad: 0 },
    wl: { off: b.y0 * g.kw + b.x0, rowK: g.cin * g.kh * g.kw, ciStride: g.kh * g.kw, taps: 1 },
  };
}

/**
 * When the live box is smaller than the kernel (2 to 4 taps, equal padding on both axes, same output size): the
 * cropped geometry and a compact copy of the live taps, [cout, cin, 4] with lanes past `taps` zero, made by one
 * pack4 pass per thread (s = tap, d = (co, ci)); `free` releases the copy. Null when it does not apply.
 */
export function cropTaps(
  ctx: GemmContext,
  w: number,
  g: Conv2dGeom,
): { g2: Conv2dGeom; w: number; wl: WLayout; free: () => void } | null {
  const b = liveBox(g);
  const taps = b.kh * b.kw;
  if (taps >= g.kh * g.kw || taps > 4 || b.kh < 1 || b.kw < 1) return null;
  const pad = g.pad - b.y0;
  if (g.pad - b.x0 !== pad) return null;
  const g2 = { ...g, kh: b.kh, kw: b.kw, pad };
  if (
    Math.floor((g.h + 2 * pad - b.kh) / g.stride) + 1 !== g.oh ||
    Math.floor((g.w + 2 * pad - b.kw) / g.stride) + 1 !== g.ow
  ) {
    return null;
  }
  const q = g.cout * g.cin;
  const [wc, free] = ctx.temp(q * 16);
  const T = q * 4 < ctx.minParallelWork ? 1 : ctx.threads;
  const lists: Command[][] = Array.from({ length: T }, () => []);
  for (let t = 0; t < T; t++) {
    const q0 = Math.floor((t * q) / T);
    const q1 = Math.floor(((t + 1) * q) / T);
    if (q1 <= q0) continue;
    const src = w + (b.y0 * g.kw + b.x0) * 4;
    const kk = g.kh * g.kw * 4;
    lists[t]!.push({
      fn: 'pack4',
      args: [src, 4, b.kw, g.kw * 4, kk, NOSEG, 0, 0, taps, q0, q1 - q0, wc + q0 * 16],
    });
  }
  ctx.pool.run(lists);
  return { g2, w: wc, wl: { off: 0, rowK: g.cin * 4, ciStride: 4, taps }, free };
}
