/**
 * Strided views for gpu.js kernels: dimension collapsing and chunk planning.
 *
 * Why chunks: gpu.js kernels (webasm, webgpu) compute indices in f32, so any flat index, thread id or offset above
 * 2^24 silently rounds, and kernels/index-math.ts divides exactly only values below 2^23. A launch therefore never
 * sees more than `limit` (default and most 2^23) output cells, and every input buffer above twice the limit is passed
 * as a window (a subarray) of at most 2 * limit elements (offsets are exact integer sums below 2^24) with the view's
 * base offset made relative to it. Chunks split
 * the (collapsed) view shape at one dimension `d`: leading dims are iterated in TS, dim `d` is cut into ranges of
 * `R` rows, trailing dims are covered whole. All chunks share one local shape and window lengths (the last range is
 * shifted back to end at the dim's end, recomputing a few cells) so one kernel serves them all.
 *
 * Invariants: views have non-negative strides and lie inside their buffers (checked, ShapeError otherwise); the
 * collapsed rank is at most MAX_DIMS (kernels unroll exactly that many dims).
 */

import { ShapeError } from '../../../errors.js';

/** Kernels unroll this many dims; shapes collapse to at most this rank. */
export const MAX_DIMS = 6;
/** Default (and largest) cells / window length per launch: f32 index math and idiv stay exact below it. */
export const DEFAULT_CHUNK_LIMIT = 2 ** 23;

/** A view in planning form: strides over the common shape, base offset, and the size of its buffer. */
export interface PlanView {
  readonly strides: readonly number[];
  readonly offset: number;
  readonly bufSize: number;
}

/**
 * One chunk: where its output starts and, per view, the window start and the base offset inside the window. A view
 * addressed by rows (see `ChunkPlan.rowDims`) has window start 0, its base split as `rowBases * width + bases`.
 */
export interface Chunk {
  readonly outStart: number;
  readonly lows: readonly number[];
  readonly bases: readonly number[];
  /** Per view: the row of the base offset (0 unless the view is addressed by rows). */
  readonly rowBases: readonly number[];
}

/** A chunked launch plan over a padded MAX_DIMS shape. */
export interface ChunkPlan {
  /** Local shape of every chunk (padded to MAX_DIMS). */
  readonly local: readonly number[];
  /** Per view: strides (padded to MAX_DIMS). */
  readonly strides: readonly (readonly number[])[];
  /** Per view: window length (the whole buffer when it fits the limit). */
  readonly windows: readonly number[];
  /** Output cells per chunk. */
  readonly cells: number;
  readonly chunks: readonly Chunk[];
  /** Full (collapsed, padded) shape. */
  readonly shape: readonly number[];
  /**
   * Per view: -1 (bound as a window), or the dim `m` whose stride is the row width of a rows-addressed view: the
   * whole buffer bound as a 2-D array of rows of `strides[m]` elements, read as `A[rowBase + i_m][base + sum of the
   * other dims' i_j * stride_j]`. Row and column are each exact f32 integers below 2^24, and gpu.js forms the flat
   * index `row * width + column` in i32 (webgpu), exact to 2^31: no window, so a buffer above 2^24 elements (a
   * transposed [4097, 4097]) needs no split beyond the output's.
   */
  readonly rowDims: readonly number[];
}

/** Largest row index of a rows-addressed view: the row must be an exact f32 integer. */
const MAX_ROWS = 2 ** 24;

/**
 * The row dim of view `v` when addressed by rows for a chunk cut at dim `d` into `r` rows, or -1 when it does not
 * fit: the largest-stride dim among d.. (its stride is the row width W), such that every column
 * (base remainder < W, plus the other dims' extents) stays below `wl` and every row below 2^24.
 */
