/**
 * Building blocks of the Winograd transform kernels (./kernels-winograd.ts): the F(2x2,3x3) and F(4x4,3x3)
 * matrices (Lavin & Gray: points 0, +-1, infinity for F2; 0, +-1, +-2, infinity for F4) and emitters that apply a
 * constant matrix to f32x4 locals (zero terms skipped, +-1 as add/sub), so a transform is straight-line SIMD code.
 * Lane ops not in ./opcodes.ts are defined here (SIMD opcodes after the 0xfd prefix).
 */

import { add, divU, lit, mul, remU, shl } from './emit-expr.js';
import { type FnBuilder, Simd, V128 } from './module-builder.js';

/** SIMD lane memory ops (0xfd prefix): v128.load32_lane, v128.store32_lane, v128.any_true. */
export const LOAD32_LANE = 0x56;
export const STORE32_LANE = 0x5a;
export const ANY_TRUE = 0x53;

/** One Winograd variant: output tile m, input tile a = m + 2, and its three matrices (row-major). */
export interface WinoVariant {
  readonly m: 2 | 4;
  readonly a: number;
  /** a x a input transform B^T. */
  readonly BT: readonly (readonly number[])[];
  /** a x 3 weight transform G. */
  readonly G: readonly (readonly number[])[];
  /** m x a output transform A^T. */
  readonly AT: readonly (readonly number[])[];
}

export const F2: WinoVariant = {
  m: 2,
  a: 4,
  BT: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  G: [
    [1, 0, 0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

export const F4: WinoVariant = {
  m: 4,
  a: 6,
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  G: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

/** outs[i] = sum_j mat[i][j] * ins[j] on f32x4 locals (zero terms skipped, +-1 as add/sub). */
function applyConst(
  f: FnBuilder,
  mat: readonly (readonly number[])[],
  ins: readonly number[],
  outs: readonly number[],
) {
  mat.forEach((row, i) => {
    let first = true;
    row.forEach((c, j) => {
      if (c === 0) return;
      f.get(ins[j]!);
      if (Math.abs(c) !== 1) f.f32(Math.abs(c)).simd(Simd.f32x4Splat).simd(Simd.f32x4Mul);
      if (first) {
        if (c < 0) f.simd(Simd.f32x4Neg);
        first = false;
      } else f.simd(c < 0 ? Simd.f32x4Sub : Simd.f32x4Add);
    });
    if (first) f.f32(0).simd(Simd.f32x4Splat);
    f.set(outs[i]!);
  });
}

/** out (rows(L) x rows(R)) = L X R^T for X given as x[r][c] locals: columns through L, then rows through R. */
export function sandwich(
  f: FnBuilder,
  L: readonly (readonly number[])[],
  R: readonly (readonly number[])[],
  x: readonly (readonly number[])[],
  tmp: number[][],
  out: number[][],
) {
  const cols = x[0]!.length;
  for (let c = 0; c < cols; c++) {
    applyConst(
      f,
      L,
      x.map((row) => row[c]!),
      tmp.map((row) => row[c]!),
    );
  }
  for (let i = 0; i < L.length; i++) applyConst(f, R, tmp[i]!, out[i]!);
}

export const grid = (f: FnBuilder, rows: number, cols: number) =>
  Array.from({ length: rows }, () => f.localArray(V128, cols));

/** Store the a x a values of `vals` as f32x4 at ptr, ptr + stride, ... (t-planes; `ptr` is advanced). */
export function storePlanes(f: FnBuilder, vals: readonly (readonly number[])[], ptr: number, strideBytes: number) {
  const a = vals.length;
  for (let t = 0; t < a * a; t++) {
    f.get(ptr)
      .get(vals[Math.floor(t / a)]![t % a]!)
      .vstore(0);
    f.incBy(ptr, strideBytes);
  }
}

/** Byte address of tile tl's top-left in a scratch plane of `rowStride` floats: scr + (ty*m*rowStride + tx*m)*4. */
export const tileAt = (scr: number, tl: number, tw: number, rowStride: number, m: number) =>
  add(scr, shl(mul(add(mul(divU(tl, tw), rowStride), remU(tl, tw)), lit(m)), 2));
