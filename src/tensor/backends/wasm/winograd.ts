/**
 * Winograd convolution for the wasm backend's 3x3 stride-1 pad-1 convs (groups 1): forward, and grad-input as the
 * same stride-1 3x3 pad-1 conv of dy with the 180-degree rotated, cin/cout-transposed kernel.
 * Grad-weight (its own algebra, cost rule and error bound) is in ./winograd-grad-weight.ts.
 *
 * Structure (as in the fast CPU libraries): per chunk of images, the input transform writes V[t][ci][tile] for the
 * a*a tile positions t (./kernels-winograd.ts), then a*a independent GEMMs M[t] = U[t] [cout x cin] x V[t]
 * [cin x tiles] run on the wasm GEMM (./gemm.ts) as one batch (`gemmBatch`: one pool call, the threads balance
 * over all a*a products), then the output transform writes y. The chunk keeps V and M within WINO_BUDGET floats.
 * U (the weight transform G g G^T, [a*a][cout][cin]) is computed once per weight buffer and variant and cached
 * (./weight-cache.ts): forward uses U; grad-input reads U itself with permuted planes for F2 (so forward and
 * grad-input of a step share one transform) and the transform of the rotated kernel for F4, both read transposed
 * by the GEMM.
 *
 * Path choice (`winogradVariant`): F(4x4,3x3) for wide layers with enough 4x4 tiles, F(2x2,3x3) for narrow
 * layers and small maps, the GEMM path otherwise (1x1 maps, few tiles): see the cost rule there. Numerics:
 * - Error: both variants are exact in real arithmetic; in float32 the error grows with the transform norms:
 *   F(2,3)'s matrices have entries in {0, +-1/2, +-1}, F(4,3)'s up to 5 (B^T), 8 (A^T) and 1/4..1/24 (G). Stated
 *   bound, per output, against S = (|w| conv |x|): |y - y64| <= 16 eps S for F2 and 100 eps S for F4 (measured
 *   maxima 8.1 and 50, on mixed channel magnitudes; the GEMM path's is ~3), checked on BiT's shapes and
 *   adversarial ranges against the float64 reference in test/tensor/backends/wasm/winograd.test.ts.
 * - Non-finite values: a tile mixes neighbouring pixels, so an Inf/NaN input (or an overflow in the transforms,
 *   whose values are up to ~100x the inputs) can turn outputs non-finite that the direct conv keeps finite. The
 *   output transform flags any non-finite output, and then the call is redone on the direct GEMM path, whose
 *   outputs are the contract's (NaN propagates exactly where the direct sums see it).
 */

import { envOn } from '../../../env.js';
import type { Conv2dGeom } from '../../backend.js';
import { gemm, gemmBatch, KC, NC, type PanelSrc } from './gemm.js';
import { F2, F4, type WinoVariant } from './kernels-winograd.js';
import type { WasmBuffer, WasmState } from './state.js';
import type { Command } from './threads.js';

/** `auto` (the cost rule), force a variant where the geometry allows it, or `off` (always the GEMM path). */
export type WinogradMode = 'auto' | 'f2' | 'f4' | 'off';

/** Floats of V + M per chunk of images (16 MiB). */
const WINO_BUDGET = 4 * 1024 * 1024;

/** Parse BIT_WINOGRAD (0/off, f2, f4, auto/1); undefined -> auto. Anything else is an error. */
export function parseWinogradMode(v: string | undefined): WinogradMode {
  if (v === undefined || v === '' || v === 'auto' || v === '1') return 'auto';
  if (v === '0' || v === 'off') return 'off';
  if (v === 'f2' || v === 'f4') return v;
  throw new Error(`BIT_WINOGRAD=${v}: expected 0, off, f2, f4, auto or 1`);
}

export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/**
 * Floats between the t-planes of U, V and M: n rounded up to whole f32x4, plus 16 floats when that is a multiple
 * of 1024, so the a*a streams a transform kernel writes (or reads) are not all 4 KiB-aligned apart (they would
 * share one L1 set and evict each other).
 */
export const planeStride = (n: number) => {
  const s = ceilDiv(n, 4) * 4;
  return s % 1024 === 0 ? s + 16 : s;
};

/** Run a chunk's a*a GEMMs as one batch (`gemmBatch`): on unless env BIT_WINO_BATCH=0 (read per call, for A/B). */
function winoBatch(): boolean {
  return envOn('BIT_WINO_BATCH');
}

