/**
 * Emits the backward/training kernels: GroupNorm / Weight-Standardization backward (one shared kernel), row sums,
 * max-pool forward/backward and the fused SGD step.
 *
 * normBwd math, per (n, group) with len = cpg*hw, xhat = (x - mean)*rstd, g = gamma (1 when absent):
 *   dx = rstd*g*dy - rstd*A/len - (x - mean)*rstd^3*B/len, A = sum g*dy, B = sum g*dy*(x - mean)
 * and per-(n, channel) partials sum dy and sum dy*xhat go to pdb/pdg (summed over n afterwards in a fixed
 * order), so dgamma/dbeta never depend on how (n, group) items were split across threads.
 */

import { at, f64Sum, vecLoop } from './kernels-misc.js';
import { F32, F64, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

function emitNormBwd(m: ModuleBuilder): void {
  // normBwd(dy, x, gamma, mean, rstd, dx, pdb, pdg, c, hw, groups, ng0, ng1)
  m.fn('normBwd', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], (f) => {
    const [dy, x, gamma, mean, rstd, dx, pdb, pdg, c, hw, groups, ng0, ng1] = [
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    const [ng, ch, cpg, i, chAbs, off, dyp, xp, dxp, zero, pidx] = Array.from({ length: 11 }, () => f.local(I32));
    const [sdy, sdyx, A, B, len] = Array.from({ length: 5 }, () => f.local(F64));
    const [mu, rs, gm, k1, k2, k3] = Array.from({ length: 6 }, () => f.local(F32));
    const [vmu, vk1, vk2, vk3] = Array.from({ length: 4 }, () => f.local(V128));
    f.get(c).get(groups).op(Op.i32DivU).set(cpg);
    f.get(cpg).get(hw).op(Op.i32Mul).op(Op.f64ConvertI32U).set(len);
    const setChannel = () => {
      f.get(ng).get(groups).op(Op.i32RemU).get(cpg).op(Op.i32Mul).get(ch).op(Op.i32Add).set(chAbs);
      f.get(ng).get(cpg).op(Op.i32Mul).get(ch).op(Op.i32Add).get(hw).op(Op.i32Mul).i32(2).op(Op.i32Shl).set(off);
      f.get(dy).get(off).op(Op.i32Add).set(dyp);
      f.get(x).get(off).op(Op.i32Add).set(xp);
      f.get(dx).get(off).op(Op.i32Add).set(dxp);
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
        f.get(rs).op(Op.f64PromoteF32).get(rs).op(Op.f64PromoteF32, Op.f64Mul).get(rs).op(Op.f64PromoteF32, Op.f64Mul);
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
  });
}

function emitReduceSum(m: ModuleBuilder): void {
  // rowSum(a, out, inner, r0, r1): out[r] = sum a[r*inner .. +inner], f64 accumulation
  m.fn('rowSum', [I32, I32, I32, I32, I32], (f) => {
    const [a, out, inner, r0, r1] = [0, 1, 2, 3, 4];
    const [r, p, i] = [f.local(I32), f.local(I32), f.local(I32)];
    const s = f.local(F64);
    f.for(
      r,
      () => f.get(r0),
      () => f.get(r1),
      1,
      () => {
        f.get(a).get(r).get(inner).op(Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(p);
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
  // maxPool(x, out, idx, h, w, kh, kw, stride, oh, ow, p0, p1): first maximum wins; index = iy*w + ix
  m.fn('maxPool', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], (f) => {
    const [x, out, idx, h, w, kh, kw, stride, oh, ow, p0, p1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const [p, oy, ox, ky, kx, pos, best, xp, o] = Array.from({ length: 9 }, () => f.local(I32));
    const [bv, v] = [f.local(F32), f.local(F32)];
    f.for(
      p,
      () => f.get(p0),
      () => f.get(p1),
      1,
      () => {
        f.get(x).get(p).get(h).get(w).op(Op.i32Mul, Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(xp);
        f.get(p).get(oh).get(ow).op(Op.i32Mul, Op.i32Mul).set(o);
        f.range(oy, oh, () => {
          f.range(ox, ow, () => {
            f.f32(Number.NEGATIVE_INFINITY).set(bv);
            f.i32(-1).set(best);
            f.range(ky, kh, () => {
              f.range(kx, kw, () => {
                f.get(oy).get(stride).op(Op.i32Mul).get(ky).op(Op.i32Add).get(w).op(Op.i32Mul);
                f.get(ox).get(stride).op(Op.i32Mul).get(kx).op(Op.i32Add, Op.i32Add).set(pos);
                at(f, xp, pos).mem(Op.f32Load).tee(v).get(bv).op(Op.f32Gt);
                f.get(best).i32(0).op(Op.i32LtS).op(Op.i32Or);
                f.if(() => f.get(v).set(bv).get(pos).set(best));
              });
            });
            at(f, out, o).get(bv).mem(Op.f32Store);
            at(f, idx, o).get(best).op(Op.f32ConvertI32S).mem(Op.f32Store);
            f.inc(o, 1);
          });
        });
      },
    );
  });
  // maxPoolBwd(dy, idx, dx, hw, ohw, p0, p1): dx plane zeroed, then dx[idx] += dy in output order
  m.fn('maxPoolBwd', [I32, I32, I32, I32, I32, I32, I32], (f) => {
    const [dy, idx, dx, hw, ohw, p0, p1] = [0, 1, 2, 3, 4, 5, 6];
    const [p, i, o, dxp, a] = Array.from({ length: 5 }, () => f.local(I32));
    f.for(
      p,
      () => f.get(p0),
      () => f.get(p1),
      1,
      () => {
        f.get(dx).get(p).get(hw).op(Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(dxp);
        f.range(i, hw, () => at(f, dxp, i).f32(0).mem(Op.f32Store));
        f.range(i, ohw, () => {
          f.get(p).get(ohw).op(Op.i32Mul).get(i).op(Op.i32Add).set(o);
          at(f, idx, o).mem(Op.f32Load).op(0xa8).set(a); // i32.trunc_f32_s
          at(f, dxp, a).get(dxp).get(a).i32(2).op(Op.i32Shl, Op.i32Add).mem(Op.f32Load);
          at(f, dy, o).mem(Op.f32Load).op(Op.f32Add).mem(Op.f32Store);
        });
      },
    );
  });
}

function emitSgd(m: ModuleBuilder): void {
  // sgd(param, grad, buf, lr, momentum, damp1 (= 1 - dampening), wd, nesterov, first, i0, i1)
  m.fn('sgd', [I32, I32, I32, F32, F32, F32, F32, I32, I32, I32, I32], (f) => {
    const [param, grad, buf, lr, mom, damp1, wd, nesterov, first, i0, i1] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const i = f.local(I32);
    const [d, b] = [f.local(V128), f.local(V128)];
    const [ds, bs] = [f.local(F32), f.local(F32)];
    const step = (vec: boolean) => {
      const ld = (p: number) => (vec ? at(f, p, i).vload() : at(f, p, i).mem(Op.f32Load));
      const st = () => (vec ? f.vstore() : f.mem(Op.f32Store));
      const sp = (l: number) => (vec ? f.get(l).simd(Simd.f32x4Splat) : f.get(l));
      const [add, mul, sub] = vec
        ? [
            [0xfd, 0xe4, 0x01],
            [0xfd, 0xe6, 0x01],
            [0xfd, 0xe5, 0x01],
          ]
        : [[Op.f32Add], [Op.f32Mul], [Op.f32Sub]];
      const [dl, bl] = vec ? [d, b] : [ds, bs];
      ld(param);
      sp(wd).op(...mul);
      ld(grad)
        .op(...add)
        .set(dl);
      f.get(mom)
        .f32(0)
        .op(Op.f32Ne)
        .if(() => {
          f.get(first).if(
            () => f.get(dl).set(bl),
            () => {
              ld(buf);
              sp(mom).op(...mul);
              f.get(dl);
              sp(damp1)
                .op(...mul, ...add)
                .set(bl);
            },
          );
          at(f, buf, i).get(bl);
          st();
          f.get(nesterov).if(
            () => {
              f.get(dl).get(bl);
              sp(mom)
                .op(...mul, ...add)
                .set(dl);
            },
            () => f.get(bl).set(dl),
          );
        });
      at(f, param, i);
      ld(param).get(dl);
      sp(lr).op(...mul, ...sub);
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
  });
}

/** Adds normBwd, rowSum, maxPool, maxPoolBwd and sgd to `m`. */
export function emitTrainKernels(m: ModuleBuilder): void {
  emitNormBwd(m);
  emitReduceSum(m);
  emitPool(m);
  emitSgd(m);
}
