/**
 * GroupNorm (+ ReLU) forward affine and backward for 1-pixel maps (hw = 1: the last stage of the small CPU models at
 * 32 px, e.g. c1024 on 1x1 maps), vectorized ACROSS channels. The general kernels ('affine*' in ./kernels-misc.ts,
 * 'normBwd*' in ./kernels-train.ts) vectorize along a channel's pixels and pay a per-channel set-up (index
 * division, splats, two f64 sum loops) that, with one pixel per channel, cost ~12 ns per element, 10x their rate on
 * 8x8 maps. Here a group's cpg channels are cpg contiguous floats, so gamma / beta / x / dy are read as f32x4 runs.
 *
 * Invariant: every element sees exactly the general kernels' operations in the same order, so the bits are
 * theirs: forward y = ((x - mean) * (gamma * rstd)) + beta (beta absent: + 0), ReLU as v < 0 ? 0 : v by bitselect;
 * backward per channel sdy = f64(d) + 0 and sdyx = f64(d * (x - mean)) + 0 (the f64 sums of one element, from +0),
 * A and B accumulated over the group's channels in channel order (scalar, as before), dx = (d * (rstd * gamma) - k2)
 * - (x - mean) * k3. Rows [ng0, ng1) of (n, group) as the general kernels, so threads split alike.
 */

import { add, divU, mul, remU } from './emit-expr.js';
import { at, vecLoop } from './kernels-misc.js';
import {
  emitBwdCoefficients,
  emitChannelPartials,
  emitGroupSums,
  emitReluMask,
  NORM_BWD_NARROW_PARAMS,
} from './kernels-train.js';
import { F32, F64, type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

const Z16 = new Array(16).fill(0);
const ONE = [...new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer)];
const HI_TO_LO = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/** ReLU of the f32x4 (vector) or f32 on the stack, as the general kernels: v < 0 ? 0 : v. */
function relu(f: FnBuilder, vec: boolean, t: number): void {
  if (vec) {
    f.set(t);
    f.simd(Simd.const, ...Z16)
      .get(t)
      .get(t);
    f.simd(Simd.const, ...Z16)
      .simd(Simd.f32x4Lt)
      .simd(Simd.bitselect);
  } else {
    f.set(t);
    f.f32(0).get(t).get(t).f32(0).op(Op.f32Lt, Op.select);
  }
}

/** affineC1 / affineReluC1(x, y, mean, rstd, gamma, beta, c, groups, ng0, ng1): 'affine' for hw = 1. */
function emitAffineC1(m: ModuleBuilder, name: string, withRelu: boolean): void {
  m.kernel(
    name,
    { x: I32, y: I32, mean: I32, rstd: I32, gamma: I32, beta: I32, c: I32, groups: I32, ng0: I32, ng1: I32 },
    (f, { x, y, mean, rstd, gamma, beta, c, groups, ng0, ng1 }) => {
      const { ng, cpg, i, e, ch0, zero } = f.locals({ ng: I32, cpg: I32, i: I32, e: I32, ch0: I32, zero: I32 });
      const { mu, rs, sc, sh, sv } = f.locals({ mu: F32, rs: F32, sc: F32, sh: F32, sv: F32 });
      const { vmu, vrs, vsc, vsh, v } = f.locals({ vmu: V128, vrs: V128, vsc: V128, vsh: V128, v: V128 });
      f.assign(cpg, divU(c, groups));
      f.for(
        ng,
        () => f.get(ng0),
        () => f.get(ng1),
        1,
        () => {
          at(f, mean, ng).mem(Op.f32Load).tee(mu).simd(Simd.f32x4Splat).set(vmu);
          at(f, rstd, ng).mem(Op.f32Load).tee(rs).simd(Simd.f32x4Splat).set(vrs);
          f.assign(ch0, mul(remU(ng, groups), cpg));
          f.i32(0).set(zero);
          // element (ng*cpg + i) is channel ch0 + i
          const chan = () => f.assign(e, add(mul(ng, cpg), i));
          vecLoop(
            f,
            i,
            zero,
            cpg,
            () => {
              chan();
              f.get(vrs).set(vsc);
              f.get(gamma).if(() => {
                f.get(gamma).push(add(ch0, i)).i32(2).op(Op.i32Shl, Op.i32Add).vload().get(vrs);
                f.simd(Simd.f32x4Mul).set(vsc);
              });
              f.simd(Simd.const, ...Z16).set(vsh);
              f.get(beta).if(() => {
                f.get(beta).push(add(ch0, i)).i32(2).op(Op.i32Shl, Op.i32Add).vload().set(vsh);
              });
              at(f, y, e);
              at(f, x, e).vload().get(vmu).simd(Simd.f32x4Sub).get(vsc).simd(Simd.f32x4Mul);
              f.get(vsh).simd(Simd.f32x4Add);
              if (withRelu) relu(f, true, v);
              f.vstore();
            },
            () => {
              chan();
              f.get(rs).set(sc);
              f.get(gamma).if(() => {
                f.get(gamma).push(add(ch0, i)).i32(2).op(Op.i32Shl, Op.i32Add).mem(Op.f32Load).get(rs);
                f.op(Op.f32Mul).set(sc);
              });
              f.f32(0).set(sh);
              f.get(beta).if(() => {
                f.get(beta).push(add(ch0, i)).i32(2).op(Op.i32Shl, Op.i32Add).mem(Op.f32Load).set(sh);
              });
              at(f, y, e);
              at(f, x, e).mem(Op.f32Load).get(mu).op(Op.f32Sub).get(sc).op(Op.f32Mul);
              f.get(sh).op(Op.f32Add);
              if (withRelu) relu(f, false, sv);
              f.mem(Op.f32Store);
            },
          );
        },
      );
    },
  );
}

