/**
 * Winograd grad-weight for the wasm backend's 3x3 stride-1 pad-1 convs (groups 1), F(2x2,3x3) and F(4x4,3x3).
 *
 * Algebra: forward computes, per output tile, Y = A^T [U (.) V] A with U = G g G^T and V = B^T d B (g the 3x3
 * kernel as a cross-correlation, d the a x a input patch). For one tile dL/dU = Z (.) V with Z = A dY A^T (dY the
 * m x m tile of dy, ZEROS where it runs past the output map), and dL/dg = G^T (dL/dU) G, so
 *   dW[co][ci] = G^T ( sum over images and tiles of Z[co] (.) V[ci] ) G.
 * Structure: per chunk of images, the input transform (forward's `wino{m}In`) writes V[t][ci][tile] and the dy
 * transform (`wino{m}Dy`, ./kernels-winograd-gw.ts) writes Z[t][co][tile] for the a*a tile positions t; then a*a
 * GEMMs M[t][co][ci] += Z[t] [cout x tiles] x V[t]^T [tiles x cin] (K = tiles, contiguous in both operands) run as
 * one `gemmBatch`, the first chunk storing, later ones accumulating (GemmSpec.accumulate); finally `wino{m}GW`
 * writes dw = G^T M G per filter. The chunk size depends only on the shape and each M element's sum runs over the
 * chunks and KC blocks in a fixed order, so the bits do not depend on the thread count or schedule.
 *
 * Numerics: exact in real arithmetic; in float32 the error grows with the transform norms (F4's A^T has entries up
 * to 8, B^T up to 5, G up to 1/4). Let S be the same correlation on absolute values (per dW element, the sum over
 * the batch of the |dy| * |x| products) and Sf[co][ci] the sum of S over the filter's 9 taps: the inverse
 * transform mixes all 9 taps of a filter, so a tap that sees few pixels (a corner tap on a 2x2 map: one pixel per
 * image) carries the rounding of its neighbours, and a per-tap bound does not hold (measured up to 2300 eps S on
 * R50x1's 256@2 with F2). Stated bound: |dw - dw64| <= 4 eps Sf for F2 and 40 eps Sf for F4 (measured maxima 1.1
 * and 15, on mixed channel magnitudes and BiT's shapes, test/tensor/backends/wasm/winograd-grad-weight.test.ts).
 * Non-finite values: a tile mixes neighbouring pixels, so an Inf/NaN (or an overflow in the transforms) can
 * turn weights non-finite that the direct sums keep finite; the inverse transform flags any non-finite dw and the
 * call is then redone on the GEMM path, whose NaN/Inf placement is the contract's.
 *
 * Path choice (`winogradGradWeightVariant`): its own rule, from per-layer A/Bs (bench/winograd-layers.ts, `gw`).
 * Switches: the backend's winograd mode (BIT_WINOGRAD=off/f2/f4) governs it as it does forward / grad-input; env
 * BIT_WINO_WGRAD=0 (read per call) turns grad-weight's Winograd off alone.
 */

import { envOn } from '../../../env.js';
import type { Conv2dGeom } from '../../backend.js';
import { type GemmSpec, gemmBatch, KC, NC } from './gemm.js';
import { F2, F4, type WinoVariant } from './kernels-winograd.js';
import type { WasmState } from './state.js';
import type { Command } from './threads.js';
import { ceilDiv, planeStride, ranges, type WinogradMode, winogradPhases } from './winograd.js';

/**
 * Floats of V + Z per chunk of images (4 MiB; forward's WINO_BUDGET is 16 MiB): on R50x1's b8 layers at 2 threads
 * F4 ran 1.6-2.0x faster than the GEMM path with this budget against 1.5-1.9x with 16 MiB (the transforms' output
 * stays nearer the GEMMs that read it; bench/winograd-layers.ts, loaded machine).
 */
const WGRAD_BUDGET = 1024 * 1024;

/** Winograd grad-weight enabled: unless env BIT_WINO_WGRAD=0 (read per call, for A/B runs). */
function wgradOn(): boolean {
  return envOn('BIT_WINO_WGRAD');
}

