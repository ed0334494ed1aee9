/**
 * conv2d forward / grad-input / grad-weight (groups = 1) as GEMMs over NCHW data (im2col packed straight into panels):
 * - forward: Y[cout, (n,p)] = W[cout, cin*kh*kw] x col[(ci,ky,kx), (n,p)]; 1x1/stride 1/pad 0 reads x directly as
 *   the B operand, every other conv packs im2col straight into B panels. C is written in NCHW through the
 *   segmented store (segment = one image's oh*ow) when oh*ow is a multiple of NR, else one GEMM over the batch into a
 *   temporary and a per-image copy into place.
 * - grad-input: dX = col2im(W^T x dY) — the full correlation of dy with the flipped kernel; 1x1/stride 1 writes
 *   W^T x dY straight into dx. The column matrix is built in chunks of images to bound its memory.
 * - grad-weight: dW[cout, (ci,ky,kx)] = dY[cout, (n,p)] x col^T[(n,p), (ci,ky,kx)], K running over the batch, so
 *   the batch sum is one fixed-order reduction (./conv-grad-weight.ts; some 1x1 convs compute its transpose).
 * - single-tap convs: when every output sees only one kernel tap (a 3x3/pad 1 conv on a 1x1 map: the other taps
 *   only ever read padding), all three run as the 1x1 conv with that tap's weights, read in place with a tap
 *   stride (kh*kw fewer FLOPs); grad-weight writes that tap's column and leaves the others at their exact zero. The
 *   skipped products are w*0 terms (so only the rounding of the sums changes, and a non-finite weight at a skipped
 *   tap no longer turns the output into NaN, as in PyTorch's oneDNN convs, which skip padding too).
 * - cropped taps: when whole rows / columns of taps read only padding (3x3/2 pad 1 from a 2x2 map to 1x1: only
 *   the lower-right 2x2 taps are ever inside), forward and grad-input run the conv with the kernel cropped to
 *   those taps, from a compact copy (./conv-taps.ts); grad-weight keeps the full kernel (its dead taps are 0).
 * - 1x1 output maps: forward (and grad-input when the kernel covers the input) as plain [batch, channels]
 *   matmuls (./conv-small.ts).
 * - thin-input convs (cin <= 4, the stem): forward and grad-weight by direct kernels (./conv-thin.ts).
 * All pointers are byte offsets into the shared memory.
 */

import { envOn } from '../../../env.js';
import type { Conv2dGeom } from '../../backend.js';
import { convGradWeightGemm } from './conv-grad-weight.js';
import { smallForward, smallGradInput, smallGradWeight, smallGradWeightCropped } from './conv-small.js';
import { stemGradWeight } from './conv-stem-gw.js';
import { cropTaps, dense, forwardA, gradInputA, singleTap, type WLayout } from './conv-taps.js';
import { isThin, thinForward, thinGradWeight } from './conv-thin.js';
import { type GemmContext, type GemmSpec, gemm, gemmCompute, gemmPackA, type PanelSrc } from './gemm.js';
import { NR } from './kernels-gemm-micro.js';
import type { WasmBuffer, WasmState } from './state.js';
import type { Command } from './threads.js';
import { winogradForward, winogradGradInput } from './winograd.js';
import { winogradGradWeight } from './winograd-grad-weight.js';

/** "Not segmented" for the pack kernels' segment arguments. */
const NOSEG = 2 ** 30;

/** Column-matrix budget for grad-input (floats), so huge batches do not need a huge temporary. */
const COLS_BUDGET = 16 * 1024 * 1024;

const isPointwise = (g: Conv2dGeom) => g.kh === 1 && g.kw === 1 && g.stride === 1 && g.pad === 0;