/** Milliseconds per phase, accumulated while `on` (bench/winograd-layers.ts --phases); off costs one test. */
export const winogradPhases = { on: false, weight: 0, input: 0, gemm: 0, output: 0 };
const now = () => (winogradPhases.on ? performance.now() : 0);

/** Scratch floats a thread needs for variant v on an h x w map (input and output planes, see the kernels). */
function scratchFloats(v: WinoVariant, h: number, w: number): number {
  const th = ceilDiv(h, v.m);
  const tw = ceilDiv(w, v.m);
  const inF = (th * v.m + 2) * (tw * v.m + 2) + 4;
  const outF = (th * v.m + v.m) * tw * v.m;
  return Math.max(inF, outF);
}

/**
 * The variant for a stride-1 3x3 pad-1 conv producing `cout` planes from `cin` over n images of h x w, or null
 * for the GEMM path. Cost rule (auto), from per-layer A/Bs on BiT's shapes (bench/winograd-layers.ts):
 * - F4 when the map is at least 8x8, the batch has at least 32 4x4 tiles and both channel counts are at least 32
 *   (R50x1's stages at 32/16/8 px with batch 8, bit-small's 32-channel layer at 8x8). Re-measured on 2 threads
 *   (12-07, `bench/winograd-layers.ts --threads 2`, off / variant): bit-small's 32@8x8 at batch 32 and 128 ran
 *   1.85-2.05x (forward) and 1.52-1.95x (grad-input) on F4 against 1.31-1.46x / 1.33-1.40x on F2. Below 32
 *   channels F2 stays: bit-tiny's 16-channel layer is 0.8-0.9x on F4 at batch 32-128 and F4's larger rounding
 *   error (up to ~50 eps |w||x| against F2's ~8) flipped a ReLU/max-pool decision in the bit-tiny 4-step training
 *   run compared against PyTorch (test/interop/torch-train.test.ts: loss 7e-4 off at step 4, against 5e-7 with
 *   F2 or the GEMM path).
 * - F2 when the batch has at least 64 2x2 tiles (2x2 maps included: bit-small's 128-channel layer at 128 x 2x2
 *   ran 1.3x faster on F2), or at least 32 with both channel counts >= 256 (the GEMMs are deep enough: R50x1's
 *   512@4x4 at batch 8 ran 1.19x forward / 1.71x grad-input, its 256@2x2 at batch 32 1.05x / 1.59x; on 11-30,
 *   before the GEMM changes since, the latter read 0.7-0.8x).
 * - otherwise the GEMM path (few tiles: the GEMMs get too narrow; 1x1 maps have the single-tap path).
 * Forced variants ('f2' / 'f4') apply wherever the geometry allows and the scratch plane fits.
 */
export function winogradVariant(mode: WinogradMode, g: Conv2dGeom): WinoVariant | null {
  if (mode === 'off') return null;
  if (g.kh !== 3 || g.kw !== 3 || g.stride !== 1 || g.pad !== 1 || g.groups !== 1) return null;
  if (g.h < 2 || g.w < 2 || g.n === 0 || g.cin === 0 || g.cout === 0) return null;
  const fits = (v: WinoVariant) => scratchFloats(v, g.h, g.w) <= KC * NC;
  if (mode === 'f4' || mode === 'f2') {
    const v = mode === 'f4' ? F4 : F2;
    return fits(v) ? v : null;
  }
  const tiles4 = g.n * ceilDiv(g.h, 4) * ceilDiv(g.w, 4);
  const tiles2 = g.n * ceilDiv(g.h, 2) * ceilDiv(g.w, 2);
  const side = Math.min(g.h, g.w);
  const narrow = Math.min(g.cin, g.cout);
  if (side >= 8 && tiles4 >= 32 && narrow >= 32 && fits(F4)) return F4;
  if ((tiles2 >= 64 || (tiles2 >= 32 && narrow >= 256)) && fits(F2)) return F2;
  return null;
}

/** Split [0, n) into T near-equal ranges, each start a multiple of `align`. */
export function ranges(n: number, T: number, align: number): [number, number][] {
  const units = ceilDiv(n, align);
  const out: [number, number][] = [];
  for (let t = 0; t < T; t++) {
    const a = Math.floor((t * units) / T) * align;
    const b = Math.min(n, Math.floor(((t + 1) * units) / T) * align);
    if (b > a) out.push([a, b]);
  }
  return out;
}

