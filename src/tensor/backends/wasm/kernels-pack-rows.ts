/**
 * The R-row strip packers of the 5x8 GEMM kernels (./kernels-gemm-rows.ts): A packed as strips of R = ROWS_R rows,
 * each [dCount][R] floats (dst[(s-s0)/R][d-d0][(s-s0)%R]), the last strip zero padded. All three take pack4's
 * arguments (PACK_PARAMS: element (s, d) at src + (s/sSeg)*sSegStride + (s%sSeg)*sStride + (d/dSeg)*dSegStride +
 * (d%dSeg)*dStride, bytes) and write the same bytes; pure data movement.
 *
 * - `packRows`: scalar, any source (segments crossed anywhere).
 * - `packRowsK`: rows contiguous along K (dStride = 4 bytes: conv forward's W; grad-weight's dY, K running over
 *   the images in segments), any segments. Per full strip, 4 K steps at a time inside a segment: one f32x4 per row,
 *   a 5x4 register transpose (14 shuffles), five f32x4 stores.
 * - `packRowsM`: the R rows of a K step contiguous (sStride = 4 bytes: grad-input's W^T), no segment boundary inside
 *   the packed s or d range (./gemm-pack-commands.ts rowsPacker checks). Per full strip and K step: one f32x4 and one
 *   f32 copied.
 * A partial last strip goes through the scalar per-row copy (zeros past the valid rows) in every variant.
 */

import { add, divU, type Expr, lit, mul, remU, shl, sub } from './emit-expr.js';
import { PACK_PARAMS } from './kernels-pack.js';
import { lanes32 } from './kernels-transpose.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

/** Rows of the R-row tile (the 5x8 kernels' k step reads A as two vectors covering 5 rows: written for exactly 5). */
export const ROWS_R = 5;

/**
 * packRows(src, sStride, sSeg, sSegStride, dStride, dSeg, dSegStride, s0, sCount, d0, dCount, dst): pack4's arguments
 * and addressing (element (s, d) at src + (s/sSeg)*sSegStride + (s%sSeg)*sStride + (d/dSeg)*dSegStride +
 * (d%dSeg)*dStride, bytes), written as R-row strips dst[(s-s0)/R][d-d0][(s-s0)%R], zero padded. Scalar: A is
 * packed once per GEMM call and ./gemm.ts sends only small A (the weights of 1x1 convs) here.
 */
export function emitPackR(m: ModuleBuilder): void {
  const R = ROWS_R;
  m.kernel('packRows', PACK_PARAMS, (f, p) => {
    const { src, sStride, sSeg, sSegStride, dStride, dSeg, dSegStride, s0, sCount, d0, dCount, dst } = p;
    const { t, q, s, d, dq, dr, sOff, out, v } = f.locals({
      t: I32,
      q: I32,
      s: I32,
      d: I32,
      dq: I32,
      dr: I32,
      sOff: I32,
      out: I32,
      v: I32,
    });
    // strip t (rows s0 + t .. s0 + t + R - 1), row q: the valid rows copy their dCount values, the rest are zeros
    f.for(
      t,
      () => f.i32(0),
      () => f.get(sCount),
      R,
      () => {
        for (let qq = 0; qq < R; qq++) {
          f.i32(qq).set(q);
          f.assign(out, add(dst, shl(add(mul(t, dCount), q), 2)));
          f.assign(v, sub(sCount, add(t, q)));
          f.get(v)
            .i32(0)
            .op(Op.i32GtS)
            .if(
              () => {
                f.assign(s, add(s0, add(t, q)));
                f.assign(sOff, add(add(src, mul(divU(s, sSeg), sSegStride)), mul(remU(s, sSeg), sStride)));
                f.assign(dq, divU(d0, dSeg));
                f.assign(dr, remU(d0, dSeg));
                // no segment boundary in [d0, d0 + dCount): one pointer stepping dStride (the weights' case)
                f.get(dr).get(dCount).op(Op.i32Add).get(dSeg).op(Op.i32LeS);
                f.if(
                  () => {
                    f.assign(sOff, add(add(sOff, mul(dq, dSegStride)), mul(dr, dStride)));
                    f.range(d, dCount, () => {
                      f.get(out).get(sOff).mem(Op.f32Load).mem(Op.f32Store);
                      f.inc(out, 4 * R).incBy(sOff, dStride);
                    });
                  },
                  () =>
                    f.range(d, dCount, () => {
                      f.get(out);
                      f.push(add(add(sOff, mul(dq, dSegStride)), mul(dr, dStride))).mem(Op.f32Load);
                      f.mem(Op.f32Store);
                      f.inc(out, 4 * R);
                      f.inc(dr, 1);
                      f.get(dr)
                        .get(dSeg)
                        .op(Op.i32Eq)
                        .if(() => {
                          f.i32(0).set(dr);
                          f.inc(dq, 1);
                        });
                    }),
                );
              },
              () =>
                f.range(d, dCount, () => {
                  f.get(out).f32(0).mem(Op.f32Store);
                  f.inc(out, 4 * R);
                }),
            );
        }
      },
    );
  });
}

