/**
 * The GEMM path of conv grad-weight (what is left after the Winograd / thin / stem / small-map lowerings):
 * dW[cout, (ci,ky,kx)] = dY[cout, (n,p)] x col^T[(n,p), (ci,ky,kx)], K = n*oh*ow running over the batch.
 *
 * Orientation: the driver (./gemm.ts) reads A in place (narrow N) and packs B per NR-column strip, and packing a
 * plane-strided source (one 8-value gather per K step) costs in proportion to N*K. When cin > cout (the first 1x1
 * conv of every bottleneck: 256->64, 1024->256, ...) the transposed operand is the big one, so a 1x1/stride-1 conv
 * computes dW^T[cin, cout] = x[cin, (n,p)] x dY^T[(n,p), cout] instead (A = x read in place, B = dY^T packed: cost
 * ~ cout*K) into a temporary, then transposes that into dW (`chanLast`: a pure copy), when (see `swapSpec`)
 * cin >= 2*cout, K >= 2*cout (the transpose of cin*cout floats stays small), x can be read in place (each image a
 * whole number of KC blocks: maps of 16x16 and up) and neither orientation gets the 5x8 kernels (those beat the
 * saved packing: 512->128 on 16x16 maps measured 4% slower swapped, 1024->256 on 8x8, x packed, 10%). Every
 * element of dW is the same FMA chain over k in the same KC blocks and order either way, and fma(a, b, c) ==
 * fma(b, a, c) in IEEE, so both orientations give the same bits (test/tensor/backends/wasm/conv-grad-weight.test.ts,
 * also for the packers below). Measured (bench/gemm-ab.ts --set r50i, 256->64 on 32x32 at batch 8): +9..11% with
 * the generic packers, +0..3% on 1 thread and +4..8% on 2 with the K-contiguous ones below. Env BIT_GW_SWAP=0
 * (read per call) keeps the dY x col^T orientation everywhere.
 *
 * Packing: B (x, or dY^T swapped) and a packed A (dY where its images cut KC blocks: maps under 16x16) are channel
 * planes contiguous along K in per-image segments, which the generic `pack8` / `pack4` gather one K step at a
 * time; the driver names `pack8t` / `pack4t` for such sources (./gemm-pack-commands.ts; ./kernels-pack.ts, same
 * panel bits), which walk each segment 4 K steps at a time through register transposes. Measured 1 thread, per
 * call: +6..31% on the 1x1 convs of bit-tiny / bit-small at batch 128 (4x4 and 2x2 maps), +1..5% on R50x1's at
 * batch 8 x 128 px. Env BIT_PACK8T=0 (read per call) keeps the generic packers.
 * All pointers are byte offsets into the shared memory.
 */

import { envOn } from '../../../env.js';
import type { Conv2dGeom } from '../../backend.js';
import { type GemmContext, type GemmSpec, gemm, inPlaceA, type PanelSrc, rowsFor } from './gemm.js';
import { MR } from './kernels-gemm-micro.js';
import type { WasmState } from './state.js';

const isPointwise = (g: Conv2dGeom) => g.kh === 1 && g.kw === 1 && g.stride === 1 && g.pad === 0;

/** The grad-weight GEMM as dY x col^T (C = dW at `dw`). */
function plainSpec(x: number, dy: number, dw: number, g: Conv2dGeom): GemmSpec {
  const K = g.cin * g.kh * g.kw;
  const ohw = g.oh * g.ow;
  const hw = g.h * g.w;
  const b: PanelSrc = isPointwise(g)
    ? { kind: 'strided', ptr: x, sStride: hw, dStride: 1, dSeg: hw, dSegStride: g.cin * hw }
    : { kind: 'im2colT', ptr: x, g };
  // dY as [cout, (n,p)]: row co, K index (n,p) at dy + n*cout*ohw + co*ohw + p
  const a: PanelSrc = { kind: 'strided', ptr: dy, sStride: ohw, dStride: 1, dSeg: ohw, dSegStride: g.cout * ohw };
  return { m: g.cout, n: K, k: g.n * ohw, a, b, c: dw, ldc: K };
}

/**
 * The swapped spec dW^T[cin, cout] = x x dY^T (C at `c`, row-major [cin, cout]) when the rule in the file comment
 * picks it for `plain`, else null. Env BIT_GW_SWAP=0 (read per call): always null.
 */
export function swapSpec(ctx: GemmContext, plain: GemmSpec, g: Conv2dGeom, c: number): GemmSpec | null {
  if (!isPointwise(g) || g.cin < 2 * g.cout || plain.k < 2 * g.cout || !envOn('BIT_GW_SWAP')) return null;
  if (plain.b.kind !== 'strided') return null;
  const hw = g.h * g.w;
  const a: PanelSrc = { kind: 'strided', ptr: plain.b.ptr, sStride: hw, dStride: 1, dSeg: hw, dSegStride: g.cin * hw };
  const s: GemmSpec = { m: g.cin, n: g.cout, k: plain.k, a, b: plain.a, c, ldc: g.cout };
  const fits = inPlaceA(ctx, s) !== null && rowsFor(ctx, s) === MR && rowsFor(ctx, plain) === MR;
  return fits ? s : null;
}

/** dw (bytes) = dY x col^T, every element written (groups = 1; no Winograd / thin / small-map special cases). */
export function convGradWeightGemm(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): void {
  const plain = plainSpec(x, dy, dw, g);
  if (!swapSpec(ctx, plain, g, 0)) {
    gemm(ctx, plain);
    return;
  }
  const [tmp, free] = ctx.temp(g.cin * g.cout * 4);
  try {
    gemm(ctx, swapSpec(ctx, plain, g, tmp)!);
    // chanLast(src, dst, c, hw, n0, n1): dst[p][ch] = src[ch][p] with ch = ci, p = co (4x4 register transposes)
    ctx.pool.run([[{ fn: 'chanLast', args: [tmp, dw, g.cin, g.cout, 0, 1] }]]);
  } finally {
    free();
  }
}
