/**
 * Winograd grad-weight kernels (F(2x2,3x3) and F(4x4,3x3); ./winograd-grad-weight.ts runs them around the
 * per-position GEMMs):
 * - `wino{m}Dy`: Z[t][co][tile] = (A dY A^T)[t] for the m x m tile dY of each dy plane (zeros past the output
 *   map), the adjoint of the output transform; the same tile-gathering kernel as the input transform
 *   (./kernels-winograd.ts `emitTileTransform`, patch m, no border, A = (A^T)^T).
 * - `wino{m}GW`: dw[q] = G^T M[.][q] G (3 x 3) for filters q = (co, ci) in [q0, q1), four filters per f32x4 (lanes
 *   = filters, read as one v128 from each of the a*a planes of M, `qp` floats apart, qp a multiple of 4 whose
 *   padding the caller zeroes), lanes scattered to dw [q][3][3] (lanes past qn not stored). It folds v*0 of every
 *   stored value into an accumulator and stores 1.0 at `flag` when one is non-finite, so the caller can redo the
 *   call on the GEMM path.
 * Every value is computed by the same expression in the same order whatever the thread count.
 */

import { add, lit, ltS, mul, shl } from './emit-expr.js';
import { emitTileTransform } from './kernels-winograd.js';
import { I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';
import { ANY_TRUE, F2, F4, grid, STORE32_LANE, sandwich, type WinoVariant } from './winograd-emit.js';

const transpose = (mat: readonly (readonly number[])[]) => mat[0]!.map((_, j) => mat.map((row) => row[j]!));

/** Adds the grad-weight kernels (dy transform and inverse weight transform, F2 and F4) to `m`. */
export function emitWinogradGradWeightKernels(m: ModuleBuilder): void {
  for (const v of [F2, F4]) {
    emitTileTransform(m, `wino${v.m}Dy`, v, { patch: v.m, off: 0, mat: transpose(v.AT) });
    emitInverseWeight(m, v);
  }
}

function emitInverseWeight(m: ModuleBuilder, v: WinoVariant): void {
  const a = v.a;
  const GT = transpose(v.G);
  const params = { mb: I32, dw: I32, q0: I32, q1: I32, qn: I32, qp: I32, flag: I32 } as const;
  m.kernel(`wino${v.m}GW`, params, (f, { mb, dw, q0, q1, qn, qp, flag }) => {
    const { q, src, dst, tb } = f.locals({ q: I32, src: I32, dst: I32, tb: I32 });
    const { acc } = f.locals({ acc: V128 });
    const mm = grid(f, a, a);
    const tmp = grid(f, 3, a);
    const out = grid(f, 3, 3);
    f.assign(tb, shl(qp, 2));
    f.f32(0).simd(Simd.f32x4Splat).set(acc);
    f.for(
      q,
      () => f.get(q0),
      () => f.get(q1),
      4,
      () => {
        f.assign(src, add(mb, shl(q, 2)));
        for (let t = 0; t < a * a; t++) {
          f.get(src)
            .vload(0)
            .set(mm[Math.floor(t / a)]![t % a]!);
          if (t < a * a - 1) f.incBy(src, tb);
        }
        sandwich(f, GT, GT, mm, tmp, out);
        for (let k = 0; k < 9; k++) {
          // lanes past qn hold the zeroed padding's transform (0), so the fold sees only real values
          f.get(out[Math.floor(k / 3)]![k % 3]!)
            .f32(0)
            .simd(Simd.f32x4Splat)
            .simd(Simd.f32x4Mul)
            .get(acc)
            .simd(Simd.f32x4Add)
            .set(acc);
        }
        for (let l = 0; l < 4; l++) {
          f.push(ltS(add(q, lit(l)), qn)).if(() => {
            // lane l is filter q + l: 9 floats at dw + (q + l)*36 (immediate offsets stay one LEB byte)
            f.assign(dst, add(dw, mul(add(q, lit(l)), lit(36))));
            for (let k = 0; k < 9; k++) {
              f.get(dst)
                .get(out[Math.floor(k / 3)]![k % 3]!)
                .simd(STORE32_LANE, 2, k * 4, l);
            }
          });
        }
      },
    );
    f.get(acc).get(acc).simd(Simd.f32x4Ne).simd(ANY_TRUE);
    f.if(() => {
      f.get(flag).f32(1).mem(Op.f32Store);
    });
  });
}
