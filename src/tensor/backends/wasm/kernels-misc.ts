/**
 * Emits the non-GEMM hot kernels: elementwise add/mul/relu (f32x4 over an index range), row sums, GroupNorm and
 * Weight Standardization forward/backward (statistics accumulated in f64x2, outputs in f32x4), max-pool forward
 * and backward (scalar, one (n, c) plane at a time) and the fused SGD step.
 *
 * Every kernel takes the range of work items it owns ([i0, i1) elements, rows or planes), so the thread pool splits
 * work by output ranges and each output is computed by the same instruction sequence for any thread count.
 * Range starts passed by the pool are multiples of 4 elements for the vector kernels.
 */

import type { BinaryOp } from '../../op-table.js';
import { add, divU, f32At, mul, remU, shl } from './emit-expr.js';
import { F32, F64, type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

const HI_TO_LO = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];

/** Vector loop over [i0, i1) with a scalar tail; `vec(addrOff)`/`sca()` emit one step given local `i` (elements). */
export function vecLoop(f: FnBuilder, i: number, i0: number, i1: number, vec: () => void, sca: () => void): void {
  f.get(i0).set(i);
  f.block((done) => {
    f.loop((next) => {
      f.get(i).i32(4).op(Op.i32Add).get(i1).op(Op.i32GtS).brIf(done);
      vec();
      f.inc(i, 4);
      f.br(next);
    });
  });
  f.for(
    i,
    () => f.get(i),
    () => f.get(i1),
    1,
    sca,
  );
}

/** Byte address of element `i` of buffer param `p`. */
export function at(f: FnBuilder, p: number, i: number): FnBuilder {
  return f.get(p).get(i).i32(2).op(Op.i32Shl, Op.i32Add);
}

/**
 * [vector op, scalar op, is a comparison (result 1.0 / 0.0)] for each op with a broadcast-scalar kernel: explicit
 * SIMD overrides of op-table entries (the generated strided loop serves every other op and layout).
 */
export const SCALAR_BINARY: { readonly [K in BinaryOp]?: readonly [number, number, boolean] } = {
  add: [Simd.f32x4Add, Op.f32Add, false],
  sub: [Simd.f32x4Sub, Op.f32Sub, false],
  mul: [Simd.f32x4Mul, Op.f32Mul, false],
  div: [Simd.f32x4Div, Op.f32Div, false],
  eq: [Simd.f32x4Eq, Op.f32Eq, true],
  ne: [Simd.f32x4Ne, Op.f32Ne, true],
  lt: [Simd.f32x4Lt, Op.f32Lt, true],
  le: [Simd.f32x4Le, Op.f32Le, true],
  gt: [Simd.f32x4Gt, Op.f32Gt, true],
  ge: [Simd.f32x4Ge, Op.f32Ge, true],
};

/** `bs_<op>(a, bPtr, out, i0, i1)`: out[i] = a[i] op b[0] (comparisons give 1.0 / 0.0, NaN compares false). */
function emitBinaryScalar(m: ModuleBuilder): void {
  const ONE = [...new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer)];
  for (const [name, [vop, sop, cmp]] of Object.entries(SCALAR_BINARY) as [
    string,
    readonly [number, number, boolean],
  ][]) {
    m.kernel(`bs_${name}`, { a: I32, b: I32, out: I32, i0: I32, i1: I32 }, (f, { a, b, out, i0, i1 }) => {
      const { i, bv, bs } = f.locals({ i: I32, bv: V128, bs: F32 });
      f.get(b).mem(Op.f32Load).tee(bs).simd(Simd.f32x4Splat).set(bv);
      vecLoop(
        f,
        i,
        i0,
        i1,
        () => {
          at(f, out, i);
          at(f, a, i).vload().get(bv).simd(vop);
          if (cmp) f.simd(Simd.const, ...ONE).simd(Simd.and);
          f.vstore();
        },
        () => {
          at(f, out, i);
          at(f, a, i).mem(Op.f32Load).get(bs).op(sop);
          if (cmp) f.op(Op.f32ConvertI32U);
          f.mem(Op.f32Store);
        },
      );
    });
  }
}

