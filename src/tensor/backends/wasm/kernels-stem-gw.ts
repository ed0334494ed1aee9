/**
 * Emits the grad-weight kernels of the BiT stem (thin input, cin <= 4, kw = 7, stride 2; driver ./conv-stem-gw.ts):
 * - stemSplit: the zero-padded input split into its two column phases, xs[n, ci, y, ph, j] = xp[n, ci, y, 2j + ph]
 *   (xp = x padded by `pad`; ph = 0 even columns, 1 odd; rows of 2*L floats, L a multiple of 4 and >= ow + 3).
 *   Then for output pixel ox and tap kx the input column 2*ox + kx is phase kx & 1 at index ox + (kx >> 1):
 *   contiguous in ox, so 4 output pixels read one (unaligned) v128 at a constant offset from the row pointer.
 * - stemGw / stemGw2: dw[c, ci, ky, kx] = sum over (n, oy, ox) of dy[n, c, oy, ox] * xp[n, ci, 2oy + ky, 2ox + kx].
 *   Pixels are the SIMD lanes (dy read in place, NCHW); register block 2 channels x 4 taps (kx 0..3, then 3 taps
 *   kx 4..6) = 8 f32x4 accumulators. Tasks are blocks of 8 channels; inside a task images run in order and the
 *   lane-wise partial sums carry between images through a scratch buffer scr[c, tap, 4]; at the end the 4 lanes
 *   are reduced as (l0 + l1) + (l2 + l3). The summation order is fixed, so the bits do not depend on the thread
 *   count. 4 pixels per loop trip (ow % 4 == 0). Measured and dropped (1 thread, bench/stem-ab.ts): 8 pixels per
 *   trip (emitStemGw's U = 2; 36.6 against 44.5 GFLOP/s: V8 hoists every load of the body and spills), and
 *   strips of 16 columns with constant tap offsets, taps blocked across kernel rows (4 taps: 1.01-1.07x the time of
 *   this kernel, the extra copy not paid back; 5 or 6 taps = 10 or 12 accumulators: 1.25-1.45x, spills).
 */

import { add, and, type Expr, lit, mul, shl } from './emit-expr.js';
import { emitFma } from './kernels-gemm-micro.js';
import { lanes32 } from './kernels-transpose.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

const zero = (f: FnBuilder, l: number) => f.simd(Simd.const, ...new Array(16).fill(0)).set(l);

/** Kernel width served (the taps of one kernel row are unrolled at emit time). */
export const STEM_KW = 7;

