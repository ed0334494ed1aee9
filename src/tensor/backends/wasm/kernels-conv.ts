/**
 * Emits the convolution data-movement kernels: im2col written straight into the packed B-panel layout (forward:
 * rows (ci,ky,kx), columns (n,oy,ox)); its transpose for grad-weight (rows (n,oy,ox), columns (ci,ky,kx)), which
 * gathers one f32x4 over 4 output x per s-value (stride 1 / 2 fast paths) and transposes in registers; col2im is
 * in ./kernels-col2im.ts.
 *
 * Out-of-image taps read a zero float at `zp` (a reserved zeroed word) through `select`, so no branch per
 * element on the general paths.
 */

import { add, divU, lit, mul, remU, shl, sub } from './emit-expr.js';
import { CONV_GEOM, emitCol2im } from './kernels-col2im.js';
import { lanes32, transposeLocals, transposeStore, vecLocals } from './kernels-transpose.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd } from './module-builder.js';

/** Push the address (or zp when out of bounds) of x[base + ciOff + iy*w + ix] (bytes; base/ciOff in bytes). */
function gather(
  f: FnBuilder,
  g: { readonly h: number; readonly w: number },
  base: () => void,
  iy: number,
  ix: number,
  zp: number,
): void {
  base();
  f.get(iy).get(g.w).op(Op.i32Mul).get(ix).op(Op.i32Add).i32(2).op(Op.i32Shl, Op.i32Add);
  f.get(zp);
  f.get(iy).get(g.h).op(Op.i32LtU).get(ix).get(g.w).op(Op.i32LtU).op(Op.i32And);
  f.op(Op.select).mem(Op.f32Load);
}

/**
 * Per-lane set-up of one 8-wide strip of packed columns: for lane q, j = s0 + t + q; lanes inside the strip
 * (t + q < sCount) run `inLane(q)` (which may read j), lanes past its end run `padLane(q)` (zero-padding state).
 * Locals are indices of the calling function.
 */
function stripLanes(
  f: FnBuilder,
  l: { t: number; s0: number; sCount: number; j: number },
  inLane: (q: number) => void,
  padLane: (q: number) => void,
): void {
  for (let q = 0; q < 8; q++) {
    f.assign(l.j, add(add(l.s0, l.t), lit(q)));
    f.get(l.t)
      .i32(q)
      .op(Op.i32Add)
      .get(l.sCount)
      .op(Op.i32LtS)
      .if(
        () => inLane(q),
        () => padLane(q),
      );
  }
}

