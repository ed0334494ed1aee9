/**
 * The R-row GEMM kernels (R = ROWS_R = 5): an R x 8 micro-kernel (2R = 10 f32x4 accumulator chains), the macro-kernel
 * `macroRows` over A packed in R-row strips, and the packer `packRows` for those strips. ./gemm.ts picks them per call
 * (env BIT_GEMM_ROWS); results are the 4x8 kernels' bits (see below).
 *
 * Why: an f32x4 FMA has a 4-cycle latency at 2 per cycle, so 8 chains (4x8) just cover it with no slack: a
 * register-only loop of 8 chains reaches 52 GFLOP/s on 1 thread against 59 with 10 or 12 (bench/simd-ceiling.ts
 * with ACC changed). The k step loads B[k] (2 vectors) and A's 5 values as two vectors, A(k, 0..3) and A(k, 1..4),
 * and spreads each row's value with a lane shuffle (vpshufd, off the FMA ports). Splat loads do not work here: V8's
 * TurboFan issues a block's loads (effectful) before its FMAs (pure, scheduled late), so 5 splats need 2R + 2 + R =
 * 17 v128 registers of the 15 it allocates and spill two accumulators (~30% slower, measured); shuffles are pure
 * and are placed next to their FMAs (10 + 2 + 2 + 1 = 15 live, no spill, checked with --print-wasm-code). 6 rows
 * would need 17; so would mul + add without relaxed_madd (a temporary), hence ./gemm.ts uses these kernels only
 * with relaxed SIMD (without it they measured 20% slower than 4x8). Per-row A pointers (A read in place, or 4-row
 * strips) cost more scalar work than the extra chains gain (measured), hence the R-row packing.
 * Layout: a packed A block (one KC block) is strips of R rows, each [kc][R] floats, the last strip zero padded.
 * Every C element is one FMA chain over k in order from zero, then added to C when accumulating: exactly the
 * operations of the 4x8 kernels, so the tile shape changes no bit. Edge tiles (rows past M, partial column strips)
 * go through the per-thread scratch tile (R*8 floats, within SCRATCH_STRIDE = 256 bytes) and `scatter`.
 */

import { add, and, divU, lit, mul, remU, shl, sub } from './emit-expr.js';
import { RESID_ROWS_BYTES } from './kernels-gemm.js';
import { emitFma, NR } from './kernels-gemm-micro.js';
import { emitPackR, ROWS_R } from './kernels-pack-rows.js';
import { lanes32 } from './kernels-transpose.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

export { ROWS_R };

/** MC block: strips of R rows per macro block (~128 rows). */
const MC_STRIPS_R = Math.floor(128 / ROWS_R);

/**
 * The R x 8 tile over a packed strip: acc[r] += A[k][r] * B[k][0..8]; then C (+)= acc (h2 as in microH). With `rd`
 * (the residual variants) the tile then adds R, laid out as C at c + rd (bytes), before the store: C = (acc [+ C]) +
 * R, the 4x8 R variants' order (./kernels-gemm.ts emitMicroBody), so the bits of the conv store then an add pass.
 */
function emitRowBody(
  f: FnBuilder,
  relaxed: boolean,
  t: {
    ap: number;
    bp: number;
    c: number;
    h2: number | null;
    kc: number;
    ldc: number;
    accum: number;
    rd: number | null;
  },
): void {
  const R = ROWS_R;
  const acc = f.localArray(V128, 2 * R);
  const b0 = f.local(V128);
  const b1 = f.local(V128);
  const a = f.local(V128);
  const av = f.local(V128);
  const aw = f.local(V128);
  const k = f.local(I32);
  f.get(t.kc).set(k);
  f.loop((next) => {
    f.get(t.bp).vload(0).set(b0);
    f.get(t.bp).vload(16).set(b1);
    // A(k, 0..3) and A(k, 1..4) as two vectors, each row's value spread by a lane shuffle (pure: scheduled next
    // to its FMAs, unlike splat loads, which TurboFan issues all before them and which would spill accumulators)
    f.get(t.ap).vload(0).set(av);
    f.get(t.ap).vload(4).set(aw);
    for (let r = 0; r < R; r++) {
      const lane = r < 4 ? r : 3;
      const src = r < 4 ? av : aw;
      f.get(src)
        .get(src)
        .simd(Simd.shuffle, ...lanes32(lane, lane, lane, lane))
        .set(a);
      emitFma(f, relaxed, acc[2 * r]!, a, b0);
      emitFma(f, relaxed, acc[2 * r + 1]!, a, b1);
    }
    f.inc(t.ap, 4 * R);
    f.inc(t.bp, 32);
    f.get(k).i32(1).op(Op.i32Sub).tee(k).brIf(next);
  });
  const c2 = f.local(I32);
  const c = t.c;
  const rowOps = (body: (r: number) => void) => {
    if (t.h2 === null) f.assign(c2, add(c, lit(16)));
    else f.assign(c2, add(c, t.h2));
    for (let r = 0; r < R; r++) {
      body(r);
      if (r < R - 1) f.incBy(c, t.ldc).incBy(c2, t.ldc);
    }
    f.assign(c, sub(c, mul(t.ldc, lit(R - 1))));
  };
  const addTile = (r: number) => {
    for (let h = 0; h < 2; h++) {
      const l = acc[2 * r + h]!;
      f.get(l)
        .get(h === 0 ? c : c2)
        .vload(0)
        .simd(Simd.f32x4Add)
        .set(l);
    }
  };
  f.get(t.accum).if(() => rowOps(addTile));
  if (t.rd !== null) {
    // + R: the same walk with c moved to the residual's tile (c2 follows it), then c moved back
    f.assign(c, add(c, t.rd));
    rowOps(addTile);
    f.assign(c, sub(c, t.rd));
  }
  rowOps((r) => {
    f.get(c)
      .get(acc[2 * r]!)
      .vstore(0);
    f.get(c2)
      .get(acc[2 * r + 1]!)
      .vstore(0);
  });
}