/** A weight transform in wasm memory: [a*a][qp] floats, freed by `free`. */
export interface WinoTransform {
  readonly ptr: number;
  readonly qp: number;
  readonly free: () => void;
}

/** U = G g G^T for every filter of w [cout, cin, 3, 3] (rotated by 180 degrees when `flip`), threaded. */
export function weightTransform(
  ctx: WasmState,
  v: WinoVariant,
  w: number,
  cout: number,
  cin: number,
  flip: boolean,
): WinoTransform {
  const qn = cout * cin;
  const qp = planeStride(qn);
  const [ptr, free] = ctx.temp(v.a * v.a * qp * 4);
  const T = qn * v.a * v.a < ctx.minParallelWork ? 1 : ctx.threads;
  const fn = `wino${v.m}W${flip ? 'Flip' : ''}`;
  const t0 = now();
  ctx.pool.run(ranges(qn, T, 4).map(([q0, q1]) => [{ fn, args: [w, ptr, q0, q1, qn, qp] }]));
  if (winogradPhases.on) winogradPhases.weight += now() - t0;
  return { ptr, qp, free };
}

/** The cached transform of `wBuf` (computed and cached on a miss), or a fresh one the caller frees. */
function transformFor(
  ctx: WasmState,
  v: WinoVariant,
  w: number,
  g: Conv2dGeom,
  flip: boolean,
  wBuf: WasmBuffer | undefined,
): { u: WinoTransform; owned: boolean } {
  const key = `${v.m}${flip ? 'f' : ''}`;
  const hit = wBuf && ctx.winograd.cache.get(wBuf, key);
  if (hit) return { u: hit, owned: false };
  const u = weightTransform(ctx, v, w, g.cout, g.cin, flip);
  if (wBuf && ctx.winograd.cache.put(wBuf, key, u, v.a * v.a * u.qp * 4)) return { u, owned: false };
  return { u, owned: true };
}

/**
 * y [n, cout, h, w] = conv(x [n, cin, h, w]) for a stride-1 3x3 pad-1 conv whose weight transform is `u`
 * (`ua(t)`: the GEMM's A operand [cout x cin] at position t). Returns false when some output is non-finite
 * (y then holds garbage and the caller must redo the call on the direct path).
 */
function winogradConv(
  ctx: WasmState,
  v: WinoVariant,
  x: number,
  y: number,
  n: number,
  cin: number,
  cout: number,
  h: number,
  w: number,
  ua: (t: number) => PanelSrc,
  aOwner?: WasmBuffer,
): boolean {
  const T = v.a * v.a;
  const th = ceilDiv(h, v.m);
  const tw = ceilDiv(w, v.m);
  const tpp = th * tw;
  const pw = tw * v.m + 2;
  const nc = Math.max(1, Math.min(n, Math.floor(WINO_BUDGET / (T * (cin + cout) * tpp))));
  const ntMax = nc * tpp;
  const [vb, freeV] = ctx.temp(T * planeStride(cin * ntMax) * 4);
  const [mb, freeM] = ctx.temp((T * planeStride(cout * ntMax) + 4) * 4);
  const [flag, freeFlag] = ctx.temp(4);
  try {
    for (let t = 0; t < ctx.threads; t++) ctx.bPanel(t); // allocate scratch before the heap view is taken
    ctx.heap()[flag >>> 2] = 0;
    for (let n0 = 0; n0 < n; n0 += nc) {
      const ni = Math.min(nc, n - n0);
      const nt = ni * tpp;
      const vs = planeStride(cin * nt);
      const ms = planeStride(cout * nt);
      const planesIn = ni * cin;
      const Tin = planesIn * tpp * T < ctx.minParallelWork ? 1 : Math.min(ctx.threads, planesIn);
      const xIn = x + n0 * cin * h * w * 4;
      const t0 = now();
      ctx.pool.run(
        ranges(planesIn, Tin, 1).map(([p0, p1], t): Command[] => [
          { fn: `wino${v.m}In`, args: [xIn, cin, h, w, th, tw, pw, ctx.bPanel(t), vb, nt, vs, p0, p1] },
        ]),
      );
      const t1 = now();
      const specs = Array.from({ length: T }, (_, t) => ({
        m: cout,
        n: nt,
        k: cin,
        a: ua(t),
        b: { kind: 'strided', ptr: vb + t * vs * 4, sStride: 1, dStride: nt } as const,
        c: mb + t * ms * 4,
        ldc: nt,
        ...(aOwner === undefined ? {} : { aOwner }),
      }));
      // the a*a products in one pool call (same bits as one gemm each: BIT_WINO_BATCH=0)
      if (winoBatch()) gemmBatch(ctx, specs);
      else for (const spec of specs) gemm(ctx, spec);
      const t2 = now();
      const planesOut = ni * cout;
      const Tout = planesOut * tpp * T < ctx.minParallelWork ? 1 : Math.min(ctx.threads, planesOut);
      const yOut = y + n0 * cout * h * w * 4;
      ctx.pool.run(
        ranges(planesOut, Tout, 1).map(([p0, p1], t): Command[] => [
          { fn: `wino${v.m}Out`, args: [mb, cout, nt, ms, th, tw, h, w, yOut, ctx.bPanel(t), p0, p1, flag] },
        ]),
      );
      if (winogradPhases.on) {
        winogradPhases.input += t1 - t0;
        winogradPhases.gemm += t2 - t1;
        winogradPhases.output += now() - t2;
      }
    }
    return ctx.heap()[flag >>> 2] === 0;
  } finally {
    freeFlag();
    freeM();
    freeV();
  }
}

