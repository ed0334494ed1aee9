/**
 * Emits the direct kernels for thin-input convolutions (cin <= 4: the stem's 3 -> C 7x7/2), which the im2col GEMM
 * serves badly: its K = cin*kh*kw is small, so packing the column matrix costs more than the multiply. Here the
 * input is read in place from a zero-padded copy (no bounds checks), output channels are the SIMD lanes and
 * pixels are broadcast:
 * - thinFwd: y[n, c, oy, ox] = sum over taps t of wt[t, c] * xp[n, tap t shifted to (oy*s, ox*s)]; per task one
 *   output row (n, oy); register block 8 channels x 4 pixels (8 f32x4 accumulators), then 8 x 1 for the tail.
 * - thinGw: dwT[t, c] = sum over (n, oy, ox) of dyT[n, oy, ox, c] * xp[...]; per task one block of 8 channels,
 *   images outermost, per image every block of 4 taps (8 accumulators) over its pixels; the summation order is
 *   fixed, so the result does not depend on the thread count.
 * - padPlanes / chanLast: the zero-padded input copy and dy transposed to channels-last for thinGw.
 * Tap offsets come from a table of byte offsets ((ci*Hp + ky)*Wp + kx)*4 written by the caller (./conv-thin.ts).
 */

import { add, lit, mul, shl } from './emit-expr.js';
import { emitFma } from './kernels-gemm-micro.js';
import { at } from './kernels-misc.js';
import { lanes32 } from './kernels-transpose.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

const fma = emitFma;

const zero = (f: FnBuilder, l: number) => f.simd(Simd.const, ...new Array(16).fill(0)).set(l);

function emitThinFwd(m: ModuleBuilder, relaxed: boolean): void {
  // thinFwd(xp, wt, taps, y, nTaps, imgB, rowB, ps, oh, ow, cout, r0, r1); imgB = bytes per padded image,
  // rowB = bytes per padded row times the stride, ps = stride*4
  m.kernel(
    'thinFwd',
    {
      xp: I32,
      wt: I32,
      taps: I32,
      y: I32,
      nTaps: I32,
      imgB: I32,
      rowB: I32,
      ps: I32,
      oh: I32,
      ow: I32,
      cout: I32,
      r0: I32,
      r1: I32,
    },
    (f, { xp, wt, taps, y, nTaps, imgB, rowB, ps, oh, ow, cout, r0, r1 }) => {
      const { r, n, oy, cb, ox, t, tp, wp, a0, base, o, plane, coutB } = f.locals({
        r: I32,
        n: I32,
        oy: I32,
        cb: I32,
        ox: I32,
        t: I32,
        tp: I32,
        wp: I32,
        a0: I32,
        base: I32,
        o: I32,
        plane: I32,
        coutB: I32,
      });
      const acc = f.localArray(V128, 8);
      const w0 = f.local(V128);
      const w1 = f.local(V128);
      const xs = f.local(V128);
      f.assign(plane, shl(mul(oh, ow), 2));
      f.assign(coutB, shl(cout, 2));
      // P pixels from ox: acc[v*P + q] = channels cb + 4v .. +3 at pixel ox + q
      const block = (P: number) => {
        for (let i = 0; i < 2 * P; i++) zero(f, acc[i]!);
        f.assign(a0, add(add(xp, mul(n, imgB)), add(mul(oy, rowB), mul(ox, ps))));
        f.get(taps).set(tp);
        f.assign(wp, add(wt, shl(cb, 2)));
        f.range(t, nTaps, () => {
          f.get(wp).vload(0).set(w0);
          f.get(wp).vload(16).set(w1);
          f.get(a0).get(tp).mem(Op.i32Load).op(Op.i32Add).set(base);
          for (let q = 0; q < P; q++) {
            f.get(base).vsplatLoad(0).set(xs);
            fma(f, relaxed, acc[q]!, w0, xs);
            fma(f, relaxed, acc[P + q]!, w1, xs);
            if (q < P - 1) f.incBy(base, ps);
          }
          f.inc(tp, 4);
          f.incBy(wp, coutB);
        });
        // y[n, c, oy, ox + q] for c = cb + 4v + lane: o = y + (((n*cout + cb)*oh + oy)*ow + ox)*4, + plane per c
        f.assign(o, add(y, shl(add(mul(add(mul(add(mul(n, cout), cb), oh), oy), ow), ox), 2)));
        for (let v = 0; v < 2; v++) {
          for (let lane = 0; lane < 4; lane++) {
            if (v + lane > 0) f.incBy(o, plane);
            for (let q = 0; q < P; q++) {
              f.get(o)
                .get(acc[v * P + q]!)
                .simd(Simd.f32x4ExtractLane, lane)
                .mem(Op.f32Store, q * 4);
            }
          }
        }
      };
      f.for(
        r,
        () => f.get(r0),
        () => f.get(r1),
        1,
        () => {
          f.get(r).get(oh).op(Op.i32DivU).set(n);
          f.get(r).get(oh).op(Op.i32RemU).set(oy);
          f.for(
            cb,
            () => f.i32(0),
            () => f.get(cout),
            8,
            () => {
              f.i32(0).set(ox);
              f.block((done4) => {
                f.loop((top) => {
                  f.get(ox).i32(4).op(Op.i32Add).get(ow).op(Op.i32GtS).brIf(done4);
                  block(4);
                  f.inc(ox, 4);
                  f.br(top);
                });
              });
              f.block((done1) => {
                f.loop((top) => {
                  f.get(ox).get(ow).op(Op.i32GeS).brIf(done1);
                  block(1);
                  f.inc(ox, 1);
                  f.br(top);
                });
              });
            },
          );
        },
      );
    },
  );
}