function rowsDim(shape: readonly number[], v: PlanView, d: number, r: number, wl: number): number {
  let m = -1;
  for (let j = d; j < MAX_DIMS; j++) {
    if (shape[j]! > 1 && v.strides[j]! > 0 && (m < 0 || v.strides[j]! > v.strides[m]!)) m = j;
  }
  if (m < 0) return -1;
  const w = v.strides[m]!;
  let col = w - 1;
  for (let j = d; j < MAX_DIMS; j++) if (j !== m) col += ((j === d ? r : shape[j]!) - 1) * v.strides[j]!;
  return col < wl && Math.ceil(v.bufSize / w) <= MAX_ROWS ? m : -1;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Validate that a view over `shape` is inside its buffer with non-negative strides. */
export function checkView(op: string, shape: readonly number[], v: PlanView): void {
  if (v.strides.length !== shape.length) {
    throw new ShapeError(`${op}: view rank ${v.strides.length} != shape rank ${shape.length}`);
  }
  if (prod(shape) === 0) return;
  let last = v.offset;
  for (let i = 0; i < shape.length; i++) {
    if (v.strides[i]! < 0) throw new ShapeError(`${op}: negative stride ${v.strides[i]} (dim ${i})`);
    last += (shape[i]! - 1) * v.strides[i]!;
  }
  if (v.offset < 0 || last >= v.bufSize) {
    throw new ShapeError(
      `${op}: view [${shape}] strides [${v.strides}] offset ${v.offset} reads past its buffer of ${v.bufSize}`,
    );
  }
}

/**
 * Drop size-1 dims and merge dims that are contiguous in every view, then left-pad with size-1 dims to MAX_DIMS.
 * Throws ShapeError if the rank stays above MAX_DIMS.
 */
export function collapse(
  op: string,
  shape: readonly number[],
  views: readonly PlanView[],
): { shape: number[]; views: PlanView[] } {
  const dims: number[] = [];
  const strides: number[][] = views.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const n = dims.length;
    const mergeable = n > 0 && views.every((v, k) => strides[k]![n - 1] === v.strides[i]! * shape[i]!);
    if (mergeable) {
      dims[n - 1] = dims[n - 1]! * shape[i]!;
      views.forEach((v, k) => {
        strides[k]![n - 1] = v.strides[i]!;
      });
    } else {
      dims.push(shape[i]!);
      views.forEach((v, k) => {
        strides[k]!.push(v.strides[i]!);
      });
    }
  }
  if (dims.length > MAX_DIMS) {
    throw new ShapeError(`${op}: view rank ${dims.length} after collapsing exceeds ${MAX_DIMS} (shape [${shape}])`);
  }
  while (dims.length < MAX_DIMS) {
    dims.unshift(1);
    for (const s of strides) s.unshift(0);
  }
  return {
    shape: dims,
    views: views.map((v, k) => ({ strides: strides[k]!, offset: v.offset, bufSize: v.bufSize })),
  };
}

/**
 * Plan chunks over a collapsed, padded shape: picks the split dim and row count that maximize cells per chunk
 * (cells = R * inner <= limit) with every larger buffer's window <= 2 * limit. A caller whose output is a window
 * rather than the view (copy writes the dst window) names that view `outputView`: its window stays <= limit.
 */
