/**
 * Winograd F(m x m, 3 x 3) transform kernels (m = 2 or 4, tile a = m + 2) for the wasm backend's stride-1 3x3
 * pad-1 convolutions (./winograd.ts runs them around the per-position GEMMs):
 * - `wino{m}W` / `wino4WFlip`: U[t][q] = (G g_q G^T)[t] for filters q = (co, ci) in [q0, q1), four filters per
 *   f32x4 (lanes = filters, taps gathered with load32_lane); the Flip variant transforms the 180-degree rotated
 *   kernel for grad-input (F4 only: F2's grad-input permutes the forward transform's planes, see ./winograd.ts).
 *   U's t-planes are `qp` floats apart (qp a multiple of 4; lanes past the last filter repeat it and land in the
 *   padding).
 * - `wino{m}In`: V[t][ci][tile] = (B^T d B)[t] (t-planes `ts` floats apart) for the a x a input patch d of each
 *   tile, four tiles per f32x4. Each (image, channel) plane is first copied into a zero-bordered scratch plane
 *   (the pad-1 border plus the ragged bottom/right of the last tiles), so every tile reads in bounds with the
 *   same addressing.
 * - `wino{m}Out`: Y tile = A^T M A from M[t][co][tile] (t-planes `ts` floats apart), lanes scattered into a
 *   scratch plane (tail lanes into a dummy row block), then the cropped oh x ow plane is copied to y. The copy
 *   accumulates v*0 (NaN iff some output is non-finite) and stores 1.0 at `flag` when it sees one, so the caller
 *   can redo the call on the direct path.
 * The matrices and the constant-matrix emitters are in ./winograd-emit.ts. Every value is computed by the same
 * expression in the same order whatever the thread count.
 */

import { add, divU, lit, ltS, mul, remU, shl, sub } from './emit-expr.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';
import {
  ANY_TRUE,
  F2,
  F4,
  grid,
  LOAD32_LANE,
  STORE32_LANE,
  sandwich,
  storePlanes,
  tileAt,
  type WinoVariant,
} from './winograd-emit.js';

export { F2, F4, type WinoVariant };

/**
 * Copy n floats from src to dst (byte pointers in locals; i a scratch local): f32x4 body, scalar tail. With
 * `chk`, also fold v*0 of every copied value into chk.acc (NaN iff one of them is non-finite).
 */
function copyRow(f: FnBuilder, dst: number, src: number, i: number, n: number, chk?: { val: number; acc: number }) {
  const fold = (c: { val: number; acc: number }) =>
    f.get(c.val).f32(0).simd(Simd.f32x4Splat).simd(Simd.f32x4Mul).get(c.acc).simd(Simd.f32x4Add).set(c.acc);
  f.assign(i, lit(0));
  f.block((done) =>
    f.loop((top) => {
      f.push(ltS(add(i, lit(3)), n))
        .op(Op.i32Eqz)
        .brIf(done);
      f.push(add(dst, shl(i, 2)))
        .push(add(src, shl(i, 2)))
        .vload(0);
      if (chk) f.tee(chk.val);
      f.vstore(0);
      if (chk) fold(chk);
      f.inc(i, 4).br(top);
    }),
  );
  f.for(
    i,
    () => f.get(i),
    () => f.get(n),
    1,
    () => {
      f.push(add(dst, shl(i, 2))).push(add(src, shl(i, 2)));
      if (!chk) {
        f.mem(Op.f32Load).mem(Op.f32Store);
        return;
      }
      f.vsplatLoad(0).tee(chk.val).simd(Simd.f32x4ExtractLane, 0).mem(Op.f32Store);
      fold(chk);
    },
  );
}

/** Adds the seven Winograd kernels (F2 and F4: weight, input and output transforms; F4's flipped weight) to `m`. */
export function emitWinogradKernels(m: ModuleBuilder): void {
  for (const v of [F2, F4]) {
    emitWeight(m, v, false);
    if (v.m === 4) emitWeight(m, v, true);
    emitInput(m, v);
    emitOutput(m, v);
  }
}

function emitWeight(m: ModuleBuilder, v: WinoVariant, flip: boolean): void {
  const params = { w: I32, u: I32, q0: I32, q1: I32, qn: I32, qp: I32 } as const;
  m.kernel(`wino${v.m}W${flip ? 'Flip' : ''}`, params, (f, { w, u, q0, q1, qn, qp }) => {
    const { q, ql, up, tb } = f.locals({ q: I32, ql: I32, up: I32, tb: I32 });
    const base = f.localArray(I32, 4);
    const g = grid(f, 3, 3);
    const tmp = grid(f, v.a, 3);
    const out = grid(f, v.a, v.a);
    f.assign(tb, shl(qp, 2));
    f.for(
      q,
      () => f.get(q0),
      () => f.get(q1),
      4,
      () => {
        for (let l = 0; l < 4; l++) {
          // lane l reads filter min(q + l, qn - 1): 9 taps at w + q*36
          f.assign(ql, add(q, lit(l)));
          f.push(ltS(ql, qn))
            .op(Op.i32Eqz)
            .if(() => f.assign(ql, sub(qn, lit(1))));
          f.assign(base[l]!, add(w, mul(ql, lit(36))));
        }
        for (let k = 0; k < 9; k++) {
          const src = flip ? 8 - k : k;
          const dst = g[Math.floor(k / 3)]![k % 3]!;
          for (let l = 0; l < 4; l++) {
            f.get(base[l]!)
              .get(dst)
              .simd(LOAD32_LANE, 2, src * 4, l)
              .set(dst);
          }
        }
        sandwich(f, v.G, v.G, g, tmp, out);
        f.assign(up, add(u, shl(q, 2)));
        storePlanes(f, out, up, tb);
      },
    );
  });
}

