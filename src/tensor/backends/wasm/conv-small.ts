/**
 * Small-map conv lowerings (the late stages of the small CPU models at 32 px) that skip the general path's per-image
 * copy, column matrix or packing. With one output pixel NCHW y is the row-major [n, cout] matrix, so
 * - forward, 1x1 output map: y[img, co] = sum over k = (ci, t) of x[img, ci, pixel(t)] * W[co, (ci, t)] (1x1 convs
 *   on 1x1 maps, 1x1/2 projections from 2x2, 3x3/2 from 2x2 cropped to its 2x2 live taps): M = the batch,
 *   N = cout, C stored straight into y, x read as a strided A (no im2col);
 * - grad-input, 1x1 output map, when the taps cover the whole input (kh = h, kw = w, pad 0, so tap t IS pixel t;
 *   or a 1x1 kernel on a 1x1 map): dx[img, (ci, t)] = sum over co of dy[img, co] * W[co, (ci, t)] stored straight
 *   into dx (no column matrix, no col2im); a strided 1x1 kernel (a projection from a larger map) the same into a
 *   temporary [n, cin], copied to pixel (0, 0) of each dx plane, the rest zero;
 * - grad-weight, 1x1 output map whose live taps are the input pixels (3x3/2 from 2x2): the [cout, cin*h*w] matmul
 *   over the batch, copied to the live taps (the dead ones exact zeros);
 * - grad-weight of a stride-1 conv on an 8x8..16x16 output map (1x1, or 3x3 up to 32x32 channels from a
 *   zero-padded copy of x): the packing-free `gwDot` kernel (lane-wise partial sums over pixels, then
 *   (l0 + l1) + (l2 + l3): a different, fixed summation order than the GEMM's).
 * The matmul lowerings keep each element's K-ordered sum (the same KC blocking and FMA sequence as the GEMM path
 * with operands swapped: bit for bit the old results); all are deterministic whatever the thread count. Callers
 * pass the weights in their tap layout (./conv-taps.ts); each function returns false when its geometry does not
 * apply. Switch: BIT_CONV_SMALLMAP=0 (backend option convSmallMaps: false) turns them all off.
 */

import type { Conv2dGeom } from '../../backend.js';
import { forwardA, gradInputA, liveBox, type WLayout } from './conv-taps.js';
import { padInput } from './conv-thin.js';
import { type GemmContext, gemm, type PanelSrc } from './gemm.js';
import { runSplit } from './split.js';
import type { WasmState } from './state.js';

/** The taps are the input pixels in order: kernel = input box, no padding, one output pixel. */
const tapsCoverInput = (g: Conv2dGeom, wl: WLayout) =>
  g.oh === 1 && g.ow === 1 && g.pad === 0 && g.kh === g.h && g.kw === g.w && wl.taps === g.kh * g.kw;

/**
 * x as the forward GEMM's A operand (s = image, d = (ci, t)) when the output map is 1x1: the input box of the
 * kernel (taps = pixels), or one pixel (a 1x1 kernel without padding: pixel (0, 0)). Null otherwise.
 */
function xAsRows(x: number, g: Conv2dGeom, wl: WLayout): PanelSrc | null {
  if (g.oh !== 1 || g.ow !== 1 || g.groups !== 1) return null;
  const hw = g.h * g.w;
  if (tapsCoverInput(g, wl) && wl.taps === wl.ciStride) {
    return { kind: 'strided', ptr: x, sStride: g.cin * hw, dStride: 1 };
  }
  if (g.kh === 1 && g.kw === 1 && g.pad === 0) return { kind: 'strided', ptr: x, sStride: g.cin * hw, dStride: hw };
  return null;
}

/** y (bytes, [n, cout]) = conv(x, w) for a 1x1 output map; false (nothing written) when it does not apply. */
export function smallForward(ctx: GemmContext, x: number, w: number, y: number, g: Conv2dGeom, wl: WLayout): boolean {
  if (!ctx.smallMaps) return false;
  const a = xAsRows(x, g, wl);
  if (!a) return false;
  gemm(ctx, { m: g.n, n: g.cout, k: g.cin * wl.taps, a, b: forwardA(w, wl), c: y, ldc: g.cout });
  return true;
}

/** dx (bytes, [n, cin, h, w]) from dy ([n, cout]) for a 1x1 output map (see above); false when it does not apply. */
export function smallGradInput(ctx: WasmState, dy: number, w: number, dx: number, g: Conv2dGeom, wl: WLayout): boolean {
  if (!ctx.smallMaps || g.groups !== 1 || g.oh !== 1 || g.ow !== 1) return false;
  const a: PanelSrc = { kind: 'strided', ptr: dy, sStride: g.cout, dStride: 1 };
  if (tapsCoverInput(g, wl)) {
    const k = g.cin * wl.taps;
    gemm(ctx, { m: g.n, n: k, k: g.cout, a, b: gradInputA(w, wl), c: dx, ldc: k });
    return true;
  }
  if (g.kh !== 1 || g.kw !== 1 || g.pad !== 0) return false;
  // a strided 1x1 kernel (projection from a larger map): only pixel (0, 0) of each plane gets a gradient
  const hw = g.h * g.w;
  const [tmp, free] = ctx.temp(g.n * g.cin * 4);
  try {
    gemm(ctx, { m: g.n, n: g.cin, k: g.cout, a, b: gradInputA(w, wl), c: tmp, ldc: g.cin });
    const h = ctx.heap();
    const d0 = dx >>> 2;
    const planes = g.n * g.cin;
    h.fill(0, d0, d0 + planes * hw);
    const s0 = tmp >>> 2;
    for (let p = 0; p < planes; p++) h[d0 + p * hw] = h[s0 + p]!;
  } finally {
    free();
  }
  return true;
}

