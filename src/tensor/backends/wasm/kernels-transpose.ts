/**
 * Register transposes for the packers: panels want P consecutive s-values per d step, but for "transposed"
 * sources (grad-weight's im2col^T and dY, matmul with transA/transB) memory is contiguous along d. The packers
 * load one f32x4 per s-value covering 4 consecutive d, then these helpers transpose groups of four such vectors
 * (i8x16.shuffle in unpack patterns, which V8 lowers to unpcklps/unpckhps/punpck[lh]qdq) and store the 4 rows.
 * Pure data movement: packed values are the same bits the scalar paths write.
 */

import { type FnBuilder, Simd, V128 } from './module-builder.js';

/** Byte indices of an i8x16.shuffle taking f32 lanes `lanes` (0-3 from the first operand, 4-7 from the second). */
export function lanes32(...lanes: number[]): number[] {
  return lanes.flatMap((l) => [l * 4, l * 4 + 1, l * 4 + 2, l * 4 + 3]);
}

const LO = lanes32(0, 4, 1, 5);
const HI = lanes32(2, 6, 3, 7);
const LO64 = lanes32(0, 1, 4, 5);
const HI64 = lanes32(2, 3, 6, 7);

/** Scratch locals for {@link transposeStore} (allocate once per function). */
export function transposeLocals(f: FnBuilder): number[] {
  return f.localArray(V128, 4);
}

/**
 * vecs[q] (q < P, P = 4 or 8) holds lanes (s = q, d = 0..3). Store row d (P floats: vecs[0][d] .. vecs[P-1][d])
 * at dst + d*rowBytes + offset, for d = 0..3. `dst` is an i32 local (bytes).
 */
export function transposeStore(
  f: FnBuilder,
  vecs: readonly number[],
  tmp: readonly number[],
  dst: number,
  rowBytes: number,
): void {
  for (let h = 0; h < vecs.length / 4; h++) {
    const [a, b, c, d] = vecs.slice(h * 4, h * 4 + 4) as [number, number, number, number];
    const [t0, t1, t2, t3] = tmp as [number, number, number, number];
    f.get(a)
      .get(b)
      .simd(Simd.shuffle, ...LO)
      .set(t0);
    f.get(a)
      .get(b)
      .simd(Simd.shuffle, ...HI)
      .set(t1);
    f.get(c)
      .get(d)
      .simd(Simd.shuffle, ...LO)
      .set(t2);
    f.get(c)
      .get(d)
      .simd(Simd.shuffle, ...HI)
      .set(t3);
    const rows: [number, number, number[]][] = [
      [t0, t2, LO64],
      [t0, t2, HI64],
      [t1, t3, LO64],
      [t1, t3, HI64],
    ];
    rows.forEach(([x, y, sh], r) => {
      f.get(dst);
      f.get(x)
        .get(y)
        .simd(Simd.shuffle, ...sh);
      f.vstore(r * rowBytes + h * 16);
    });
  }
}

/** Declare P v128 locals for the loaded vectors. */
export function vecLocals(f: FnBuilder, P: number): number[] {
  return f.localArray(V128, P);
}