const now = () => (winogradPhases.on ? performance.now() : 0);

/** Most floats of M ([a*a][cout x cin], 64 MiB: R50x1's 512-channel layer takes 9.4M with F4). */
const M_MAX = 1 << 24;

/**
 * The input transform's scratch plane (the largest of the two transforms') fits a thread's B panel, and M fits
 * M_MAX (wider layers take the GEMM path, whose temporaries do not grow with a*a).
 */
const fits = (v: WinoVariant, g: Conv2dGeom) =>
  (ceilDiv(g.h, v.m) * v.m + 2) * (ceilDiv(g.w, v.m) * v.m + 2) + 4 <= KC * NC && v.a * v.a * g.cout * g.cin <= M_MAX;

/**
 * The variant for the grad-weight of a stride-1 3x3 pad-1 conv (cout planes from cin over n images of h x w), or
 * null for the GEMM path. The GEMMs are [cout x cin] with K = the chunk's tiles, so they need both channel counts
 * and the tile count to be large. Cost rule (auto), from bench/winograd-layers.ts `gw` at 2 threads (time of the
 * GEMM path / Winograd's, medians of paired ratios; machine loaded by one other process):
 * - F4 when the map is at least 8x8, the batch has at least 32 4x4 tiles and both channel counts are at least 32:
 *   R50x1 b8 64@32 / 128@16 / 256@8 1.6-2.0x, b32 64@8 2.1x, bit-small b32 / b128 32@8 1.1-1.5x (F2 there
 *   0.9-1.5x). On 4x4 maps (one F4 tile per image) F4 lost to F2 (R50x1 b32 128@4: 0.8x vs 1.4x).
 * - F2 when the batch has at least 64 2x2 tiles and both channel counts are at least 64: R50x1 b32 128@4 1.4x,
 *   bit-small b128 64@4 1.2-1.6x and 128@2 1.15-1.2x; with 32 tiles (R50x1 b8 512@4, b32 256@2: K = 32) it ran
 *   0.85-1.1x, and on 16-channel layers (bit-tiny) 0.8x (F4 there 1.05-1.1x: not worth the larger error).
 * - otherwise the GEMM path.
 * Forced variants ('f2' / 'f4') apply wherever the geometry allows and `fits`.
 */
export function winogradGradWeightVariant(mode: WinogradMode, g: Conv2dGeom): WinoVariant | null {
  if (mode === 'off') return null;
  if (g.kh !== 3 || g.kw !== 3 || g.stride !== 1 || g.pad !== 1 || g.groups !== 1) return null;
  if (g.h < 2 || g.w < 2 || g.n === 0 || g.cin === 0 || g.cout === 0) return null;
  if (mode === 'f4' || mode === 'f2') {
    const v = mode === 'f4' ? F4 : F2;
    return fits(v, g) ? v : null;
  }
  const tiles4 = g.n * ceilDiv(g.h, 4) * ceilDiv(g.w, 4);
  const tiles2 = g.n * ceilDiv(g.h, 2) * ceilDiv(g.w, 2);
  const side = Math.min(g.h, g.w);
  const ch = Math.min(g.cin, g.cout);
  if (side >= 8 && tiles4 >= 32 && ch >= 32 && fits(F4, g)) return F4;
  if (tiles2 >= 64 && ch >= 64 && fits(F2, g)) return F2;
  return null;
}

/**
 * dw [cout, cin, 3, 3] (bytes) from x [n, cin, h, w] and dy [n, cout, h, w] by Winograd when the mode and the
 * rule pick it: returns true when dw holds the result, false when the caller must run the GEMM path (not chosen,
 * or a non-finite weight: see the file header; dw is then garbage and the GEMM path overwrites all of it).
 */
