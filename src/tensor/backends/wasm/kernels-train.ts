/**
 * Emits the backward/training kernels: GroupNorm / Weight-Standardization backward (one shared kernel), row sums,
 * max-pool forward/backward and the fused SGD step.
 *
 * normBwd math, per (n, group) with len = cpg*hw, xhat = (x - mean)*rstd, g = gamma (1 when absent):
 *   dx = rstd*g*dy - rstd*A/len - (x - mean)*rstd^3*B/len, A = sum g*dy, B = sum g*dy*(x - mean)
 * and per-(n, channel) partials sum dy and sum dy*xhat go to pdb/pdg (summed over n afterwards in a fixed
 * order), so dgamma/dbeta never depend on how (n, group) items were split across threads.
 */

import { add, and, divU, f32At, geS, leS, lit, ltU, mul, remU, shl, sub } from './emit-expr.js';
import { at, f64Sum, vecLoop } from './kernels-misc.js';
import { F32, F64, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

function emitNormBwd(m: ModuleBuilder): void {
  // normBwd(dy, x, gamma, mean, rstd, dx, pdb, pdg, c, hw, groups, ng0, ng1)
  m.kernel(
    'normBwd',
    {
      dy: I32,
      x: I32,
      gamma: I32,
      mean: I32,
      rstd: I32,
      dx: I32,
      pdb: I32,
      pdg: I32,
      c: I32,
      hw: I32,
      groups: I32,
      ng0: I32,
      ng1: I32,
    },
    (f, { dy, x, gamma, mean, rstd, dx, pdb, pdg, c, hw, groups, ng0, ng1 }) => {
      const { ng, ch, cpg, i, chAbs, off, dyp, xp, dxp, zero, pidx } = f.locals({
        ng: I32,
        ch: I32,
        cpg: I32,
        i: I32,
        chAbs: I32,
        off: I32,
        dyp: I32,
        xp: I32,
        dxp: I32,
        zero: I32,
        pidx: I32,
      });
      const { sdy, sdyx, A, B, len } = f.locals({ sdy: F64, sdyx: F64, A: F64, B: F64, len: F64 });
      const { mu, rs, gm, k1, k2, k3 } = f.locals({ mu: F32, rs: F32, gm: F32, k1: F32, k2: F32, k3: F32 });
      const { vmu, vk1, vk2, vk3 } = f.locals({ vmu: V128, vk1: V128, vk2: V128, vk3: V128 });
      f.assign(cpg, divU(c, groups));
      f.get(cpg).get(hw).op(Op.i32Mul).op(Op.f64ConvertI32U).set(len);
      const setChannel = () => {
        f.assign(chAbs, add(mul(remU(ng, groups), cpg), ch));
        f.assign(off, shl(mul(add(mul(ng, cpg), ch), hw), 2));
        f.assign(dyp, add(dy, off));
        f.assign(xp, add(x, off));
        f.assign(dxp, add(dx, off));
        f.f32(1).set(gm);
        f.get(gamma).if(() => at(f, gamma, chAbs).mem(Op.f32Load).set(gm));
      };
      f.for(
        ng,
        () => f.get(ng0),
        () => f.get(ng1),
        1,
        () => {
          at(f, mean, ng).mem(Op.f32Load).tee(mu).simd(Simd.f32x4Splat).set(vmu);
          at(f, rstd, ng).mem(Op.f32Load).set(rs);
          f.f32(0).op(Op.f64PromoteF32).tee(A).set(B);
          f.range(ch, cpg, () => {
            setChannel();
            f64Sum(
              f,
              i,
              hw,
              () => at(f, dyp, i).vload(),
              () => at(f, dyp, i).mem(Op.f32Load),
              sdy,
            );
            f64Sum(
              f,
              i,
              hw,
              () => {
                at(f, dyp, i).vload();
                at(f, xp, i).vload().get(vmu).simd(Simd.f32x4Sub).simd(Simd.f32x4Mul);
              },
              () => {
                at(f, dyp, i).mem(Op.f32Load);
                at(f, xp, i).mem(Op.f32Load).get(mu).op(Op.f32Sub, Op.f32Mul);
              },
              sdyx,
            );
            f.get(pdb).if(() => {
              // pidx = (ng / groups) * c + chAbs
              f.get(ng).get(groups).op(Op.i32DivU).get(c).op(Op.i32Mul).get(chAbs).op(Op.i32Add).set(pidx);
              at(f, pdb, pidx).get(sdy).op(Op.f32DemoteF64).mem(Op.f32Store);
              at(f, pdg, pidx).get(sdyx).get(rs).op(Op.f64PromoteF32, Op.f64Mul, Op.f32DemoteF64).mem(Op.f32Store);
            });
            f.get(A).get(sdy).get(gm).op(Op.f64PromoteF32, Op.f64Mul, Op.f64Add).set(A);
            f.get(B).get(sdyx).get(gm).op(Op.f64PromoteF32, Op.f64Mul, Op.f64Add).set(B);
          });
          // k2 = rstd*A/len, k3 = rstd^3*B/len
          f.get(rs).op(Op.f64PromoteF32).get(A).op(Op.f64Mul).get(len).op(Op.f64Div, Op.f32DemoteF64).set(k2);
          f.get(rs)
            .op(Op.f64PromoteF32)
            .get(rs)
            .op(Op.f64PromoteF32, Op.f64Mul)
            .get(rs)
            .op(Op.f64PromoteF32, Op.f64Mul);
          f.get(B).op(Op.f64Mul).get(len);
          f.op(Op.f64Div, Op.f32DemoteF64).set(k3);
          f.get(k2).simd(Simd.f32x4Splat).set(vk2);
          f.get(k3).simd(Simd.f32x4Splat).set(vk3);
          f.range(ch, cpg, () => {
            setChannel();
            f.get(rs).get(gm).op(Op.f32Mul).tee(k1).simd(Simd.f32x4Splat).set(vk1);
            f.i32(0).set(zero);
            vecLoop(
              f,
              i,
              zero,
              hw,
              () => {
                at(f, dxp, i);
                at(f, dyp, i).vload().get(vk1).simd(Simd.f32x4Mul).get(vk2).simd(Simd.f32x4Sub);
                at(f, xp, i).vload().get(vmu).simd(Simd.f32x4Sub).get(vk3).simd(Simd.f32x4Mul).simd(Simd.f32x4Sub);
                f.vstore();
              },
              () => {
                at(f, dxp, i);
                at(f, dyp, i).mem(Op.f32Load).get(k1).op(Op.f32Mul).get(k2).op(Op.f32Sub);
                at(f, xp, i).mem(Op.f32Load).get(mu).op(Op.f32Sub).get(k3).op(Op.f32Mul, Op.f32Sub);
                f.mem(Op.f32Store);
              },
            );
          });
        },
      );
    },
  );
}

function emitReduceSum(m: ModuleBuilder): void {
  // rowSum(a, out, inner, r0, r1): out[r] = sum a[r*inner .. +inner], f64 accumulation
  m.kernel('rowSum', { a: I32, out: I32, inner: I32, r0: I32, r1: I32 }, (f, { a, out, inner, r0, r1 }) => {
    const { r, p, i } = f.locals({ r: I32, p: I32, i: I32 });
    const s = f.local(F64);
    f.for(
      r,
      () => f.get(r0),
      () => f.get(r1),
      1,
      () => {
        f.assign(p, f32At(a, mul(r, inner)));
        f64Sum(
          f,
          i,
          inner,
          () => at(f, p, i).vload(),
          () => at(f, p, i).mem(Op.f32Load),
          s,
        );
        at(f, out, r).get(s).op(Op.f32DemoteF64).mem(Op.f32Store);
      },
    );
  });
}

function emitPool(m: ModuleBuilder): void {
  // maxPool(x, out, idx, h, w, kh, kw, stride, oh, ow, pad, padValue, p0, p1): planes [p0, p1). Per tap, branch-free:
  // iy = oy*stride - pad + ky (ix alike); inside = iy <u h && ix <u w; v = inside ? x[iy*w + ix] : padValue (the
  // load reads cell 0 when outside, so it never leaves the plane); pos = inside ? iy*w + ix : -1;
  // take = v > best || (v is NaN && best is not) || first tap; the first maximum in window order wins, NaN sticks.
  // A 3x3 window wholly inside the image (most windows) takes a fast path: nine loads, a tree of f32.max, then the
  // first tap equal to the maximum (or the first NaN), found by a select chain run from the last tap back.
  m.kernel(
    'maxPool',
    {
      x: I32,
      out: I32,
      idx: I32,
      h: I32,
      w: I32,
      kh: I32,
      kw: I32,
      stride: I32,
      oh: I32,
      ow: I32,
      pad: I32,
      padValue: F32,
      p0: I32,
      p1: I32,
    },
    (f, { x, out, idx, h, w, kh, kw, stride, oh, ow, pad, padValue, p0, p1 }) => {
      const { p, oy, ox, ky, kx, iy, ix, inside, pos, best, take, xp, o } = f.locals({
        p: I32,
        oy: I32,
        ox: I32,
        ky: I32,
        kx: I32,
        iy: I32,
        ix: I32,
        inside: I32,
        pos: I32,
        best: I32,
        take: I32,
        xp: I32,
        o: I32,
      });
      const { bv, v, mx } = f.locals({ bv: F32, v: F32, mx: F32 });
      const { iy0, ix0, fast, r0, wB, pos0, hit } = f.locals({
        iy0: I32,
        ix0: I32,
        fast: I32,
        r0: I32,
        wB: I32,
        pos0: I32,
        hit: I32,
      });
      const vs = f.localArray(F32, 9);
      f.assign(wB, shl(w, 2));
      // fast = kh == 3 && kw == 3 (per call); the window test is per output
      f.get(kh).i32(3).op(Op.i32Eq).get(kw).i32(3).op(Op.i32Eq, Op.i32And).set(fast);
      const fast3x3 = () => {
        f.assign(r0, add(xp, shl(add(mul(iy0, w), ix0), 2)));
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++)
            f.get(r0)
              .mem(Op.f32Load, b * 4)
              .set(vs[3 * a + b]!);
          if (a < 2) f.incBy(r0, wB);
        }
        // mx = max over the nine (f32.max propagates NaN)
        f.get(vs[0]!).get(vs[1]!).op(Op.f32Max).get(vs[2]!).get(vs[3]!).op(Op.f32Max, Op.f32Max);
        f.get(vs[4]!).get(vs[5]!).op(Op.f32Max).get(vs[6]!).get(vs[7]!).op(Op.f32Max, Op.f32Max);
        f.op(Op.f32Max).get(vs[8]!).op(Op.f32Max).set(mx);
        f.assign(pos0, add(mul(iy0, w), ix0));
        // from the last tap back: the earliest tap equal to mx (or NaN) ends up in best / bv
        for (let k = 8; k >= 0; k--) {
          const a = Math.floor(k / 3);
          const b = k % 3;
          f.get(vs[k]!).get(mx).op(Op.f32Eq).get(vs[k]!).get(vs[k]!).op(Op.f32Ne, Op.i32Or).set(hit);
          // pos of tap k = pos0 + a*w + b
          f.get(pos0);
          if (a > 0) f.get(w).i32(a).op(Op.i32Mul, Op.i32Add);
          if (b > 0) f.i32(b).op(Op.i32Add);
          if (k === 8) f.set(best);
          else f.get(best).get(hit).op(Op.select).set(best);
          if (k === 8) f.get(vs[k]!).set(bv);
          else f.get(vs[k]!).get(bv).get(hit).op(Op.select).set(bv);
        }
      };
      f.for(
        p,
        () => f.get(p0),
        () => f.get(p1),
        1,
        () => {
          f.assign(xp, f32At(x, mul(p, mul(h, w))));
          f.assign(o, mul(p, mul(oh, ow)));
          f.range(oy, oh, () => {
            f.range(ox, ow, () => {
              f.assign(iy0, sub(mul(oy, stride), pad));
              f.assign(ix0, sub(mul(ox, stride), pad));
              f.get(fast);
              f.push(geS(iy0, lit(0))).op(Op.i32And);
              f.push(leS(add(iy0, lit(3)), h)).op(Op.i32And);
              f.push(geS(ix0, lit(0))).op(Op.i32And);
              f.push(leS(add(ix0, lit(3)), w)).op(Op.i32And);
              f.if(fast3x3, () => {
                f.f32(Number.NEGATIVE_INFINITY).set(bv);
                f.i32(-2).set(best);
                f.range(ky, kh, () => {
                  f.assign(iy, add(sub(mul(oy, stride), pad), ky));
                  f.range(kx, kw, () => {
                    f.assign(ix, add(sub(mul(ox, stride), pad), kx));
                    f.assign(inside, and(ltU(iy, h), ltU(ix, w)));
                    // pos = inside ? iy*w + ix : -1
                    f.push(add(mul(iy, w), ix))
                      .i32(-1)
                      .get(inside)
                      .op(Op.select)
                      .set(pos);
                    // v = inside ? x[max(pos, 0)] : padValue
                    f.get(xp).get(pos).i32(0).get(inside).op(Op.select).i32(2).op(Op.i32Shl, Op.i32Add);
                    f.mem(Op.f32Load).get(padValue).get(inside).op(Op.select).set(v);
                    // take = v > bv | (v != v & bv == bv) | best == -2
                    f.get(v).get(bv).op(Op.f32Gt);
                    f.get(v).get(v).op(Op.f32Ne).get(bv).get(bv).op(Op.f32Eq, Op.i32And, Op.i32Or);
                    f.get(best).i32(-2).op(Op.i32Eq, Op.i32Or).set(take);
                    f.get(v).get(bv).get(take).op(Op.select).set(bv);
                    f.get(pos).get(best).get(take).op(Op.select).set(best);
                  });
                });
              });
              at(f, out, o).get(bv).mem(Op.f32Store);
              at(f, idx, o).get(best).op(Op.f32ConvertI32S).mem(Op.f32Store);
              f.inc(o, 1);
            });
          });
        },
      );
    },
  );
  // maxPoolBwd(dy, idx, dx, hw, ohw, p0, p1): dx plane zeroed, then dx[idx] += dy in output order
  m.kernel(
    'maxPoolBwd',
    { dy: I32, idx: I32, dx: I32, hw: I32, ohw: I32, p0: I32, p1: I32 },
    (f, { dy, idx, dx, hw, ohw, p0, p1 }) => {
      const { p, i, o, dxp, a } = f.locals({ p: I32, i: I32, o: I32, dxp: I32, a: I32 });
      f.for(
        p,
        () => f.get(p0),
        () => f.get(p1),
        1,
        () => {
          f.assign(dxp, f32At(dx, mul(p, hw)));
          f.range(i, hw, () => at(f, dxp, i).f32(0).mem(Op.f32Store));
          f.range(i, ohw, () => {
            f.assign(o, add(mul(p, ohw), i));
            at(f, idx, o).mem(Op.f32Load).op(0xa8).tee(a); // i32.trunc_f32_s
            // index -1: a padding cell won, its gradient is dropped
            f.i32(0)
              .op(Op.i32GeS)
              .if(() => {
                at(f, dxp, a).get(dxp).get(a).i32(2).op(Op.i32Shl, Op.i32Add).mem(Op.f32Load);
                at(f, dy, o).mem(Op.f32Load).op(Op.f32Add).mem(Op.f32Store);
              });
          });
        },
      );
    },
  );
}