/**
 * Run `spec` (C = [m, n*ohw] over the batch) writing C image by image into NCHW: element (i, img*ohw + p) lands at
 * c + img*m*ohw + i*ohw + p. When ohw is a multiple of NR (or of 4: 2x2 maps, the micro-kernel storing each
 * 4-column half on its own) the macro-kernel's segmented store does this directly. Otherwise (small feature maps:
 * 1x1, 7x7, ...) it is still ONE GEMM over the whole batch, into a temporary
 * [m, n*ohw] matrix, followed by a per-image copy into place (`permuteToImages`; a plain loop on the calling
 * thread when m*ohw is not a multiple of the copy kernel's 4-float strips, e.g. a 10-class head), never n GEMMs
 * with ohw columns each.
 */
function segmentedGemm(ctx: WasmState, spec: GemmSpec, n: number, ohw: number): boolean {
  // the micro-kernel stores 4-column halves, so segments of 4 (2x2 maps) work too (BIT_CONV_SMALLMAP=0: NR only)
  if (n === 1 || ohw % (ctx.smallMaps ? 4 : NR) === 0) {
    gemm(ctx, { ...spec, cSeg: ohw, cSegStride: spec.m * ohw });
    return spec.resid !== undefined; // the direct store adds spec.resid (laid out as C) when given
  }
  const [tmp, freeTmp] = ctx.temp(spec.m * n * ohw * 4);
  try {
    gemm(ctx, { ...spec, c: tmp, ldc: n * ohw, resid: undefined }); // tmp is not laid out as the residual
    if ((spec.m * ohw) % 4 === 0) permuteToImages(ctx, tmp, spec.c, spec.m, n, ohw);
    else {
      const h = ctx.heap();
      const src = tmp >>> 2;
      let o = spec.c >>> 2;
      for (let img = 0; img < n; img++) {
        for (let i = 0; i < spec.m; i++) {
          const row = src + i * n * ohw + img * ohw;
          for (let p = 0; p < ohw; p++) h[o++] = h[row + p]!;
        }
      }
    }
  } finally {
    freeTmp();
  }
  return false;
}

/**
 * dst[img][i][p] = src[i][img*ohw + p] for img < n, i < m, p < ohw (bytes pointers; m*ohw a multiple of 4). Each
 * image is one pack4 call reading s = (i, p) with segment ohw (row stride n*ohw) and d of length 1, so it writes
 * that image's m*ohw floats contiguously (v128 copies when ohw is a multiple of 4). Pure data movement: the values
 * are the GEMM's bits. Images are split over the threads.
 */
function permuteToImages(ctx: GemmContext, src: number, dst: number, m: number, n: number, ohw: number): void {
  const per = m * ohw;
  const T = n * per < ctx.minParallelWork ? 1 : Math.min(ctx.threads, n);
  const lists: Command[][] = Array.from({ length: T }, () => []);
  const rowBytes = n * ohw * 4;
  for (let t = 0; t < T; t++) {
    const i0 = Math.floor((t * n) / T);
    const i1 = Math.floor(((t + 1) * n) / T);
    for (let img = i0; img < i1; img++) {
      lists[t]!.push({
        fn: 'pack4',
        args: [src + img * ohw * 4, 4, ohw, rowBytes, 0, NOSEG, 0, 0, per, 0, 1, dst + img * per * 4],
      });
    }
  }
  ctx.pool.run(lists);
}

/**
 * y (bytes) = conv2d(x, w); y must be zero or will be overwritten entirely. With `resid` (bytes, an addend laid out
 * as y) the GEMM lowerings that store straight into y add it in their store (./conv-residual.ts); returns whether
 * the residual was added (false: the caller adds it).
 */
export function convForward(
  ctx: WasmState,
  x: number,
  w: number,
  y: number,
  g: Conv2dGeom,
  wBuf?: WasmBuffer,
  resid?: number,
): boolean {
  if (winogradForward(ctx, x, w, y, g, wBuf)) return false; // 3x3 stride-1 pad-1 where the cost rule picks it
  if (isThin(g)) {
    thinForward(ctx, x, w, y, g);
    return false;
  }
  let added = false;
  withTapLayout(ctx, w, g, (wp, g2, wl) => {
    // A read from the weight buffer itself (dense or one tap, not a cropped copy): its pack may be cached
    added = convForwardIn(ctx, x, wp, y, g2, wl, resid, wp === w ? wBuf : undefined);
  });
  return added;
}