/**
 * Forward by Winograd when the mode and the cost rule pick it: returns true when y holds the result, false when
 * the caller must run the GEMM path (not chosen, or a non-finite output: see the file header). `wBuf` keys the
 * weight-transform cache (omitted: no caching).
 */
export function winogradForward(
  ctx: WasmState,
  x: number,
  w: number,
  y: number,
  g: Conv2dGeom,
  wBuf?: WasmBuffer,
): boolean {
  const v = winogradVariant(ctx.winograd.mode, g);
  if (!v) return false;
  const { u, owned } = transformFor(ctx, v, w, g, false, wBuf);
  try {
    const ua = (t: number): PanelSrc => ({ kind: 'strided', ptr: u.ptr + t * u.qp * 4, sStride: g.cin, dStride: 1 });
    // a cached transform lives as long as wBuf's contents: its planes' packs may be cached under wBuf too (both
    // caches drop wBuf's entries together)
    return winogradConv(ctx, v, x, y, g.n, g.cin, g.cout, g.h, g.w, ua, owned ? undefined : wBuf);
  } finally {
    if (owned) u.free();
  }
}

/**
 * F(2x2,3x3)'s G satisfies G J = P G (J reverses the 3 taps, P swaps rows 0 and 3 of the 4), so the transform of
 * the rotated kernel is P U P^T: plane (i, j) of it is plane (p(i), p(j)) of the forward transform. Grad-input
 * with F2 therefore reads the forward transform (cached by the forward call of the same step) with its planes
 * permuted; F(4x4,3x3) has no such permutation (G J = P G needs a P that mixes rows), so it transforms the rotated
 * kernel (`wino4WFlip`).
 */
const F2_FLIP_ROW = [3, 1, 2, 0];
const f2FlipPlane = (t: number) => F2_FLIP_ROW[Math.floor(t / 4)]! * 4 + F2_FLIP_ROW[t % 4]!;

/**
 * Grad-input by Winograd (the stride-1 conv of dy with the rotated, transposed kernel), same contract as
 * `winogradForward`; on a false return dx has been re-zeroed for the GEMM path's col2im, which adds into it.
 */
export function winogradGradInput(
  ctx: WasmState,
  dy: number,
  w: number,
  dx: number,
  g: Conv2dGeom,
  wBuf?: WasmBuffer,
): boolean {
  const v = winogradVariant(ctx.winograd.mode, { ...g, cin: g.cout, cout: g.cin });
  if (!v) return false;
  const shared = v.m === 2;
  const { u, owned } = transformFor(ctx, v, w, g, !shared, wBuf);
  try {
    // A(ci, co) = U'[t][co][ci], the transform of the rotated filter (co, ci), read transposed
    const plane = shared ? f2FlipPlane : (t: number) => t;
    const ua = (t: number): PanelSrc => ({
      kind: 'strided',
      ptr: u.ptr + plane(t) * u.qp * 4,
      sStride: 1,
      dStride: g.cin,
    });
    if (winogradConv(ctx, v, dy, dx, g.n, g.cout, g.cin, g.h, g.w, ua)) return true;
    ctx.heap().fill(0, dx >>> 2, (dx >>> 2) + g.n * g.cin * g.h * g.w);
    return false;
  } finally {
    if (owned) u.free();
  }
}
