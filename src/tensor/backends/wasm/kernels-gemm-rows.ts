/**
 * R-row GEMM kernels (R = 5 or 6): a micro-kernel of R x 8 (2R f32x4 accumulators) and the macro-kernels `macro` /
 * `macroS` built on it, emitted in place of ./kernels-gemm.ts's 4x8 ones (same names, same arguments, same bits).
 *
 * Why: an f32x4 FMA has a 4-cycle latency at 2 per cycle, so 8 accumulators (4x8) just cover it with no slack:
 * a register-only loop of 8 chains reaches 52 GFLOP/s on 1 thread against 59 with 10 or 12 (bench/simd-ceiling.ts
 * with ACC changed), and the 4x8 GEMM tops out near 44. With 10 / 12 chains a late load no longer stalls them.
 *
 * Each row of a tile has its own A pointer: packed A (MR = 4 row strips [kc][4], unchanged) has row i at
 * ap + (i/4)*kc*16 + (i%4)*4, stepping 16 bytes per k; an in-place A has row i at ap + i*lda, stepping aks.
 * Rows past M re-read the last row and their results go through the scratch tile (R*8 floats, within the
 * per-thread SCRATCH_STRIDE of 256 bytes) and `scatter`, as do partial column strips. Every C element is still one
 * FMA chain over k in order from zero, then added to C when accumulating: exactly the 4x8 kernels' operations, so
 * the tile shape changes no bit. MC blocks hold a multiple of R rows (so only M's last tile is partial).
 */

import { add, lit, mul, shl, sub } from './emit-expr.js';
import { emitFma, NR } from './kernels-gemm.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

/** Rows of the GEMM micro-tile: env BIT_GEMM_ROWS = 4 (the original 4x8 kernels),5 or 6; default 4 (see below). */
export function defaultGemmRows(): number {
  const v = typeof process !== 'undefined' ? process.env?.BIT_GEMM_ROWS : undefined;
  if (v === undefined || v === '') return 4;
  return v === '6' ? 6 : v === '5' ? 5 : 4;
}

/** Rows per register group of the micro-kernel's k step (see emitRowBody): env BIT_GEMM_GROUP, default 3. */
const GROUP = Number((typeof process !== 'undefined' ? process.env?.BIT_GEMM_GROUP : undefined) || 3);

/** About 128 rows of A per MC block, a multiple of R. */
const mcRows = (R: number) => R * Math.floor(128 / R);

/**
 * The R x 8 tile: for kc steps, acc[r] += A(r, k) * B[k][0..8] with A(r, k) splat-loaded from rows[r] (each then
 * advanced by aks); then C (+)= acc, columns 0..3 of row r at c + r*ldc, columns 4..7 at c + h2 + r*ldc (h2 null:
 * 16, a contiguous row).
 */
