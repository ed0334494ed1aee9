/**
 * Movement kernels: strided copy into a strided destination (in place), fill, and the float32 identity cast.
 *
 * copy: the kernel's output is the destination WINDOW, not the view: each dst cell decomposes its offset greedily
 * over the dst strides (dims sorted by descending dst stride), and takes the src element when it lies in the view,
 * its old value otherwise. That needs a "nested" dst view (each stride larger than the span of the smaller ones:
 * slices, permutations of contiguous tensors); an overlapping or non-decomposable dst throws ShapeError.
 * The decomposition uses the exact idiv (./index-math.ts), never a float division assumed exact.
 */

import { ShapeError } from '../../../../errors.js';
import type { StridedView } from '../../../backend.js';
import { type Arr, assemble, type KernelFn, type OpGen, Rows } from '../op-gen.js';
import { checkView, collapse, linearChunks, MAX_DIMS, type PlanView, planChunks, windowOf } from '../strided.js';
import { rowsConstants, shapeConstants } from './elementwise.js';
import { exactIndexSource } from './index-math.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

/**
 * The copy kernel body: decompose the dst window offset (greedy over the dst strides d0..d5), keep the old dst value
 * outside the view, else return `read` (the src element at view index i0..i5). Both copy kernels share it.
 */
const copyBody = (read: string) => `
  const rel = this.thread.x - dBase;
  if (rel < 0) return dst[this.thread.x];
  const i0 = idiv(rel, this.constants.d0);
  const r0 = rel - i0 * this.constants.d0;
  const i1 = idiv(r0, this.constants.d1);
  const r1 = r0 - i1 * this.constants.d1;
  const i2 = idiv(r1, this.constants.d2);
  const r2 = r1 - i2 * this.constants.d2;
  const i3 = idiv(r2, this.constants.d3);
  const r3 = r2 - i3 * this.constants.d3;
  const i4 = idiv(r3, this.constants.d4);
  const r4 = r3 - i4 * this.constants.d4;
  const i5 = idiv(r4, this.constants.d5);
  const r = r4 - i5 * this.constants.d5;
  if (
    r !== 0 ||
    i0 >= this.constants.s0 ||
    i1 >= this.constants.s1 ||
    i2 >= this.constants.s2 ||
    i3 >= this.constants.s3 ||
    i4 >= this.constants.s4 ||
    i5 >= this.constants.s5
  ) {
    return dst[this.thread.x];
  }
  return ${read};`;

/** `sum over j of i_j * this.constants.<p>j`. */
const dot = (p: string) => [0, 1, 2, 3, 4, 5].map((j) => `i${j} * this.constants.${p}${j}`).join(' + ');

/** dst window cell <- src[sBase + view offset] (src strides a0..a5). */
export const copyKernel = new Function(
  'dst',
  'src',
  'dBase',
  'sBase',
  copyBody(`src[sBase + ${dot('a')}]`),
) as KernelFn;

/** copyKernel with the src bound as rows (../strided.ts `ChunkPlan.rowDims`): row sY + .., column sX + ... */
export const copyRowsKernel = new Function(
  'dst',
  'src',
  'dBase',
  'sY',
  'sX',
  copyBody(`src[sY + ${dot('ay')}][sX + ${dot('ax')}]`),
) as KernelFn;

export function fillKernel(this: KThis, v: number): number {
  return v + this.thread.x * 0;
}

export function identityKernel(this: KThis, a: Float32Array): number {
  return a[this.thread.x]!;
}

/** Stride used for size-1 local dims in the greedy decomposition: larger than any window, exact in f32. */
const HUGE_STRIDE = 2 ** 30;