function emitInput(m: ModuleBuilder, v: WinoVariant): void {
  emitTileTransform(m, `wino${v.m}In`, v, { patch: v.a, off: 1, mat: v.BT });
}

/**
 * A tile-gathering transform kernel: for each plane p in [p0, p1) (p = img * cin + ci of x, `cin` planes per
 * image), copy the h x w plane into a zeroed scratch plane of row stride pw at (off, off), then for every tile
 * write (mat d mat^T)[t] for its patch x patch patch d (top-left at the tile's m-multiple position), four tiles per
 * f32x4, to V[t][ci][img * tpp + tile] (t-planes `ts` floats apart). `wino{m}In` (patch a, off 1, B^T) is the
 * forward input transform; ./kernels-winograd-gw.ts emits grad-weight's dy transform with it (patch m, off 0, A).
 */
export function emitTileTransform(
  m: ModuleBuilder,
  name: string,
  v: WinoVariant,
  opt: { readonly patch: number; readonly off: 0 | 1; readonly mat: readonly (readonly number[])[] },
): void {
  const a = v.a;
  const { patch, off } = opt;
  const params = {
    x: I32,
    cin: I32,
    h: I32,
    w: I32,
    th: I32,
    tw: I32,
    pw: I32,
    scr: I32,
    vb: I32,
    nt: I32,
    ts: I32,
    p0: I32,
    p1: I32,
  } as const;
  m.kernel(name, params, (f, { x, cin, h, w, th, tw, pw, scr, vb, nt, ts, p0, p1 }) => {
    const { p, img, ci, i, n, src, dst, iy, tpp, gq, tl, vp, tStride, rem, pw4 } = f.locals({
      p: I32,
      img: I32,
      ci: I32,
      i: I32,
      n: I32,
      src: I32,
      dst: I32,
      iy: I32,
      tpp: I32,
      gq: I32,
      tl: I32,
      vp: I32,
      tStride: I32,
      rem: I32,
      pw4: I32,
    });
    const base = f.localArray(I32, 4);
    const d = grid(f, patch, patch);
    const tmp = grid(f, a, patch);
    const out = grid(f, a, a);
    f.assign(pw4, shl(pw, 2));
    f.assign(tpp, mul(th, tw));
    f.assign(tStride, shl(ts, 2));
    // zero the scratch plane ((th*m + 2*off) rows of pw, rounded up to whole f32x4)
    f.assign(n, mul(add(mul(th, lit(v.m)), lit(2 * off)), pw));
    f.range(
      i,
      n,
      () =>
        f
          .push(add(scr, shl(i, 2)))
          .f32(0)
          .simd(Simd.f32x4Splat)
          .vstore(0),
      4,
    );
    f.for(
      p,
      () => f.get(p0),
      () => f.get(p1),
      1,
      () => {
        f.assign(img, divU(p, cin));
        f.assign(ci, remU(p, cin));
        // copy the h x w plane into the scratch interior (row iy+off, column off)
        f.assign(src, add(x, shl(mul(p, mul(h, w)), 2)));
        f.range(iy, h, () => {
          f.assign(dst, add(scr, shl(add(mul(add(iy, lit(off)), pw), lit(off)), 2)));
          copyRow(f, dst, src, i, w);
          f.assign(src, add(src, shl(w, 2)));
        });
        // tiles, four at a time: lane l is tile min(gq + l, tpp - 1)
        f.assign(vp, add(vb, shl(add(mul(ci, nt), mul(img, tpp)), 2)));
        f.range(
          gq,
          tpp,
          () => {
            for (let l = 0; l < 4; l++) {
              f.assign(tl, add(gq, lit(l)));
              f.push(ltS(tl, tpp))
                .op(Op.i32Eqz)
                .if(() => f.assign(tl, sub(tpp, lit(1))));
              f.assign(base[l]!, tileAt(scr, tl, tw, pw, v.m));
            }
            for (let r = 0; r < patch; r++) {
              for (let c = 0; c < patch; c++) {
                for (let l = 0; l < 4; l++) {
                  f.get(base[l]!)
                    .get(d[r]![c]!)
                    .simd(LOAD32_LANE, 2, c * 4, l)
                    .set(d[r]![c]!);
                }
              }
              if (r < patch - 1) for (let l = 0; l < 4; l++) f.incBy(base[l]!, pw4);
            }
            sandwich(f, opt.mat, opt.mat, d, tmp, out);
            f.assign(rem, sub(tpp, gq));
            f.assign(dst, add(vp, shl(gq, 2)));
            f.push(ltS(rem, lit(4))).if(
              () => {
                for (let t = 0; t < a * a; t++) {
                  const o = out[Math.floor(t / a)]![t % a]!;
                  for (let l = 0; l < 3; l++) {
                    f.push(ltS(lit(l), rem)).if(() => {
                      f.get(dst)
                        .get(o)
                        .simd(STORE32_LANE, 2, l * 4, l);
                    });
                  }
                  f.incBy(dst, tStride);
                }
              },
              () => storePlanes(f, out, dst, tStride),
            );
          },
          4,
        );
      },
    );
  });
}

