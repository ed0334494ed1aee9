/**
 * Reference elementwise kernels: unary maps, strided binary/where with broadcasting through 0 strides, strided
 * copy. Every loop walks the output in row-major order with an index odometer: simple, slow, obviously right.
 */

import type { BinaryOp, StridedView, UnaryOp } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';

export const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: (x) => Math.abs(x),
  exp: (x) => Math.exp(x),
  log: (x) => Math.log(x),
  sqrt: (x) => Math.sqrt(x),
  rsqrt: (x) => 1 / Math.sqrt(x),
  relu: (x) => (x > 0 ? x : 0),
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  tanh: (x) => Math.tanh(x),
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
};

export const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : a > b ? a : b),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

/**
 * Visit every index of `shape` in row-major order, calling fn(flatOut, offsets[]) with each view's element
 * offset. Views must have `shape.length` strides.
 */
export function forEachStrided(
  shape: readonly number[],
  views: readonly { strides: readonly number[]; offset: number }[],
  fn: (flat: number, offs: number[]) => void,
): void {
  const nd = shape.length;
  let total = 1;
  for (const s of shape) total *= s;
  if (total === 0) return;
  const idx = new Array<number>(nd).fill(0);
  const offs = views.map((v) => v.offset);
  for (let flat = 0; flat < total; flat++) {
    fn(flat, offs);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      for (let v = 0; v < views.length; v++) offs[v] += views[v].strides[d];
      if (idx[d] < shape[d]) break;
      for (let v = 0; v < views.length; v++) offs[v] -= views[v].strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

export function stridedCopy(src: TypedArray, sv: StridedView, dst: TypedArray, dv: StridedView): void {
  forEachStrided(sv.shape, [sv, dv], (_f, o) => {
    dst[o[1]] = src[o[0]];
  });
}
