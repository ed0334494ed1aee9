/**
 * col2im for conv grad-input: folds a [cin*kh*kw, n*oh*ow] column matrix back into dx one (n, ci) plane at a time.
 * Every dx element receives its contributions in (ky, kx) order (at most one per tap), whatever the path or the
 * thread count. Fast paths: stride 1 adds whole in-image output rows with f32x4; stride 2 handles kx pairs
 * (kx, kx+1), whose taps land on alternate dx columns, by interleaving the two column rows (unpack lo/hi) so four
 * output x fill eight contiguous dx; a missing partner (kx+1 = kw) interleaves zeros (dx is never -0, so + 0 is
 * exact); a window one lane off either end of the row (pad 1 at kx = 0; the last four output x on a row of 2*ow)
 * shifts its lanes by one and masks the outside lane to zero (small maps: 4x4 outputs from 8x8 had no in-row
 * window and went scalar). Other out-of-image taps and ragged ends take the scalar path.
 */

import { add, and, divU, eq, f32At, gtS, leS, lit, ltS, ltU, mul, remU, shl, sub } from './emit-expr.js';
import { vecLoop } from './kernels-misc.js';
import { lanes32 } from './kernels-transpose.js';
import { type Expr, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

/** `e`, also stored in local `l` (local.tee). */
const teeTo = (l: number, e: Expr): Expr => ({ emit: (f) => f.push(e).tee(l) });
/** a >> bits (arithmetic; bits a constant). */
const shrS = (a: Expr, bits: number): Expr => ({ emit: (f) => f.push(a).i32(bits).op(Op.i32ShrS) });
/** c ? a : b (wasm select: both arms are evaluated). */
const select = (a: Expr, b: Expr, c: Expr): Expr => ({ emit: (f) => f.push(a).push(b).push(c).op(Op.select) });

const LO = lanes32(0, 4, 1, 5);
const HI = lanes32(2, 6, 3, 7);
/** v128.and masks keeping f32 lanes 0..2 / 1..3 (the other lane becomes +0). */
const KEEP_012 = [...new Array(12).fill(0xff), 0, 0, 0, 0];
const KEEP_123 = [0, 0, 0, 0, ...new Array(12).fill(0xff)];

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
    const { has2, ox0, k2, zeroIdx } = f.locals({ has2: I32, ox0: I32, k2: I32, zeroIdx: I32 });
    /** colp = the column row of tap (ci, ky, kx), at sample n: cols + ((ci*kh + ky)*kw + kx)*ldc + n*oh*ow*4. */
    const colRow = () =>
      f.assign(colp, f32At(add(cols, mul(add(mul(add(mul(ci, kh), ky), kw), kx), ldc)), mul(n, mul(oh, ow))));
    /** Any stride: one tap (ky, kx) at a time; stride 1 adds whole in-image rows with f32x4. */
    const generic = () => {
      f.range(kx, kw, () => {
        colRow();
        // stride-1 in-image output columns: oxLo = max(0, pad - kx), oxHi = min(ow, w + pad - kx)
        f.push(ltS(teeTo(oxLo, sub(pad, kx)), lit(0))).if(() => f.assign(oxLo, lit(0)));
        f.push(gtS(teeTo(oxHi, sub(add(w, pad), kx)), ow)).if(() => f.assign(oxHi, ow));
        f.range(oy, oh, () => {
          // iy = oy*stride - pad + ky; only rows inside the image receive anything
          f.push(ltU(teeTo(iy, add(sub(mul(oy, stride), pad), ky)), h)).if((inImage) => {
            f.push(eq(stride, lit(1))).if(() => {
              // stride 1: in-image ox are [oxLo, oxHi) and contiguous in dx -> f32x4 adds, scalar tail
              f.assign(dxRow, f32At(dxp, sub(add(mul(iy, w), kx), pad)));
              f.assign(ox, oxLo);
              f.block((done) => {
                f.loop((next) => {
                  f.push(gtS(add(ox, lit(4)), oxHi)).brIf(done);
                  // dx[row + ox .. +4] += cols[colp + ox .. +4]  (i = ox * 4 bytes)
                  f.push(add(teeTo(i, shl(ox, 2)), dxRow));
                  f.push(add(i, dxRow)).vload(0);
                  f.push(add(i, colp)).vload(0).simd(Simd.f32x4Add).vstore(0);
                  f.inc(ox, 4).br(next);
                });
              });
              f.for(
                ox,
                () => f.get(ox),
                () => f.get(oxHi),
                1,
                () => {
                  f.push(add(teeTo(i, shl(ox, 2)), dxRow));
                  f.push(add(i, dxRow)).mem(Op.f32Load);
                  f.push(add(i, colp)).mem(Op.f32Load).op(Op.f32Add).mem(Op.f32Store);
                },
              );
              f.br(inImage);
            });
            f.range(ox, ow, () => {
              // ix = ox*stride - pad + kx; dx[iy][ix] += cols[colp + ox] when ix is inside the image
              f.push(ltU(teeTo(ix, add(sub(mul(ox, stride), pad), kx)), w)).if(() => {
                f.push(teeTo(i, f32At(dxp, add(mul(iy, w), ix))))
                  .push(i)
                  .mem(Op.f32Load);
                f.push(f32At(colp, ox)).mem(Op.f32Load).op(Op.f32Add).mem(Op.f32Store);
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
            // ix = 2*ox - pad + kx + k2; dx[row][ix] += cols[colp + k2*ldc + ox*4] inside the image
            f.push(ltU(teeTo(ix, add(add(sub(shl(ox, 1), pad), kx), k2)), w)).if(() => {
              f.push(teeTo(i, f32At(dxRow, ix)))
                .push(i)
                .mem(Op.f32Load);
              f.push(f32At(add(colp, mul(k2, ldc)), ox))
                .mem(Op.f32Load)
                .op(Op.f32Add)
                .mem(Op.f32Store);
            });
          });
        },
      );
    };
    /** v1 = the 4 column values of tap kx from the address `at` pushes, v2 = tap kx+1's (zeros when has2 is 1). */
    const loadPair = (at: () => void) => {
      at();
      f.tee(i).vload(0).set(v1);
      f.push(eq(has2, lit(2))).if(
        () => f.push(add(i, ldc)).vload(0).set(v2),
        () => f.simd(Simd.const, ...new Array(16).fill(0)).set(v2),
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
          colRow();
          // has2 = 2 taps when kx + 1 < kw, else 1 (the scalar loop count; the vector path pads with zeros)
          f.assign(has2, select(lit(2), lit(1), ltS(add(kx, lit(1)), kw)));
          // ox0 = clamp(ceil((pad - kx) / 2), 0, ow): first ox whose tap kx lands in the image
          f.push(ltS(teeTo(ox0, shrS(add(sub(pad, kx), lit(1)), 1)), lit(0))).if(() => f.assign(ox0, lit(0)));
          f.push(gtS(ox0, ow)).if(() => f.assign(ox0, ow));
          f.range(oy, oh, () => {
            // iy = 2*oy - pad + ky
            f.push(ltU(teeTo(iy, add(sub(shl(oy, 1), pad), ky)), h)).if(() => {
              f.assign(dxRow, f32At(dxp, mul(iy, w)));
              f.assign(ox, lit(0));
              // ox 0..3 whose window starts one left of the row (ix = -1: pad 1, kx = 0), 8 <= w: its lane 0 (tap kx
              // at ix = -1) is outside the image, lanes 1..7 land on dx[0..6], dx[7] gets + 0
              f.push(and(eq(sub(kx, pad), lit(-1)), and(leS(lit(4), ow), leS(lit(8), w)))).if(() => {
                loadPair(() => f.get(colp));
                f.get(dxRow).get(dxRow).vload(0);
                f.get(v1)
                  .get(v2)
                  .simd(Simd.shuffle, ...lanes32(4, 1, 5, 2))
                  .simd(Simd.f32x4Add)
                  .vstore(0);
                f.get(dxRow).get(dxRow).vload(16);
                f.get(v1)
                  .get(v2)
                  .simd(Simd.shuffle, ...lanes32(6, 3, 7, 7))
                  .simd(Simd.const, ...KEEP_012)
                  .simd(Simd.and)
                  .simd(Simd.f32x4Add)
                  .vstore(16);
                f.assign(ox, lit(4));
              });
              scalarPair(() => f.get(ox0));
              f.block((done) => {
                f.loop((next) => {
                  f.push(gtS(add(ox, lit(4)), ow)).brIf(done);
                  // the 8 dx targets [ix, ix + 7] must lie inside the row (ix = 2*ox - pad + kx), or all but the last
                  f.push(gtS(add(teeTo(ix, add(sub(shl(ox, 1), pad), kx)), lit(7)), w)).brIf(done);
                  loadPair(() => f.push(f32At(colp, ox)));
                  f.assign(i, f32At(dxRow, ix));
                  f.get(i).get(i).vload(0);
                  f.get(v1)
                    .get(v2)
                    .simd(Simd.shuffle, ...LO)
                    .simd(Simd.f32x4Add)
                    .vstore(0);
                  f.push(eq(add(ix, lit(7)), w)).if(
                    () => {
                      // the last target (lane 7) is one past the row (outside the image, or the zero partner):
                      // dx[ix + 3 .. ix + 6] += (0, lanes 4..6), dx[ix + 3] already has its lane 3 from above
                      f.get(i).get(i).vload(12);
                      f.get(v1)
                        .get(v2)
                        .simd(Simd.shuffle, ...lanes32(2, 2, 6, 3))
                        .simd(Simd.const, ...KEEP_123)
                        .simd(Simd.and)
                        .simd(Simd.f32x4Add)
                        .vstore(12);
                    },
                    () => {
                      f.get(i).get(i).vload(16);
                      f.get(v1)
                        .get(v2)
                        .simd(Simd.shuffle, ...HI)
                        .simd(Simd.f32x4Add)
                        .vstore(16);
                    },
                  );
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
        // zero the plane (f32x4 stores, scalar tail): dx is not zeroed when allocated
        f.assign(zeroIdx, lit(0));
        vecLoop(
          f,
          i,
          zeroIdx,
          hw,
          () =>
            f
              .push(f32At(dxp, i))
              .simd(Simd.const, ...new Array(16).fill(0))
              .vstore(0),
          () => f.push(f32At(dxp, i)).f32(0).mem(Op.f32Store),
        );
        f.range(ky, kh, () => {
          f.block((done) => {
            f.push(eq(stride, lit(2))).if(() => {
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