/**
 * normBwdC1 / normBwdReluC1(dy, y, x, gamma, mean, rstd, dx, pdb, pdg, c, groups, ng0, ng1): 'normBwd' for hw = 1
 * (see ./kernels-train.ts for the math and the pdb / pdg partials). The ReLU variant masks dy by y != 0 and keeps
 * the masked dy in dx between the passes, as the general kernel does.
 */
function emitNormBwdC1(m: ModuleBuilder, name: string, withRelu: boolean): void {
  m.kernel(name, NORM_BWD_NARROW_PARAMS, (f, { dy, y, x, gamma, mean, rstd, dx, pdb, pdg, c, groups, ng0, ng1 }) => {
    const { ng, cpg, i, e, ch0, zero, pidx } = f.locals({
      ng: I32,
      cpg: I32,
      i: I32,
      e: I32,
      ch0: I32,
      zero: I32,
      pidx: I32,
    });
    const { sdy, sdyx, A, B, len } = f.locals({ sdy: F64, sdyx: F64, A: F64, B: F64, len: F64 });
    const { mu, rs, gm, d, k1, k2, k3 } = f.locals({ mu: F32, rs: F32, gm: F32, d: F32, k1: F32, k2: F32, k3: F32 });
    const { vmu, vrs, vk1, vk2, vk3 } = f.locals({ vmu: V128, vrs: V128, vk1: V128, vk2: V128, vk3: V128 });
    const { vd, vt, vg, vp, nBase } = f.locals({ vd: V128, vt: V128, vg: V128, vp: V128, nBase: I32 });
    const sd = f.localArray(V128, 2);
    const sx = f.localArray(V128, 2);
    f.assign(cpg, divU(c, groups));
    f.get(cpg).op(Op.f64ConvertI32U).set(len);
    const chan = () => f.assign(e, add(mul(ng, cpg), i));
    const gAt = () => f.get(gamma).push(add(ch0, i)).i32(2).op(Op.i32Shl, Op.i32Add);
    f.for(
      ng,
      () => f.get(ng0),
      () => f.get(ng1),
      1,
      () => {
        at(f, mean, ng).mem(Op.f32Load).tee(mu).simd(Simd.f32x4Splat).set(vmu);
        at(f, rstd, ng).mem(Op.f32Load).tee(rs).simd(Simd.f32x4Splat).set(vrs);
        f.assign(ch0, mul(remU(ng, groups), cpg));
        f.f32(0).op(Op.f64PromoteF32).tee(A).set(B);
        // pass 1, 4 channels a step then one by one (A and B in channel order): d, the one-element f64 sums, the
        // partials
        f.push(mul(divU(ng, groups), c)).set(nBase);
        f.i32(0).set(zero);
        vecLoop(
          f,
          i,
          zero,
          cpg,
          () => {
            chan();
            if (withRelu) {
              at(f, dx, e);
              emitReluMask(
                f,
                () => at(f, dy, e).vload(),
                () => at(f, y, e).vload(),
              );
              f.tee(vd).vstore();
            } else {
              at(f, dy, e).vload().set(vd);
            }
            f.get(vd);
            at(f, x, e).vload().get(vmu).simd(Simd.f32x4Sub).simd(Simd.f32x4Mul).set(vt);
            // promote(term) + (+0) per lane, low and high halves
            const sum1 = (src: number, hi: boolean, out: number) => {
              f.get(src);
              if (hi) f.get(src).simd(Simd.shuffle, ...HI_TO_LO);
              f.simd(Simd.f64x2PromoteLow)
                .simd(Simd.const, ...Z16)
                .simd(Simd.f64x2Add)
                .set(out);
            };
            sum1(vd, false, sd[0]!);
            sum1(vd, true, sd[1]!);
            sum1(vt, false, sx[0]!);
            sum1(vt, true, sx[1]!);
            f.get(pdb).if(() => {
              f.push(add(add(nBase, ch0), i)).set(pidx);
              for (let q = 0; q < 4; q++) {
                at(f, pdb, pidx);
                f.get(sd[q >> 1]!).simd(Simd.f64x2ExtractLane, q & 1);
                f.op(Op.f32DemoteF64).mem(Op.f32Store, 4 * q);
                at(f, pdg, pidx);
                f.get(sx[q >> 1]!).simd(Simd.f64x2ExtractLane, q & 1);
                f.get(rs)
                  .op(Op.f64PromoteF32, Op.f64Mul, Op.f32DemoteF64)
                  .mem(Op.f32Store, 4 * q);
              }
            });
            f.simd(Simd.const, ...ONE).set(vg);
            f.get(gamma).if(() => gAt().vload().set(vg));
            // sdy * f64(gm) per lane, then added to A (and B) one channel at a time
            for (const [terms, acc] of [
              [sd, A],
              [sx, B],
            ] as const) {
              for (let h = 0; h < 2; h++) {
                f.get(terms[h]!).get(vg);
                if (h === 1) f.get(vg).simd(Simd.shuffle, ...HI_TO_LO);
                f.simd(Simd.f64x2PromoteLow).simd(Simd.f64x2Mul).set(vp);
                for (let l = 0; l < 2; l++) {
                  f.get(acc).get(vp).simd(Simd.f64x2ExtractLane, l).op(Op.f64Add).set(acc);
                }
              }
            }
          },
          () => {
            chan();
            if (withRelu) {
              at(f, dx, e);
              at(f, dy, e).mem(Op.f32Load);
              at(f, y, e).mem(Op.f32Load).f32(0).op(Op.f32Ne, Op.f32ConvertI32U, Op.f32Mul);
              f.tee(d).mem(Op.f32Store);
            } else {
              at(f, dy, e).mem(Op.f32Load).set(d);
            }
            // f64Sum of one element: promote(term) + (+0), the sum's start
            f.get(d).op(Op.f64PromoteF32).f32(0).op(Op.f64PromoteF32, Op.f64Add).set(sdy);
            f.get(d);
            at(f, x, e).mem(Op.f32Load).get(mu).op(Op.f32Sub, Op.f32Mul);
            f.op(Op.f64PromoteF32).f32(0).op(Op.f64PromoteF32, Op.f64Add).set(sdyx);
            // pidx = (ng / groups) * c + ch0 + i
            emitChannelPartials(f, { pdb, pdg, pidx, sdy, sdyx, rs }, () => f.push(add(add(nBase, ch0), i)));
            f.f32(1).set(gm);
            f.get(gamma).if(() => gAt().mem(Op.f32Load).set(gm));
            emitGroupSums(f, { A, B, sdy, sdyx, gm });
          },
        );
        // k2 = rstd*A/len, k3 = rstd^3*B/len (the general kernel's order)
        emitBwdCoefficients(f, { rs, A, B, len, k2, k3, vk2, vk3 });
        // pass 2, across channels: dx = (d * k1 - k2) - (x - mean) * k3 with k1 = rstd * gamma
        const src = withRelu ? dx : dy;
        f.i32(0).set(zero);
        vecLoop(
          f,
          i,
          zero,
          cpg,
          () => {
            chan();
            f.get(vrs).set(vk1);
            f.get(gamma).if(() => {
              f.get(vrs);
              gAt().vload().simd(Simd.f32x4Mul).set(vk1);
            });
            at(f, dx, e);
            at(f, src, e).vload().get(vk1).simd(Simd.f32x4Mul).get(vk2).simd(Simd.f32x4Sub);
            at(f, x, e).vload().get(vmu).simd(Simd.f32x4Sub).get(vk3).simd(Simd.f32x4Mul).simd(Simd.f32x4Sub);
            f.vstore();
          },
          () => {
            chan();
            f.f32(1).set(gm);
            f.get(gamma).if(() => gAt().mem(Op.f32Load).set(gm));
            f.get(rs).get(gm).op(Op.f32Mul).set(k1);
            at(f, dx, e);
            at(f, src, e).mem(Op.f32Load).get(k1).op(Op.f32Mul).get(k2).op(Op.f32Sub);
            at(f, x, e).mem(Op.f32Load).get(mu).op(Op.f32Sub).get(k3).op(Op.f32Mul, Op.f32Sub);
            f.mem(Op.f32Store);
          },
        );
      },
    );
  });
}