export function winogradGradWeight(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): boolean {
  if (!wgradOn()) return false;
  const v = winogradGradWeightVariant(ctx.winograd.mode, g);
  if (!v) return false;
  const { n, cin, cout, h, w } = g;
  const T = v.a * v.a;
  const th = ceilDiv(h, v.m);
  const tw = ceilDiv(w, v.m);
  const tpp = th * tw;
  // images per chunk: as many as the budget allows, spread evenly over the chunks (R50x1's 128@16 with F4 as 4 + 4
  // rather than 7 + 1, whose 1-image chunk ran 36 GEMMs with K = 16: 10% faster)
  const ncMax = Math.max(1, Math.min(n, Math.floor(WGRAD_BUDGET / (T * (cin + cout) * tpp))));
  const nc = ceilDiv(n, ceilDiv(n, ncMax));
  const ntMax = nc * tpp;
  const qn = cout * cin;
  const qp = planeStride(qn);
  const [vb, freeV] = ctx.temp(T * planeStride(cin * ntMax) * 4);
  const [zb, freeZ] = ctx.temp(T * planeStride(cout * ntMax) * 4);
  const [mb, freeM] = ctx.temp(T * qp * 4);
  const [flag, freeFlag] = ctx.temp(4);
  try {
    for (let t = 0; t < ctx.threads; t++) ctx.bPanel(t); // allocate scratch before the heap view is taken
    const heap = ctx.heap();
    heap[flag >>> 2] = 0;
    // M's plane padding is read by the inverse transform's last f32x4: zero it (the GEMMs write only qn floats)
    for (let t = 0; t < T; t++) heap.fill(0, (mb >>> 2) + t * qp + qn, (mb >>> 2) + (t + 1) * qp);
    for (let n0 = 0; n0 < n; n0 += nc) {
      const ni = Math.min(nc, n - n0);
      const nt = ni * tpp;
      const vs = planeStride(cin * nt);
      const zs = planeStride(cout * nt);
      const t0 = now();
      // input and dy transforms in one pool call: thread t takes its share of the x planes, then of the dy planes
      const pin = ni * cin;
      const pdy = ni * cout;
      const Tt = (pin + pdy) * tpp * T < ctx.minParallelWork ? 1 : ctx.threads;
      const lists: Command[][] = Array.from({ length: Tt }, () => []);
      const xIn = x + n0 * cin * h * w * 4;
      const dyIn = dy + n0 * cout * h * w * 4;
      ranges(pin, Tt, 1).forEach(([p0, p1], t) => {
        lists[t]!.push({
          fn: `wino${v.m}In`,
          args: [xIn, cin, h, w, th, tw, tw * v.m + 2, ctx.bPanel(t), vb, nt, vs, p0, p1],
        });
      });
      ranges(pdy, Tt, 1).forEach(([p0, p1], t) => {
        lists[t]!.push({
          fn: `wino${v.m}Dy`,
          args: [dyIn, cout, h, w, th, tw, tw * v.m, ctx.bPanel(t), zb, nt, zs, p0, p1],
        });
      });
      ctx.pool.run(lists);
      const t1 = now();
      const specs: GemmSpec[] = Array.from({ length: T }, (_, t) => ({
        m: cout,
        n: cin,
        k: nt,
        a: { kind: 'strided', ptr: zb + t * zs * 4, sStride: nt, dStride: 1 },
        b: { kind: 'strided', ptr: vb + t * vs * 4, sStride: nt, dStride: 1 },
        c: mb + t * qp * 4,
        ldc: cin,
        accumulate: n0 > 0,
      }));
      gemmBatch(ctx, specs);
      if (winogradPhases.on) {
        winogradPhases.input += t1 - t0;
        winogradPhases.gemm += now() - t1;
      }
    }
    const t2 = now();
    const Tw = qn * T < ctx.minParallelWork ? 1 : ctx.threads;
    ctx.pool.run(ranges(qn, Tw, 4).map(([q0, q1]) => [{ fn: `wino${v.m}GW`, args: [mb, dw, q0, q1, qn, qp, flag] }]));
    if (winogradPhases.on) winogradPhases.weight += now() - t2;
    return ctx.heap()[flag >>> 2] === 0;
  } finally {
    freeFlag();
    freeM();
    freeZ();
    freeV();
  }
}
