/**
 * Reference elementwise kernels: unary maps, strided binary/where with broadcasting through 0 strides, strided
 * copy. Every loop walks the output in row-major order with an index odometer: simple, slow, obviously right.
 * The scalar functions are built from the op table's expressions (src/tensor/op-table.ts), the one place an
 * op's semantics is written; the strided JS loops inline the same strings, so both compute the same values.
 */

import type { BinaryOp, StridedView, UnaryOp } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import { BINARY_OPS, UNARY_OPS } from '../../op-table.js';

function build<K extends string, F>(
  table: { readonly [P in K]: { readonly js: string } },
  params: string[],
): { [P in K]: F } {
  const out = {} as { [P in K]: F };
  for (const k of Object.keys(table) as K[]) {
    out[k] = new Function(...params, `return ${table[k].js};`) as F;
  }
  return out;
}

/** op(x) for every unary op of the table. */
export const unaryFns: Record<UnaryOp, (x: number) => number> = build(UNARY_OPS, ['a']);

/** op(a, b) for every binary op of the table. */
export const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = build(BINARY_OPS, ['a', 'b']);

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