/**
 * microRows(ap, bp, c, kc, ldc, accum) and microRowsH(ap, bp, c, h2, kc, ldc, accum); `residual`: microRowsR and
 * microRowsHR, the same with a last argument rd (the residual at c + rd, see emitRowBody).
 */
function emitRowMicro(m: ModuleBuilder, relaxed: boolean, residual = false): void {
  for (const split of [false, true]) {
    const h2p: Record<string, number> = split ? { h2: I32 } : {};
    const rdp: Record<string, number> = residual ? { rd: I32 } : {};
    m.kernel(
      `microRows${split ? 'H' : ''}${residual ? 'R' : ''}`,
      { ap: I32, bp: I32, c: I32, ...h2p, kc: I32, ldc: I32, accum: I32, ...rdp },
      (f, q) => {
        const p = q as Record<string, number>;
        const [h2, rd] = [split ? p.h2! : null, residual ? p.rd! : null];
        const t = { ap: p.ap!, bp: p.bp!, c: p.c!, h2, kc: p.kc!, ldc: p.ldc!, accum: p.accum!, rd };
        emitRowBody(f, relaxed, t);
      },
    );
  }
}

/**
 * macroRows(ap, bp, c, mStrips, nStrips, kc, ldc, jBase, seg, segStride, accum, mValid, nValid, scratch): `macro`'s
 * arguments with A in R-row strips (mStrips of them). For each MC block of strips, for each 8-column strip of the B
 * panel, for each R-row strip of the block: one micro call (edge tiles through the scratch tile and `scatter`).
 * `residual`: macroRowsR, whose accum argument is rd | accumulate as for macroR (./kernels-gemm.ts emitMacro), with
 * the residual store variants (edge tiles: microRows into the scratch tile, then scatterR) and macroR's loop order:
 * R-row strips outer on rows of at least RESID_ROWS_BYTES, so consecutive tiles read R along its rows.
 */
