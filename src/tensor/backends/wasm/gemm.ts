/**
 * GEMM driver: C[m,n] = A[m,k] * B[k,n] over packed panels, planned in TS and run as command lists on the pool.
 *
 * Phase 1 packs all of A (per KC block, strips of MR rows; threads split the strips). Phase 2 cuts the NR-column
 * strips of C into chunks handed out dynamically (ThreadPool.runTasks): for each KC block a chunk packs its B panel
 * into the running thread's panel and runs the macro-kernel over all of M (MC-blocked inside wasm). KC is fixed
 * and a C element's partial sums never depend on its chunk, so every C element sees the same sums in the same
 * order whatever the thread count or schedule: results are bit-identical for 1..T threads.
 *
 * Operands are described by `PanelSrc` (where element (s, d) lives; s runs along M for A / N for B, d along K), so
 * transposes, NCHW images and im2col are all just different sources. C(i, j) is at
 * c + i*ldc + (j / cSeg)*cSegStride + j % cSeg (elements), with cSeg a multiple of 4 or >= n.
 *
 * Narrow N (small feature maps: n = batch*oh*ow of 32..512 columns; grad-weight's cin*kh*kw) skips phase 1:
 * packing A (the weights, up to 1M floats; grad-weight's dY) would cost about as much as the product, so `macroS`
 * reads a plain strided A in place (its 4 row pointers clamped to the last row on an edge strip). It runs the same
 * FMA sequence over the same KC blocks, so the bits equal the packed path's; nothing is cached, so an in-place
 * weight update is always seen. B panels of column-contiguous sources (1x1 conv forward / grad-input, matmul) are
 * packed K rows at a time (`pack8r`, ./kernels-pack.ts): same bits, no page-strided walk.
 * Switches (read at backend creation, for A/B runs): env BIT_GEMM_INPLACE=0 (or backend option gemmInPlaceMaxN: 0)
 * always packs A; BIT_GEMM_INPLACE=N sets the column limit (default 512; A with rows not contiguous along K, e.g.
 * grad-input's W^T, uses limit / 8). BIT_GEMM_PACKROWS=0 (or gemmPackRows: false) packs B strip by strip.
 * With relaxed SIMD, N >= rowsMinN (384, or 128 for an A that a vector packer takes and that is packed anyway),
 * M >= 40 and A of at most PACK_R_MAX floats (conv weights), A is packed in 5-row strips for the 5x8 kernels
 * (`macroRows`, ./kernels-gemm-rows.ts: 10 FMA chains instead of 8), also where it could be read in place (see
 * `rowsFor`); same bits. Env BIT_GEMM_ROWS=4 (read per call) keeps the 4x8 kernels;
 * BIT_GEMM_ROWS_RESID=0 keeps them for specs with a residual (macroRowsR, the 5x8 residual store, otherwise).
 */

import { envOn, envVar } from '../../../env.js';
import { cachedPackA } from './gemm-pack-cache.js';
import { packBCommand, packCommand, rowsPacker } from './gemm-pack-commands.js';
import { MR, NR } from './kernels-gemm-micro.js';
import { ROWS_R } from './kernels-gemm-rows.js';
import type { WasmBuffer } from './state.js';
import { type Command, THREAD_PANEL, THREAD_SCRATCH, type ThreadPool } from './threads.js';
import type { WeightCache } from './weight-cache.js';

export const KC = 256;
export const NC = 2048;
/** "Not segmented" (a segment length no index reaches). */
export const NOSEG = 2 ** 30;

/** Conv geometry needed by the im2col sources. */
export interface ConvSrcGeom {
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: number;
  readonly pad: number;
  readonly oh: number;
  readonly ow: number;
}

/** Where element (s, d) of an operand lives (all in elements; seg = 2^30 means "not segmented"). */
export type PanelSrc =
  | {
      readonly kind: 'strided';
      readonly ptr: number;
      readonly sStride: number;
      readonly dStride: number;
      readonly sSeg?: number;
      readonly sSegStride?: number;
      readonly dSeg?: number;
      readonly dSegStride?: number;
    }
  /** s = (n, oy, ox) column, d = (ci, ky, kx) row: im2col of x. B operand of conv forward. */
  | { readonly kind: 'im2col'; readonly ptr: number; readonly g: ConvSrcGeom }
  /** s = (ci, ky, kx), d = (n, oy, ox): transposed im2col of x. B operand of conv grad-weight. */
  | { readonly kind: 'im2colT'; readonly ptr: number; readonly g: ConvSrcGeom };

