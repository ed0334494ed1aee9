/**
 * Emits `gwDot`, grad-weight of a stride-1 conv on a small map without packing (1x1 convs, and 3x3 / any kernel
 * read from a zero-padded copy of x): dW[co, ci, t] = sum over images and output pixels (oy, ox) of
 * dy[img, co, oy, ox] * x[img, ci, oy + ky, ox + kx] (x padded, so no bounds). Both operands are read in place
 * along ox (contiguous in NCHW), four pixels per f32x4; a register block of 4 output x 2 input channels keeps 8
 * lane-wise partial sums (6 loads per 8 FMAs, the GEMM micro-kernel's ratio, but nothing packed: at 8x8..16x16
 * maps and 16..128 channels the GEMM path spent about as long packing dY and x (im2col) as multiplying).
 *
 * Order: images are taken in chunks of `g`; the partial sums of every (4-channel block, 2-channel block, tap) live
 * in `part` ([cout/4][cin/2][taps][8] f32x4) between chunks; lane l of a partial sums pixels ox = l mod 4 in
 * (image, oy, ox) order, and the final value is (l0 + l1) + (l2 + l3). A task owns whole 4-channel output blocks
 * [cb0, cb1), so every dW element is the same sum whichever thread computes it. Needs ow % 4 == 0 (a 1x1 conv
 * passes its map as one row), cout % 4 == 0, cin % 2 == 0 (the caller checks; ./conv-small.ts).
 */