function emitRowBody(
  f: FnBuilder,
  relaxed: boolean,
  rows: readonly number[],
  t: { aks: number; bp: number; c: number; h2: number | null; kc: number; ldc: number; accum: number },
): void {
  const R = rows.length;
  const acc = f.localArray(V128, 2 * R);
  const b0 = f.local(V128);
  const b1 = f.local(V128);
  const a = f.local(V128);
  const k = f.local(I32);
  f.get(t.kc).set(k);
  f.loop((next) => {
    f.get(t.bp).vload(0).set(b0);
    f.get(t.bp).vload(16).set(b1);
    // rows in groups, each inside `if (kc)` (always true): V8's scheduler issues a block's loads before its
    // (pure) FMAs, so one block holding all R splats needs 2R + 2 + R registers and spills accumulators; a group's
    // block holds at most GROUP splats, and its FMAs stay in it (their results merge into the accumulators' phis)
    for (let g0 = 0; g0 < R; g0 += GROUP) {
      f.get(t.kc).if(() => {
        for (let r = g0; r < Math.min(R, g0 + GROUP); r++) {
          f.get(rows[r]!).vsplatLoad(0).set(a);
          emitFma(f, relaxed, acc[2 * r]!, a, b0);
          emitFma(f, relaxed, acc[2 * r + 1]!, a, b1);
        }
      });
    }
    for (const p of rows) f.incBy(p, t.aks);
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
  f.get(t.accum).if(() =>
    rowOps((r) => {
      for (let h = 0; h < 2; h++) {
        const l = acc[2 * r + h]!;
        f.get(l)
          .get(h === 0 ? c : c2)
          .vload(0)
          .simd(Simd.f32x4Add)
          .set(l);
      }
    }),
  );
  rowOps((r) => {
    f.get(c)
      .get(acc[2 * r]!)
      .vstore(0);
    f.get(c2)
      .get(acc[2 * r + 1]!)
      .vstore(0);
  });
}

/** microR(p0..p{R-1}, aks, bp, c, kc, ldc, accum) and microRH(..., c, h2, kc, ...): the R x 8 tile. */
function emitRowMicro(m: ModuleBuilder, relaxed: boolean, R: number): void {
  for (const split of [false, true]) {
    const ps: Record<string, number> = {};
    for (let r = 0; r < R; r++) ps[`p${r}`] = I32;
    const h2p: Record<string, number> = split ? { h2: I32 } : {};
    m.kernel(
      `microR${split ? 'H' : ''}`,
      { ...ps, aks: I32, bp: I32, c: I32, ...h2p, kc: I32, ldc: I32, accum: I32 },
      (f, q) => {
        const p = q as Record<string, number>;
        const rows = Array.from({ length: R }, (_, r) => p[`p${r}`]!);
        const t = {
          aks: p.aks!,
          bp: p.bp!,
          c: p.c!,
          h2: split ? p.h2! : null,
          kc: p.kc!,
          ldc: p.ldc!,
          accum: p.accum!,
        };
        emitRowBody(f, relaxed, rows, t);
      },
    );
  }
}

/**
 * `macro` (packed A) or `macroS` (A in place) with the R-row tile: the arguments of ./kernels-gemm.ts's macro
 * kernels (mStrips unused: rows run to mValid). For each MC block of rows, for each 8-column strip of the B panel,
 * for each R-row tile of the block: one micro call (edge tiles through the scratch tile and `scatter`).
 */
function emitRowMacro(m: ModuleBuilder, R: number, inPlace: boolean): void {
  const micro = m.index('microR');
  const microH = m.index('microRH');
  const scatter = m.index('scatter');
  const MC = mcRows(R);
  const aParams: Record<string, number> = inPlace ? { ap: I32, lda: I32, aks: I32 } : { ap: I32 };
  m.kernel(
    inPlace ? 'macroS' : 'macro',
    {
      ...aParams,
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
    },
    (f, p) => {
      const q = p as Record<string, number>;
      const { ap, bp, c, nStrips, kc, ldc, jBase, seg, segStride, accum, mValid, nValid, scratch } = q as Record<
        string,
        number
      >;
      const ic = f.local(I32);
      const icEnd = f.local(I32);
      const jr = f.local(I32);
      const ir = f.local(I32);
      const j = f.local(I32);
      const colOff = f.local(I32);
      const h2 = f.local(I32);
      const nr = f.local(I32);
      const mr = f.local(I32);
      const bpj = f.local(I32);
      const cp = f.local(I32);
      const row = f.local(I32);
      const aks = f.local(I32);
      const stripA = f.local(I32);
      const ptrs = f.localArray(I32, R);
      if (inPlace) f.get(q.aks!).set(aks);
      else f.i32(16).set(aks);
      f.assign(stripA, mul(kc, lit(16)));
      // row pointers of the tile at ir: row ir + min(r, mr - 1)
      const rowPtrs = () => {
        for (let r = 0; r < R; r++) {
          f.get(ir).i32(r).get(mr).i32(1).op(Op.i32Sub);
          f.i32(r).get(mr).i32(1).op(Op.i32Sub).op(Op.i32LtS).op(Op.select, Op.i32Add).set(row);
          if (inPlace) f.assign(ptrs[r]!, add(ap!, mul(row, q.lda!)));
          else {
            f.get(ap!).get(row).i32(2).op(Op.i32ShrU).get(stripA).op(Op.i32Mul, Op.i32Add);
            f.get(row).i32(3).op(Op.i32And).i32(2).op(Op.i32Shl, Op.i32Add).set(ptrs[r]!);
          }
        }
      };
      const call = (split: boolean, cArg: () => void, ldcArg: () => void, accumArg: () => void) => {
        for (const pr of ptrs) f.get(pr);
        f.get(aks).get(bpj);
        cArg();
        if (split) f.get(h2);
        f.get(kc);
        ldcArg();
        accumArg();
        f.op(Op.call, split ? microH : micro);
      };
      f.for(
        ic,
        () => f.i32(0),
        () => f.get(mValid),
        MC,
        () => {
          f.get(ic).i32(MC).op(Op.i32Add).tee(icEnd).get(mValid).op(Op.i32GtS);
          f.if(() => f.get(mValid).set(icEnd));
          f.range(jr, nStrips, () => {
            f.assign(j, add(jBase, shl(jr, 3)));
            f.get(j).get(seg).op(Op.i32DivU).get(segStride).op(Op.i32Mul);
            f.get(j).get(seg).op(Op.i32RemU).i32(2).op(Op.i32Shl, Op.i32Add).set(colOff);
            // h2: byte offset of column j + 4 from column j (16 unless a 4-wide segment boundary lies between)
            f.get(j).i32(4).op(Op.i32Add).get(seg).op(Op.i32DivU).get(segStride).op(Op.i32Mul);
            f.get(j).i32(4).op(Op.i32Add).get(seg).op(Op.i32RemU).i32(2).op(Op.i32Shl, Op.i32Add);
            f.get(colOff).op(Op.i32Sub).set(h2);
            f.assign(nr, sub(nValid, shl(jr, 3)));
            f.get(nr)
              .i32(NR)
              .op(Op.i32GtS)
              .if(() => f.i32(NR).set(nr));
            f.assign(bpj, add(bp!, mul(jr, mul(kc, lit(32)))));
            f.for(
              ir,
              () => f.get(ic),
              () => f.get(icEnd),
              R,
              () => {
                f.assign(mr, sub(mValid, ir));
                f.get(mr)
                  .i32(R)
                  .op(Op.i32GtS)
                  .if(() => f.i32(R).set(mr));
                rowPtrs();
                f.assign(cp, add(add(c!, mul(ir, ldc!)), colOff));
                f.get(mr).i32(R).op(Op.i32Eq).get(nr).i32(NR).op(Op.i32Eq).op(Op.i32And);
                f.if(
                  () =>
                    f
                      .get(h2)
                      .i32(16)
                      .op(Op.i32Eq)
                      .if(
                        () =>
                          call(
                            false,
                            () => f.get(cp),
                            () => f.get(ldc!),
                            () => f.get(accum!),
                          ),
                        () =>
                          call(
                            true,
                            () => f.get(cp),
                            () => f.get(ldc!),
                            () => f.get(accum!),
                          ),
                      ),
                  () => {
                    call(
                      false,
                      () => f.get(scratch!),
                      () => f.i32(32),
                      () => f.i32(0),
                    );
                    f.get(scratch!).get(cp).get(h2).get(mr).get(nr).get(ldc!).get(accum!).op(Op.call, scatter);
                  },
                );
              },
            );
          });
        },
      );
    },
  );
}

/** Adds microR, microRH and the R-row `macro` and `macroS` to `m` (after `scatter`). */
export function emitRowGemmKernels(m: ModuleBuilder, relaxed: boolean, R: number): void {
  emitRowMicro(m, relaxed, R);
  emitRowMacro(m, R, false);
  emitRowMacro(m, R, true);
}