function emitThinGw(m: ModuleBuilder, relaxed: boolean): void {
  // thinGw(xp, dyT, taps, dwT, imgB, rowB, ps, nImg, oh, ow, cout, nTb, c0, c1): tasks are channel blocks of 8;
  // images outermost so one image's padded input and dy rows stay in cache while every tap block reads them;
  // dwT[t, c] accumulates over images in order (a fixed summation order whatever the thread count)
  m.kernel(
    'thinGw',
    {
      xp: I32,
      dyT: I32,
      taps: I32,
      dwT: I32,
      imgB: I32,
      rowB: I32,
      ps: I32,
      nImg: I32,
      oh: I32,
      ow: I32,
      cout: I32,
      nTb: I32,
      c0: I32,
      c1: I32,
    },
    (f, { xp, dyT, taps, dwT, imgB, rowB, ps, nImg, oh, ow, cout, nTb, c0, c1 }) => {
      const { cbk, tb, cb, img, oy, ox, a, dp, coutB, dst } = f.locals({
        cbk: I32,
        tb: I32,
        cb: I32,
        img: I32,
        oy: I32,
        ox: I32,
        a: I32,
        dp: I32,
        coutB: I32,
        dst: I32,
      });
      const off = f.localArray(I32, 4);
      const acc = f.localArray(V128, 8);
      const d0 = f.local(V128);
      const d1 = f.local(V128);
      const xs = f.local(V128);
      f.assign(coutB, shl(cout, 2));
      // dst(j) = dwT + ((tb*4 + j)*cout + cb)*4: acc[2j + v] lives at dst(j) + 16v
      const dstOf = (j: number) => f.assign(dst, add(dwT, shl(add(mul(add(shl(tb, 2), lit(j)), cout), cb), 2)));
      f.for(
        cbk,
        () => f.get(c0),
        () => f.get(c1),
        1,
        () => {
          f.assign(cb, shl(cbk, 3));
          f.range(img, nImg, () => {
            f.range(tb, nTb, () => {
              for (let j = 0; j < 4; j++) {
                f.get(taps)
                  .get(tb)
                  .i32(4)
                  .op(Op.i32Shl, Op.i32Add)
                  .mem(Op.i32Load, j * 4)
                  .set(off[j]!);
              }
              // the running sums: zero for the first image, else what the previous images left in dwT
              f.get(img)
                .op(Op.i32Eqz)
                .if(
                  () => {
                    for (let i = 0; i < 8; i++) zero(f, acc[i]!);
                  },
                  () => {
                    for (let j = 0; j < 4; j++) {
                      dstOf(j);
                      for (let v = 0; v < 2; v++)
                        f.get(dst)
                          .vload(v * 16)
                          .set(acc[2 * j + v]!);
                    }
                  },
                );
              f.assign(dp, add(add(dyT, shl(cb, 2)), mul(img, mul(mul(oh, ow), coutB))));
              f.range(oy, oh, () => {
                f.assign(a, add(add(xp, mul(img, imgB)), mul(oy, rowB)));
                f.range(ox, ow, () => {
                  f.get(dp).vload(0).set(d0);
                  f.get(dp).vload(16).set(d1);
                  for (let j = 0; j < 4; j++) {
                    f.get(a).get(off[j]!).op(Op.i32Add).vsplatLoad(0).set(xs);
                    fma(f, relaxed, acc[2 * j]!, d0, xs);
                    fma(f, relaxed, acc[2 * j + 1]!, d1, xs);
                  }
                  f.incBy(a, ps);
                  f.incBy(dp, coutB);
                });
              });
              for (let j = 0; j < 4; j++) {
                dstOf(j);
                for (let v = 0; v < 2; v++)
                  f.get(dst)
                    .get(acc[2 * j + v]!)
                    .vstore(v * 16);
              }
            });
          });
        },
      );
    },
  );
}

