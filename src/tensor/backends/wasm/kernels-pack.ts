/**
 * Emits the GEMM panel packers: the generic strided packer (`pack4` for A strips, `pack8` for B strips; any
 * source described by strides and segments, v128 loads and register transposes where the layout allows),
 * `pack8r`, which packs B panels of column-contiguous sources K rows at a time, and `pack8t` / `pack4t`, the
 * generic packers specialised for K-contiguous segmented sources (grad-weight's operands).
 *
 * Packed layouts (float32): strips of P = 4 (A) or 8 (B) values along M / N, each [kc][P], a partial strip zero
 * padded (see ./kernels-gemm.ts). Pure data movement: every packer writes the source's bits.
 */

import { add, and, divU, type Expr, lit, mul, remU, shl, sub } from './emit-expr.js';
import { transposeLocals, transposeStore, vecLocals } from './kernels-transpose.js';
import { I32, type ModuleBuilder, Op, Simd } from './module-builder.js';

/**
 * The packers' parameters (pack4 / pack8, pack8t / pack4t, and packRows in ./kernels-gemm-rows.ts take the same, so a
 * command can name any of them).
 */
export const PACK_PARAMS = {
  src: I32,
  sStride: I32,
  sSeg: I32,
  sSegStride: I32,
  dStride: I32,
  dSeg: I32,
  dSegStride: I32,
  s0: I32,
  sCount: I32,
  d0: I32,
  dCount: I32,
  dst: I32,
} as const;

/**
 * Generic panel packer for panel width P (4 for A, 8 for B). Element (s, d) — s along the strip dimension
 * (M for A, N for B), d along K — is read at
 * `src + (s/sSeg)*sSegStride + (s%sSeg)*sStride + (d/dSeg)*dSegStride + (d%dSeg)*dStride` (bytes) and written to
 * `dst[(s-s0)/P][d-d0][(s-s0)%P]`. Full strips whose P elements are contiguous use v128 loads.
 */
function emitPack(m: ModuleBuilder, P: 4 | 8): void {
  // pack(src, sStride, sSeg, sSegStride, dStride, dSeg, dSegStride, s0, sCount, d0, dCount, dst)
  m.kernel(
    `pack${P}`,
    PACK_PARAMS,
    (f, { src, sStride, sSeg, sSegStride, dStride, dSeg, dSegStride, s0, sCount, d0, dCount, dst }) => {
      const off = f.localArray(I32, P);
      const t = f.local(I32);
      const valid = f.local(I32);
      const p = f.local(I32);
      const d = f.local(I32);
      const dq = f.local(I32);
      const dr = f.local(I32);
      const dOff = f.local(I32);
      const contig = f.local(I32);
      const s = f.local(I32);
      const addr = f.local(I32);
      const vecs = vecLocals(f, P);
      const tmp = transposeLocals(f);
      const sOffOf = (sl: number) => {
        f.get(sl).get(sSeg).op(Op.i32DivU).get(sSegStride).op(Op.i32Mul);
        f.get(sl).get(sSeg).op(Op.i32RemU).get(sStride).op(Op.i32Mul, Op.i32Add);
      };
      // d bookkeeping: dOff = dq*dSegStride + dr*dStride for d = d0 + i
      const resetD = () => {
        f.assign(dq, divU(d0, dSeg));
        f.assign(dr, remU(d0, dSeg));
      };
      const computeDOff = () => {
        f.get(src).get(dq).get(dSegStride).op(Op.i32Mul, Op.i32Add).get(dr).get(dStride).op(Op.i32Mul, Op.i32Add);
        f.set(dOff);
      };
      const stepD = () => {
        f.inc(dr, 1);
        f.get(dr)
          .get(dSeg)
          .op(Op.i32Eq)
          .if(() => {
            f.i32(0).set(dr);
            f.inc(dq, 1);
          });
      };
      f.for(
        t,
        () => f.i32(0),
        () => f.get(sCount),
        P,
        () => {
          f.assign(valid, sub(sCount, t));
          f.get(valid).i32(P).op(Op.i32GeS);
          f.if(
            () => {
              for (let q = 0; q < P; q++) {
                f.assign(s, add(add(s0, t), lit(q)));
                sOffOf(s);
                f.set(off[q]!);
              }
              f.get(sStride).i32(4).op(Op.i32Eq);
              f.get(off[P - 1]!)
                .get(off[0]!)
                .op(Op.i32Sub)
                .i32((P - 1) * 4)
                .op(Op.i32Eq, Op.i32And)
                .set(contig);
              resetD();
              f.range(d, dCount, () => {
                computeDOff();
                f.block((done) => {
                  f.get(contig).if(() => {
                    f.get(dOff).get(off[0]!).op(Op.i32Add).set(addr);
                    for (let h = 0; h < P / 4; h++)
                      f.get(dst)
                        .get(addr)
                        .vload(h * 16)
                        .vstore(h * 16);
                    f.br(done);
                  });
                  // contiguous along d: 4 d-steps at once through a register transpose
                  f.get(dStride).i32(4).op(Op.i32Eq);
                  f.get(dr).i32(3).op(Op.i32Add).get(dSeg).op(Op.i32LtS, Op.i32And);
                  f.get(dCount).get(d).op(Op.i32Sub).i32(4).op(Op.i32GeS, Op.i32And);
                  f.if(() => {
                    for (let q = 0; q < P; q++) f.get(dOff).get(off[q]!).op(Op.i32Add).vload(0).set(vecs[q]!);
                    transposeStore(f, vecs, tmp, dst, P * 4);
                    f.inc(dst, 3 * P * 4)
                      .inc(d, 3)
                      .inc(dr, 3);
                    f.br(done);
                  });
                  for (let q = 0; q < P; q++) {
                    f.get(dst)
                      .get(dOff)
                      .get(off[q]!)
                      .op(Op.i32Add)
                      .mem(Op.f32Load)
                      .mem(Op.f32Store, q * 4);
                  }
                });
                f.inc(dst, P * 4);
                stepD();
              });
            },
            () => {
              // partial strip: zero-pad, then scalar fill of the valid lanes
              f.range(d, dCount, () => {
                f.assign(addr, add(dst, mul(d, lit(P * 4))));
                for (let h = 0; h < P / 4; h++) {
                  f.get(addr)
                    .simd(Simd.const, ...new Array(16).fill(0))
                    .vstore(h * 16);
                }
              });
              f.range(p, valid, () => {
                f.assign(s, add(add(s0, t), p));
                sOffOf(s);
                f.set(off[0]!);
                resetD();
                f.range(d, dCount, () => {
                  computeDOff();
                  f.get(dst)
                    .get(d)
                    .i32(P * 4)
                    .op(Op.i32Mul, Op.i32Add)
                    .get(p)
                    .i32(2)
                    .op(Op.i32Shl, Op.i32Add);
                  f.get(dOff).get(off[0]!).op(Op.i32Add).mem(Op.f32Load).mem(Op.f32Store);
                  stepD();
                });
              });
              f.assign(dst, add(dst, mul(dCount, lit(P * 4))));
            },
          );
        },
      );
    },
  );
}