import { add, divU, lit, mul, remU, shl } from './emit-expr.js';
import { emitFma } from './kernels-gemm-micro.js';
import { I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

export function emitGwDot(m: ModuleBuilder, relaxed: boolean): void {
  // gwDot(dy, x, part, dw, cout, cin, oh, ow, xRowB, xPlaneB, taps, kw, g, nImg, cb0, cb1): x is [n, cin] planes
  // of xPlaneB bytes with rows of xRowB bytes (padded); tap t = (t / kw, t % kw)
  m.kernel(
    'gwDot',
    {
      dy: I32,
      x: I32,
      part: I32,
      dw: I32,
      cout: I32,
      cin: I32,
      oh: I32,
      ow: I32,
      xRowB: I32,
      xPlaneB: I32,
      taps: I32,
      kw: I32,
      g: I32,
      nImg: I32,
      cb0: I32,
      cb1: I32,
    },
    (f, { dy, x, part, dw, cout, cin, oh, ow, xRowB, xPlaneB, taps, kw, g, nImg, cb0, cb1 }) => {
      const { img0, imgEnd, img, cb, ib, t, pp, o, oy, owB, hwB, cinH, tapOff, dyp, xp, dst } = f.locals({
        img0: I32,
        imgEnd: I32,
        img: I32,
        cb: I32,
        ib: I32,
        t: I32,
        pp: I32,
        o: I32,
        oy: I32,
        owB: I32,
        hwB: I32,
        cinH: I32,
        tapOff: I32,
        dyp: I32,
        xp: I32,
        dst: I32,
      });
      const rows = f.localArray(I32, 6);
      const acc = f.localArray(V128, 8);
      const d = f.local(V128);
      const x0 = f.local(V128);
      const x1 = f.local(V128);
      f.assign(owB, shl(ow, 2));
      f.assign(hwB, shl(mul(oh, ow), 2));
      f.get(cin).i32(1).op(Op.i32ShrU).set(cinH);
      // the partial sums of block (cb, ib, t)
      const partOf = () => f.assign(pp, add(part, shl(add(mul(add(mul(cb, cinH), ib), taps), t), 7)));
      f.for(
        img0,
        () => f.i32(0),
        () => f.get(nImg),
        1,
        () => {
          // imgEnd = min(img0 + g, nImg); the loop's own step is 1, so img0 jumps to imgEnd - 1 at the end
          f.get(img0).get(g).op(Op.i32Add).tee(imgEnd).get(nImg).op(Op.i32GtS);
          f.if(() => f.get(nImg).set(imgEnd));
          f.for(
            cb,
            () => f.get(cb0),
            () => f.get(cb1),
            1,
            () => {
              f.range(ib, cinH, () => {
                f.range(t, taps, () => {
                  partOf();
                  f.assign(tapOff, add(mul(divU(t, kw), xRowB), shl(remU(t, kw), 2)));
                  f.get(img0)
                    .op(Op.i32Eqz)
                    .if(
                      () => {
                        for (const a of acc) f.simd(Simd.const, ...new Array(16).fill(0)).set(a);
                      },
                      () => {
                        acc.forEach((a, i) => {
                          f.get(pp)
                            .vload(i * 16)
                            .set(a);
                        });
                      },
                    );
                  f.for(
                    img,
                    () => f.get(img0),
                    () => f.get(imgEnd),
                    1,
                    () => {
                      // dyp = dy + (img*cout + 4cb)*hw*4; xp = x + (img*cin + 2ib)*xPlaneB + tapOff
                      f.assign(dyp, add(dy, mul(add(mul(img, cout), shl(cb, 2)), hwB)));
                      f.assign(xp, add(add(x, mul(add(mul(img, cin), shl(ib, 1)), xPlaneB)), tapOff));
                      for (let r = 0; r < 4; r++) f.assign(rows[r]!, add(dyp, mul(hwB, lit(r))));
                      f.get(xp).set(rows[4]!);
                      f.assign(rows[5]!, add(xp, xPlaneB));
                      f.range(oy, oh, () => {
                        f.i32(0).set(o);
                        f.loop((next) => {
                          f.get(rows[4]!).get(o).op(Op.i32Add).vload(0).set(x0);
                          f.get(rows[5]!).get(o).op(Op.i32Add).vload(0).set(x1);
                          for (let r = 0; r < 4; r++) {
                            f.get(rows[r]!).get(o).op(Op.i32Add).vload(0).set(d);
                            emitFma(f, relaxed, acc[2 * r]!, d, x0);
                            emitFma(f, relaxed, acc[2 * r + 1]!, d, x1);
                          }
                          f.get(o).i32(16).op(Op.i32Add).tee(o).get(owB).op(Op.i32LtU).brIf(next);
                        });
                        for (let r = 0; r < 4; r++) f.incBy(rows[r]!, owB);
                        f.incBy(rows[4]!, xRowB).incBy(rows[5]!, xRowB);
                      });
                    },
                  );
                  acc.forEach((a, i) => {
                    f.get(pp)
                      .get(a)
                      .vstore(i * 16);
                  });
                });
              });
            },
          );
          f.get(imgEnd).i32(1).op(Op.i32Sub).set(img0);
        },
      );
      // dW[4cb + r, 2ib + c, t] = (l0 + l1) + (l2 + l3) of partial (r, c) of block (cb, ib, t)
      f.for(
        cb,
        () => f.get(cb0),
        () => f.get(cb1),
        1,
        () => {
          f.range(ib, cinH, () => {
            f.range(t, taps, () => {
              partOf();
              for (let r = 0; r < 4; r++) {
                for (let c = 0; c < 2; c++) {
                  // ((4cb + r)*cin + 2ib + c)*taps + t
                  f.assign(
                    dst,
                    add(dw, shl(add(mul(add(mul(add(shl(cb, 2), lit(r)), cin), add(shl(ib, 1), lit(c))), taps), t), 2)),
                  );
                  f.get(dst);
                  const off = (2 * r + c) * 16;
                  f.get(pp)
                    .mem(Op.f32Load, off)
                    .get(pp)
                    .mem(Op.f32Load, off + 4)
                    .op(Op.f32Add);
                  f.get(pp)
                    .mem(Op.f32Load, off + 8)
                    .get(pp)
                    .mem(Op.f32Load, off + 12)
                    .op(Op.f32Add);
                  f.op(Op.f32Add).mem(Op.f32Store);
                }
              }
            });
          });
        },
      );
    },
  );
}
