/**
 * Elementwise kernels: unary over a contiguous buffer, binary and where over strided views (broadcast by 0 strides,
 * no copy). Views are collapsed and chunked by ../strided.ts; the kernels unravel the local index over exactly
 * MAX_DIMS (6) dims whose sizes (s0..s5) and per-view strides are constants; per-chunk base offsets are scalar args.
 * Unary and binary kernel sources are generated from the op table (src/tensor/op-table.ts): each op's expression
 * is inlined into its own kernel function (no op code, no if-chain, no default branch), so the semantics are the
 * reference's, evaluated in float32.
 * The local index unravels with the exact idiv (./index-math.ts), never a float `%` or division.
 */

import { BackendError } from '../../../../errors.js';
import type { BinaryOp, UnaryOp } from '../../../backend.js';
import { BINARY_OPS, UNARY_OPS } from '../../../op-table.js';
import { type Arr, assemble, type KernelFn, type OpGen, Rows } from '../op-gen.js';
import { type Chunk, type ChunkPlan, collapse, linearChunks, type PlanView, planChunks, windowOf } from '../strided.js';
import { exactIndexSource } from './index-math.js';
import { gpuBinaryExpr, gpuUnaryExpr } from './nonfinite.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

/** `this.thread.x` unravelled over the 6 local dims (sizes s0..s5) into i0..i5 with the exact idiv. */
const UNRAVEL = `
  const t5 = this.thread.x;
  const t4 = idiv(t5, this.constants.s5);
  const i5 = t5 - t4 * this.constants.s5;
  const t3 = idiv(t4, this.constants.s4);
  const i4 = t4 - t3 * this.constants.s4;
  const t2 = idiv(t3, this.constants.s3);
  const i3 = t3 - t2 * this.constants.s3;
  const t1 = idiv(t2, this.constants.s2);
  const i2 = t2 - t1 * this.constants.s2;
  const i0 = idiv(t1, this.constants.s1);
  const i1 = t1 - i0 * this.constants.s1;`;

/** The element offset of view `p` (strides p0..p5 constants, base offset argument `pBase`). */
const offsetOf = (p: string) =>
  `${p}Base + ${[0, 1, 2, 3, 4, 5].map((j) => `i${j} * this.constants.${p}${j}`).join(' + ')}`;

/**
 * The element of rows-bound view `p` (array `A`): row `pY + sum i_j * py_j`, column `pX + sum i_j * px_j` (the row
 * dim's stride moves to py, the others stay in px; see ../strided.ts `ChunkPlan.rowDims`).
 */
const rowsRead = (arr: string, p: string) => {
  const sum = (c: string) => [0, 1, 2, 3, 4, 5].map((j) => `i${j} * this.constants.${p}${c}${j}`).join(' + ');
  return `${arr}[${p}Y + ${sum('y')}][${p}X + ${sum('x')}]`;
};

/**
 * Kernel source generated from the op table, one compiled function per op (the op's expression inlined over
 * `a` and `b`, the operands read from arrays A and B). Every op of the table has one: the maps are total.
 * Expressions pass through ./nonfinite.ts (exact NaN / ±Infinity on webgpu): the last argument, `inf`, is
 * +Infinity at run time.
 */
export const UNARY_KERNELS: { readonly [K in UnaryOp]: KernelFn } = mapOps(
  UNARY_OPS,
  (d, op) => new Function('A', 'inf', `const a = A[this.thread.x];\n  return ${gpuUnaryExpr(op, d.js)};`) as KernelFn,
);

export const BINARY_KERNELS: { readonly [K in BinaryOp]: KernelFn } = mapOps(
  BINARY_OPS,
  (d, op) =>
    new Function(
      'A',
      'B',
      'aBase',
      'bBase',
      'inf',
      `${UNRAVEL}\n  const a = A[${offsetOf('a')}];\n  const b = B[${offsetOf('b')}];\n  return ${gpuBinaryExpr(op, d.js)};`,
    ) as KernelFn,
);

/** BINARY_KERNELS with both operands bound as rows (webgpu, a view above the window limit). */
export const BINARY_ROWS_KERNELS: { readonly [K in BinaryOp]: KernelFn } = mapOps(
  BINARY_OPS,
  (d, op) =>
    new Function(
      'A',
      'B',
      'aY',
      'aX',
      'bY',
      'bX',
      'inf',
      `${UNRAVEL}\n  const a = ${rowsRead('A', 'a')};\n  const b = ${rowsRead('B', 'b')};\n  return ${gpuBinaryExpr(op, d.js)};`,
    ) as KernelFn,
);