function emitOutput(m: ModuleBuilder, v: WinoVariant): void {
  const a = v.a;
  const params = {
    mb: I32,
    cout: I32,
    nt: I32,
    ts: I32,
    th: I32,
    tw: I32,
    oh: I32,
    ow: I32,
    y: I32,
    scr: I32,
    p0: I32,
    p1: I32,
    flag: I32,
  } as const;
  m.kernel(`wino${v.m}Out`, params, (f, { mb, cout, nt, ts, th, tw, oh, ow, y, scr, p0, p1, flag }) => {
    const { p, img, co, i, src, dst, iy, tpp, gq, tl, mp, tStride, sw4, sw, dummy } = f.locals({
      p: I32,
      img: I32,
      co: I32,
      i: I32,
      src: I32,
      dst: I32,
      iy: I32,
      tpp: I32,
      gq: I32,
      tl: I32,
      mp: I32,
      tStride: I32,
      sw4: I32,
      sw: I32,
      dummy: I32,
    });
    const { acc, val } = f.locals({ acc: V128, val: V128 });
    const base = f.localArray(I32, 4);
    const mm = grid(f, a, a);
    const tmp = grid(f, v.m, a);
    const out = grid(f, v.m, v.m);
    const zero4 = () => f.f32(0).simd(Simd.f32x4Splat);
    f.assign(sw, mul(tw, lit(v.m)));
    f.assign(sw4, shl(sw, 2));
    f.assign(tpp, mul(th, tw));
    f.assign(tStride, shl(ts, 2));
    f.assign(dummy, add(scr, shl(mul(mul(th, lit(v.m)), sw), 2)));
    zero4();
    f.set(acc);
    f.for(
      p,
      () => f.get(p0),
      () => f.get(p1),
      1,
      () => {
        f.assign(img, divU(p, cout));
        f.assign(co, remU(p, cout));
        f.assign(mp, add(mb, shl(add(mul(co, nt), mul(img, tpp)), 2)));
        f.range(
          gq,
          tpp,
          () => {
            // M values of tiles gq..gq+3 (lanes past tpp read neighbours or padding and are never stored)
            f.assign(src, add(mp, shl(gq, 2)));
            for (let t = 0; t < a * a; t++) {
              f.get(src)
                .vload(0)
                .set(mm[Math.floor(t / a)]![t % a]!);
              if (t < a * a - 1) f.incBy(src, tStride);
            }
            sandwich(f, v.AT, v.AT, mm, tmp, out);
            for (let l = 0; l < 4; l++) {
              f.assign(tl, add(gq, lit(l)));
              f.push(ltS(tl, tpp)).if(
                () => f.assign(base[l]!, tileAt(scr, tl, tw, sw, v.m)),
                () => f.assign(base[l]!, dummy),
              );
            }
            for (let r = 0; r < v.m; r++) {
              for (let c = 0; c < v.m; c++) {
                for (let l = 0; l < 4; l++)
                  f.get(base[l]!)
                    .get(out[r]![c]!)
                    .simd(STORE32_LANE, 2, c * 4, l);
              }
              if (r < v.m - 1) for (let l = 0; l < 4; l++) f.incBy(base[l]!, sw4);
            }
          },
          4,
        );
        // copy the cropped oh x ow plane to y, folding v*0 into acc (NaN iff a value is non-finite)
        f.assign(dst, add(y, shl(mul(p, mul(oh, ow)), 2)));
        f.assign(src, scr);
        f.range(iy, oh, () => {
          copyRow(f, dst, src, i, ow, { val, acc });
          f.assign(src, add(src, sw4));
          f.assign(dst, add(dst, shl(ow, 2)));
        });
      },
    );
    f.get(acc).get(acc).simd(Simd.f32x4Ne).simd(ANY_TRUE);
    f.if(() => {
      f.get(flag).f32(1).mem(Op.f32Store);
    });
  });
}
