/**
 * Emits `gwDot`, grad-weight of a 1x1 stride-1 conv on a small map without packing: dW[co, ci] = sum over images
 * and pixels of dy[img, co, p] * x[img, ci, p]. Both operands are read in place along p (contiguous in NCHW), four
 * pixels per f32x4; a register block of 4 output x 2 input channels keeps 8 lane-wise partial sums (6 loads per 8
 * FMAs, the GEMM micro-kernel's ratio, but nothing packed: at 8x8..2x2 maps and 16..128 channels the GEMM path
 * spent as long packing dY and x as multiplying).
 *
 * Order: images are taken in chunks of `g` (g*hw >= 64 pixels per pass); the partial sums of every block live in
 * `part` ([cout/4][cin/2][8] f32x4) between chunks; lane l of a partial sums pixels p = l mod 4 in image then pixel
 * order, and the final value is (l0 + l1) + (l2 + l3). A task owns whole 4-channel output blocks [cb0, cb1), so
 * every dW element is the same sum whichever thread computes it. Needs hw % 4 == 0, cout % 4 == 0, cin % 2 == 0
 * (the caller checks; ./conv-small.ts).
 */

import { add, lit, mul, shl } from './emit-expr.js';
import { emitFma } from './kernels-gemm.js';
import { I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

export function emitGwDot(m: ModuleBuilder, relaxed: boolean): void {
  // gwDot(dy, x, part, dw, cout, cin, hw, g, nImg, cb0, cb1)
  m.kernel(
    'gwDot',
    {
      dy: I32,
      x: I32,
      part: I32,
      dw: I32,
      cout: I32,
      cin: I32,
      hw: I32,
      g: I32,
      nImg: I32,
      cb0: I32,
      cb1: I32,
    },
    (f, { dy, x, part, dw, cout, cin, hw, g, nImg, cb0, cb1 }) => {
      const { img0, imgEnd, img, cb, ib, pp, o, hwB, cinH, dyp, xp, dst } = f.locals({
        img0: I32,
        imgEnd: I32,
        img: I32,
        cb: I32,
        ib: I32,
        pp: I32,
        o: I32,
        hwB: I32,
        cinH: I32,
        dyp: I32,
        xp: I32,
        dst: I32,
      });
      const rows = f.localArray(I32, 6);
      const acc = f.localArray(V128, 8);
      const d = f.local(V128);
      const x0 = f.local(V128);
      const x1 = f.local(V128);
      f.assign(hwB, shl(hw, 2));
      f.get(cin).i32(1).op(Op.i32ShrU).set(cinH);
      f.for(
        img0,
        () => f.i32(0),
        () => f.get(nImg),
        1,
        () => {
          // imgEnd = min(img0 + g, nImg); the loop's own step is 1, so advance by g - 1 more at the end
          f.get(img0).get(g).op(Op.i32Add).tee(imgEnd).get(nImg).op(Op.i32GtS);
          f.if(() => f.get(nImg).set(imgEnd));
          f.for(
            cb,
            () => f.get(cb0),
            () => f.get(cb1),
            1,
            () => {
              f.range(ib, cinH, () => {
                f.assign(pp, add(part, shl(add(mul(cb, cinH), ib), 7)));
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
                    // dyp = dy + (img*cout + 4cb)*hw*4, xp = x + (img*cin + 2ib)*hw*4
                    f.assign(dyp, add(dy, mul(add(mul(img, cout), shl(cb, 2)), hwB)));
                    f.assign(xp, add(x, mul(add(mul(img, cin), shl(ib, 1)), hwB)));
                    for (let r = 0; r < 4; r++) f.assign(rows[r]!, add(dyp, mul(hwB, lit(r))));
                    f.get(xp).set(rows[4]!);
                    f.assign(rows[5]!, add(xp, hwB));
                    f.i32(0).set(o);
                    f.loop((next) => {
                      f.get(rows[4]!).get(o).op(Op.i32Add).vload(0).set(x0);
                      f.get(rows[5]!).get(o).op(Op.i32Add).vload(0).set(x1);
                      for (let r = 0; r < 4; r++) {
                        f.get(rows[r]!).get(o).op(Op.i32Add).vload(0).set(d);
                        emitFma(f, relaxed, acc[2 * r]!, d, x0);
                        emitFma(f, relaxed, acc[2 * r + 1]!, d, x1);
                      }
                      f.get(o).i32(16).op(Op.i32Add).tee(o).get(hwB).op(Op.i32LtU).brIf(next);
                    });
                  },
                );
                acc.forEach((a, i) => {
                  f.get(pp)
                    .get(a)
                    .vstore(i * 16);
                });
              });
            },
          );
          f.get(imgEnd).i32(1).op(Op.i32Sub).set(img0);
        },
      );
      // dW[4cb + r, 2ib + c] = (l0 + l1) + (l2 + l3) of partial (r, c)
      f.for(
        cb,
        () => f.get(cb0),
        () => f.get(cb1),
        1,
        () => {
          f.range(ib, cinH, () => {
            f.assign(pp, add(part, shl(add(mul(cb, cinH), ib), 7)));
            for (let r = 0; r < 4; r++) {
              for (let c = 0; c < 2; c++) {
                f.assign(dst, add(dw, shl(add(mul(add(shl(cb, 2), lit(r)), cin), add(shl(ib, 1), lit(c))), 2)));
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
        },
      );
    },
  );
}