function mapOps<K extends string, D>(
  table: { readonly [P in K]: D },
  f: (d: D, k: K) => KernelFn,
): { [P in K]: KernelFn } {
  const out = {} as { [P in K]: KernelFn };
  for (const k of Object.keys(table) as K[]) out[k] = f(table[k], k);
  return out;
}

/** out = cond != 0 ? a : b (a NaN cond picks a, as in the reference). */
export function whereKernel(
  this: KThis,
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  cBase: number,
  aBase: number,
  bBase: number,
): number {
  const t5 = this.thread.x;
  const t4 = idiv(t5, this.constants.s5!);
  const i5 = t5 - t4 * this.constants.s5!;
  const t3 = idiv(t4, this.constants.s4!);
  const i4 = t4 - t3 * this.constants.s4!;
  const t2 = idiv(t3, this.constants.s3!);
  const i3 = t3 - t2 * this.constants.s3!;
  const t1 = idiv(t2, this.constants.s2!);
  const i2 = t2 - t1 * this.constants.s2!;
  const i0 = idiv(t1, this.constants.s1!);
  const i1 = t1 - i0 * this.constants.s1!;
  const ic =
    cBase +
    i0 * this.constants.c0! +
    i1 * this.constants.c1! +
    i2 * this.constants.c2! +
    i3 * this.constants.c3! +
    i4 * this.constants.c4! +
    i5 * this.constants.c5!;
  // cond NaN selects a, as `cond != 0` does in JS; WGSL's != is an ordered compare (false for NaN), == is not.
  if (c[ic] === 0) {
    return b[
      bBase +
        i0 * this.constants.b0! +
        i1 * this.constants.b1! +
        i2 * this.constants.b2! +
        i3 * this.constants.b3! +
        i4 * this.constants.b4! +
        i5 * this.constants.b5!
    ]!;
  }
  return a[
    aBase +
      i0 * this.constants.a0! +
      i1 * this.constants.a1! +
      i2 * this.constants.a2! +
      i3 * this.constants.a3! +
      i4 * this.constants.a4! +
      i5 * this.constants.a5!
  ]!;
}

/** Constants s0..s5 for a local shape and `<p>0..<p>5` for each prefix/stride pair. */
export function shapeConstants(
  local: readonly number[],
  named: readonly [string, readonly number[]][],
): Record<string, number> {
  const c: Record<string, number> = {};
  local.forEach((s, j) => {
    c[`s${j}`] = s;
  });
  for (const [p, strides] of named) {
    strides.forEach((s, j) => {
      c[`${p}${j}`] = s;
    });
  }
  return c;
}

/** out = op(a) over a contiguous buffer, in uniform windows of at most `limit`. */
export function* unaryOp(op: UnaryOp, a: Arr, limit: number): OpGen<Arr> {
  const { starts, len } = linearChunks(a.length, limit);
  const spec = { name: `unary.${op}`, fn: UNARY_KERNELS[op], constants: {}, output: len };
  const pieces: { src: Arr; at: number }[] = [];
  for (const s of starts) {
    const r = yield { spec, args: [windowOf(a, s, len), Number.POSITIVE_INFINITY] };
    if (starts.length === 1) return r;
    pieces.push({ src: r, at: s });
  }
  return yield* assemble(a.length, pieces);
}

