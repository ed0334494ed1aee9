/**
 * Emits the backward/training kernels: GroupNorm / Weight-Standardization backward (one shared kernel), row sums,
 * the batch sum of normBwd's partials (colSum) and the fused SGD step; max-pool is in ./kernels-pool.ts.
 *
 * normBwd math, per (n, group) with len = cpg*hw, xhat = (x - mean)*rstd, g = gamma (1 when absent):
 *   dx = rstd*g*dy - rstd*A/len - (x - mean)*rstd^3*B/len, A = sum g*dy, B = sum g*dy*(x - mean)
 * and per-(n, channel) partials sum dy and sum dy*xhat go to pdb/pdg (summed over n afterwards in a fixed
 * order), so dgamma/dbeta never depend on how (n, group) items were split across threads.
 */

import { add, divU, f32At, mul, remU, shl } from './emit-expr.js';
import { at, f64Sum, vecLoop } from './kernels-misc.js';
import { F32, F64, type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

/**
 * normBwd(dy, x, gamma, mean, rstd, dx, pdb, pdg, c, hw, groups, ng0, ng1); `relu` emits normBwdRelu, whose extra
 * param `y` (the saved output of GroupNorm + ReLU) masks dy as dy * (y != 0 ? 1.0 : 0.0): the op table's relu
 * gradient with the `bs_ne` and `mul` kernels' instructions, so the fused backward computes what the unfused
 * composite does on the same inputs, without a masked dy buffer (the mask is applied once per channel, into dx).
 */
/** normBwd's parameters: pointers, then the channel count, map size, groups and the row range [ng0, ng1). */
const NORM_BWD_PARAMS = {
  dy: I32,
  y: I32,
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
} as const;

/** normBwd's parameters without `hw`: the narrow-map variants (./kernels-norm-c1.ts, ./kernels-norm-c4.ts). */
export const { hw: _hw, ...NORM_BWD_NARROW_PARAMS } = NORM_BWD_PARAMS;

/**
 * GroupNorm backward's per-group coefficients from the sums A = sum(dy * gamma), B = sum(dy * (x - mean) * gamma)
 * (f64 locals) and rstd (f32): k2 = rstd * A / len, k3 = rstd^3 * B / len, in f64 and rounded once to f32, then
 * splatted; every normBwd variant computes them in this one order, so they give the same bits.
 */
export function emitBwdCoefficients(
  f: FnBuilder,
  l: { rs: number; A: number; B: number; len: number; k2: number; k3: number; vk2: number; vk3: number },
): void {
  f.get(l.rs).op(Op.f64PromoteF32).get(l.A).op(Op.f64Mul).get(l.len).op(Op.f64Div, Op.f32DemoteF64).set(l.k2);
  f.get(l.rs).op(Op.f64PromoteF32).get(l.rs).op(Op.f64PromoteF32, Op.f64Mul).get(l.rs).op(Op.f64PromoteF32, Op.f64Mul);
  f.get(l.B).op(Op.f64Mul).get(l.len);
  f.op(Op.f64Div, Op.f32DemoteF64).set(l.k3);
  f.get(l.k2).simd(Simd.f32x4Splat).set(l.vk2);
  f.get(l.k3).simd(Simd.f32x4Splat).set(l.vk3);
}

const MASK_ONE = [...new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer)];
const MASK_Z16 = new Array(16).fill(0);

/**
 * Pushes dy * (y != 0) as an f32x4 (the ReLU mask of GroupNorm + ReLU's backward: the lanes where y != 0 become
 * 1.0f, times dy), from `dyv` and `yv`, which each push a vector; written once for every normBwdRelu variant.
 */
export function emitReluMask(f: FnBuilder, dyv: () => void, yv: () => void): void {
  dyv();
  yv();
  f.simd(Simd.const, ...MASK_Z16).simd(Simd.f32x4Ne);
  f.simd(Simd.const, ...MASK_ONE)
    .simd(Simd.and)
    .simd(Simd.f32x4Mul);
}

/**
 * GroupNorm backward's per-channel tail in every normBwd variant: where `pdb` is set, the channel's per-sample
 * partials (its one-channel sums: pdb = sum dy, pdg = sum dy * (x - mean) * rstd) at pidx, the index `index` pushes
 * ((ng / groups) * c + channel); written once so every variant stores them with the same instructions.
 */
export function emitChannelPartials(
  f: FnBuilder,
  l: { pdb: number; pdg: number; pidx: number; sdy: number; sdyx: number; rs: number },
  index: () => void,
): void {
  f.get(l.pdb).if(() => {
    index();
    f.set(l.pidx);
    at(f, l.pdb, l.pidx).get(l.sdy).op(Op.f32DemoteF64).mem(Op.f32Store);
    at(f, l.pdg, l.pidx).get(l.sdyx).get(l.rs).op(Op.f64PromoteF32, Op.f64Mul, Op.f32DemoteF64).mem(Op.f32Store);
  });
}

/** A += sdy * gamma, B += sdyx * gamma (f64, channel order): the group sums every normBwd variant accumulates. */
export function emitGroupSums(f: FnBuilder, l: { A: number; B: number; sdy: number; sdyx: number; gm: number }): void {
  f.get(l.A).get(l.sdy).get(l.gm).op(Op.f64PromoteF32, Op.f64Mul, Op.f64Add).set(l.A);
  f.get(l.B).get(l.sdyx).get(l.gm).op(Op.f64PromoteF32, Op.f64Mul, Op.f64Add).set(l.B);
}