/** Byte address of element (s0, d0) (the segment arithmetic done once; the fast packers step plain strides). */
function basePtr(p: Record<keyof typeof PACK_PARAMS, number>): Expr {
  const { src, sStride, sSeg, sSegStride, dStride, dSeg, dSegStride, s0, d0 } = p;
  const sPart = add(mul(divU(s0, sSeg), sSegStride), mul(remU(s0, sSeg), sStride));
  const dPart = add(mul(divU(d0, dSeg), dSegStride), mul(remU(d0, dSeg), dStride));
  return add(src, add(sPart, dPart));
}

/**
 * Strip `t` (its first row; rows past sCount are zeros) copied one row at a time: row q's dCount values, element
 * (t + q, d) at base + (t + q)*sStride + d*dStride, to out = dst + (t*dCount + q)*4 stepping 4R.
 */
function scalarStrip(f: FnBuilder, p: Record<keyof typeof PACK_PARAMS, number>, base: number, t: number): void {
  const R = ROWS_R;
  const { sStride, dStride, sCount, dCount, dst } = p;
  const [d, src, out] = [f.local(I32), f.local(I32), f.local(I32)];
  for (let q = 0; q < R; q++) {
    f.assign(out, add(dst, shl(add(mul(t, dCount), lit(q)), 2)));
    f.push(sub(sCount, add(t, lit(q))))
      .i32(0)
      .op(Op.i32GtS)
      .if(
        () => {
          f.assign(src, add(base, mul(add(t, lit(q)), sStride)));
          f.range(d, dCount, () => {
            f.get(out).get(src).mem(Op.f32Load).mem(Op.f32Store);
            f.inc(out, 4 * R).incBy(src, dStride);
          });
        },
        () =>
          f.range(d, dCount, () => {
            f.get(out).f32(0).mem(Op.f32Store);
            f.inc(out, 4 * R);
          }),
      );
  }
}

const UNPACK_LO = lanes32(0, 4, 1, 5);
const UNPACK_HI = lanes32(2, 6, 3, 7);
const LO64 = lanes32(0, 1, 4, 5);
const HI64 = lanes32(2, 3, 6, 7);

/**
 * K steps d .. d+3 of a full strip: v[r] = A(row r, d..d+3) loaded, written as 20 floats in K-major order
 * (A(0..4, d), A(0..4, d+1), ...) at `out` (five f32x4 stores).
 */
