/**
 * Packed A operands kept across GEMM calls: a conv's weights (or the planes of their cached Winograd transform)
 * packed once in the R-row strips of the 5x8 kernels (./kernels-gemm-rows.ts) and reused while the weight buffer is
 * unchanged (inference over many batches: the eval model's standardized weights are the same buffers every
 * forward). An entry is keyed on the weight buffer and A's offset from it; a Winograd transform lives in the
 * transform cache under the same buffer and is dropped with it, so the offset stays valid as long as the entry.
 *
 * Rules:
 * - Only a spec whose A lies in a buffer (`GemmSpec.aOwner`) is considered, and it is cached on the SECOND use of
 *   that (buffer, layout) since the buffer last changed: a training step uses each standardized weight once in the
 *   forward, so training never holds packed copies (the first use is only recorded, see WeightCache.seen).
 * - A cached pack lets narrow GEMMs (n >= CACHED_ROWS_MIN_N, e.g. R50x1's 4x4 maps at batch 8: n = 128) use the 5x8
 *   kernels, which without the cache pay the R-row packing every call (./gemm.ts rowsFor: n >= 384 for weights that
 *   could be read in place).
 * - Same bits: the 5x8 kernels give the 4x8 kernels' bits, packed or in place (./gemm.ts).
 * - Bounded by the cache's budget (env BIT_GEMM_PACK_CACHE_MB, default 64; 0: off); a pack that does not fit is used
 *   once and freed. Entries are dropped with the buffer (free, or an in-place write: WasmState.written).
 */

import { envOn, envVar } from '../../../env.js';
import type { AOperand, GemmContext, GemmSpec, PanelSrc } from './gemm.js';
import { ROWS_R } from './kernels-gemm-rows.js';
import type { WasmBuffer } from './state.js';
import type { WeightCache } from './weight-cache.js';

/** Default budget of the packed-A cache in MiB (env BIT_GEMM_PACK_CACHE_MB). */
export const PACK_CACHE_MB = 64;

/** Largest A (floats) packed for the cache (the R-row packer runs once per weight, not per call). */
export const CACHED_PACK_MAX = 4 << 20;

/** Narrowest N for the 5x8 kernels over a cached pack (measured on R50x1's 4x4 maps at batch 8: n = 128). */
export const CACHED_ROWS_MIN_N = 64;

/** What identifies a cacheable A: its owner buffer and the layout of A inside it. */
export interface PackKey {
  readonly owner: WasmBuffer;
  readonly key: string;
}

/**
 * The cache entry key of A (a strided source inside `owner`) packed in `rows`-row strips for an m x k product:
 * every field that decides the packed bytes (offset in the owner, strides, segments, m, k, strip height).
 */
export function packKey(
  owner: WasmBuffer,
  a: Extract<PanelSrc, { kind: 'strided' }>,
  m: number,
  k: number,
  rows: number,
): PackKey {
  const off = a.ptr - owner.ptr;
  const seg = `${a.sSeg ?? '-'},${a.sSegStride ?? '-'},${a.dSeg ?? '-'},${a.dSegStride ?? '-'}`;
  return { owner, key: `packA:${rows}:${off}:${a.sStride},${a.dStride}:${seg}:${m}x${k}` };
}

/**
 * A from the packed-A cache: the R-row pack of a spec whose A lies in `aOwner` (hit), or packed by `pack(ROWS_R)` and
 * cached on its second use; null where the cache does not apply (the caller packs or reads A in place as usual).
 */
export function cachedPackA(
  ctx: GemmContext,
  s: GemmSpec,
  pack: (rows: number) => [AOperand, () => void],
): [AOperand, () => void] | null {
  const cache = ctx.packCache;
  if (!cache || !s.aOwner || s.a.kind !== 'strided' || ctx.relaxed !== true) return null;
  // the same switches as gemm.ts rowsFor: env BIT_GEMM_ROWS=4 and BIT_GEMM_ROWS_RESID=0 keep the 4x8 kernels
  if (envVar('BIT_GEMM_ROWS') === '4' || (s.resid !== undefined && !envOn('BIT_GEMM_ROWS_RESID'))) return null;
  if (s.m < 8 * ROWS_R || s.n < CACHED_ROWS_MIN_N || s.m * s.k > CACHED_PACK_MAX) return null;
  const { owner, key } = packKey(s.aOwner, s.a, s.m, s.k, ROWS_R);
  const hit = cache.get(owner, key);
  if (hit) return [{ ptr: hit.ptr, rowBytes: 0, kBytes: 0, rows: ROWS_R }, () => {}];
  if (!cache.seen(owner, key)) return null;
  const bytes = Math.ceil(s.m / ROWS_R) * ROWS_R * s.k * 4;
  if (!cache.fits(bytes)) return null;
  const [op, free] = pack(ROWS_R);
  cache.put(owner, key, { ptr: op.ptr, qp: 0, free }, bytes);
  return [op, () => {}];
}

/** The packed-A cache of a backend, or null when its budget is 0. */
export function makePackCache(mb: number, create: (bytes: number) => WeightCache): WeightCache | null {
  return mb > 0 ? create(mb * 2 ** 20) : null;
}

/** Budget in MiB from env BIT_GEMM_PACK_CACHE_MB (a number >= 0), else PACK_CACHE_MB. */
export function packCacheMb(env: string | undefined): number {
  if (env === undefined || env === '') return PACK_CACHE_MB;
  const v = Number(env);
  return Number.isFinite(v) && v >= 0 ? v : PACK_CACHE_MB;
}