function emitStemGw(m: ModuleBuilder, relaxed: boolean, U: 1 | 2): void {
  // stemGw(xs, dy, scr, dw, cin, kh, hp, L, oh, ow, nImg, cout, c0, c1): tasks c0..c1 are blocks of 8 channels
  m.kernel(
    U === 1 ? 'stemGw' : 'stemGw2',
    {
      xs: I32,
      dy: I32,
      scr: I32,
      dw: I32,
      cin: I32,
      kh: I32,
      hp: I32,
      L: I32,
      oh: I32,
      ow: I32,
      nImg: I32,
      cout: I32,
      c0: I32,
      c1: I32,
    },
    (f, { xs, dy, scr, dw, cin, kh, hp, L, oh, ow, nImg, cout, c0, c1 }) => {
      const v = f.locals({
        blk: I32,
        img: I32,
        cp: I32,
        c: I32,
        ci: I32,
        ky: I32,
        oy: I32,
        nT: I32,
        nTB: I32,
        plane: I32,
        rowB: I32,
        phB: I32,
        owB: I32,
        dyc: I32,
        xr: I32,
        row: I32,
        rowO: I32,
        sp: I32,
        sp1: I32,
        dp0: I32,
        dp1: I32,
        pe: I32,
        po: I32,
        pend: I32,
        t: I32,
        d: I32,
        s: I32,
      });
      const acc = f.localArray(V128, 8);
      const d0 = f.local(V128);
      const d1 = f.local(V128);
      const xv = f.local(V128);
      f.assign(v.nT, mul(mul(cin, kh), lit(STEM_KW)));
      f.assign(v.nTB, shl(v.nT, 4));
      f.assign(v.plane, shl(mul(oh, ow), 2));
      f.assign(v.phB, shl(L, 2));
      f.assign(v.rowB, shl(L, 3));
      f.assign(v.owB, shl(ow, 2));
      // one tap block: taps kx0 .. kx0 + nt - 1 of kernel row (ci, ky) for channels c, c + 1 over one image
      const tapBlock = (kx0: number, nt: number) => {
        // scratch of channel c at sp + j*16, of channel c + 1 at sp1 + j*16 (j = kx)
        f.get(v.img)
          .op(Op.i32Eqz)
          .if(
            () => {
              for (let i = 0; i < 2 * nt; i++) zero(f, acc[i]!);
            },
            () => {
              for (let j = 0; j < nt; j++) {
                f.get(v.sp)
                  .vload((kx0 + j) * 16)
                  .set(acc[j]!);
                f.get(v.sp1)
                  .vload((kx0 + j) * 16)
                  .set(acc[nt + j]!);
              }
            },
          );
        f.get(v.dyc).set(v.dp0);
        f.assign(v.dp1, add(v.dyc, v.plane));
        f.get(v.row).set(v.rowO);
        f.range(v.oy, oh, () => {
          f.get(v.rowO).set(v.pe);
          f.assign(v.po, add(v.rowO, v.phB));
          f.assign(v.pend, add(v.rowO, v.owB));
          f.loop((top) => {
            for (let u = 0; u < U; u++) {
              f.get(v.dp0)
                .vload(16 * u)
                .set(d0);
              f.get(v.dp1)
                .vload(16 * u)
                .set(d1);
              for (let j = 0; j < nt; j++) {
                const kx = kx0 + j;
                f.get(kx & 1 ? v.po : v.pe)
                  .vload(16 * u + (kx >> 1) * 4)
                  .set(xv);
                emitFma(f, relaxed, acc[j]!, d0, xv);
                emitFma(f, relaxed, acc[nt + j]!, d1, xv);
              }
            }
            f.inc(v.dp0, 16 * U);
            f.inc(v.dp1, 16 * U);
            f.inc(v.po, 16 * U);
            f.inc(v.pe, 16 * U);
            f.get(v.pe).get(v.pend).op(Op.i32LtU).brIf(top);
          });
          f.get(v.rowO).get(v.rowB).i32(1).op(Op.i32Shl, Op.i32Add).set(v.rowO);
        });
        for (let j = 0; j < nt; j++) {
          f.get(v.sp)
            .get(acc[j]!)
            .vstore((kx0 + j) * 16);
          f.get(v.sp1)
            .get(acc[nt + j]!)
            .vstore((kx0 + j) * 16);
        }
      };
      f.for(
        v.blk,
        () => f.get(c0),
        () => f.get(c1),
        1,
        () => {
          f.range(v.img, nImg, () => {
            f.assign(v.xr, add(xs, mul(mul(mul(v.img, cin), hp), v.rowB)));
            f.for(
              v.c,
              () => f.push(shl(v.blk, 3)),
              () => f.push(add(shl(v.blk, 3), lit(8))),
              2,
              () => {
                f.assign(v.dyc, add(dy, mul(add(mul(v.img, cout), v.c), v.plane)));
                f.assign(v.sp, add(scr, mul(v.c, v.nTB)));
                f.range(v.ci, cin, () => {
                  f.range(v.ky, kh, () => {
                    f.assign(v.row, add(v.xr, mul(add(mul(v.ci, hp), v.ky), v.rowB)));
                    f.assign(v.sp1, add(v.sp, v.nTB));
                    tapBlock(0, 4);
                    tapBlock(4, STEM_KW - 4);
                    f.inc(v.sp, STEM_KW * 16);
                  });
                });
              },
            );
          });
          // dw[c, t] = (l0 + l1) + (l2 + l3) of scr[c, t] for the block's 8 channels
          f.assign(v.t, mul(shl(v.blk, 3), v.nT));
          f.assign(v.s, add(scr, shl(v.t, 4)));
          f.assign(v.d, add(dw, shl(v.t, 2)));
          f.assign(v.t, shl(v.nT, 3));
          f.loop((top) => {
            f.get(v.s).vload(0).set(xv);
            f.get(v.d);
            f.get(xv).simd(Simd.f32x4ExtractLane, 0).get(xv).simd(Simd.f32x4ExtractLane, 1).op(Op.f32Add);
            f.get(xv).simd(Simd.f32x4ExtractLane, 2).get(xv).simd(Simd.f32x4ExtractLane, 3).op(Op.f32Add);
            f.op(Op.f32Add).mem(Op.f32Store);
            f.inc(v.s, 16);
            f.inc(v.d, 4);
            f.get(v.t).i32(1).op(Op.i32Sub).tee(v.t).brIf(top);
          });
        },
      );
    },
  );
}