export function emitElementwise(m: ModuleBuilder): void {
  const bin = (name: string, vop: number, sop: number) =>
    m.kernel(name, { a: I32, b: I32, out: I32, i0: I32, i1: I32 }, (f, { a, b, out, i0, i1 }) => {
      const i = f.local(I32);
      vecLoop(
        f,
        i,
        i0,
        i1,
        () => {
          at(f, out, i);
          at(f, a, i).vload();
          at(f, b, i).vload().simd(vop).vstore();
        },
        () => {
          at(f, out, i);
          at(f, a, i).mem(Op.f32Load);
          at(f, b, i).mem(Op.f32Load).op(sop).mem(Op.f32Store);
        },
      );
    });
  bin('add', Simd.f32x4Add, Op.f32Add);
  bin('mul', Simd.f32x4Mul, Op.f32Mul);
  bin('sub', Simd.f32x4Sub, Op.f32Sub);
  emitBinaryScalar(m);
  m.kernel('relu', { a: I32, out: I32, i0: I32, i1: I32 }, (f, { a, out, i0, i1 }) => {
    const { i, v, x } = f.locals({ i: I32, v: V128, x: F32 });
    vecLoop(
      f,
      i,
      i0,
      i1,
      () => {
        // x < 0 ? 0 : x (the op table's relu: NaN stays NaN, as in PyTorch)
        at(f, out, i);
        f.simd(Simd.const, ...new Array(16).fill(0));
        at(f, a, i).vload().tee(v);
        f.get(v)
          .simd(Simd.const, ...new Array(16).fill(0))
          .simd(Simd.f32x4Lt)
          .simd(Simd.bitselect)
          .vstore();
      },
      () => {
        at(f, out, i);
        f.f32(0);
        at(f, a, i).mem(Op.f32Load).tee(x).get(x).f32(0).op(Op.f32Lt, Op.select).mem(Op.f32Store);
      },
    );
  });
}

/**
 * out (f64 local) = sum over i in [0, len) of a per-element f32 term, accumulated in f64x2 lanes then a scalar
 * tail. `vterm` pushes the f32x4 term for elements i..i+3 and `sterm` the f32 term for element i (local `i`).
 */
export function f64Sum(f: FnBuilder, i: number, len: number, vterm: () => void, sterm: () => void, out: number): void {
  const a0 = f.local(V128);
  const a1 = f.local(V128);
  const v = f.local(V128);
  const s = f.local(F64);
  const zero = new Array(16).fill(0);
  f.simd(Simd.const, ...zero).set(a0);
  f.simd(Simd.const, ...zero).set(a1);
  f.i32(0).set(i);
  f.block((done) => {
    f.loop((next) => {
      f.get(i).i32(4).op(Op.i32Add).get(len).op(Op.i32GtS).brIf(done);
      vterm();
      f.tee(v);
      f.simd(Simd.f64x2PromoteLow).get(a0).simd(Simd.f64x2Add).set(a0);
      f.get(v)
        .get(v)
        .simd(Simd.shuffle, ...HI_TO_LO)
        .simd(Simd.f64x2PromoteLow)
        .get(a1)
        .simd(Simd.f64x2Add)
        .set(a1);
      f.inc(i, 4);
      f.br(next);
    });
  });
  f.get(a0).get(a1).simd(Simd.f64x2Add).tee(a0).simd(Simd.f64x2ExtractLane, 0);
  f.get(a0).simd(Simd.f64x2ExtractLane, 1).op(Op.f64Add).set(s);
  f.for(
    i,
    () => f.get(i),
    () => f.get(len),
    1,
    () => {
      sterm();
      f.op(Op.f64PromoteF32).get(s).op(Op.f64Add).set(s);
    },
  );
  f.get(s).set(out);
}

/**
 * `f64Sum` restructured for throughput: 8 elements per step into four independent f64x2 accumulators, each fed by
 * `hterm(byteOffset)`, which pushes an f32x4 whose LOW two lanes are the f32 terms of elements i + byteOffset/4 and
 * the next (called with 0, 8, 16, 24; e.g. a `v128.load64_zero`: no lane shuffle, so the promotes are the only
 * shuffle-port work), then a 4-element step and a scalar tail. A fixed order per row (the same instructions for
 * any thread count), a different one from `f64Sum`.
 */