/**
 * Run `conv(w, g, layout)` on the weights as the taps allow: the single live tap read in place, the kernel cropped
 * to its live taps (a compact temporary copy, freed after), or the dense kernel. Forward and grad-input share it.
 */
function withTapLayout(
  ctx: WasmState,
  w: number,
  g: Conv2dGeom,
  conv: (w: number, g: Conv2dGeom, wl: WLayout) => void,
): void {
  const t = singleTap(g);
  if (t) {
    conv(w, t.g1, t.wl);
    return;
  }
  const c = cropTaps(ctx, w, g);
  if (!c) {
    conv(w, g, dense(g));
    return;
  }
  try {
    conv(c.w, c.g2, c.wl);
  } finally {
    c.free();
  }
}

function convForwardIn(
  ctx: WasmState,
  x: number,
  w: number,
  y: number,
  g: Conv2dGeom,
  wl: WLayout,
  resid?: number,
  wBuf?: WasmBuffer,
): boolean {
  if (smallForward(ctx, x, w, y, g, wl)) return false; // 1x1 output map: [n, cout] = x as [n, K] x W^T
  const K = g.cin * g.kh * g.kw;
  const ohw = g.oh * g.ow;
  const hw = g.h * g.w;
  const bFor = (ptr: number): PanelSrc =>
    isPointwise(g)
      ? { kind: 'strided', ptr, sStride: 1, sSeg: hw, sSegStride: g.cin * hw, dStride: hw }
      : { kind: 'im2col', ptr, g };
  const spec: GemmSpec = {
    m: g.cout,
    n: g.n * ohw,
    k: K,
    a: forwardA(w, wl),
    b: bFor(x),
    c: y,
    ldc: ohw,
    ...(resid === undefined ? {} : { resid }),
    ...(wBuf === undefined ? {} : { aOwner: wBuf }),
  };
  return segmentedGemm(ctx, spec, g.n, ohw);
}

/** dx (bytes) from dy and w. */
export function convGradInput(
  ctx: WasmState,
  dy: number,
  w: number,
  dx: number,
  g: Conv2dGeom,
  wBuf?: WasmBuffer,
): void {
  if (winogradGradInput(ctx, dy, w, dx, g, wBuf)) return; // the rotated-kernel stride-1 conv, as forward
  withTapLayout(ctx, w, g, (wp, g2, wl) => convGradInputIn(ctx, dy, wp, dx, g2, wl));
}