function emitNormBwd(m: ModuleBuilder, name: string, relu: boolean): void {
  m.kernel(name, NORM_BWD_PARAMS, (f, { dy, y, x, gamma, mean, rstd, dx, pdb, pdg, c, hw, groups, ng0, ng1 }) => {
    const { ng, ch, cpg, i, chAbs, off, dyp, yp, xp, dxp, zero, pidx } = f.locals({
      ng: I32,
      ch: I32,
      cpg: I32,
      i: I32,
      chAbs: I32,
      off: I32,
      dyp: I32,
      yp: I32,
      xp: I32,
      dxp: I32,
      zero: I32,
      pidx: I32,
    });
    const { sdy, sdyx, A, B, len } = f.locals({ sdy: F64, sdyx: F64, A: F64, B: F64, len: F64 });
    const { mu, rs, gm, k1, k2, k3 } = f.locals({ mu: F32, rs: F32, gm: F32, k1: F32, k2: F32, k3: F32 });
    const { vmu, vk1, vk2, vk3, vm } = f.locals({ vmu: V128, vk1: V128, vk2: V128, vk3: V128, vm: V128 });
    const sm = f.local(F32);
    const { ch0, nBase } = f.locals({ ch0: I32, nBase: I32 });
    // dy[i] (vector: 4 lanes at i; scalar: element i). The relu variant's first pass computes dy * (y != 0) and
    // also stores it into dx (the channel's own output, used as scratch: it stays in cache), which the later
    // passes read back instead of recomputing the mask; the last pass overwrites it with dx.
    const vmask = () =>
      emitReluMask(
        f,
        () => at(f, dyp, i).vload(),
        () => at(f, yp, i).vload(),
      );
    const smask = () => {
      at(f, dyp, i).mem(Op.f32Load);
      at(f, yp, i).mem(Op.f32Load).f32(0).op(Op.f32Ne, Op.f32ConvertI32U, Op.f32Mul);
    };
    const vdy = () => (relu ? at(f, dxp, i).vload() : at(f, dyp, i).vload());
    const sdyv = () => (relu ? at(f, dxp, i).mem(Op.f32Load) : at(f, dyp, i).mem(Op.f32Load));
    const vdyFirst = () => {
      if (!relu) return vdy();
      at(f, dxp, i);
      vmask();
      f.tee(vm).vstore();
      f.get(vm);
    };
    const sdyFirst = () => {
      if (!relu) return sdyv();
      at(f, dxp, i);
      smask();
      f.tee(sm).mem(Op.f32Store);
      f.get(sm);
    };
    f.assign(cpg, divU(c, groups));
    f.get(cpg).get(hw).op(Op.i32Mul).op(Op.f64ConvertI32U).set(len);
    const setChannel = () => {
      f.assign(chAbs, add(ch0, ch));
      f.assign(off, shl(mul(add(mul(ng, cpg), ch), hw), 2));
      f.assign(dyp, add(dy, off));
      if (relu) f.assign(yp, add(y, off));
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
        // the group's first channel and its sample's partials row, once per row (no division per channel)
        f.assign(ch0, mul(remU(ng, groups), cpg));
        f.assign(nBase, mul(divU(ng, groups), c));
        f.f32(0).op(Op.f64PromoteF32).tee(A).set(B);
        f.range(ch, cpg, () => {
          setChannel();
          f64Sum(f, i, hw, vdyFirst, sdyFirst, sdy);
          f64Sum(
            f,
            i,
            hw,
            () => {
              vdy();
              at(f, xp, i).vload().get(vmu).simd(Simd.f32x4Sub).simd(Simd.f32x4Mul);
            },
            () => {
              sdyv();
              at(f, xp, i).mem(Op.f32Load).get(mu).op(Op.f32Sub, Op.f32Mul);
            },
            sdyx,
          );
          // pidx = (ng / groups) * c + chAbs
          emitChannelPartials(f, { pdb, pdg, pidx, sdy, sdyx, rs }, () => f.get(nBase).get(chAbs).op(Op.i32Add));
          emitGroupSums(f, { A, B, sdy, sdyx, gm });
        });
        // k2 = rstd*A/len, k3 = rstd^3*B/len
        emitBwdCoefficients(f, { rs, A, B, len, k2, k3, vk2, vk3 });
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
              vdy();
              f.get(vk1).simd(Simd.f32x4Mul).get(vk2).simd(Simd.f32x4Sub);
              at(f, xp, i).vload().get(vmu).simd(Simd.f32x4Sub).get(vk3).simd(Simd.f32x4Mul).simd(Simd.f32x4Sub);
              f.vstore();
            },
            () => {
              at(f, dxp, i);
              sdyv();
              f.get(k1).op(Op.f32Mul).get(k2).op(Op.f32Sub);
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
  emitNormBwd(m, 'normBwd', false);
  emitNormBwd(m, 'normBwdRelu', true);
  emitReduceSum(m);
  emitSgd(m);
}