export function f64Sum8(
  f: FnBuilder,
  i: number,
  len: number,
  hterm: (byteOffset: number) => void,
  sterm: () => void,
  out: number,
): void {
  const acc = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)] as const;
  const s = f.local(F64);
  const zero = new Array(16).fill(0);
  for (const a of acc) f.simd(Simd.const, ...zero).set(a);
  const half = (off: number, a: number) => {
    hterm(off);
    f.simd(Simd.f64x2PromoteLow).get(a).simd(Simd.f64x2Add).set(a);
  };
  f.i32(0).set(i);
  f.block((done) => {
    f.loop((next) => {
      f.get(i).i32(8).op(Op.i32Add).get(len).op(Op.i32GtS).brIf(done);
      for (let k = 0; k < 4; k++) half(8 * k, acc[k]!);
      f.inc(i, 8);
      f.br(next);
    });
  });
  f.get(i).i32(4).op(Op.i32Add).get(len).op(Op.i32LeS);
  f.if(() => {
    half(0, acc[0]);
    half(8, acc[1]);
    f.inc(i, 4);
  });
  f.get(acc[0]).get(acc[2]).simd(Simd.f64x2Add).get(acc[1]).get(acc[3]).simd(Simd.f64x2Add).simd(Simd.f64x2Add);
  f.tee(acc[0]).simd(Simd.f64x2ExtractLane, 0);
  f.get(acc[0]).simd(Simd.f64x2ExtractLane, 1).op(Op.f64Add).set(s);
  f.for(
    i,
    () => f.get(i),
    () => f.get(len),
    1,
    () => {
      sterm();
      f.op(Op.f64PromoteF32).get(s).op(Op.f64Add).set(s);
    },
  );
  f.get(s).set(out);
}

export function emitNorm(m: ModuleBuilder): void {
  emitStats(m, 'stats', false);
  emitStats(m, 'stats8', true);
  emitAffine(m, 'affine', false);
  emitAffine(m, 'affineRelu', true);
}

/**
 * stats(x, mean, rstd, len, eps, r0, r1): per row of `len` floats, mean and 1/sqrt(biased var + eps), two passes
 * (the mean, then the centered second moment), summed in f64. `wide`: the sums through `f64Sum8` (four accumulator
 * chains; 'stats8', GroupNorm's forward) instead of `f64Sum` ('stats').
 */
function emitStats(m: ModuleBuilder, name: string, wide: boolean): void {
  const statsParams = { x: I32, mean: I32, rstd: I32, len: I32, eps: F32, r0: I32, r1: I32 } as const;
  m.kernel(name, statsParams, (f, { x, mean, rstd, len, eps, r0, r1 }) => {
    const { r, p, i, mu, mv, mf, s } = f.locals({ r: I32, p: I32, i: I32, mu: F64, mv: V128, mf: F32, s: F64 });
    f.for(
      r,
      () => f.get(r0),
      () => f.get(r1),
      1,
      () => {
        f.assign(p, f32At(x, mul(r, len)));
        // wide: terms from 2-element loads (the low lanes), see f64Sum8; else full vectors into f64Sum
        const load = (off: number) => (wide ? at(f, p, i).simd(Simd.load64Zero, 3, off) : at(f, p, i).vload(off));
        const sum = (vterm: (off: number) => void, sterm: () => void, out: number) =>
          wide ? f64Sum8(f, i, len, vterm, sterm, out) : f64Sum(f, i, len, () => vterm(0), sterm, out);
        sum(
          (off) => load(off),
          () => at(f, p, i).mem(Op.f32Load),
          mu,
        );
        f.get(mu).get(len).op(Op.f64ConvertI32U, Op.f64Div).set(mu);
        f.get(mu).op(Op.f32DemoteF64).tee(mf).simd(Simd.f32x4Splat).set(mv);
        // centered second moment in f64: d = x - mean (f32 exact enough for the sum of squares)
        const t = f.local(V128);
        sum(
          (off) => {
            load(off).get(mv).simd(Simd.f32x4Sub);
            f.tee(t).get(t).simd(Simd.f32x4Mul);
          },
          () => {
            at(f, p, i).mem(Op.f32Load).get(mf).op(Op.f32Sub);
            const t = f.local(F32);
            f.tee(t).get(t).op(Op.f32Mul);
          },
          s,
        );
        at(f, mean, r).get(mf).mem(Op.f32Store);
        at(f, rstd, r).f32(1).get(s).get(len).op(Op.f64ConvertI32U, Op.f64Div).get(eps).op(Op.f64PromoteF32);
        f.op(Op.f64Add, Op.f64Sqrt, Op.f32DemoteF64, Op.f32Div).mem(Op.f32Store);
      },
    );
  });
}