function transpose5x4(f: FnBuilder, v: readonly number[], c: readonly number[], out: number): void {
  const [v0, v1, v2, v3, v4] = v as [number, number, number, number, number];
  const [t0, t1, t2, t3] = c as [number, number, number, number];
  const shuf = (a: number, b: number, lanes: number[], dst: number) =>
    f
      .get(a)
      .get(b)
      .simd(Simd.shuffle, ...lanes)
      .set(dst);
  // 4x4 transpose of rows 0..3: c[k] = A(0..3, d + k)
  shuf(v0, v1, UNPACK_LO, t0); // r0k0 r1k0 r0k1 r1k1
  shuf(v0, v1, UNPACK_HI, t2); // r0k2 r1k2 r0k3 r1k3
  shuf(v2, v3, UNPACK_LO, t1); // r2k0 r3k0 r2k1 r3k1
  shuf(v2, v3, UNPACK_HI, t3); // r2k2 r3k2 r2k3 r3k3
  shuf(t0, t1, LO64, v0); // c0
  shuf(t0, t1, HI64, v1); // c1
  shuf(t2, t3, LO64, v2); // c2
  shuf(t2, t3, HI64, v3); // c3
  f.get(out).get(v0).vstore(0);
  // the other four: shuffle(p, q) and, where a third vector holds a lane, that result shuffled with it
  const plan: readonly (readonly [number, number, number[], (readonly [number, number[]])?])[] = [
    [v4, v1, lanes32(0, 4, 5, 6)], // A(4,d) A(0,d+1) A(1,d+1) A(2,d+1)
    [v1, v4, lanes32(3, 5, 3, 3), [v2, lanes32(0, 1, 4, 5)]], // A(3,d+1) A(4,d+1) A(0,d+2) A(1,d+2)
    [v2, v4, lanes32(2, 3, 6, 6), [v3, lanes32(0, 1, 2, 4)]], // A(2,d+2) A(3,d+2) A(4,d+2) A(0,d+3)
    [v3, v4, lanes32(1, 2, 3, 7)], // A(1,d+3) A(2,d+3) A(3,d+3) A(4,d+3)
  ];
  plan.forEach(([p, q, lanes, third], i) => {
    f.get(out)
      .get(p)
      .get(q)
      .simd(Simd.shuffle, ...lanes);
    if (third) f.get(third[0]).simd(Simd.shuffle, ...third[1]);
    f.vstore(16 * (i + 1));
  });
}

/**
 * For each full strip (t = 0, R, .. below `full` = sCount rounded down to R): `out` set to the strip's first float
 * (dst + t*dCount*4), then `body`. Leaves t = full, the partial strip's first row.
 */
function forFullStrips(
  f: FnBuilder,
  p: Record<keyof typeof PACK_PARAMS, number>,
  l: { t: number; full: number; out: number },
  body: () => void,
): void {
  f.assign(l.full, sub(p.sCount, remU(p.sCount, lit(ROWS_R))));
  f.for(
    l.t,
    () => f.i32(0),
    () => f.get(l.full),
    ROWS_R,
    () => {
      f.assign(l.out, add(p.dst, shl(mul(l.t, p.dCount), 2)));
      body();
    },
  );
}

/**
 * packRowsK (see the file comment): rows contiguous along K, any segments. Each strip's rows get their own pointer
 * (s segments), and the K walk keeps `left`, the steps left in the current d segment, jumping to the next segment
 * when it runs out; 4 steps go as one f32x4 per row and a register transpose while they lie in one segment, else
 * one step goes as scalars. A partial last strip copies its valid rows with the same walk, zeros past sCount.
 */
