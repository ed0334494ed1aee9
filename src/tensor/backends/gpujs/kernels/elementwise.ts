/**
 * Elementwise kernels: unary over a contiguous buffer, binary and where over strided views (broadcast by 0 strides,
 * no copy). Views are collapsed and chunked by ../strided.ts; the kernels unravel the local index over exactly
 * MAX_DIMS (6) dims whose sizes (s0..s5) and per-view strides are constants; per-chunk base offsets are scalar args.
 * The op is a constant code, so each op gets its own compiled kernel. Semantics follow JS/PyTorch float32.
 * The local index unravels with the exact idiv (./index-math.ts), never a float `%` or division.
 */

import type { BinaryOp, UnaryOp } from '../../../backend.js';
import type { KernelFn, OpGen } from '../context.js';
import { type ChunkPlan, collapse, linearChunks, type PlanView, planChunks, windowOf } from '../strided.js';
import { INDEX_FUNCTIONS } from './index-math.js';
import type { KThis } from './types.js';

/** Compiled with the kernel from INDEX_FUNCTIONS (./index-math.ts); erased here, see there. */
declare function idiv(a: number, b: number): number;

export const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0,
  abs: 1,
  exp: 2,
  log: 3,
  sqrt: 4,
  rsqrt: 5,
  relu: 6,
  sigmoid: 7,
  tanh: 8,
  sign: 9,
  square: 10,
  reciprocal: 11,
};

export const BINARY_CODES: Record<BinaryOp, number> = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  pow: 4,
  maximum: 5,
  minimum: 6,
  eq: 7,
  ne: 8,
  lt: 9,
  le: 10,
  gt: 11,
  ge: 12,
};

export function unaryKernel(this: KThis, a: Float32Array): number {
  const x = a[this.thread.x]!;
  const op = this.constants.op!;
  if (op === 0) return -x;
  if (op === 1) return Math.abs(x);
  if (op === 2) return Math.exp(x);
  if (op === 3) return Math.log(x);
  if (op === 4) return Math.sqrt(x);
  if (op === 5) return 1 / Math.sqrt(x);
  if (op === 6) return x > 0 ? x : 0;
  if (op === 7) return 1 / (1 + Math.exp(-x));
  if (op === 8) return Math.tanh(x);
  if (op === 9) return Math.sign(x);
  if (op === 10) return x * x;
  return 1 / x;
}

export function binaryKernel(this: KThis, a: Float32Array, b: Float32Array, aBase: number, bBase: number): number {
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
  const ia =
    aBase +
    i0 * this.constants.a0! +
    i1 * this.constants.a1! +
    i2 * this.constants.a2! +
    i3 * this.constants.a3! +
    i4 * this.constants.a4! +
    i5 * this.constants.a5!;
  const ib =
    bBase +
    i0 * this.constants.b0! +
    i1 * this.constants.b1! +
    i2 * this.constants.b2! +
    i3 * this.constants.b3! +
    i4 * this.constants.b4! +
    i5 * this.constants.b5!;
  const x = a[ia]!;
  const y = b[ib]!;
  const op = this.constants.op!;
  if (op === 0) return x + y;
  if (op === 1) return x - y;
  if (op === 2) return x * y;
  if (op === 3) return x / y;
  if (op === 4) return x ** y;
  if (op === 5) return x > y ? x : y;
  if (op === 6) return x < y ? x : y;
  if (op === 7) return x === y ? 1 : 0;
  if (op === 8) return x !== y ? 1 : 0;
  if (op === 9) return x < y ? 1 : 0;
  if (op === 10) return x <= y ? 1 : 0;
  if (op === 11) return x > y ? 1 : 0;
  return x >= y ? 1 : 0;
}

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
  if (c[ic] !== 0) {
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
export function* unaryOp(op: UnaryOp, a: Float32Array, limit: number): OpGen<Float32Array> {
  const out = new Float32Array(a.length);
  const { starts, len } = linearChunks(a.length, limit);
  const spec = { name: 'unary', fn: unaryKernel, constants: { op: UNARY_CODES[op] }, output: len };
  for (const s of starts) {
    const r = yield { spec, args: [windowOf(a, s, len)] };
    if (starts.length === 1) return r;
    out.set(r, s);
  }
  return out;
}

/** A strided view of resolved data: the planning form plus the data itself. */
export interface DataView {
  readonly data: Float32Array;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Plan an elementwise op over `shape` with the given input views. */
export function planElementwise(op: string, shape: readonly number[], views: readonly DataView[], limit: number) {
  const pv: PlanView[] = views.map((v) => ({ strides: v.strides, offset: v.offset, bufSize: v.data.length }));
  const c = collapse(op, shape, pv);
  return planChunks(c.shape, c.views, limit);
}

/** Run a planned elementwise kernel and assemble the contiguous output. */
export function* runPlanned(
  name: string,
  fn: KernelFn,
  plan: ChunkPlan,
  views: readonly DataView[],
  prefixes: readonly string[],
  extra: Record<string, number>,
  total: number,
): OpGen<Float32Array> {
  const constants = {
    ...shapeConstants(
      plan.local,
      prefixes.map((p, k) => [p, plan.strides[k]!] as [string, readonly number[]]),
    ),
    ...extra,
  };
  const spec = { name, fn, functions: INDEX_FUNCTIONS, constants, output: plan.cells };
  if (plan.chunks.length === 1 && plan.cells === total) {
    const ch = plan.chunks[0]!;
    return yield {
      spec,
      args: [...views.map((v, k) => windowOf(v.data, ch.lows[k]!, plan.windows[k]!)), ...ch.bases],
    };
  }
  const out = new Float32Array(total);
  for (const ch of plan.chunks) {
    const r = yield {
      spec,
      args: [...views.map((v, k) => windowOf(v.data, ch.lows[k]!, plan.windows[k]!)), ...ch.bases],
    };
    out.set(r, ch.outStart);
  }
  return out;
}

/** out = op(a, b) over `shape` (strided, broadcasting views). */
export function* binaryOp(
  op: BinaryOp,
  a: DataView,
  b: DataView,
  shape: readonly number[],
  limit: number,
): OpGen<Float32Array> {
  const total = shape.reduce((x, y) => x * y, 1);
  const plan = planElementwise(`binary ${op}`, shape, [a, b], limit);
  return yield* runPlanned('binary', binaryKernel, plan, [a, b], ['a', 'b'], { op: BINARY_CODES[op] }, total);
}

/** out = cond != 0 ? a : b over `shape` (strided views). */
export function* whereOp(
  cond: DataView,
  a: DataView,
  b: DataView,
  shape: readonly number[],
  limit: number,
): OpGen<Float32Array> {
  const total = shape.reduce((x, y) => x * y, 1);
  const plan = planElementwise('where', shape, [cond, a, b], limit);
  return yield* runPlanned('where', whereKernel, plan, [cond, a, b], ['c', 'a', 'b'], {}, total);
}