function emitIm2colPack(m: ModuleBuilder): void {
  // im2colPack(conv..., d0, dCount, s0, sCount, dst, zp): s = column (n,oy,ox), d = row (ci,ky,kx); P = 8
  const params = { ...CONV_GEOM, d0: I32, dCount: I32, s0: I32, sCount: I32, dst: I32, zp: I32 } as const;
  m.kernel(
    'im2colPack',
    params,
    (f, { x, cin, h, w, kh, kw, stride, pad, oh, ow, d0, dCount, s0, sCount, dst, zp }) => {
      const base = f.localArray(I32, 8);
      const iy0 = f.localArray(I32, 8);
      const ix0 = f.localArray(I32, 8);
      const lb = f.localArray(I32, 8);
      const mk = f.localArray(I32, 8);
      const { masked, tap, ty, tx, cOff } = f.locals({ masked: I32, tap: I32, ty: I32, tx: I32, cOff: I32 });
      const { t, j, ohw, fast, d, ci, ky, kx, iy, ix, rowPtr, kk, planeB } = f.locals({
        t: I32,
        j: I32,
        ohw: I32,
        fast: I32,
        d: I32,
        ci: I32,
        ky: I32,
        kx: I32,
        iy: I32,
        ix: I32,
        rowPtr: I32,
        kk: I32,
        planeB: I32,
      });
      f.assign(ohw, mul(oh, ow));
      f.assign(kk, mul(kh, kw));
      f.assign(planeB, shl(mul(h, w), 2));
      f.for(
        t,
        () => f.i32(0),
        () => f.get(sCount),
        8,
        () => {
          stripLanes(
            f,
            { t, s0, sCount, j },
            (q) => {
              f.get(x).get(j).get(ohw).op(Op.i32DivU).get(cin).op(Op.i32Mul).get(planeB).op(Op.i32Mul, Op.i32Add);
              f.set(base[q]!);
              f.assign(j, remU(j, ohw));
              f.assign(iy0[q]!, sub(mul(divU(j, ow), stride), pad));
              f.assign(ix0[q]!, sub(mul(remU(j, ow), stride), pad));
            },
            (q) => {
              f.get(x).set(base[q]!);
              f.i32(-1 << 24).set(iy0[q]!);
              f.i32(0).set(ix0[q]!);
            },
          );
          // fast: a full strip inside one output row of one image
          f.get(sCount).get(t).op(Op.i32Sub).i32(8).op(Op.i32GeS);
          f.get(iy0[7]!).get(iy0[0]!).op(Op.i32Eq, Op.i32And);
          f.get(base[7]!).get(base[0]!).op(Op.i32Eq, Op.i32And);
          f.get(ix0[7]!).get(ix0[0]!).op(Op.i32Sub).get(stride).i32(7).op(Op.i32Mul, Op.i32Eq, Op.i32And);
          f.set(fast);
          // masked: kernels of <= 32 taps off the fast path (small maps) gather through per-lane tap masks
          f.get(fast).op(Op.i32Eqz).get(kk).i32(32).op(Op.i32LeS, Op.i32And).set(masked);
          f.get(masked).if(() => {
            for (let q = 0; q < 8; q++) {
              // lb = the lane's (ky, kx) = (0, 0) address (may lie outside the image: only read when its bit is set)
              f.assign(lb[q]!, add(base[q]!, shl(add(mul(iy0[q]!, w), ix0[q]!), 2)));
              f.i32(0).set(mk[q]!);
            }
            f.i32(0).set(tap);
            f.range(ty, kh, () => {
              f.range(tx, kw, () => {
                for (let q = 0; q < 8; q++) {
                  // mk |= ((iy0 + ty) <u h & (ix0 + tx) <u w) << tap
                  f.get(mk[q]!);
                  f.get(iy0[q]!).get(ty).op(Op.i32Add).get(h).op(Op.i32LtU);
                  f.get(ix0[q]!).get(tx).op(Op.i32Add).get(w).op(Op.i32LtU, Op.i32And);
                  f.get(tap).op(Op.i32Shl, Op.i32Or).set(mk[q]!);
                }
                f.inc(tap, 1);
              });
            });
          });
          // (ci, ky, kx) of d0
          f.assign(ci, divU(d0, kk));
          f.assign(ky, divU(remU(d0, kk), kw));
          f.assign(kx, remU(d0, kw));
          f.range(d, dCount, () => {
            f.block((done) => {
              f.get(fast).if(() => {
                f.get(iy0[0]!).get(ky).op(Op.i32Add).tee(iy).get(h).op(Op.i32GeU);
                f.if(() => {
                  f.get(dst)
                    .simd(Simd.const, ...new Array(16).fill(0))
                    .vstore(0);
                  f.get(dst)
                    .simd(Simd.const, ...new Array(16).fill(0))
                    .vstore(16);
                  f.br(done);
                });
                f.assign(ix, add(ix0[0]!, kx));
                // rowPtr = base + ci*plane + (iy*w + ix)*4
                f.get(base[0]!).get(ci).get(planeB).op(Op.i32Mul, Op.i32Add);
                f.get(iy).get(w).op(Op.i32Mul).get(ix).op(Op.i32Add).i32(2).op(Op.i32Shl, Op.i32Add).set(rowPtr);
                f.get(ix).i32(0).op(Op.i32GeS);
                f.get(ix).get(stride).i32(7).op(Op.i32Mul, Op.i32Add).get(w).op(Op.i32LtS, Op.i32And);
                f.if(() => {
                  f.get(stride)
                    .i32(1)
                    .op(Op.i32Eq)
                    .if(() => {
                      f.get(dst).get(rowPtr).vload(0).vstore(0);
                      f.get(dst).get(rowPtr).vload(16).vstore(16);
                      f.br(done);
                    });
                  f.get(stride)
                    .i32(2)
                    .op(Op.i32Eq)
                    .if(() => {
                      const evens = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
                      for (let half = 0; half < 2; half++) {
                        f.get(dst);
                        f.get(rowPtr).vload(half * 32);
                        f.get(rowPtr)
                          .vload(half * 32 + 16)
                          .simd(Simd.shuffle, ...evens);
                        f.vstore(half * 16);
                      }
                      f.br(done);
                    });
                });
              });
              f.get(masked).if(() => {
                // tap = ky*kw + kx; cOff = ci*plane + (ky*w + kx)*4 from each lane's (0, 0) address
                f.assign(tap, add(mul(ky, kw), kx));
                f.assign(cOff, add(mul(ci, planeB), shl(add(mul(ky, w), kx), 2)));
                for (let q = 0; q < 8; q++) {
                  f.get(dst);
                  f.get(lb[q]!).get(cOff).op(Op.i32Add).get(zp);
                  f.get(mk[q]!).get(tap).op(Op.i32ShrU).i32(1).op(Op.i32And);
                  f.op(Op.select)
                    .mem(Op.f32Load)
                    .mem(Op.f32Store, q * 4);
                }
                f.br(done);
              });
              // general per-element gather
              for (let q = 0; q < 8; q++) {
                f.get(dst);
                f.assign(iy, add(iy0[q]!, ky));
                f.assign(ix, add(ix0[q]!, kx));
                gather(f, { h, w }, () => f.get(base[q]!).get(ci).get(planeB).op(Op.i32Mul, Op.i32Add), iy, ix, zp);
                f.mem(Op.f32Store, q * 4);
              }
            });
            f.inc(dst, 32);
            f.inc(kx, 1);
            f.get(kx)
              .get(kw)
              .op(Op.i32Eq)
              .if(() => {
                f.i32(0).set(kx);
                f.inc(ky, 1);
                f.get(ky)
                  .get(kh)
                  .op(Op.i32Eq)
                  .if(() => {
                    f.i32(0).set(ky);
                    f.inc(ci, 1);
                  });
              });
          });
        },
      );
    },
  );
}