function emitHelpers(m: ModuleBuilder): void {
  // padPlanes(x, dst, h, w, pad, p0, p1): dst plane p = x plane p with `pad` zeros on every side
  m.kernel(
    'padPlanes',
    { x: I32, dst: I32, h: I32, w: I32, pad: I32, p0: I32, p1: I32 },
    (f, { x, dst, h, w, pad, p0, p1 }) => {
      const { p, i, yy, xx, wp, hp, src, d, area } = f.locals({
        area: I32,
        p: I32,
        i: I32,
        yy: I32,
        xx: I32,
        wp: I32,
        hp: I32,
        src: I32,
        d: I32,
      });
      f.assign(wp, add(w, shl(pad, 1)));
      f.assign(hp, add(h, shl(pad, 1)));
      f.assign(area, mul(hp, wp));
      f.for(
        p,
        () => f.get(p0),
        () => f.get(p1),
        1,
        () => {
          f.assign(d, add(dst, shl(mul(p, mul(hp, wp)), 2)));
          f.range(i, area, () => at(f, d, i).f32(0).mem(Op.f32Store));
          f.assign(src, add(x, shl(mul(p, mul(h, w)), 2)));
          f.range(yy, h, () => {
            f.range(xx, w, () => {
              // d[(yy + pad)*wp + pad + xx] = src[yy*w + xx]
              f.get(d)
                .push(shl(add(add(mul(add(yy, pad), wp), pad), xx), 2))
                .op(Op.i32Add);
              f.get(src)
                .push(shl(add(mul(yy, w), xx), 2))
                .op(Op.i32Add)
                .mem(Op.f32Load)
                .mem(Op.f32Store);
            });
          });
        },
      );
    },
  );
  // chanLast(dy, dyT, c, hw, n0, n1): dyT[n, p, ch] = dy[n, ch, p]; 4x4 blocks through a register transpose when
  // c and hw are multiples of 4, else one float at a time (the same bits either way)
  m.kernel('chanLast', { dy: I32, dyT: I32, c: I32, hw: I32, n0: I32, n1: I32 }, (f, { dy, dyT, c, hw, n0, n1 }) => {
    const { n, ch, p, s, d, hwB, cB } = f.locals({ n: I32, ch: I32, p: I32, s: I32, d: I32, hwB: I32, cB: I32 });
    const v = f.localArray(V128, 4);
    const tmp = f.localArray(V128, 4);
    f.assign(hwB, shl(hw, 2));
    f.assign(cB, shl(c, 2));
    f.get(c).get(hw).op(Op.i32Or).i32(3).op(Op.i32And).op(Op.i32Eqz);
    f.if(
      () => {
        f.for(
          n,
          () => f.get(n0),
          () => f.get(n1),
          1,
          () => {
            f.for(
              ch,
              () => f.i32(0),
              () => f.get(c),
              4,
              () => {
                f.assign(s, add(dy, shl(mul(add(mul(n, c), ch), hw), 2)));
                f.assign(d, add(dyT, shl(add(mul(mul(n, hw), c), ch), 2)));
                f.for(
                  p,
                  () => f.i32(0),
                  () => f.get(hw),
                  4,
                  () => {
                    for (let q = 0; q < 4; q++) {
                      f.get(s);
                      if (q > 0) f.get(hwB).i32(q).op(Op.i32Mul, Op.i32Add);
                      f.vload(0).set(v[q]!);
                    }
                    // rows p..p+3 of the 4x4 block: (v0[r], v1[r], v2[r], v3[r])
                    const [t0, t1, t2, t3] = tmp as [number, number, number, number];
                    const sh = (a: number, b: number, lanes: number[], out: number) =>
                      f
                        .get(a)
                        .get(b)
                        .simd(Simd.shuffle, ...lanes32(...lanes))
                        .set(out);
                    sh(v[0]!, v[1]!, [0, 4, 1, 5], t0);
                    sh(v[0]!, v[1]!, [2, 6, 3, 7], t1);
                    sh(v[2]!, v[3]!, [0, 4, 1, 5], t2);
                    sh(v[2]!, v[3]!, [2, 6, 3, 7], t3);
                    const rows: [number, number, number[]][] = [
                      [t0, t2, [0, 1, 4, 5]],
                      [t0, t2, [2, 3, 6, 7]],
                      [t1, t3, [0, 1, 4, 5]],
                      [t1, t3, [2, 3, 6, 7]],
                    ];
                    rows.forEach(([a, b, lanes], r) => {
                      f.get(d);
                      if (r > 0) f.get(cB).i32(r).op(Op.i32Mul, Op.i32Add);
                      f.get(a)
                        .get(b)
                        .simd(Simd.shuffle, ...lanes32(...lanes))
                        .vstore(0);
                    });
                    f.inc(s, 16);
                    f.get(d).get(cB).i32(2).op(Op.i32Shl, Op.i32Add).set(d);
                  },
                );
              },
            );
          },
        );
      },
      () => {
        f.for(
          n,
          () => f.get(n0),
          () => f.get(n1),
          1,
          () => {
            f.range(ch, c, () => {
              f.assign(s, add(dy, shl(mul(add(mul(n, c), ch), hw), 2)));
              f.assign(d, add(dyT, shl(add(mul(mul(n, hw), c), ch), 2)));
              f.range(p, hw, () => {
                f.get(d).get(s).mem(Op.f32Load).mem(Op.f32Store);
                f.inc(s, 4);
                f.get(d).get(cB).op(Op.i32Add).set(d);
              });
            });
          },
        );
      },
    );
  });
}

export function emitThinConvKernels(m: ModuleBuilder, relaxed: boolean): void {
  emitThinFwd(m, relaxed);
  emitThinGw(m, relaxed);
  emitHelpers(m);
}