/** dst[dstView(i)] = src[srcView(i)]: returns the new contents of the whole dst buffer (`dstData` is not mutated). */
export function* copyOp(
  src: Arr,
  sv: Omit<StridedView, 'buf'>,
  dstData: Arr,
  dv: Omit<StridedView, 'buf'>,
  limit: number,
  /** A src above the window limit may be addressed by rows (webgpu): no split beyond the dst windows'. */
  rows = false,
): OpGen<Arr> {
  const shape = sv.shape;
  if (dv.shape.length !== shape.length || dv.shape.some((s, i) => s !== shape[i])) {
    throw new ShapeError(`copy: src shape [${shape}] != dst shape [${dv.shape}]`);
  }
  const views: PlanView[] = [
    { strides: dv.strides, offset: dv.offset, bufSize: dstData.length },
    { strides: sv.strides, offset: sv.offset, bufSize: src.length },
  ];
  checkView('copy dst', shape, views[0]!);
  checkView('copy src', shape, views[1]!);
  if (shape.reduce((a, b) => a * b, 1) === 0) return dstData;
  // Sort dims by descending dst stride (stable), so the dst decomposition is greedy.
  const order = shape.map((_, i) => i).sort((x, y) => dv.strides[y]! - dv.strides[x]! || x - y);
  const pshape = order.map((i) => shape[i]!);
  const pviews = views.map((v) => ({ ...v, strides: order.map((i) => v.strides[i]!) }));
  const c = collapse('copy', pshape, pviews);
  // Nested check: every dst stride exceeds the span of the dims after it (non-overlapping, decomposable).
  let span = 0;
  for (let j = MAX_DIMS - 1; j >= 0; j--) {
    const s = c.shape[j]!;
    if (s === 1) continue;
    const st = c.views[0]!.strides[j]!;
    if (st < span + 1) {
      throw new ShapeError(`copy: dst view (shape [${shape}], strides [${dv.strides}]) overlaps or is not nested`);
    }
    span += (s - 1) * st;
  }
  const plan = planChunks(c.shape, c.views, limit, 0, [false, rows]);
  const dstStrides = plan.strides[0]!.map((st, j) => (plan.local[j] === 1 ? HUGE_STRIDE : st));
  const byRows = plan.rowDims[1]! >= 0;
  const constants = {
    ...shapeConstants(plan.local, [
      ['d', dstStrides],
      ...(byRows ? [] : [['a', plan.strides[1]!] as [string, readonly number[]]]),
    ]),
    ...(byRows ? rowsConstants(plan, [null, 'a']) : {}),
  };
  const spec = {
    name: byRows ? 'copy.rows' : 'copy',
    fn: exactIndexSource(byRows ? copyRowsKernel : copyKernel),
    constants,
    output: plan.windows[0]!,
  };
  const pieces: { src: Arr; at: number }[] = [];
  for (const ch of plan.chunks) {
    // Each chunk reads the dst as it was before the copy, so its piece starts at its first view cell (a window
    // shifted back to fit the buffer holds earlier chunks' cells, stale here); pieces are written in chunk order.
    const dw = windowOf(dstData, ch.lows[0]!, plan.windows[0]!);
    const sw = windowOf(src, ch.lows[1]!, plan.windows[1]!);
    const r = yield {
      spec,
      args: byRows
        ? [dw, new Rows(sw, plan.strides[1]![plan.rowDims[1]!]!), ch.bases[0]!, ch.rowBases[1]!, ch.bases[1]!]
        : [dw, sw, ch.bases[0]!, ch.bases[1]!],
    };
    if (plan.chunks.length === 1 && r.length === dstData.length) return r;
    pieces.push({ src: r.subarray(ch.bases[0]!, r.length), at: ch.lows[0]! + ch.bases[0]! });
  }
  return yield* assemble(dstData.length, pieces, dstData);
}

/** A new array of `size` elements all equal to `value`. */
export function* fillOp(size: number, value: number, limit: number): OpGen<Arr> {
  const { starts, len } = linearChunks(size, limit);
  const spec = { name: 'fill', fn: fillKernel, constants: {}, output: len };
  if (starts.length === 1) return yield { spec, args: [value] };
  const pieces: { src: Arr; at: number }[] = [];
  for (const s of starts) pieces.push({ src: yield { spec, args: [value] }, at: s });
  return yield* assemble(size, pieces);
}

/** A kernel-made copy of `a` (float32 -> float32 cast). */
export function* identityOp(a: Arr, limit: number): OpGen<Arr> {
  const { starts, len } = linearChunks(a.length, limit);
  const spec = { name: 'identity', fn: identityKernel, constants: {}, output: len };
  if (starts.length === 1) return yield { spec, args: [a] };
  const pieces: { src: Arr; at: number }[] = [];
  for (const s of starts) pieces.push({ src: yield { spec, args: [windowOf(a, s, len)] }, at: s });
  return yield* assemble(a.length, pieces);
}