export interface GemmSpec {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: PanelSrc;
  readonly b: PanelSrc;
  readonly c: number;
  readonly ldc: number;
  readonly cSeg?: number;
  readonly cSegStride?: number;
  /**
   * Byte address of an addend R laid out as C (R(i, j) at C(i, j)'s address + (resid - c)): the last KC block's
   * store writes C = (acc + C) + R, the bits of the GEMM followed by an add pass (./conv-residual.ts).
   */
  readonly resid?: number;
  /**
   * C += A x B: the first KC block's store adds into C too (Winograd grad-weight accumulating over image chunks,
   * ./winograd-grad-weight.ts); each element's order stays fixed (C's old value plus each KC block in turn).
   */
  readonly accumulate?: boolean;
  /**
   * The buffer A's contents come from (conv weights read in place, or their Winograd transform while the transform
   * cache holds it under that buffer): A's R-row pack may be cached across calls while the buffer is unchanged
   * (./gemm-pack-cache.ts). Never set for A in a temporary that is freed after the call.
   */
  readonly aOwner?: WasmBuffer;
}

/** What the driver needs from the backend: the pool, shared-memory scratch and temporary allocations. */
export interface GemmContext {
  readonly pool: ThreadPool;
  readonly threads: number;
  /** Per-thread 4x8 scratch tile (bytes). */
  scratch(t: number): number;
  /** Per-thread B panel of KC*NC floats (bytes). */
  bPanel(t: number): number;
  /** Temporary allocation of `bytes`; returns [ptr, free]. */
  temp(bytes: number): [number, () => void];
  /** Byte address of a zero float. */
  readonly zeroPtr: number;
  /** Work below which ops stay on the calling thread (GEMM compares flops / 64). */
  readonly minParallelWork: number;
  /** GEMMs with n <= this read a plain strided A in place instead of packing it (0: always pack). */
  readonly inPlaceMaxN: number;
  /** Pack B panels of column-contiguous sources K rows at a time (`pack8r`) instead of strip by strip. */
  readonly packRows: boolean;
  /** Small-map conv lowerings (./conv-small.ts): 1x1 output maps as plain [batch, channels] matmuls. */
  readonly smallMaps: boolean;
  /** Packed A operands kept across calls (./gemm-pack-cache.ts); absent or null: none. */
  readonly packCache?: WeightCache | null;
  /** The kernels use f32x4.relaxed_madd (the 5x8 kernels need it: mul + add needs a 16th register and spills). */
  readonly relaxed?: boolean;
}

/**
 * The A operand as phase 2 reads it: packed strips at `ptr` (rowBytes = 0), or the source read in place, element
 * (i, k) at ptr + i*rowBytes + k*kBytes.
 */
export interface AOperand {
  readonly ptr: number;
  readonly rowBytes: number;
  readonly kBytes: number;
  /** In place with K cut into segments of kSeg (a multiple of KC, so no KC block straddles two): k = q*kSeg + r
   * is at ptr + q*kSegBytes + r*kBytes (grad-weight's dY, one segment per image). */
  readonly kSeg?: number;
  readonly kSegBytes?: number;
  /** Rows per packed strip (packed A only): MR, or ROWS_R for the R-row kernels (`macroRows`). */
  readonly rows?: number;
}

/** Default of {@link GemmContext.packRows}: on unless env BIT_GEMM_PACKROWS=0. */
export function defaultPackRows(): boolean {
  return envOn('BIT_GEMM_PACKROWS');
}

/** Default of {@link GemmContext.smallMaps}: on unless env BIT_CONV_SMALLMAP=0. */
export function defaultSmallMaps(): boolean {
  return envOn('BIT_CONV_SMALLMAP');
}

/** Default of {@link GemmContext.inPlaceMaxN}: env BIT_GEMM_INPLACE (0 = off, a number = the limit), else 512. */
export function defaultInPlaceMaxN(): number {
  const v = envVar('BIT_GEMM_INPLACE');
  if (v === undefined || v === '' || v === '1') return 512;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : 512;
}