function emitStemSplit(m: ModuleBuilder): void {
  // stemSplit(x, xs, h, w, pad, hp, L, p0, p1): planes p0..p1 of x [planes, h, w] into xs [planes, hp, 2, L],
  // zeros everywhere x does not land (the padding and the row tails)
  m.kernel(
    'stemSplit',
    { x: I32, xs: I32, h: I32, w: I32, pad: I32, hp: I32, L: I32, p0: I32, p1: I32 },
    (f, { x, xs, h, w, pad, hp, L, p0, p1 }) => {
      const { p, i, n16, yy, c, cEnd, dst, drow, src, rowB, phB, xx, w8, dEv, dOd, offE, offO } = f.locals({
        xx: I32,
        w8: I32,
        dEv: I32,
        dOd: I32,
        offE: I32,
        offO: I32,
        p: I32,
        i: I32,
        n16: I32,
        yy: I32,
        c: I32,
        cEnd: I32,
        dst: I32,
        drow: I32,
        src: I32,
        rowB: I32,
        phB: I32,
      });
      const z = f.local(V128);
      const v0 = f.local(V128);
      const v1 = f.local(V128);
      zero(f, z);
      f.assign(phB, shl(L, 2));
      f.assign(rowB, shl(L, 3));
      f.assign(w8, and(w, lit(-8)));
      // byte offsets in an xs row of x's columns 0 and 1: phase (pad + j) & 1, index (pad + j) >> 1
      f.assign(offE, add(mul(f32Phase(pad), phB), shl(shr1(pad), 2)));
      f.assign(c, add(pad, lit(1)));
      f.assign(offO, add(mul(f32Phase(c), phB), shl(shr1(c), 2)));
      // v128 stores per plane: hp * 2L floats / 4
      f.assign(n16, mul(hp, L));
      f.get(n16).i32(1).op(Op.i32ShrU).set(n16);
      f.assign(cEnd, add(w, pad));
      f.for(
        p,
        () => f.get(p0),
        () => f.get(p1),
        1,
        () => {
          f.assign(dst, add(xs, mul(mul(p, hp), rowB)));
          f.get(dst).set(drow);
          f.range(i, n16, () => {
            f.get(drow).get(z).vstore(0);
            f.inc(drow, 16);
          });
          f.assign(src, add(x, shl(mul(mul(p, h), w), 2)));
          f.range(yy, h, () => {
            f.assign(drow, add(dst, mul(add(yy, pad), rowB)));
            // 8 columns at a time: x[xx + 2k] to phase (xx + pad) & 1, x[xx + 1 + 2k] to the other (xx even)
            f.assign(dEv, add(drow, offE));
            f.assign(dOd, add(drow, offO));
            f.for(
              xx,
              () => f.i32(0),
              () => f.get(w8),
              8,
              () => {
                f.get(src).vload(0).set(v0);
                f.get(src).vload(16).set(v1);
                f.get(dEv)
                  .get(v0)
                  .get(v1)
                  .simd(Simd.shuffle, ...lanes32(0, 2, 4, 6))
                  .vstore(0);
                f.get(dOd)
                  .get(v0)
                  .get(v1)
                  .simd(Simd.shuffle, ...lanes32(1, 3, 5, 7))
                  .vstore(0);
                f.inc(src, 32);
                f.inc(dEv, 16);
                f.inc(dOd, 16);
              },
            );
            f.for(
              c,
              () => f.push(add(pad, w8)),
              () => f.get(cEnd),
              1,
              () => {
                // xs row at drow: column c goes to phase c & 1, index c >> 1
                f.get(drow)
                  .push(mul(f32Phase(c), phB))
                  .op(Op.i32Add)
                  .push(shl(shr1(c), 2))
                  .op(Op.i32Add);
                f.get(src).mem(Op.f32Load).mem(Op.f32Store);
                f.inc(src, 4);
              },
            );
          });
        },
      );
    },
  );
}

const f32Phase = (c: number) => and(c, lit(1));
const shr1 = (c: number): Expr => ({ emit: (f) => f.get(c).i32(1).op(Op.i32ShrU) });

export function emitStemGwKernels(m: ModuleBuilder, relaxed: boolean): void {
  emitStemGw(m, relaxed, 1);
  emitStemSplit(m);
}