/** A strided view of resolved data: the planning form plus the data itself. */
export interface DataView {
  readonly data: Arr;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Plan an elementwise op over `shape` with the given input views (`rows`: views may be addressed by rows). */
export function planElementwise(
  op: string,
  shape: readonly number[],
  views: readonly DataView[],
  limit: number,
  rows = false,
) {
  const pv: PlanView[] = views.map((v) => ({ strides: v.strides, offset: v.offset, bufSize: v.data.length }));
  const c = collapse(op, shape, pv);
  return planChunks(
    c.shape,
    c.views,
    limit,
    -1,
    views.map(() => rows),
  );
}

/**
 * Constants `<p>y0..5` / `<p>x0..5` of each view of a rows kernel: a rows-addressed view's row dim counts rows
 * (coefficient 1 in y), its other dims elements (x); a windowed view is one row (all in x). A null prefix: none.
 */
export function rowsConstants(plan: ChunkPlan, prefixes: readonly (string | null)[]): Record<string, number> {
  const c: Record<string, number> = {};
  prefixes.forEach((p, k) => {
    if (p === null) return;
    const m = plan.rowDims[k]!;
    plan.strides[k]!.forEach((st, j) => {
      c[`${p}y${j}`] = j === m ? 1 : 0;
      c[`${p}x${j}`] = j === m ? 0 : st;
    });
  });
  return c;
}

/** The launch arguments of one chunk: windows (and their bases), or, for a rows plan, rows and (row, column) bases. */
export function chunkArgs(plan: ChunkPlan, ch: Chunk, datas: readonly Arr[]): (Arr | Rows | number)[] {
  const wins = datas.map((d, k) => windowOf(d, ch.lows[k]!, plan.windows[k]!));
  if (!plan.rowDims.some((m) => m >= 0)) return [...wins, ...ch.bases];
  const rows = wins.map((w, k) => {
    const m = plan.rowDims[k]!;
    return new Rows(w, m >= 0 ? plan.strides[k]![m]! : Math.max(1, w.length));
  });
  return [...rows, ...ch.bases.flatMap((b, k) => [ch.rowBases[k]!, b])];
}

/**
 * Run a planned elementwise kernel and assemble the contiguous output. A plan with a rows-addressed view runs
 * `rowsFn` (every view bound as rows; ../strided.ts `ChunkPlan.rowDims`), which the caller then must supply.
 */
export function* runPlanned(
  name: string,
  fn: KernelFn,
  plan: ChunkPlan,
  views: readonly DataView[],
  prefixes: readonly string[],
  extra: Record<string, number>,
  total: number,
  /** Scalar arguments after the views' base offsets (binary: `inf`, see ./nonfinite.ts). */
  scalars: readonly number[] = [],
  rowsFn: KernelFn | null = null,
): OpGen<Arr> {
  const rows = plan.rowDims.some((m) => m >= 0);
  if (rows && !rowsFn) throw new BackendError(`gpujs ${name}: planned with rows but has no rows kernel`);
  const constants = {
    ...shapeConstants(plan.local, rows ? [] : prefixes.map((p, k) => [p, plan.strides[k]!] as [string, number[]])),
    ...(rows ? rowsConstants(plan, prefixes) : {}),
    ...extra,
  };
  const spec = {
    name: rows ? `${name}.rows` : name,
    fn: exactIndexSource(rows ? rowsFn! : fn),
    constants,
    output: plan.cells,
  };
  const datas = views.map((v) => v.data);
  if (plan.chunks.length === 1 && plan.cells === total) {
    return yield { spec, args: [...chunkArgs(plan, plan.chunks[0]!, datas), ...scalars] };
  }
  const pieces: { src: Arr; at: number }[] = [];
  for (const ch of plan.chunks) {
    const r = yield { spec, args: [...chunkArgs(plan, ch, datas), ...scalars] };
    pieces.push({ src: r, at: ch.outStart });
  }
  return yield* assemble(total, pieces);
}

/** out = op(a, b) over `shape` (strided, broadcasting views). */
export function* binaryOp(
  op: BinaryOp,
  a: DataView,
  b: DataView,
  shape: readonly number[],
  limit: number,
  /** Operands above the window limit may be addressed by rows (webgpu): no split beyond the output's. */
  rows = false,
): OpGen<Arr> {
  const total = shape.reduce((x, y) => x * y, 1);
  const plan = planElementwise(`binary ${op}`, shape, [a, b], limit, rows);
  const inf = [Number.POSITIVE_INFINITY];
  const rk = BINARY_ROWS_KERNELS[op];
  return yield* runPlanned(`binary.${op}`, BINARY_KERNELS[op], plan, [a, b], ['a', 'b'], {}, total, inf, rk);
}

/** out = cond != 0 ? a : b over `shape` (strided views). */
export function* whereOp(
  cond: DataView,
  a: DataView,
  b: DataView,
  shape: readonly number[],
  limit: number,
): OpGen<Arr> {
  const total = shape.reduce((x, y) => x * y, 1);
  const plan = planElementwise('where', shape, [cond, a, b], limit);
  return yield* runPlanned('where', whereKernel, plan, [cond, a, b], ['c', 'a', 'b'], {}, total);
}