export function planChunks(
  shape: readonly number[],
  views: readonly PlanView[],
  limit: number,
  outputView = -1,
  /** Per view: may it be addressed by rows (webgpu kernels with a rows variant; never the output view). */
  rowsOk: readonly boolean[] = [],
): ChunkPlan {
  // Input windows may be twice the cell limit: their offsets are sums of exact integer products below 2^24 (no
  // division), while thread ids (and an output window, which the kernel unravels with idiv) stay below the limit.
  const wl = (k: number) => (k === outputView ? limit : 2 * limit);
  let best: { d: number; r: number; cells: number } | null = null;
  for (let d = 0; d < MAX_DIMS; d++) {
    const inner = prod(shape.slice(d + 1));
    if (inner > limit) continue;
    let r = Math.min(shape[d]!, Math.floor(limit / inner));
    for (const [k, v] of views.entries()) {
      if (v.bufSize <= wl(k)) continue;
      // Rows addressing does not bound r (the row dim's extent is free); its column span shrinks with r.
      if (rowsOk[k] && k !== outputView && rowsDim(shape, v, d, r, wl(k)) >= 0) continue;
      let innerExt = 1;
      for (let j = d + 1; j < MAX_DIMS; j++) innerExt += (shape[j]! - 1) * v.strides[j]!;
      if (innerExt > wl(k)) {
        r = 0;
        break;
      }
      const sd = v.strides[d]!;
      if (sd > 0) r = Math.min(r, 1 + Math.floor((wl(k) - innerExt) / sd));
    }
    if (r >= 1 && (!best || r * inner > best.cells)) best = { d, r, cells: r * inner };
  }
  if (!best) throw new ShapeError(`chunk planner: no chunking of [${shape}] fits ${limit} cells`);
  const { d, r } = best;
  const local = shape.map((s, j) => (j < d ? 1 : j === d ? r : s));
  const rowDims = views.map((v, k) =>
    v.bufSize > wl(k) && rowsOk[k] && k !== outputView ? rowsDim(shape, v, d, r, wl(k)) : -1,
  );
  const windows = views.map((v, k) => {
    if (v.bufSize <= wl(k) || rowDims[k]! >= 0) return v.bufSize;
    let ext = 1;
    for (let j = d; j < MAX_DIMS; j++) ext += (local[j]! - 1) * v.strides[j]!;
    return ext;
  });
  const outStrides: number[] = new Array(MAX_DIMS).fill(1);
  for (let j = MAX_DIMS - 2; j >= 0; j--) outStrides[j] = outStrides[j + 1]! * shape[j + 1]!;
  const chunks: Chunk[] = [];
  const lead = shape.slice(0, d);
  const idx = new Array(d).fill(0);
  const nLead = prod(lead);
  for (let li = 0; li < nLead; li++) {
    for (let r0 = 0; r0 < shape[d]!; r0 += r) {
      const start = Math.min(r0, shape[d]! - r);
      let outStart = start * outStrides[d]!;
      for (let j = 0; j < d; j++) outStart += idx[j] * outStrides[j]!;
      const lows: number[] = [];
      const bases: number[] = [];
      const rowBases: number[] = [];
      views.forEach((v, k) => {
        let base = v.offset + start * v.strides[d]!;
        for (let j = 0; j < d; j++) base += idx[j] * v.strides[j]!;
        const m = rowDims[k]!;
        if (m >= 0) {
          // Exact on the host (doubles): base = row * width + column, column < width.
          const row = Math.floor(base / v.strides[m]!);
          lows.push(0);
          rowBases.push(row);
          bases.push(base - row * v.strides[m]!);
          return;
        }
        const low = v.bufSize <= wl(k) ? 0 : Math.min(base, v.bufSize - windows[k]!);
        lows.push(low);
        bases.push(base - low);
        rowBases.push(0);
      });
      chunks.push({ outStart, lows, bases, rowBases });
    }
    for (let j = d - 1; j >= 0; j--) {
      idx[j]++;
      if (idx[j] < lead[j]!) break;
      idx[j] = 0;
    }
  }
  return { local, strides: views.map((v) => v.strides), windows, cells: best.cells, chunks, shape, rowDims };
}

/** Uniform-length windows [start, start+len) covering [0, size); the last one is shifted back to end at size. */
export function linearChunks(size: number, limit: number): { starts: number[]; len: number } {
  const len = Math.min(size, limit);
  const starts: number[] = [];
  for (let s = 0; s < size; s += len) starts.push(Math.min(s, size - len));
  return { starts, len };
}

/** Window of `buf` starting at `low` of length `len` (the buffer itself when it is exactly that window). */
export function windowOf<A extends { readonly length: number; subarray(b: number, e: number): A }>(
  buf: A,
  low: number,
  len: number,
): A {
  return low === 0 && len === buf.length ? buf : buf.subarray(low, low + len);
}