/** K rows one `pack8r` pass copies before moving to the next strip (8 read streams; 512 contiguous bytes written). */
export const PACK_ROWS = 16;

/**
 * B panel packer for a source whose 4-column half strips are contiguous (column stride 1 element, segments a
 * multiple of 4 wide: NCHW images with oh*ow % 4 == 0, e.g. 2x2 maps, a row-major matrix; s0 a multiple of 4):
 * `strips` full strips from column s0, element
 * (s, d) at src + (s/sSeg)*sSegStride + (s%sSeg)*4 + d*dStride (bytes), written like pack8. It walks PACK_ROWS
 * K rows at a time across all strips instead of one strip down all kc rows: the generic packer's walk reads one
 * 32-byte piece per row at a stride of a whole feature map (4 KiB for 32x32), which the hardware prefetchers do not
 * follow across pages and which maps every row to the same L1 set. A partial last strip goes through pack8. Pure
 * data movement: the same bits as pack8.
 */
function emitPackRows(m: ModuleBuilder): void {
  const pack8 = m.index('pack8');
  // pack8r(src, sSeg, sSegStride, dStride, s0, sCount, dCount, dst); src already at K row d0
  m.kernel(
    'pack8r',
    { src: I32, sSeg: I32, sSegStride: I32, dStride: I32, s0: I32, sCount: I32, dCount: I32, dst: I32 },
    (f, { src, sSeg, sSegStride, dStride, s0, sCount, dCount, dst }) => {
      const strips = f.local(I32);
      f.assign(strips, divU(sCount, lit(8)));
      const dd = f.local(I32);
      const db = f.local(I32);
      const t = f.local(I32);
      const s = f.local(I32);
      const sp = f.local(I32);
      const sp2 = f.local(I32);
      const dp = f.local(I32);
      const i = f.local(I32);
      const stripBytes = f.local(I32);
      f.assign(stripBytes, shl(dCount, 5));
      f.for(
        dd,
        () => f.i32(0),
        () => f.get(dCount),
        PACK_ROWS,
        () => {
          f.assign(db, sub(dCount, dd));
          f.get(db)
            .i32(PACK_ROWS)
            .op(Op.i32GtS)
            .if(() => f.i32(PACK_ROWS).set(db));
          f.range(t, strips, () => {
            // sp / sp2: the strip's two 4-column halves (adjacent unless a segment boundary lies between them)
            const half = (h: number, out: number) => {
              f.assign(s, add(s0, add(shl(t, 3), lit(4 * h))));
              f.get(src).get(s).get(sSeg).op(Op.i32DivU).get(sSegStride).op(Op.i32Mul, Op.i32Add);
              f.get(s).get(sSeg).op(Op.i32RemU).i32(2).op(Op.i32Shl, Op.i32Add);
              f.get(dd).get(dStride).op(Op.i32Mul, Op.i32Add).set(out);
            };
            half(0, sp);
            half(1, sp2);
            f.assign(dp, add(add(dst, mul(t, stripBytes)), shl(dd, 5)));
            f.range(i, db, () => {
              f.get(dp).get(sp).vload(0).vstore(0);
              f.get(dp).get(sp2).vload(0).vstore(16);
              f.incBy(sp, dStride).incBy(sp2, dStride).inc(dp, 32);
            });
          });
        },
      );
      // a partial last strip: the generic packer (zero padded), placed after the full strips
      f.get(sCount)
        .i32(7)
        .op(Op.i32And)
        .if(() => {
          f.get(src)
            .i32(4)
            .get(sSeg)
            .get(sSegStride)
            .get(dStride)
            .i32(2 ** 30)
            .i32(0);
          f.push(add(s0, shl(strips, 3)))
            .push(sub(sCount, shl(strips, 3)))
            .i32(0)
            .get(dCount)
            .push(add(dst, mul(strips, stripBytes)));
          f.op(Op.call, pack8);
        });
    },
  );
}