/**
 * affine(x, y, mean, rstd, gamma, beta, c, hw, groups, ng0, ng1): y = (x - mean)*rstd*gamma + beta per channel;
 * gamma == 0 means "no affine" (Weight Standardization: one group, c = 1). `relu` emits the variant that stores
 * the op table's relu of it (v < 0 ? 0 : v, the `relu` kernel's instructions): GroupNorm + ReLU in one pass.
 */
function emitAffine(m: ModuleBuilder, name: string, relu: boolean): void {
  const affineParams = { x: I32, y: I32, mean: I32, rstd: I32, gamma: I32, beta: I32 } as const;
  const affineGeom = { c: I32, hw: I32, groups: I32, ng0: I32, ng1: I32 } as const;
  m.kernel(
    name,
    { ...affineParams, ...affineGeom },
    (f, { x, y, mean, rstd, gamma, beta, c, hw, groups, ng0, ng1 }) => {
      const { ng, ch, cpg, i, chAbs, off } = f.locals({ ng: I32, ch: I32, cpg: I32, i: I32, chAbs: I32, off: I32 });
      const ch0 = f.local(I32);
      const { mu, sc, sh } = f.locals({ mu: F32, sc: F32, sh: F32 });
      const { vmu, vsc, vsh } = f.locals({ vmu: V128, vsc: V128, vsh: V128 });
      const { xp, yp, zero } = f.locals({ xp: I32, yp: I32, zero: I32 });
      const { v, sv } = f.locals({ v: V128, sv: F32 });
      const Z16 = new Array(16).fill(0);
      f.assign(cpg, divU(c, groups));
      f.for(
        ng,
        () => f.get(ng0),
        () => f.get(ng1),
        1,
        () => {
          at(f, mean, ng).mem(Op.f32Load).set(mu);
          // the group's first channel, once per row (no division per channel)
          f.assign(ch0, mul(remU(ng, groups), cpg));
          f.range(ch, cpg, () => {
            // chAbs = (ng % groups) * cpg + ch
            f.assign(chAbs, add(ch0, ch));
            at(f, rstd, ng).mem(Op.f32Load).set(sc);
            f.get(gamma).if(() => {
              at(f, gamma, chAbs).mem(Op.f32Load).get(sc).op(Op.f32Mul).set(sc);
            });
            f.f32(0).set(sh);
            f.get(beta).if(() => {
              at(f, beta, chAbs).mem(Op.f32Load).set(sh);
            });
            f.get(mu).simd(Simd.f32x4Splat).set(vmu);
            f.get(sc).simd(Simd.f32x4Splat).set(vsc);
            f.get(sh).simd(Simd.f32x4Splat).set(vsh);
            f.assign(off, shl(mul(add(mul(ng, cpg), ch), hw), 2));
            f.assign(xp, add(x, off));
            f.assign(yp, add(y, off));
            f.i32(0).set(zero);
            vecLoop(
              f,
              i,
              zero,
              hw,
              () => {
                at(f, yp, i);
                if (relu) f.simd(Simd.const, ...Z16);
                at(f, xp, i).vload().get(vmu).simd(Simd.f32x4Sub).get(vsc).simd(Simd.f32x4Mul);
                f.get(vsh).simd(Simd.f32x4Add);
                if (relu)
                  f.tee(v)
                    .get(v)
                    .simd(Simd.const, ...Z16)
                    .simd(Simd.f32x4Lt)
                    .simd(Simd.bitselect);
                f.vstore();
              },
              () => {
                at(f, yp, i);
                if (relu) f.f32(0);
                at(f, xp, i).mem(Op.f32Load).get(mu).op(Op.f32Sub).get(sc).op(Op.f32Mul);
                f.get(sh).op(Op.f32Add);
                if (relu) f.tee(sv).get(sv).f32(0).op(Op.f32Lt, Op.select);
                f.mem(Op.f32Store);
              },
            );
          });
        },
      );
    },
  );
}