/**
 * A read in place: a strided source whose segments (if any) do not cut M, and cut K only at multiples of KC
 * (grad-weight's dY on maps of >= 16x16: each KC block lies in one image), and a narrow enough N: n <=
 * inPlaceMaxN when A's rows are contiguous along K (conv forward's W), n <= inPlaceMaxN / 8 otherwise (grad-input's
 * W^T: each k step then touches a new cache line, which costs more than packing once N reaches ~128; measured
 * with bench/gemm-ab.ts).
 */
export function inPlaceA(ctx: GemmContext, s: GemmSpec): AOperand | null {
  const a = s.a;
  if (a.kind !== 'strided' || a.sStride <= 0) return null;
  if (s.n > (a.dStride === 1 ? ctx.inPlaceMaxN : ctx.inPlaceMaxN / 8)) return null;
  const dSeg = a.dSeg ?? NOSEG;
  if ((a.sSeg ?? NOSEG) < s.m || (dSeg < s.k && dSeg % KC !== 0)) return null;
  const op = { ptr: a.ptr, rowBytes: a.sStride * 4, kBytes: a.dStride * 4 };
  return dSeg < s.k ? { ...op, kSeg: dSeg, kSegBytes: (a.dSegStride ?? 0) * 4 } : op;
}

/** Byte address of A's KC block from K index pc. */
function aBlock(a: AOperand, pc: number): number {
  if (a.kSeg === undefined) return a.ptr + pc * a.kBytes;
  return a.ptr + Math.floor(pc / a.kSeg) * (a.kSegBytes ?? 0) + (pc % a.kSeg) * a.kBytes;
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Threads to use for `flops` of work. */
export function threadsFor(ctx: GemmContext, flops: number): number {
  return flops < 64 * ctx.minParallelWork ? 1 : ctx.threads; // waking workers costs ~30 us
}

/**
 * A as `gemmCompute` reads it: read in place when {@link inPlaceA} allows (nothing to free), else all of A packed
 * (MR-row strips per KC block). Returns [operand, free].
 */
export function gemmPackA(ctx: GemmContext, s: GemmSpec): [AOperand, () => void] {
  if (s.a.kind !== 'strided') throw new Error('unreachable: A is always a strided source');
  const cached = cachedPackA(ctx, s, (R) => packA(ctx, s, R));
  if (cached) return cached;
  const R = rowsFor(ctx, s);
  const inPlace = inPlaceA(ctx, s);
  if (inPlace && R === MR) return [inPlace, () => {}];
  return packA(ctx, s, R);
}

/** All of A packed in R-row strips per KC block (threads split the strips); returns [operand, free]. */
function packA(ctx: GemmContext, s: GemmSpec, R: number): [AOperand, () => void] {
  const mPad = ceilDiv(s.m, R) * R;
  const [ap, free] = ctx.temp(mPad * s.k * 4);
  // packing is data movement of m*k floats: below minParallelWork it costs less than waking the workers
  const T = s.m * s.k < ctx.minParallelWork ? 1 : threadsFor(ctx, 2 * s.m * s.n * s.k);
  const lists: Command[][] = Array.from({ length: T }, () => []);
  const strips = mPad / R;
  for (let pc = 0; pc < s.k; pc += KC) {
    const kcb = Math.min(KC, s.k - pc);
    for (let t = 0; t < T; t++) {
      const st0 = Math.floor((t * strips) / T);
      const st1 = Math.floor(((t + 1) * strips) / T);
      if (st1 <= st0) continue;
      const count = Math.min(s.m, st1 * R) - st0 * R;
      const dst = ap + (pc * mPad + st0 * R * kcb) * 4;
      const cmd = packCommand(s.a, 4, st0 * R, count, pc, kcb, dst, ctx.zeroPtr);
      lists[t]!.push(R === MR ? cmd : { ...cmd, fn: rowsPacker(s.a, st0 * R, count, pc, kcb) });
    }
  }
  ctx.pool.run(lists);
  return [{ ptr: ap, rowBytes: 0, kBytes: 0, rows: R }, free];
}

/**
 * Rows of the micro-tile: ROWS_R (./kernels-gemm-rows.ts: 10 FMA chains instead of 8; A then always packed) when
 * the kernels use relaxed_madd, env BIT_GEMM_ROWS (read per call, for A/B runs) is not 4, N >= rowsMinN,
 * M >= 8 * ROWS_R and A fits the R-row packers' budget (at most PACK_R_MAX floats, e.g. conv weights); else MR.
 * Either gives the same bits, with or without a residual (macroRowsR: the residual store of the 5x8 kernels).
 */
export function rowsFor(ctx: GemmContext, s: GemmSpec): number {
  const v = envVar('BIT_GEMM_ROWS');
  // without relaxed_madd the 5x8 step spills (measured 20% slower than 4x8)
  if (ctx.relaxed !== true) return MR;
  // env BIT_GEMM_ROWS_RESID=0 (read per call): residual specs keep the 4x8 kernels (for A/B runs of macroRowsR)
  if (s.resid !== undefined && !envOn('BIT_GEMM_ROWS_RESID')) return MR;
  // m >= 8R: the ragged last tile (computed whole, stored through the scratch tile) is at most 1/8 of the tiles
  if (v === '4' || s.m * s.k > PACK_R_MAX || s.m < 8 * ROWS_R) return MR;
  return s.n >= rowsMinN(ctx, s) ? ROWS_R : MR;
}

/**
 * The narrowest N for the R-row kernels: ROWS_MIN_N, or ROWS_MIN_N_VEC where a vector R-row packer takes all of A
 * (./gemm-pack-commands.ts rowsPacker; it costs a fraction of the scalar one) and A would be packed anyway (not
 * read in place). Env BIT_GEMM_ROWS_VEC_MIN_N (read per call, for A/B runs) overrides ROWS_MIN_N_VEC.
 */
function rowsMinN(ctx: GemmContext, s: GemmSpec): number {
  if (rowsPacker(s.a, 0, s.m, 0, s.k) === 'packRows' || inPlaceA(ctx, s) !== null) return ROWS_MIN_N;
  const env = Number(envVar('BIT_GEMM_ROWS_VEC_MIN_N') || ROWS_MIN_N_VEC);
  return Number.isFinite(env) ? env : ROWS_MIN_N_VEC;
}

/** Largest A (floats) packed in R-row strips per call (packing is data movement against 2*n FLOPs a float of A). */
const PACK_R_MAX = 1 << 20;
/**
 * Narrowest N for the R-row kernels in general (the scalar packRows: about 18/n of the product), also where A could
 * be read in place: measured (bench/gemm-ab.ts --set r50i / r50, 1 thread) +4..11% at n >= 512; -12% at n = 128 from an A
 * that could be read in place; -2..6% on Winograd's 36 products of n = 32 (A packed anyway, but by vectors).
 */
const ROWS_MIN_N = 384;

/** Narrowest N for the R-row kernels where A is packed anyway by a vector R-row packer (see rowsMinN). */
const ROWS_MIN_N_VEC = 128;

/**
 * Target tasks per thread for phase 2's dynamic schedule (more = better balance, more A re-reads): env
 * BIT_GEMM_TASKS (read at load), default 2.
 */
const TASKS_PER_THREAD = Number(envVar('BIT_GEMM_TASKS') || 2);
/** Smallest phase-2 task in NR-column strips (unless that leaves a thread without one). */
const MIN_CHUNK = 4;

/**
 * Phase 2: C = packed A x B, B packed on the fly into the running thread's panel. Column strips are cut into
 * chunks (tasks) that threads take in order from a shared counter, so a descheduled worker does not stall the
 * op; each chunk's packs and macro calls are the same whichever thread runs it, so results do not depend on the
 * thread count or the schedule.
 */
export function gemmCompute(ctx: GemmContext, s: GemmSpec, a: AOperand): void {
  const nStrips = ceilDiv(s.n, NR);
  const T = Math.min(threadsFor(ctx, 2 * s.m * s.n * s.k), nStrips);
  // chunks of >= MIN_CHUNK strips (each task re-reads all of packed A), but at least T of them
  const chunk =
    T === 1
      ? NC / NR
      : Math.min(NC / NR, ceilDiv(nStrips, T), Math.max(MIN_CHUNK, ceilDiv(nStrips, TASKS_PER_THREAD * T)));
  runGemmTasks(ctx, T, gemmTasks(ctx, s, a, chunk));
}

/** Run phase-2 tasks on T threads (T = 1: all of them in order on the calling thread). */
function runGemmTasks(ctx: GemmContext, T: number, tasks: Command[][]): void {
  for (let t = 0; t < T; t++) ctx.bPanel(t); // allocate panels before the memory view is taken
  ctx.pool.runTasks(T === 1 ? [tasks.flat()] : tasks, (t) => [ctx.bPanel(t), ctx.scratch(t)]);
}

/**
 * Several independent GEMMs (Winograd's a*a products) in ONE pool call: every spec's A as `gemmPackA` gives it
 * (packing, where needed, is its own pool call), then all their phase-2 tasks handed out together, so the threads
 * wake once and balance over the whole batch instead of syncing after each small product. A spec's tasks are cut
 * as gemmCompute would cut them with the batch's share of the tasks, at most NC columns each; a C element's sums do
 * not depend on the cut, so the bits equal one gemm() per spec. k = 0 specs are the caller's job (as for gemm).
 */
export function gemmBatch(ctx: GemmContext, specs: readonly GemmSpec[]): void {
  const live = specs.filter((s) => s.m > 0 && s.n > 0 && s.k > 0);
  if (live.length === 0) return;
  const flops = live.reduce((f, s) => f + 2 * s.m * s.n * s.k, 0);
  const T = threadsFor(ctx, flops);
  // tasks wanted per spec: TASKS_PER_THREAD * T over the whole batch, at least one per spec
  const per = Math.max(1, ceilDiv(TASKS_PER_THREAD * T, live.length));
  const frees: (() => void)[] = [];
  try {
    const tasks: Command[][] = [];
    for (const s of live) {
      const [a, free] = gemmPackA(ctx, s);
      frees.push(free);
      const nStrips = ceilDiv(s.n, NR);
      const chunk = T === 1 ? NC / NR : Math.min(NC / NR, Math.max(MIN_CHUNK, ceilDiv(nStrips, per)));
      tasks.push(...gemmTasks(ctx, s, a, chunk));
    }
    runGemmTasks(ctx, Math.min(T, tasks.length), tasks);
  } finally {
    for (const f of frees) f();
  }
}

/** Phase-2 tasks of one GEMM: column chunks of `chunk` NR-strips, each packing its B panels and running macro. */
function gemmTasks(ctx: GemmContext, s: GemmSpec, a: AOperand, chunk: number): Command[][] {
  const R = a.rows ?? MR;
  const mPad = ceilDiv(s.m, R) * R;
  const mStrips = mPad / R;
  const nStrips = ceilDiv(s.n, NR);
  const cSeg = s.cSeg ?? NOSEG;
  const cSegStride = s.cSegStride ?? 0;
  const tasks: Command[][] = [];
  for (let jc = 0; jc < nStrips; jc += chunk) {
    const jcEnd = Math.min(nStrips, jc + chunk);
    const j0 = jc * NR;
    const nValid = Math.min(s.n, jcEnd * NR) - j0;
    const list: Command[] = [];
    for (let pc = 0; pc < s.k; pc += KC) {
      const kcb = Math.min(KC, s.k - pc);
      list.push(packBCommand(ctx, s.b, j0, nValid, pc, kcb, THREAD_PANEL));
      const aArgs = a.rowBytes === 0 ? [a.ptr + pc * mPad * 4] : [aBlock(a, pc), a.rowBytes, a.kBytes];
      // the residual's store variant on the last KC block: the accumulate flag in bit 0 of R's offset from C (a
      // multiple of 4, so the argument is 0 or 1 mod 4 and never one of the pool's THREAD_* sentinels, 3 and 2 mod 4)
      const res = s.resid !== undefined && pc + KC >= s.k;
      list.push({
        fn: (a.rowBytes !== 0 ? 'macroS' : R === MR ? 'macro' : 'macroRows') + (res ? 'R' : ''),
        args: [
          ...aArgs,
          THREAD_PANEL,
          s.c,
          mStrips,
          jcEnd - jc,
          kcb,
          s.ldc * 4,
          j0,
          cSeg,
          cSegStride * 4,
          (res ? (s.resid! - s.c) | 0 : 0) | (pc > 0 || s.accumulate === true ? 1 : 0),
          s.m,
          nValid,
          THREAD_SCRATCH,
        ],
      });
    }
    tasks.push(list);
  }
  return tasks;
}

/** C = A x B for one spec (packs A, computes, frees the packed A). k = 0 is the caller's job (C = 0). */
export function gemm(ctx: GemmContext, s: GemmSpec): void {
  if (s.m === 0 || s.n === 0 || s.k === 0) return;
  const [ap, free] = gemmPackA(ctx, s);
  try {
    gemmCompute(ctx, s, ap);
  } finally {
    free();
  }
}