function emitIm2colTPack(m: ModuleBuilder): void {
  // im2colTPack(conv..., d0, dCount, s0, sCount, dst, zp): s = (ci,ky,kx), d = (n,oy,ox); P = 8
  const params = { ...CONV_GEOM, d0: I32, dCount: I32, s0: I32, sCount: I32, dst: I32, zp: I32 } as const;
  m.kernel(
    'im2colTPack',
    params,
    (f, { x, cin, h, w, kh, kw, stride, pad, oh, ow, d0, dCount, s0, sCount, dst, zp }) => {
      const ciOff = f.localArray(I32, 8);
      const kyq = f.localArray(I32, 8);
      const kxq = f.localArray(I32, 8);
      const { t, j, kk, planeB, d, n, oy, ox, base, iy0, ix0, iy, ix } = f.locals({
        t: I32,
        j: I32,
        kk: I32,
        planeB: I32,
        d: I32,
        n: I32,
        oy: I32,
        ox: I32,
        base: I32,
        iy0: I32,
        ix0: I32,
        iy: I32,
        ix: I32,
      });
      const { addr, ixl } = f.locals({ addr: I32, ixl: I32 });
      const vecs = vecLocals(f, 8);
      const tmp = transposeLocals(f);
      /** vecs[q] = x values of s-value q at the 4 output positions (oy, ox..ox+3) of image n. */
      const gatherRow4 = (f: FnBuilder, q: number) => {
        const v = vecs[q]!;
        f.block((done) => {
          f.get(iy0).get(kyq[q]!).op(Op.i32Add).tee(iy).get(h).op(Op.i32GeU);
          f.if(() => {
            f.simd(Simd.const, ...new Array(16).fill(0)).set(v);
            f.br(done);
          });
          f.assign(ix, add(ix0, kxq[q]!));
          f.get(base).get(ciOff[q]!).op(Op.i32Add);
          f.get(iy).get(w).op(Op.i32Mul).get(ix).op(Op.i32Add).i32(2).op(Op.i32Shl, Op.i32Add).set(addr);
          f.get(ix).i32(0).op(Op.i32GeS);
          f.get(ix).get(stride).i32(3).op(Op.i32Mul, Op.i32Add).get(w).op(Op.i32LtS, Op.i32And);
          f.if(() => {
            f.get(stride)
              .i32(1)
              .op(Op.i32Eq)
              .if(() => {
                f.get(addr).vload(0).set(v);
                f.br(done);
              });
            f.get(stride)
              .i32(2)
              .op(Op.i32Eq)
              .if(() => {
                f.get(addr)
                  .vload(0)
                  .get(addr)
                  .vload(12)
                  .simd(Simd.shuffle, ...lanes32(0, 2, 5, 7))
                  .set(v);
                f.br(done);
              });
          });
          // edge or other stride: per-lane gather with the zero-word select
          for (let l = 0; l < 4; l++) {
            if (l > 0) f.get(v);
            f.assign(ixl, add(ix, mul(lit(l), stride)));
            gather(f, { h, w }, () => f.get(base).get(ciOff[q]!).op(Op.i32Add), iy, ixl, zp);
            if (l === 0) f.simd(Simd.f32x4Splat);
            else f.simd(Simd.f32x4ReplaceLane, l);
            f.set(v);
          }
        });
      };
      f.assign(kk, mul(kh, kw));
      f.assign(planeB, shl(mul(h, w), 2));
      f.for(
        t,
        () => f.i32(0),
        () => f.get(sCount),
        8,
        () => {
          stripLanes(
            f,
            { t, s0, sCount, j },
            (q) => {
              f.assign(ciOff[q]!, mul(divU(j, kk), planeB));
              f.assign(kyq[q]!, divU(remU(j, kk), kw));
              f.assign(kxq[q]!, remU(j, kw));
            },
            (q) => {
              f.i32(0).set(ciOff[q]!);
              f.i32(-1 << 24).set(kyq[q]!);
              f.i32(0).set(kxq[q]!);
            },
          );
          // (n, oy, ox) of d0
          f.assign(n, divU(d0, mul(oh, ow)));
          f.assign(oy, divU(remU(d0, mul(oh, ow)), ow));
          f.assign(ox, remU(d0, ow));
          f.range(d, dCount, () => {
            f.assign(base, add(x, mul(mul(n, cin), planeB)));
            f.assign(iy0, sub(mul(oy, stride), pad));
            f.assign(ix0, sub(mul(ox, stride), pad));
            f.block((done) => {
              // fast: 4 output positions in one output row -> one f32x4 per s, then a register transpose
              f.get(dCount).get(d).op(Op.i32Sub).i32(4).op(Op.i32GeS);
              f.get(ox).i32(4).op(Op.i32Add).get(ow).op(Op.i32LeS, Op.i32And);
              f.if(() => {
                for (let q = 0; q < 8; q++) gatherRow4(f, q);
                transposeStore(f, vecs, tmp, dst, 32);
                f.inc(dst, 96).inc(d, 3).inc(ox, 3);
                f.br(done);
              });
              for (let q = 0; q < 8; q++) {
                f.get(dst);
                f.assign(iy, add(iy0, kyq[q]!));
                f.assign(ix, add(ix0, kxq[q]!));
                gather(f, { h, w }, () => f.get(base).get(ciOff[q]!).op(Op.i32Add), iy, ix, zp);
                f.mem(Op.f32Store, q * 4);
              }
            });
            f.inc(dst, 32);
            f.inc(ox, 1);
            f.get(ox)
              .get(ow)
              .op(Op.i32Eq)
              .if(() => {
                f.i32(0).set(ox);
                f.inc(oy, 1);
                f.get(oy)
                  .get(oh)
                  .op(Op.i32Eq)
                  .if(() => {
                    f.i32(0).set(oy);
                    f.inc(n, 1);
                  });
              });
          });
        },
      );
    },
  );
}

/** Adds im2colPack, im2colTPack and col2im to `m`. */
export function emitConvKernels(m: ModuleBuilder): void {
  emitIm2colPack(m);
  emitIm2colTPack(m);
  emitCol2im(m);
}
