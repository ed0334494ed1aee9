/**
 * GroupNorm (+ ReLU) forward affine and backward for 4-pixel maps (hw = 4: 2x2 maps, the third stage of the small
 * CPU models at 32 px, e.g. c512), one f32x4 per channel. The general kernels ('affine*' in ./kernels-misc.ts,
 * 'normBwd*' in ./kernels-train.ts) run their per-channel loops (a vector loop of one trip, two f64 sum loops with
 * their set-up and lane folds, index divisions) around that one vector; here each channel is straight-line code.
 *
 * Invariant: every element sees exactly the general kernels' operations in the same order, so the bits are
 * theirs: forward y = ((x - mean) * (gamma * rstd)) + beta (beta absent: + 0), ReLU as v < 0 ? 0 : v by bitselect;
 * backward a channel's f64 sum of its 4 terms t is f64Sum's ((t0 + 0) + (t2 + 0)) + ((t1 + 0) + (t3 + 0)) (lanes
 * promoted in pairs onto zero accumulators, the pairs added, the lanes folded), A and B accumulated in channel
 * order, dx = (d * (rstd * gamma) - k2) - (x - mean) * k3. Rows [ng0, ng1) of (n, group) as the general kernels.
 */

import { add, divU, mul, remU, shl } from './emit-expr.js';
import { at } from './kernels-misc.js';
import {
  emitBwdCoefficients,
  emitChannelPartials,
  emitGroupSums,
  emitReluMask,
  NORM_BWD_NARROW_PARAMS,
} from './kernels-train.js';
import { F32, F64, type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

const Z16 = new Array(16).fill(0);
const HI_TO_LO = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/** f64Sum's value for the 4 lanes of the f32x4 on the stack (see the header), into `out` (t: a v128 scratch). */
function sum4(f: FnBuilder, t: number, a0: number, out: number): void {
  f.tee(t)
    .simd(Simd.f64x2PromoteLow)
    .simd(Simd.const, ...Z16)
    .simd(Simd.f64x2Add);
  f.get(t)
    .get(t)
    .simd(Simd.shuffle, ...HI_TO_LO)
    .simd(Simd.f64x2PromoteLow)
    .simd(Simd.const, ...Z16)
    .simd(Simd.f64x2Add);
  f.simd(Simd.f64x2Add).tee(a0).simd(Simd.f64x2ExtractLane, 0);
  f.get(a0).simd(Simd.f64x2ExtractLane, 1).op(Op.f64Add).set(out);
}

/** affineC4 / affineReluC4(x, y, mean, rstd, gamma, beta, c, groups, ng0, ng1): 'affine' for hw = 4. */
function emitAffineC4(m: ModuleBuilder, name: string, withRelu: boolean): void {
  m.kernel(
    name,
    { x: I32, y: I32, mean: I32, rstd: I32, gamma: I32, beta: I32, c: I32, groups: I32, ng0: I32, ng1: I32 },
    (f, { x, y, mean, rstd, gamma, beta, c, groups, ng0, ng1 }) => {
      const { ng, cpg, ch, ca, off, ch0 } = f.locals({ ng: I32, cpg: I32, ch: I32, ca: I32, off: I32, ch0: I32 });
      const { rs, sc, sh } = f.locals({ rs: F32, sc: F32, sh: F32 });
      const { vmu, v } = f.locals({ vmu: V128, v: V128 });
      f.assign(cpg, divU(c, groups));
      f.for(
        ng,
        () => f.get(ng0),
        () => f.get(ng1),
        1,
        () => {
          at(f, mean, ng).mem(Op.f32Load).simd(Simd.f32x4Splat).set(vmu);
          at(f, rstd, ng).mem(Op.f32Load).set(rs);
          f.assign(ch0, mul(remU(ng, groups), cpg));
          f.range(ch, cpg, () => {
            f.assign(ca, add(ch0, ch));
            f.assign(off, shl(add(mul(ng, cpg), ch), 4));
            f.get(rs).set(sc);
            f.get(gamma).if(() => at(f, gamma, ca).mem(Op.f32Load).get(rs).op(Op.f32Mul).set(sc));
            f.f32(0).set(sh);
            f.get(beta).if(() => at(f, beta, ca).mem(Op.f32Load).set(sh));
            f.get(y).get(off).op(Op.i32Add);
            if (withRelu) f.simd(Simd.const, ...Z16);
            f.get(x).get(off).op(Op.i32Add).vload().get(vmu).simd(Simd.f32x4Sub);
            f.get(sc).simd(Simd.f32x4Splat).simd(Simd.f32x4Mul);
            f.get(sh).simd(Simd.f32x4Splat).simd(Simd.f32x4Add);
            if (withRelu) {
              f.tee(v)
                .get(v)
                .simd(Simd.const, ...Z16)
                .simd(Simd.f32x4Lt)
                .simd(Simd.bitselect);
            }
            f.vstore();
          });
        },
      );
    },
  );
}

/**
 * normBwdC4 / normBwdReluC4(dy, y, x, gamma, mean, rstd, dx, pdb, pdg, c, groups, ng0, ng1): 'normBwd' for hw = 4
 * (see ./kernels-train.ts for the math and the pdb / pdg partials). The ReLU variant masks dy by y != 0 and keeps
 * the masked dy in dx between the passes, as the general kernel does.
 */
function emitNormBwdC4(m: ModuleBuilder, name: string, withRelu: boolean): void {
  m.kernel(name, NORM_BWD_NARROW_PARAMS, (f, { dy, y, x, gamma, mean, rstd, dx, pdb, pdg, c, groups, ng0, ng1 }) => {
    const { ng, cpg, ch, ca, off, pidx } = f.locals({ ng: I32, cpg: I32, ch: I32, ca: I32, off: I32, pidx: I32 });
    const { ch0, nBase } = f.locals({ ch0: I32, nBase: I32 });
    const { sdy, sdyx, A, B, len } = f.locals({ sdy: F64, sdyx: F64, A: F64, B: F64, len: F64 });
    const { rs, gm, k1, k2, k3 } = f.locals({ rs: F32, gm: F32, k1: F32, k2: F32, k3: F32 });
    const { vmu, vd, vk2, vk3, t, a0 } = f.locals({ vmu: V128, vd: V128, vk2: V128, vk3: V128, t: V128, a0: V128 });
    f.assign(cpg, divU(c, groups));
    f.get(cpg).i32(4).op(Op.i32Mul).op(Op.f64ConvertI32U).set(len);
    const setChannel = () => {
      f.assign(ca, add(ch0, ch));
      f.assign(off, shl(add(mul(ng, cpg), ch), 4));
      f.f32(1).set(gm);
      f.get(gamma).if(() => at(f, gamma, ca).mem(Op.f32Load).set(gm));
    };
    const ld = (p: number) => f.get(p).get(off).op(Op.i32Add).vload();
    f.for(
      ng,
      () => f.get(ng0),
      () => f.get(ng1),
      1,
      () => {
        at(f, mean, ng).mem(Op.f32Load).simd(Simd.f32x4Splat).set(vmu);
        at(f, rstd, ng).mem(Op.f32Load).set(rs);
        f.assign(ch0, mul(remU(ng, groups), cpg));
        f.assign(nBase, mul(divU(ng, groups), c));
        f.f32(0).op(Op.f64PromoteF32).tee(A).set(B);
        // pass 1, channel by channel: d (masked: kept in dx), its sums, the partials, A and B in channel order
        f.range(ch, cpg, () => {
          setChannel();
          if (withRelu) {
            f.get(dx).get(off).op(Op.i32Add);
            emitReluMask(
              f,
              () => ld(dy),
              () => ld(y),
            );
            f.tee(vd).vstore();
          } else {
            ld(dy).set(vd);
          }
          f.get(vd);
          sum4(f, t, a0, sdy);
          f.get(vd);
          ld(x).get(vmu).simd(Simd.f32x4Sub).simd(Simd.f32x4Mul);
          sum4(f, t, a0, sdyx);
          // pidx = (ng / groups) * c + channel
          emitChannelPartials(f, { pdb, pdg, pidx, sdy, sdyx, rs }, () => f.push(add(nBase, ca)));
          emitGroupSums(f, { A, B, sdy, sdyx, gm });
        });
        // k2 = rstd*A/len, k3 = rstd^3*B/len (the general kernel's order)
        emitBwdCoefficients(f, { rs, A, B, len, k2, k3, vk2, vk3 });
        // pass 2: dx = (d * k1 - k2) - (x - mean) * k3 with k1 = rstd * gamma
        f.range(ch, cpg, () => {
          setChannel();
          f.get(rs).get(gm).op(Op.f32Mul).set(k1);
          f.get(dx).get(off).op(Op.i32Add);
          ld(withRelu ? dx : dy)
            .get(k1)
            .simd(Simd.f32x4Splat)
            .simd(Simd.f32x4Mul)
            .get(vk2)
            .simd(Simd.f32x4Sub);
          ld(x).get(vmu).simd(Simd.f32x4Sub).get(vk3).simd(Simd.f32x4Mul).simd(Simd.f32x4Sub);
          f.vstore();
        });
      },
    );
  });
}

/** Adds affineC4, affineReluC4, normBwdC4 and normBwdReluC4 to `m`. */
export function emitNormC4(m: ModuleBuilder): void {
  emitAffineC4(m, 'affineC4', false);
  emitAffineC4(m, 'affineReluC4', true);
  emitNormBwdC4(m, 'normBwdC4', false);
  emitNormBwdC4(m, 'normBwdReluC4', true);
}
