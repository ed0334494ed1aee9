/**
 * Emits the max-pool kernels: forward (value and first-max index per window, with virtual padding of a given value;
 * a branch-free general path and a 3x3 fast path for windows wholly inside the image) and backward (dy scattered
 * to the saved indices; index -1, a padding cell, passes nothing). Semantics equal the reference backend's
 * exactly, ties, NaN and signed zeros included (test/tensor/backends/wasm/wasm-backend.test.ts).
 * maxPool4 runs four planes at once in f32x4 lanes (the window geometry, padding test and index are the same for
 * the four planes, so one branch-free compare-and-select per tap serves four windows).
 */

import { add, and, f32At, geS, leS, lit, ltU, mul, shl, sub } from './emit-expr.js';
import { at } from './kernels-misc.js';
import { F32, type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

/** SIMD opcodes only the pool kernels use (after the 0xfd prefix). */
const I32X4_SPLAT = 0x11;
const V128_OR = 0x50;
const F32X4_CONVERT_I32X4_S = 0xfa;

/**
 * The window loop both forward kernels share: planes [p0, p1) by `planeStep`, xp = the plane's first input byte,
 * o = its first output element (the body advances o by one per window), then oy, ox over the output.
 */
function forEachWindow(
  f: FnBuilder,
  { x, h, w, oh, ow, p0, p1 }: { x: number; h: number; w: number; oh: number; ow: number; p0: number; p1: number },
  { p, xp, o, oy, ox }: { p: number; xp: number; o: number; oy: number; ox: number },
  planeStep: number,
  body: () => void,
): void {
  f.for(
    p,
    () => f.get(p0),
    () => f.get(p1),
    planeStep,
    () => {
      f.assign(xp, f32At(x, mul(p, mul(h, w))));
      f.assign(o, mul(p, mul(oh, ow)));
      f.range(oy, oh, () => f.range(ox, ow, body));
    },
  );
}

/** maxPool / maxPool4 params: x, out, idx, the geometry, the padding value and the planes [p0, p1). */
const MAX_POOL_PARAMS = {
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
} as const;

export function emitPool(m: ModuleBuilder): void {
  // maxPool(x, out, idx, h, w, kh, kw, stride, oh, ow, pad, padValue, p0, p1): planes [p0, p1). Per tap, branch-free:
  // iy = oy*stride - pad + ky (ix alike); inside = iy <u h && ix <u w; v = inside ? x[iy*w + ix] : padValue (the
  // load reads cell 0 when outside, so it never leaves the plane); pos = inside ? iy*w + ix : -1;
  // take = v > best || (v is NaN && best is not) || first tap; the first maximum in window order wins, NaN sticks.
  // A 3x3 window wholly inside the image (most windows) takes a fast path: nine loads, a tree of f32.max, then the
  // first tap equal to the maximum (or the first NaN), found by a select chain run from the last tap back.
  m.kernel('maxPool', MAX_POOL_PARAMS, (f, { x, out, idx, h, w, kh, kw, stride, oh, ow, pad, padValue, p0, p1 }) => {
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
    forEachWindow(f, { x, h, w, oh, ow, p0, p1 }, { p, xp, o, oy, ox }, 1, () => {
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
  emitMaxPool4(m);
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

/**
 * maxPool4(x, out, idx, h, w, kh, kw, stride, oh, ow, pad, padValue, p0, p1): the planes [p0, p1) (a multiple of 4
 * of them) four at a time, lane j holding plane p + j. Per tap, as maxPool: inside (one test for the four lanes),
 * v = the four planes' values (or padValue), pos = iy*w + ix (or -1); take = v > best | (v is NaN & best is not) |
 * first tap, per lane; best and its position follow by bitselect. So each lane computes exactly maxPool's result.
 */
function emitMaxPool4(m: ModuleBuilder): void {
  m.kernel('maxPool4', MAX_POOL_PARAMS, (f, { x, out, idx, h, w, kh, kw, stride, oh, ow, pad, padValue, p0, p1 }) => {
    const { p, oy, ox, ky, kx, iy, ix, pos, first, xp, a, o, planeB, ohwB, op } = f.locals({
      p: I32,
      oy: I32,
      ox: I32,
      ky: I32,
      kx: I32,
      iy: I32,
      ix: I32,
      pos: I32,
      first: I32,
      xp: I32,
      a: I32,
      o: I32,
      planeB: I32,
      ohwB: I32,
      op: I32,
    });
    const { v, bv, bp, take } = f.locals({ v: V128, bv: V128, bp: V128, take: V128 });
    f.assign(planeB, shl(mul(h, w), 2));
    f.assign(ohwB, shl(mul(oh, ow), 2));
    forEachWindow(f, { x, h, w, oh, ow, p0, p1 }, { p, xp, o, oy, ox }, 4, () => {
      f.i32(1).set(first);
      f.range(ky, kh, () => {
        f.assign(iy, add(sub(mul(oy, stride), pad), ky));
        f.range(kx, kw, () => {
          f.assign(ix, add(sub(mul(ox, stride), pad), kx));
          f.push(and(ltU(iy, h), ltU(ix, w))).if(
            () => {
              f.assign(pos, add(mul(iy, w), ix));
              f.assign(a, f32At(xp, pos));
              f.get(a).mem(Op.f32Load).simd(Simd.f32x4Splat);
              for (let j = 1; j < 4; j++) {
                f.incBy(a, planeB);
                f.get(a).mem(Op.f32Load).simd(Simd.f32x4ReplaceLane, j);
              }
              f.set(v);
            },
            () => {
              f.get(padValue).simd(Simd.f32x4Splat).set(v);
              f.i32(-1).set(pos);
            },
          );
          // take = v > bv | (v != v & bv == bv) | first
          f.get(v).get(bv).simd(Simd.f32x4Gt);
          f.get(v).get(v).simd(Simd.f32x4Ne).get(bv).get(bv).simd(Simd.f32x4Eq).simd(Simd.and);
          f.simd(V128_OR);
          f.i32(0).get(first).op(Op.i32Sub).simd(I32X4_SPLAT).simd(V128_OR).set(take);
          f.get(v).get(bv).get(take).simd(Simd.bitselect).set(bv);
          f.get(pos).simd(I32X4_SPLAT).get(bp).get(take).simd(Simd.bitselect).set(bp);
          f.i32(0).set(first);
        });
      });
      f.get(bp).simd(F32X4_CONVERT_I32X4_S).set(bp);
      f.assign(op, f32At(out, o));
      f.assign(a, f32At(idx, o));
      for (let j = 0; j < 4; j++) {
        f.get(op).get(bv).simd(Simd.f32x4ExtractLane, j).mem(Op.f32Store);
        f.get(a).get(bp).simd(Simd.f32x4ExtractLane, j).mem(Op.f32Store);
        if (j < 3) {
          f.incBy(op, ohwB);
          f.incBy(a, ohwB);
        }
      }
      f.inc(o, 1);
    });
  });
}