function emitSgd(m: ModuleBuilder): void {
  // sgd(param, grad, buf, lr, momentum, damp1 (= 1 - dampening), wd, nesterov, first, i0, i1)
  m.kernel(
    'sgd',
    {
      param: I32,
      grad: I32,
      buf: I32,
      lr: F32,
      mom: F32,
      damp1: F32,
      wd: F32,
      nesterov: I32,
      first: I32,
      i0: I32,
      i1: I32,
    },
    (f, { param, grad, buf, lr, mom, damp1, wd, nesterov, first, i0, i1 }) => {
      const i = f.local(I32);
      const { d, b } = f.locals({ d: V128, b: V128 });
      const { ds, bs } = f.locals({ ds: F32, bs: F32 });
      const step = (vec: boolean) => {
        const ld = (p: number) => (vec ? at(f, p, i).vload() : at(f, p, i).mem(Op.f32Load));
        const st = () => (vec ? f.vstore() : f.mem(Op.f32Store));
        const sp = (l: number) => (vec ? f.get(l).simd(Simd.f32x4Splat) : f.get(l));
        const [fAdd, fMul, fSub] = vec
          ? [
              [0xfd, 0xe4, 0x01],
              [0xfd, 0xe6, 0x01],
              [0xfd, 0xe5, 0x01],
            ]
          : [[Op.f32Add], [Op.f32Mul], [Op.f32Sub]];
        const [dl, bl] = vec ? [d, b] : [ds, bs];
        ld(param);
        sp(wd).op(...fMul);
        ld(grad)
          .op(...fAdd)
          .set(dl);
        f.get(mom)
          .f32(0)
          .op(Op.f32Ne)
          .if(() => {
            f.get(first).if(
              () => f.get(dl).set(bl),
              () => {
                ld(buf);
                sp(mom).op(...fMul);
                f.get(dl);
                sp(damp1)
                  .op(...fMul, ...fAdd)
                  .set(bl);
              },
            );
            at(f, buf, i).get(bl);
            st();
            f.get(nesterov).if(
              () => {
                f.get(dl).get(bl);
                sp(mom)
                  .op(...fMul, ...fAdd)
                  .set(dl);
              },
              () => f.get(bl).set(dl),
            );
          });
        at(f, param, i);
        ld(param).get(dl);
        sp(lr).op(...fMul, ...fSub);
        st();
      };
      vecLoop(
        f,
        i,
        i0,
        i1,
        () => step(true),
        () => step(false),
      );
    },
  );
}