function emitPackRowsK(m: ModuleBuilder): void {
  const R = ROWS_R;
  m.kernel('packRowsK', PACK_PARAMS, (f, p) => {
    const { src, sStride, sSeg, sSegStride, dSeg, dSegStride, s0, sCount, d0, dCount, dst } = p;
    const { dPart, left0, jump, t, full, d, out, o, left, s, q } = f.locals({
      dPart: I32,
      left0: I32,
      jump: I32,
      t: I32,
      full: I32,
      d: I32,
      out: I32,
      o: I32,
      left: I32,
      s: I32,
      q: I32,
    });
    const rows = f.localArray(I32, R);
    const v = f.localArray(V128, R);
    const c = f.localArray(V128, 4);
    // d0's offset in its row, the steps left in its d segment, and the jump from a segment's end to the next's start
    f.assign(dPart, add(mul(divU(d0, dSeg), dSegStride), shl(remU(d0, dSeg), 2)));
    f.assign(left0, sub(dSeg, remU(d0, dSeg)));
    f.assign(jump, sub(dSegStride, shl(dSeg, 2)));
    const rowPtr = (row: number, sl: Expr) => {
      f.assign(s, add(s0, sl));
      f.assign(row, add(add(src, add(mul(divU(s, sSeg), sSegStride), mul(remU(s, sSeg), sStride))), dPart));
    };
    // after a step of `n` (d stepped too unless `loopStepsD`): left -= n; at a segment's end, o jumps to the next
    const advance = (n: number, loopStepsD = false) => {
      f.inc(o, 4 * n).inc(left, -n);
      if (!loopStepsD) f.inc(d, n);
      f.get(left)
        .i32(0)
        .op(Op.i32Eq)
        .if(() => {
          f.incBy(o, jump);
          f.get(dSeg).set(left);
        });
    };
    forFullStrips(f, p, { t, full, out }, () => {
      for (let r = 0; r < R; r++) rowPtr(rows[r]!, add(t, lit(r)));
      f.i32(0).set(d);
      f.i32(0).set(o);
      f.get(left0).set(left);
      f.block((exit) => {
        f.loop((top) => {
          f.get(d).get(dCount).op(Op.i32GeS).brIf(exit);
          // 4 steps in one segment and within dCount: vectors; else one step of scalars
          f.push(add(d, lit(4)))
            .get(dCount)
            .op(Op.i32LeS);
          f.get(left).i32(4).op(Op.i32GeS).op(Op.i32And);
          f.if(
            () => {
              for (let r = 0; r < R; r++) f.get(rows[r]!).get(o).op(Op.i32Add).vload(0).set(v[r]!);
              transpose5x4(f, v, c, out);
              f.inc(out, 16 * R);
              advance(4);
            },
            () => {
              for (let r = 0; r < R; r++)
                f.get(out)
                  .get(rows[r]!)
                  .get(o)
                  .op(Op.i32Add)
                  .mem(Op.f32Load)
                  .mem(Op.f32Store, 4 * r);
              f.inc(out, 4 * R);
              advance(1);
            },
          );
          f.br(top);
        });
      });
    });
    // the partial last strip (if any): valid rows with the same walk, zeros past sCount
    f.get(full)
      .get(sCount)
      .op(Op.i32LtS)
      .if(() => {
        for (let qq = 0; qq < R; qq++) {
          f.i32(qq).set(q);
          f.assign(out, add(dst, shl(add(mul(full, dCount), q), 2)));
          f.push(sub(sCount, add(full, q)))
            .i32(0)
            .op(Op.i32GtS)
            .if(
              () => {
                rowPtr(rows[0]!, add(full, q));
                f.i32(0).set(o);
                f.get(left0).set(left);
                f.range(d, dCount, () => {
                  f.get(out).get(rows[0]!).get(o).op(Op.i32Add).mem(Op.f32Load).mem(Op.f32Store);
                  f.inc(out, 4 * R);
                  advance(1, true);
                });
              },
              () =>
                f.range(d, dCount, () => {
                  f.get(out).f32(0).mem(Op.f32Store);
                  f.inc(out, 4 * R);
                }),
            );
        }
      });
  });
}

/** packRowsM (see the file comment): full strips one f32x4 + one f32 per K step, the partial last strip scalar. */
function emitPackRowsM(m: ModuleBuilder): void {
  const R = ROWS_R;
  m.kernel('packRowsM', PACK_PARAMS, (f, p) => {
    const { sStride, dStride, sCount, dCount } = p;
    const { base, t, full, d, out, o } = f.locals({ base: I32, t: I32, full: I32, d: I32, out: I32, o: I32 });
    f.assign(base, basePtr(p));
    forFullStrips(f, p, { t, full, out }, () => {
      // each K step: rows 0..3 as one f32x4, row 4 as one f32 (the R values of a step are contiguous)
      f.assign(o, add(base, mul(t, sStride)));
      f.range(d, dCount, () => {
        f.get(out).get(o).vload(0).vstore(0);
        f.get(out).get(o).mem(Op.f32Load, 16).mem(Op.f32Store, 16);
        f.inc(out, 4 * R).incBy(o, dStride);
      });
    });
    // the partial last strip (if any): scalar rows, zeros past sCount
    f.get(full)
      .get(sCount)
      .op(Op.i32LtS)
      .if(() => scalarStrip(f, p, base, t));
  });
}

/** Adds packRowsK and packRowsM to `m` (emitted after every other kernel, so earlier indices stay as they were). */
export function emitPackRowsVec(m: ModuleBuilder): void {
  emitPackRowsK(m);
  emitPackRowsM(m);
}