function emitRowMacro(m: ModuleBuilder, residual = false): void {
  const R = ROWS_R;
  const sfx = residual ? 'R' : '';
  const micro = m.index(`microRows${sfx}`);
  const microH = m.index(`microRowsH${sfx}`);
  const scatter = m.index(`scatter${sfx}`);
  const microTmp = m.index('microRows'); // edge tiles into the scratch tile: never R
  const params = {
    ap: I32,
    bp: I32,
    c: I32,
    mStrips: I32,
    nStrips: I32,
    kc: I32,
    ldc: I32,
    jBase: I32,
    seg: I32,
    segStride: I32,
    accum: I32,
    mValid: I32,
    nValid: I32,
    scratch: I32,
  } as const;
  m.kernel(`macroRows${sfx}`, params, (f, p) => {
    const { ap, bp, c, mStrips, nStrips, kc, ldc, jBase, seg, segStride, mValid, nValid, scratch } = p;
    const { ic, icEnd, jr, ir, j, colOff, h2, nr, mr, bpj, cp, api, stripA } = f.locals({
      ic: I32,
      icEnd: I32,
      jr: I32,
      ir: I32,
      j: I32,
      colOff: I32,
      h2: I32,
      nr: I32,
      mr: I32,
      bpj: I32,
      cp: I32,
      api: I32,
      stripA: I32,
    });
    const accum = residual ? f.local(I32) : p.accum;
    const rd = residual ? f.local(I32) : -1;
    if (residual) {
      f.assign(accum, and(p.accum, lit(1)));
      f.assign(rd, and(p.accum, lit(-4)));
    }
    f.assign(stripA, mul(kc, lit(4 * R)));
    const call = (split: boolean, cArg: () => void, ldcArg: () => void, accumArg: () => void, toScratch = false) => {
      f.get(api).get(bpj);
      cArg();
      if (split) f.get(h2);
      f.get(kc);
      ldcArg();
      accumArg();
      if (toScratch) f.op(Op.call, microTmp);
      else {
        if (residual) f.get(rd);
        f.op(Op.call, split ? microH : micro);
      }
    };
    // per column strip jr: its C column offset, h2, width and B strip
    const jPart = () => {
      f.assign(j, add(jBase, shl(jr, 3)));
      f.assign(colOff, add(mul(divU(j, seg), segStride), shl(remU(j, seg), 2)));
      // h2: byte offset of column j + 4 from column j (16 unless a 4-wide segment boundary lies between)
      const j4 = add(j, lit(4));
      f.assign(h2, sub(add(mul(divU(j4, seg), segStride), shl(remU(j4, seg), 2)), colOff));
      f.assign(nr, sub(nValid, shl(jr, 3)));
      f.get(nr)
        .i32(NR)
        .op(Op.i32GtS)
        .if(() => f.i32(NR).set(nr));
      f.assign(bpj, add(bp, mul(jr, mul(kc, lit(32)))));
    };
    // per R-row strip ir: its A strip and height, then the tile
    const tile = () => {
      f.assign(api, add(ap, mul(ir, stripA)));
      f.assign(mr, sub(mValid, mul(ir, lit(R))));
      f.get(mr)
        .i32(R)
        .op(Op.i32GtS)
        .if(() => f.i32(R).set(mr));
      f.assign(cp, add(add(c, mul(mul(ir, lit(R)), ldc)), colOff));
      f.get(mr).i32(R).op(Op.i32Eq).get(nr).i32(NR).op(Op.i32Eq).op(Op.i32And);
      const full = (split: boolean) =>
        call(
          split,
          () => f.get(cp),
          () => f.get(ldc),
          () => f.get(accum),
        );
      f.if(
        () =>
          f
            .get(h2)
            .i32(16)
            .op(Op.i32Eq)
            .if(
              () => full(false),
              () => full(true),
            ),
        () => {
          call(
            false,
            () => f.get(scratch),
            () => f.i32(32),
            () => f.i32(0),
            true,
          );
          f.get(scratch).get(cp).get(h2).get(mr).get(nr).get(ldc).get(accum);
          if (residual) f.get(rd);
          f.op(Op.call, scatter);
        },
      );
    };
    const irLoop = (body: () => void) =>
      f.for(
        ir,
        () => f.get(ic),
        () => f.get(icEnd),
        1,
        body,
      );
    // column strips outer: one B strip stays in L1 while the R-row strips of the block pass over it
    const columnsOuter = () =>
      f.range(jr, nStrips, () => {
        jPart();
        irLoop(tile);
      });
    f.for(
      ic,
      () => f.i32(0),
      () => f.get(mStrips),
      MC_STRIPS_R,
      () => {
        f.get(ic).i32(MC_STRIPS_R).op(Op.i32Add).tee(icEnd).get(mStrips).op(Op.i32GtS);
        f.if(() => f.get(mStrips).set(icEnd));
        if (!residual) columnsOuter();
        else {
          // as macroR: on rows of >= RESID_ROWS_BYTES, strips outer (tiles walk along R's rows, prefetched)
          f.get(ldc)
            .i32(RESID_ROWS_BYTES)
            .op(Op.i32GeS)
            .if(
              () =>
                irLoop(() => {
                  f.range(jr, nStrips, () => {
                    jPart();
                    tile();
                  });
                }),
              columnsOuter,
            );
        }
      },
    );
  });
}

/** Adds microRows, microRowsH, macroRows and packRows to `m` (after `scatter`). */
export function emitRowGemmKernels(m: ModuleBuilder, relaxed: boolean): void {
  emitRowMicro(m, relaxed);
  emitRowMacro(m);
  emitPackR(m);
}

/**
 * Adds the residual store variants microRowsR, microRowsHR and macroRowsR to `m` (after emitRowGemmKernels and
 * `scatterR`; emitted last, so the other kernels keep their indices and bytes).
 */
export function emitRowResidualKernels(m: ModuleBuilder, relaxed: boolean): void {
  emitRowMicro(m, relaxed, true);
  emitRowMacro(m, true);
}