/** Adds normBwd, rowSum, maxPool, maxPoolBwd and sgd to `m`. */
function emitColSum(m: ModuleBuilder): void {
  // colSum(src, dst, rows, cols, c0, c1): dst[c] = f32(sum over r = 0, 1, ... of f64(src[r*cols + c])), c in [c0, c1):
  // the per-sample partials of normBwd reduced over the batch in a fixed order (thread-count invariant)
  m.kernel(
    'colSum',
    { src: I32, dst: I32, rows: I32, cols: I32, c0: I32, c1: I32 },
    (f, { src, dst, rows, cols, c0, c1 }) => {
      const { c, r, p } = f.locals({ c: I32, r: I32, p: I32 });
      const acc = f.local(F64);
      f.for(
        c,
        () => f.get(c0),
        () => f.get(c1),
        1,
        () => {
          f.i32(0).op(Op.f64ConvertI32U).set(acc);
          f.assign(p, f32At(src, c));
          f.range(r, rows, () => {
            f.get(acc).get(p).mem(Op.f32Load).op(Op.f64PromoteF32, Op.f64Add).set(acc);
            f.assign(p, add(p, shl(cols, 2)));
          });
          at(f, dst, c).get(acc).op(Op.f32DemoteF64).mem(Op.f32Store);
        },
      );
    },
  );
}

export function emitTrainKernels(m: ModuleBuilder): void {
  emitColSum(m);
  emitNormBwd(m);
  emitReduceSum(m);
  emitPool(m);
  emitSgd(m);
}
