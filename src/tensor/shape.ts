/**
 * Shape arithmetic: sizes, contiguous strides, broadcasting (NumPy rules, trailing alignment) and axis
 * normalization. Pure functions, no tensors. Every failure is a ShapeError/IndexError naming the op.
 */

import { IndexError, ShapeError } from '../errors.js';

export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar shape []). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides of a contiguous tensor of `shape`. */
export function contiguousStrides(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

/** True when (shape, strides) describe a dense row-major layout (size-1 dims may have any stride). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== acc) return false;
    acc *= shape[i];
  }
  return true;
}

/** Broadcast two shapes (NumPy rules). */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const nd = Math.max(a.length, b.length);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const da = a[a.length - nd + i] ?? 1;
    const db = b[b.length - nd + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes [${a}] and [${b}] do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of (shape, strides) broadcast to `target` (0 strides on broadcast dims). */
export function broadcastStrides(op: string, shape: Shape, strides: readonly number[], target: Shape): number[] {
  const nd = target.length;
  if (shape.length > nd) throw new ShapeError(`${op}: cannot broadcast [${shape}] to [${target}]`);
  const out = new Array<number>(nd).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const t = nd - shape.length + i;
    if (shape[i] === target[t]) out[t] = strides[i];
    else if (shape[i] === 1) out[t] = 0;
    else throw new ShapeError(`${op}: cannot broadcast [${shape}] to [${target}]`);
  }
  return out;
}

/** Normalize a possibly negative axis into [0, ndim). */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) {
    throw new IndexError(`${op}: axis ${axis} out of range for a tensor of ${ndim} dims`);
  }
  return a;
}

/** Normalize a list of axes (undefined = all), sorted and unique. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, ndim)))].sort((x, y) => x - y);
  if (out.length !== list.length) throw new IndexError(`${op}: repeated axis in [${list}]`);
  return out;
}

/** Resolve a reshape target with at most one -1. */
export function resolveShape(op: string, from: Shape, to: readonly number[]): number[] {
  const total = sizeOf(from);
  const neg = to.filter((d) => d === -1).length;
  if (neg > 1) throw new ShapeError(`${op}: more than one -1 in [${to}]`);
  for (const d of to) {
    if (d !== -1 && (!Number.isInteger(d) || d < 0)) throw new ShapeError(`${op}: bad dimension ${d} in [${to}]`);
  }
  const known = to.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
  if (sizeOf(out) !== total || !out.every(Number.isInteger)) {
    throw new ShapeError(`${op}: cannot reshape [${from}] (${total} elements) to [${to}]`);
  }
  return out;
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