/**
 * `pack8t` / `pack4t`: pack8 / pack4 (same arguments, same panel bits) specialised for sources contiguous along K
 * in segments of a multiple of 4 (grad-weight's x, dY or dY^T: channel planes of an NCHW batch, K = (image,
 * pixel)), with d0 and dCount multiples of 4. Per full strip of P it walks each segment with one pointer: P v128
 * loads (one per plane, 4 K steps), P/4 4x4 register transposes, 4 rows of P stored; the generic packer recomputes
 * offsets and re-tests its cases at every step. Anything else (other layouts, a partial last strip) goes to the
 * generic packer.
 */
function emitPackT(m: ModuleBuilder, P: 4 | 8): void {
  const generic = m.index(`pack${P}`);
  m.kernel(`pack${P}t`, PACK_PARAMS, (f, a) => {
    const { src, sStride, sSeg, sSegStride, dStride, dSeg, dSegStride, s0, sCount, d0, dCount, dst } = a;
    const callGeneric = (sFrom: () => void, count: () => void) => {
      f.get(src).get(sStride).get(sSeg).get(sSegStride).get(dStride).get(dSeg).get(dSegStride);
      sFrom();
      count();
      f.get(d0).get(dCount).get(dst).op(Op.call, generic);
    };
    f.get(dStride).i32(4).op(Op.i32Ne);
    f.get(dSeg).get(d0).op(Op.i32Or).get(dCount).op(Op.i32Or).i32(3).op(Op.i32And, Op.i32Or);
    f.if(() => {
      callGeneric(
        () => f.get(s0),
        () => f.get(sCount),
      );
      f.op(Op.return);
    });
    const { strips, t, off0, left, n, p } = f.locals({ strips: I32, t: I32, off0: I32, left: I32, n: I32, p: I32 });
    const delta = f.localArray(I32, P); // plane q's byte offset from plane 0 (delta[0] unused)
    const s = f.local(I32);
    const vecs = vecLocals(f, P);
    const tmp = transposeLocals(f);
    const sOff = (e: Expr) => add(mul(divU(e, sSeg), sSegStride), mul(remU(e, sSeg), sStride));
    f.assign(strips, divU(sCount, lit(P)));
    f.range(t, strips, () => {
      f.assign(s, add(s0, mul(t, lit(P))));
      f.assign(off0, add(src, sOff(s)));
      for (let q = 1; q < P; q++) f.assign(delta[q]!, sub(add(src, sOff(add(s, lit(q)))), off0));
      // p: K step d0 of plane 0; left: 4-step chunks before the segment ends
      f.assign(p, add(add(off0, mul(divU(d0, dSeg), dSegStride)), shl(remU(d0, dSeg), 2)));
      f.assign(left, divU(sub(dSeg, remU(d0, dSeg)), lit(4)));
      f.assign(n, divU(dCount, lit(4)));
      f.get(n).if(() => {
        f.loop((top) => {
          f.get(p).vload(0).set(vecs[0]!);
          for (let q = 1; q < P; q++) f.get(p).get(delta[q]!).op(Op.i32Add).vload(0).set(vecs[q]!);
          transposeStore(f, vecs, tmp, dst, P * 4);
          f.inc(dst, 16 * P)
            .inc(p, 16)
            .inc(left, -1);
          // the segment's end: on to the next segment's first K step
          f.get(left)
            .op(Op.i32Eqz)
            .if(() => {
              f.assign(p, add(p, sub(dSegStride, shl(dSeg, 2))));
              f.assign(left, divU(dSeg, lit(4)));
            });
          f.inc(n, -1);
          f.get(n).brIf(top);
        });
      });
    });
    // a partial last strip: the generic packer (zero padded), after the full strips (dst has advanced past them)
    f.get(sCount)
      .i32(P - 1)
      .op(Op.i32And)
      .if(() =>
        callGeneric(
          () => f.push(add(s0, mul(strips, lit(P)))),
          () => f.push(and(sCount, lit(P - 1))),
        ),
      );
  });
}

/** Adds pack4, pack8, pack8r, pack8t and pack4t to `m`. */
export function emitPackKernels(m: ModuleBuilder): void {
  emitPack(m, 4);
  emitPack(m, 8);
  emitPackRows(m);
  emitPackT(m, 8);
  emitPackT(m, 4);
}