/**
 * colSumV(src, dst, rows, cols, c0, c1): 'colSum' (./kernels-train.ts: dst[c] = f32 of the f64 sum over r = 0, 1,
 * ... of src[r*cols + c], from +0) for 16 columns at a time, each row's 64 bytes read as four f32x4 into eight
 * f64x2 accumulators (lane-wise the scalar sums, same order, same bits); the rest column by column. The scalar
 * kernel walked each column down rows cols*4 bytes apart (4 KiB for c1024: one cache set) twice per backward.
 */
function emitColSumV(m: ModuleBuilder): void {
  m.kernel(
    'colSumV',
    { src: I32, dst: I32, rows: I32, cols: I32, c0: I32, c1: I32 },
    (f, { src, dst, rows, cols, c0, c1 }) => {
      const { c, r, p, rowB } = f.locals({ c: I32, r: I32, p: I32, rowB: I32 });
      const acc = f.localArray(V128, 8);
      const v = f.local(V128);
      const s = f.local(F64);
      f.get(cols).i32(2).op(Op.i32Shl).set(rowB);
      f.get(c0).set(c);
      f.block((done) => {
        f.loop((next) => {
          f.get(c).i32(16).op(Op.i32Add).get(c1).op(Op.i32GtS).brIf(done);
          for (const a of acc) f.simd(Simd.const, ...Z16).set(a);
          at(f, src, c).set(p);
          f.range(r, rows, () => {
            for (let q = 0; q < 4; q++) {
              f.get(p)
                .vload(16 * q)
                .tee(v);
              f.simd(Simd.f64x2PromoteLow)
                .get(acc[2 * q]!)
                .simd(Simd.f64x2Add)
                .set(acc[2 * q]!);
              f.get(v)
                .get(v)
                .simd(Simd.shuffle, ...HI_TO_LO)
                .simd(Simd.f64x2PromoteLow);
              f.get(acc[2 * q + 1]!)
                .simd(Simd.f64x2Add)
                .set(acc[2 * q + 1]!);
            }
            f.incBy(p, rowB);
          });
          for (let q = 0; q < 16; q++) {
            at(f, dst, c);
            f.get(acc[q >> 1]!)
              .simd(Simd.f64x2ExtractLane, q & 1)
              .op(Op.f32DemoteF64)
              .mem(Op.f32Store, 4 * q);
          }
          f.inc(c, 16);
          f.br(next);
        });
      });
      f.for(
        c,
        () => f.get(c),
        () => f.get(c1),
        1,
        () => {
          f.i32(0).op(Op.f64ConvertI32U).set(s);
          at(f, src, c).set(p);
          f.range(r, rows, () => {
            f.get(s).get(p).mem(Op.f32Load).op(Op.f64PromoteF32, Op.f64Add).set(s);
            f.incBy(p, rowB);
          });
          at(f, dst, c).get(s).op(Op.f32DemoteF64).mem(Op.f32Store);
        },
      );
    },
  );
}

/** Adds affineC1, affineReluC1, normBwdC1, normBwdReluC1 and colSumV to `m`. */
export function emitNormC1(m: ModuleBuilder): void {
  emitColSumV(m);
  emitAffineC1(m, 'affineC1', false);
  emitAffineC1(m, 'affineReluC1', true);
  emitNormBwdC1(m, 'normBwdC1', false);
  emitNormBwdC1(m, 'normBwdReluC1', true);
}