/**
 * Output maps (pixels) whose stride-1 grad-weight runs as `gwDot`: on larger ones the GEMM amortizes its packing;
 * on smaller ones (4x4, 2x2) the per-image set-up of the short pixel loops costs more than the packing
 * (bench/conv-sites-ab.ts).
 */
const GW_DOT_MIN_HW = 64;
const GW_DOT_MAX_HW = 256;
/**
 * Kernels larger than 1x1 only up to cout*cin = 32*32: their padded rows cost `gwDot` some speed (about 34 GFLOP/s
 * on one thread against 44 for 1x1), so once the channels amortize the GEMM's im2col packing (64 x 64 and up) the
 * GEMM wins; at 16 x 16 channels gwDot took 0.6x its time.
 */
const GW_DOT_MAX_TAPS_CH = 32 * 32;
/**
 * At most this many dW elements (cout*cin*taps; partial sums of 16 bytes each: 256 KiB): between image chunks the
 * partial sums are reloaded, which from L2/L3 costs more than packing (BiT-R50x1's 1024 x 256 convs on 8x8 maps at
 * batch 8 took ~10% longer per step).
 */
const GW_DOT_MAX_OUT = 128 * 128;

/**
 * dw (bytes, [cout, cin, kh, kw]) of a stride-1 conv on an 8x8..16x16 output map by the packing-free `gwDot`
 * kernel (./kernels-gwdot.ts): a 1x1 conv reads x as is (its map as one row), a larger kernel reads a zero-padded
 * copy of x; threads split 4-channel output blocks. False (nothing written) when it does not apply.
 */
export function smallGradWeight(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): boolean {
  const ohw = g.oh * g.ow;
  const pointwise = g.kh === 1 && g.kw === 1 && g.pad === 0;
  const fits =
    ctx.smallMaps &&
    g.stride === 1 &&
    g.groups === 1 &&
    (pointwise ? ohw % 4 === 0 : g.ow % 4 === 0) &&
    ohw >= GW_DOT_MIN_HW &&
    ohw <= GW_DOT_MAX_HW &&
    g.cout % 4 === 0 &&
    g.cin % 2 === 0 &&
    (pointwise || g.cout * g.cin <= GW_DOT_MAX_TAPS_CH) &&
    g.cout * g.cin * g.kh * g.kw <= GW_DOT_MAX_OUT;
  if (!fits) return false;
  const taps = g.kh * g.kw;
  const p = pointwise ? { ptr: x, hp: 1, wp: ohw, free: () => {} } : padInput(ctx, x, g);
  const [part, free] = ctx.temp(g.cout * g.cin * taps * 16);
  try {
    const [oh, ow] = pointwise ? [1, ohw] : [g.oh, g.ow];
    const chunk = Math.max(1, Math.ceil(64 / ohw));
    const work = (2 * g.cout * g.cin * taps * g.n * ohw) / 64;
    const geom = [g.cout, g.cin, oh, ow, p.wp * 4, p.hp * p.wp * 4, taps, g.kw, chunk, g.n];
    runSplit(ctx, g.cout / 4, work, 1, (lo, hi) => ({ fn: 'gwDot', args: [dy, p.ptr, part, dw, ...geom, lo, hi] }));
  } finally {
    free();
    p.free();
  }
  return true;
}

/**
 * Smallest batch (the matmul's K) for {@link smallGradWeightCropped}: at batch 32 its copy into the kernel layout
 * and the short K made it slower than the full-kernel GEMM (128/256 channels: 0.37 vs 0.30 ms, 1.25 vs 1.01 ms on
 * one thread); at 128 it took 0.6-0.7x the GEMM's time.
 */
const GW_CROP_MIN_BATCH = 128;

/**
 * dw (bytes, [cout, cin, kh, kw]) of a conv with a 1x1 output map whose live taps (./conv-taps.ts) are exactly the
 * input pixels (3x3/2 pad 1 from 2x2: the lower-right 2x2 taps) and more than one tap: the [cout, cin*h*w] matmul
 * dy^T x over the batch, copied to the live taps, the dead ones exact zeros. The GEMM path multiplied the full
 * kernel's columns (9 taps, 5 of them reading only padding). False (nothing written) when it does not apply.
 */
export function smallGradWeightCropped(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): boolean {
  const on = ctx.smallMaps && g.n >= GW_CROP_MIN_BATCH;
  if (!on || g.groups !== 1 || g.oh !== 1 || g.ow !== 1 || g.kh * g.kw === 1) return false;
  const b = liveBox(g);
  const hw = g.h * g.w;
  if (b.kh !== g.h || b.kw !== g.w || b.y0 !== g.pad || b.x0 !== g.pad || hw === g.kh * g.kw) return false;
  const k = g.cin * hw;
  const [tmp, free] = ctx.temp(g.cout * k * 4);
  try {
    gemm(ctx, {
      m: g.cout,
      n: k,
      k: g.n,
      a: { kind: 'strided', ptr: dy, sStride: 1, dStride: g.cout },
      b: { kind: 'strided', ptr: x, sStride: 1, dStride: k },
      c: tmp,
      ldc: k,
    });
    const h = ctx.heap();
    const taps = g.kh * g.kw;
    const d0 = dw >>> 2;
    h.fill(0, d0, d0 + g.cout * g.cin * taps);
    let s = tmp >>> 2;
    for (let q = 0; q < g.cout * g.cin; q++) {
      const row = d0 + q * taps + b.y0 * g.kw + b.x0;
      for (let ty = 0; ty < g.h; ty++) {
        for (let tx = 0; tx < g.w; tx++) h[row + ty * g.kw + tx] = h[s++]!;
      }
    }
  } finally {
    free();
  }
  return true;
}
