/**
 * col2im for conv grad-input: folds a [cin*kh*kw, n*oh*ow] column matrix back into dx one (n, ci) plane at a time.
 * Every dx element receives its contributions in (ky, kx) order (at most one per tap), whatever the path or the
 * thread count. Fast paths: stride 1 adds whole in-image output rows with f32x4; stride 2 handles kx pairs
 * (kx, kx+1), whose taps land on alternate dx columns, by interleaving the two column rows (unpack lo/hi) so four
 * output x fill eight contiguous dx; a missing partner (kx+1 = kw) interleaves zeros (dx is never -0, so + 0 is
 * exact). Out-of-image taps and ragged ends take the scalar path.
 */

import { divU, f32At, mul, remU } from './emit-expr.js';
import { lanes32 } from './kernels-transpose.js';
import { I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

const LO = lanes32(0, 4, 1, 5);
const HI = lanes32(2, 6, 3, 7);

/** The geometry params every conv data-movement kernel takes first (x: the input image pointer, in bytes). */
export const CONV_GEOM = {
  x: I32,
  cin: I32,
  h: I32,
  w: I32,
  kh: I32,
  kw: I32,
  stride: I32,
  pad: I32,
  oh: I32,
  ow: I32,
} as const;

/** Adds col2im to `m`. */
export function emitCol2im(m: ModuleBuilder): void {
  // col2im(conv..., cols, ldcBytes, dx, plane0, plane1): planes are (n, ci) pairs
  const params = { ...CONV_GEOM, cols: I32, ldc: I32, dx: I32, plane0: I32, plane1: I32 } as const;
  m.kernel('col2im', params, (f, { cin, h, w, kh, kw, stride, pad, oh, ow, cols, ldc, dx, plane0, plane1 }) => {
    const { p, n, ci, ky, kx, oy, ox, iy, ix, dxp, colp, i, hw } = f.locals({
      p: I32,
      n: I32,
      ci: I32,
      ky: I32,
      kx: I32,
      oy: I32,
      ox: I32,
      iy: I32,
      ix: I32,
      dxp: I32,
      colp: I32,
      i: I32,
      hw: I32,
    });
    const { dxRow, oxLo, oxHi } = f.locals({ dxRow: I32, oxLo: I32, oxHi: I32 });
    const { v1, v2 } = f.locals({ v1: V128, v2: V128 });
    const { has2, ox0, k2 } = f.locals({ has2: I32, ox0: I32, k2: I32 });
    /** Any stride: one tap (ky, kx) at a time; stride 1 adds whole in-image rows with f32x4. */
    const generic = () => {
      f.range(kx, kw, () => {
        // colp = cols + ((ci*kh + ky)*kw + kx)*ldc + n*oh*ow*4
        f.get(cols).get(ci).get(kh).op(Op.i32Mul).get(ky).op(Op.i32Add).get(kw).op(Op.i32Mul).get(kx);
        f.op(Op.i32Add).get(ldc).op(Op.i32Mul, Op.i32Add);
        f.get(n).get(oh).get(ow).op(Op.i32Mul, Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(colp);
        // stride-1 in-image output columns: oxLo = max(0, pad - kx), oxHi = min(ow, w + pad - kx)
        f.get(pad)
          .get(kx)
          .op(Op.i32Sub)
          .tee(oxLo)
          .i32(0)
          .op(Op.i32LtS)
          .if(() => f.i32(0).set(oxLo));
        f.get(w).get(pad).op(Op.i32Add).get(kx).op(Op.i32Sub).tee(oxHi).get(ow).op(Op.i32GtS);
        f.if(() => f.get(ow).set(oxHi));
        f.range(oy, oh, () => {
          f.get(oy).get(stride).op(Op.i32Mul).get(pad).op(Op.i32Sub).get(ky).op(Op.i32Add).tee(iy);
          f.get(h)
            .op(Op.i32LtU)
            .if((inImage) => {
              f.get(stride)
                .i32(1)
                .op(Op.i32Eq)
                .if(() => {
                  // stride 1: in-image ox are [oxLo, oxHi) and contiguous in dx -> f32x4 adds, scalar tail
                  f.get(dxp).get(iy).get(w).op(Op.i32Mul).get(kx).op(Op.i32Add).get(pad).op(Op.i32Sub);
                  f.i32(2).op(Op.i32Shl, Op.i32Add).set(dxRow);
                  f.get(oxLo).set(ox);
                  f.block((done) => {
                    f.loop((next) => {
                      f.get(ox).i32(4).op(Op.i32Add).get(oxHi).op(Op.i32GtS).brIf(done);
                      f.get(ox).i32(2).op(Op.i32Shl).tee(i).get(dxRow).op(Op.i32Add);
                      f.get(i).get(dxRow).op(Op.i32Add).vload(0);
                      f.get(i).get(colp).op(Op.i32Add).vload(0).simd(Simd.f32x4Add).vstore(0);
                      f.inc(ox, 4).br(next);
                    });
                  });
                  f.for(
                    ox,
                    () => f.get(ox),
                    () => f.get(oxHi),
                    1,
                    () => {
                      f.get(ox).i32(2).op(Op.i32Shl).tee(i).get(dxRow).op(Op.i32Add);
                      f.get(i).get(dxRow).op(Op.i32Add).mem(Op.f32Load);
                      f.get(i).get(colp).op(Op.i32Add).mem(Op.f32Load).op(Op.f32Add).mem(Op.f32Store);
                    },
                  );
                  f.br(inImage);
                });
              f.range(ox, ow, () => {
                f.get(ox).get(stride).op(Op.i32Mul).get(pad).op(Op.i32Sub).get(kx).op(Op.i32Add).tee(ix);
                f.get(w)
                  .op(Op.i32LtU)
                  .if(() => {
                    f.get(dxp).get(iy).get(w).op(Op.i32Mul).get(ix).op(Op.i32Add).i32(2).op(Op.i32Shl, Op.i32Add);
                    f.tee(i).get(i).mem(Op.f32Load);
                    f.get(colp).get(ox).i32(2).op(Op.i32Shl, Op.i32Add).mem(Op.f32Load).op(Op.f32Add);
                    f.mem(Op.f32Store);
                  });
              });
            });
          f.assign(colp, f32At(colp, ow));
        });
      });
    };
    /** Scalar taps kx and kx+1 (when < kw) for ox in [ox, end). */
    const scalarPair = (end: () => void) => {
      f.for(
        ox,
        () => f.get(ox),
        end,
        1,
        () => {
          f.range(k2, has2, () => {
            f.get(ox).i32(1).op(Op.i32Shl).get(pad).op(Op.i32Sub).get(kx).op(Op.i32Add).get(k2).op(Op.i32Add);
            f.tee(ix).get(w).op(Op.i32LtU);
            f.if(() => {
              f.get(dxRow).get(ix).i32(2).op(Op.i32Shl, Op.i32Add).tee(i).get(i).mem(Op.f32Load);
              f.get(colp).get(k2).get(ldc).op(Op.i32Mul, Op.i32Add).get(ox).i32(2).op(Op.i32Shl, Op.i32Add);
              f.mem(Op.f32Load).op(Op.f32Add).mem(Op.f32Store);
            });
          });
        },
      );
    };
    /** Stride 2: taps (kx, kx+1) together; four output x -> eight contiguous dx via unpack lo/hi. */
    const stride2Pairs = () => {
      f.for(
        kx,
        () => f.i32(0),
        () => f.get(kw),
        2,
        () => {
          f.get(cols).get(ci).get(kh).op(Op.i32Mul).get(ky).op(Op.i32Add).get(kw).op(Op.i32Mul).get(kx);
          f.op(Op.i32Add).get(ldc).op(Op.i32Mul, Op.i32Add);
          f.get(n).get(oh).get(ow).op(Op.i32Mul, Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(colp);
          // has2 = 2 taps when kx + 1 < kw, else 1 (the scalar loop count; the vector path pads with zeros)
          f.i32(2).i32(1).get(kx).i32(1).op(Op.i32Add).get(kw).op(Op.i32LtS, Op.select).set(has2);
          // ox0 = clamp(ceil((pad - kx) / 2), 0, ow): first ox whose tap kx lands in the image
          f.get(pad).get(kx).op(Op.i32Sub).i32(1).op(Op.i32Add).i32(1).op(Op.i32ShrS).tee(ox0);
          f.i32(0)
            .op(Op.i32LtS)
            .if(() => f.i32(0).set(ox0));
          f.get(ox0)
            .get(ow)
            .op(Op.i32GtS)
            .if(() => f.get(ow).set(ox0));
          f.range(oy, oh, () => {
            f.get(oy).i32(1).op(Op.i32Shl).get(pad).op(Op.i32Sub).get(ky).op(Op.i32Add).tee(iy);
            f.get(h)
              .op(Op.i32LtU)
              .if(() => {
                f.get(dxp).get(iy).get(w).op(Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(dxRow);
                f.i32(0).set(ox);
                scalarPair(() => f.get(ox0));
                f.block((done) => {
                  f.loop((next) => {
                    f.get(ox).i32(4).op(Op.i32Add).get(ow).op(Op.i32GtS).brIf(done);
                    f.get(ox).i32(1).op(Op.i32Shl).get(pad).op(Op.i32Sub).get(kx).op(Op.i32Add).tee(ix);
                    f.i32(7).op(Op.i32Add).get(w).op(Op.i32GeS).brIf(done);
                    f.get(colp).get(ox).i32(2).op(Op.i32Shl, Op.i32Add).tee(i).vload(0).set(v1);
                    f.get(has2)
                      .i32(2)
                      .op(Op.i32Eq)
                      .if(
                        () => f.get(i).get(ldc).op(Op.i32Add).vload(0).set(v2),
                        () => f.simd(Simd.const, ...new Array(16).fill(0)).set(v2),
                      );
                    f.assign(i, f32At(dxRow, ix));
                    for (const [byte, sh] of [
                      [0, LO],
                      [16, HI],
                    ] as const) {
                      f.get(i).get(i).vload(byte);
                      f.get(v1)
                        .get(v2)
                        .simd(Simd.shuffle, ...sh)
                        .simd(Simd.f32x4Add)
                        .vstore(byte);
                    }
                    f.inc(ox, 4).br(next);
                  });
                });
                scalarPair(() => f.get(ow));
              });
            f.assign(colp, f32At(colp, ow));
          });
        },
      );
    };
    f.assign(hw, mul(h, w));
    f.for(
      p,
      () => f.get(plane0),
      () => f.get(plane1),
      1,
      () => {
        f.assign(n, divU(p, cin));
        f.assign(ci, remU(p, cin));
        f.assign(dxp, f32At(dx, mul(p, hw)));
        f.range(i, hw, () => {
          f.get(dxp).get(i).i32(2).op(Op.i32Shl, Op.i32Add).f32(0).mem(Op.f32Store);
        });
        f.range(ky, kh, () => {
          f.block((done) => {
            f.get(stride)
              .i32(2)
              .op(Op.i32Eq)
              .if(() => {
                stride2Pairs();
                f.br(done);
              });
            generic();
          });
        });
      },
    );
  });
}