function convGradInputIn(ctx: WasmState, dy: number, w: number, dx: number, g: Conv2dGeom, wl: WLayout): void {
  if (smallGradInput(ctx, dy, w, dx, g, wl)) return; // taps = input pixels: [n, cin*h*w] = dy x W
  const K = g.cin * g.kh * g.kw;
  const ohw = g.oh * g.ow;
  const hw = g.h * g.w;
  const a = gradInputA(w, wl);
  const bFor = (ptr: number): PanelSrc => ({
    kind: 'strided',
    ptr,
    sStride: 1,
    sSeg: ohw,
    sSegStride: g.cout * ohw,
    dStride: ohw,
  });
  if (isPointwise(g)) {
    const spec: GemmSpec = { m: g.cin, n: g.n * ohw, k: g.cout, a, b: bFor(dy), c: dx, ldc: hw };
    segmentedGemm(ctx, spec, g.n, ohw);
    return;
  }
  const s2 = col2imS2Fits(g);
  const chunk = Math.max(1, Math.min(g.n, Math.floor(COLS_BUDGET / (K * ohw))));
  const [cols, freeCols] = ctx.temp(K * chunk * ohw * 4);
  try {
    const spec0: GemmSpec = { m: K, n: chunk * ohw, k: g.cout, a, b: bFor(dy), c: cols, ldc: chunk * ohw };
    const [ap, freeA] = gemmPackA(ctx, spec0);
    try {
      for (let n0 = 0; n0 < g.n; n0 += chunk) {
        const nc = Math.min(chunk, g.n - n0);
        gemmCompute(ctx, { ...spec0, n: nc * ohw, b: bFor(dy + n0 * g.cout * ohw * 4) }, ap);
        const planes = nc * g.cin;
        const T = planes * K * ohw < ctx.minParallelWork ? 1 : Math.min(ctx.threads, planes);
        const lists: Command[][] = Array.from({ length: T }, () => []);
        const geom = [0, g.cin, g.h, g.w, g.kh, g.kw, g.stride, g.pad, g.oh, g.ow];
        const dxc = dx + n0 * g.cin * hw * 4;
        for (let t = 0; t < T; t++) {
          const p0 = Math.floor((t * planes) / T);
          const p1 = Math.floor(((t + 1) * planes) / T);
          if (p1 <= p0) continue;
          lists[t]!.push(
            s2
              ? { fn: 'col2imS2', args: [cols, chunk * ohw * 4, dxc, g.cin, g.oh, g.ow, g.kh === 3 ? 1 : 0, p0, p1] }
              : { fn: 'col2im', args: [...geom, cols, chunk * ohw * 4, dxc, p0, p1] },
          );
        }
        ctx.pool.run(lists);
      }
    } finally {
      freeA();
    }
  } finally {
    freeCols();
  }
}

/**
 * Whether grad-input's col2im can run as `col2imS2` (./kernels-col2im-s2.ts: the polyphase gather, same bits): a
 * stride-2 conv on an even map (h = 2*oh, w = 2*ow) with a 3x3 pad-1 or 1x1 pad-0 kernel and ow = 2 or a multiple
 * of 4. Env BIT_COL2IM_S2=0 (read per call) keeps col2im.
 */
function col2imS2Fits(g: Conv2dGeom): boolean {
  const k = (g.kh === 3 && g.kw === 3 && g.pad === 1) || (g.kh === 1 && g.kw === 1 && g.pad === 0);
  const even = g.h === 2 * g.oh && g.w === 2 * g.ow && (g.ow === 2 || g.ow % 4 === 0);
  return g.stride === 2 && k && even && envOn('BIT_COL2IM_S2');
}

/** dw (bytes) from x and dy, summed over the batch; every element of dw is written (dead taps get exact zeros). */
export function convGradWeight(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): void {
  if (isThin(g)) {
    if (!stemGradWeight(ctx, x, dy, dw, g)) thinGradWeight(ctx, x, dy, dw, g);
    return;
  }
  if (winogradGradWeight(ctx, x, dy, dw, g)) return; // 3x3 stride-1 pad-1 where its rule picks it
  if (smallGradWeight(ctx, x, dy, dw, g)) return; // stride 1 on an 8x8..16x16 map: no packing
  if (smallGradWeightCropped(ctx, x, dy, dw, g)) return; // 1x1 output, live taps = input: one matmul
  const t = singleTap(g);
  if (!t) {
    convGradWeightGemm(ctx, x, dy, dw, g);
    return;
  }
  const n = g.cout * g.cin;
  const [tmp, free] = ctx.temp(n * 4);
  try {
    convGradWeightGemm(ctx, x, dy, tmp, t.g1);
    const h = ctx.heap();
    h.fill(0, dw >>> 2, (dw >>> 2) + g.cout * g.cin * g.kh * g.kw); // only the live tap is written below
    const src = tmp >>> 2;
    const dst = (dw >>> 2) + t.wl.off;
    for (let co = 0; co < g.cout; co++) {
      const s0 = src + co * g.cin;
      const d0 = dst + co * t.wl.rowK;
      for (let ci = 0; ci < g.cin; ci++) h[d0 + ci * t.wl.ciStride] = h[s0 + ci]!;
    }
  } finally {
    free();
  }
}
