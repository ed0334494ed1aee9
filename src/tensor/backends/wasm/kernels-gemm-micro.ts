/**
 * Emits the GEMM micro-kernels of ./kernels-gemm.ts: the 4x8 f32x4 register-blocked tile (8 v128 accumulators, A
 * broadcast with v128.load32_splat, optional relaxed_madd) in its variants (`micro` over packed A, `microS` over A
 * read in place, the `H` variants that store a tile's two 4-column halves apart for 2x2 NCHW maps, the `R` variants
 * that add a residual R laid out as C before the store), and `scatter` / `scatterR`, which adds an edge tile from the
 * scratch tile into C. Invariant: every C element is produced by the same instruction sequence whichever variant and
 * thread computes its tile, and an R variant adds R after the whole accumulation, as a separate add pass would.
 */

import { add, type Expr, f32At, lit, mul, sub } from './emit-expr.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

/** Rows of the micro-tile (A strips are packed MR rows wide). */
export const MR = 4;
/** Columns of the micro-tile (B strips are packed NR columns wide). */
export const NR = 8;

/** acc += a * b (f32x4 locals): relaxed_madd when `relaxed`, else mul then add (the GEMM micro-kernel's choice). */
export function emitFma(f: FnBuilder, relaxed: boolean, acc: number, a: number, b: number): void {
  if (relaxed) f.get(a).get(b).get(acc).simd(Simd.f32x4RelaxedMadd).set(acc);
  else f.get(acc).get(a).get(b).simd(Simd.f32x4Mul).simd(Simd.f32x4Add).set(acc);
}

/**
 * micro / microS / microH / microSH (and with `residual` their R variants): one MR x NR tile of C from kc steps of A
 * and B (see emitMicroBody for the arguments and the store).
 */
export function emitMicro(m: ModuleBuilder, relaxed: boolean, residual = false): void {
  // split: the variants whose tile rows store their two 4-column halves apart (h2 bytes from c: the tile straddles
  // two 4-wide NCHW segments, 2x2 maps); the plain ones store 8 contiguous columns (h2 = 16) with the original code.
  // residual: the R variants (microR, microSR, ...) take a last argument rd and add the tile at c + rd after the
  // accumulate, before the store (the residual add folded into the store, see emitMicroBody)
  for (const split of [false, true]) {
    const sfx = (split ? 'H' : '') + (residual ? 'R' : '');
    const h2p: Record<string, number> = split ? { h2: I32 } : {};
    const rdp: Record<string, number> = residual ? { rd: I32 } : {};
    // micro(ap, bp, c, [h2,] kc, ldcBytes, accum): A from a packed strip ([kc][4])
    m.kernel(`micro${sfx}`, { ap: I32, bp: I32, c: I32, ...h2p, kc: I32, ldc: I32, accum: I32, ...rdp }, (f, q) => {
      const { ap, bp, c, kc, ldc, accum } = q as Record<string, number>;
      const tile = {
        bp: bp!,
        c: c!,
        h2: split ? (q as Record<string, number>).h2! : null,
        kc: kc!,
        ldc: ldc!,
        accum: accum!,
        rd: residual ? (q as Record<string, number>).rd! : null,
      };
      emitMicroBody(f, relaxed, [ap!, ap!, ap!, ap!], [0, 4, 8, 12], () => f.inc(ap!, 16), tile);
    });
    // microS(ap, lda, aks, mr, bp, c, [h2,] kc, ldcBytes, accum): A read in place, element (r, k) at ap + r*lda +
    // k*aks (bytes); rows r >= mr re-read row mr-1 (never past A's last row), their results are discarded by the
    // caller
    m.kernel(
      `microS${sfx}`,
      { ap: I32, lda: I32, aks: I32, mr: I32, bp: I32, c: I32, ...h2p, kc: I32, ldc: I32, accum: I32, ...rdp },
      (f, q) => {
        const { ap, lda, aks, mr, bp, c, kc, ldc, accum } = q as Record<string, number>;
        const rows = [ap!, f.local(I32), f.local(I32), f.local(I32)];
        for (let r = 1; r < MR; r++) {
          f.get(rows[r - 1]!).set(rows[r]!);
          f.get(mr!)
            .i32(r)
            .op(Op.i32GtS)
            .if(() => f.incBy(rows[r]!, lda!));
        }
        const step = () => {
          for (const p of rows) f.incBy(p, aks!);
        };
        const h2 = split ? (q as Record<string, number>).h2! : null;
        const rd = residual ? (q as Record<string, number>).rd! : null;
        const tile = { bp: bp!, c: c!, h2, kc: kc!, ldc: ldc!, accum: accum!, rd };
        emitMicroBody(f, relaxed, rows, [0, 0, 0, 0], step, tile);
      },
    );
  }
}

/**
 * The 4x8 register tile: for kc steps, acc[r] += A(r, k) * B[k][0..8], A(r, k) splat-loaded from rows[r] +
 * offs[r] (`stepA` advances the row pointers by one k); then C (+)= acc, columns 0..3 of row r at c + r*ldc and
 * columns 4..7 at c + h2 + r*ldc (h2 = 16 for a contiguous row; else the tile straddles two 4-wide NCHW segments,
 * e.g. two images of a 2x2 map). The packed and in-place variants share it, so they run the same FMA sequence and
 * produce the same bits. With `rd` (the R variants) the tile then adds R, laid out as C at c + rd (bytes), before
 * the store: C = (acc [+ C]) + R, the order of a conv store followed by a separate add pass, so the same bits.
 */
function emitMicroBody(
  f: FnBuilder,
  relaxed: boolean,
  rows: readonly number[],
  offs: readonly number[],
  stepA: () => void,
  tile: {
    readonly bp: number;
    readonly c: number;
    readonly h2: number | null;
    readonly kc: number;
    readonly ldc: number;
    readonly accum: number;
    readonly rd?: number | null;
  },
): void {
  const { bp, c, h2, kc, ldc, accum } = tile;
  const rd = tile.rd ?? null;
  const acc = f.localArray(V128, 8);
  const b0 = f.local(V128);
  const b1 = f.local(V128);
  const a = f.local(V128);
  const k = f.local(I32);
  const fma = (accL: number, bL: number) => emitFma(f, relaxed, accL, a, bL);
  f.get(kc).set(k);
  f.loop((next) => {
    f.get(bp).vload(0).set(b0);
    f.get(bp).vload(16).set(b1);
    for (let r = 0; r < MR; r++) {
      f.get(rows[r]!).vsplatLoad(offs[r]!).set(a);
      fma(acc[2 * r]!, b0);
      fma(acc[2 * r + 1]!, b1);
    }
    stepA();
    f.inc(bp, 32);
    f.get(k).i32(1).op(Op.i32Sub).tee(k).brIf(next);
  });
  if (h2 === null) {
    f.get(accum).if(() => {
      for (let r = 0; r < MR; r++) {
        for (let h = 0; h < 2; h++) {
          const l = acc[2 * r + h]!;
          f.get(l)
            .get(c)
            .vload(h * 16)
            .simd(Simd.f32x4Add)
            .set(l);
        }
        if (r < MR - 1) f.incBy(c, ldc);
      }
      // rewind c to row 0
      f.assign(c, sub(c, mul(ldc, lit(MR - 1))));
    });
    if (rd !== null) emitAddResidual(f, acc, add(c, rd), add(c, rd), [0, 16], ldc);
    for (let r = 0; r < MR; r++) {
      f.get(c)
        .get(acc[2 * r]!)
        .vstore(0);
      f.get(c)
        .get(acc[2 * r + 1]!)
        .vstore(16);
      if (r < MR - 1) f.incBy(c, ldc);
    }
    return;
  }
  const c2 = f.local(I32);
  f.assign(c2, add(c, h2));
  f.get(accum).if(() => {
    for (let r = 0; r < MR; r++) {
      for (let h = 0; h < 2; h++) {
        const l = acc[2 * r + h]!;
        f.get(l)
          .get(h === 0 ? c : c2)
          .vload(0)
          .simd(Simd.f32x4Add)
          .set(l);
      }
      if (r < MR - 1) f.incBy(c, ldc).incBy(c2, ldc);
    }
    // rewind c and c2 to row 0
    f.assign(c, sub(c, mul(ldc, lit(MR - 1))));
    f.assign(c2, add(c, h2));
  });
  if (rd !== null) emitAddResidual(f, acc, add(c, rd), add(c2, rd), [0, 0], ldc);
  for (let r = 0; r < MR; r++) {
    f.get(c)
      .get(acc[2 * r]!)
      .vstore(0);
    f.get(c2)
      .get(acc[2 * r + 1]!)
      .vstore(0);
    if (r < MR - 1) f.incBy(c, ldc).incBy(c2, ldc);
  }
}

/**
 * acc[2r + h] += R row r, half h: f32x4 at lo + r*ldc + offs[0] (h = 0) and hi + r*ldc + offs[1] (h = 1), lo / hi
 * the residual's addresses of the tile's two column halves (the R variants' store, see emitMicroBody).
 */
function emitAddResidual(
  f: FnBuilder,
  acc: readonly number[],
  lo: Expr,
  hi: Expr,
  offs: readonly [number, number],
  ldc: number,
): void {
  const p = [f.local(I32), f.local(I32)] as const;
  f.assign(p[0], lo);
  f.assign(p[1], hi);
  for (let r = 0; r < MR; r++) {
    for (let h = 0; h < 2; h++) {
      const l = acc[2 * r + h]!;
      f.get(l).get(p[h]!).vload(offs[h]!).simd(Simd.f32x4Add).set(l);
    }
    if (r < MR - 1) f.incBy(p[0], ldc).incBy(p[1], ldc);
  }
}

/** scatter (or scatterR with `residual`): an edge tile from the scratch tile into C (see the comment inside). */
export function emitScatter(m: ModuleBuilder, residual = false): void {
  // scatter(scratch, c, h2, mr, nr, ldcBytes, accum): C[r][col] (+)= scratch[r*8+col]; columns 4..7 at c + h2
  // (see emitMicroBody). scatterR(..., rd): then + R[r][col], R laid out as C at c + rd (bytes)
  const rdp: Record<string, number> = residual ? { rd: I32 } : {};
  m.kernel(
    residual ? 'scatterR' : 'scatter',
    { s: I32, c: I32, h2: I32, mr: I32, nr: I32, ldc: I32, accum: I32, ...rdp },
    (f, q) => {
      const { s, c, h2, mr, nr, ldc, accum } = q as Record<string, number> as {
        [K in 's' | 'c' | 'h2' | 'mr' | 'nr' | 'ldc' | 'accum']: number;
      };
      const r = f.local(I32);
      const j = f.local(I32);
      const p = f.local(I32);
      f.range(r, mr, () => {
        f.range(j, nr, () => {
          f.assign(p, f32At(c, j));
          f.get(p).get(h2).i32(16).op(Op.i32Sub).i32(0).get(j).i32(4).op(Op.i32GeS).op(Op.select, Op.i32Add).set(p);
          f.get(p);
          f.get(s).get(j).i32(2).op(Op.i32Shl, Op.i32Add).mem(Op.f32Load);
          f.get(p).mem(Op.f32Load).f32(0).get(accum).op(Op.select).op(Op.f32Add);
          if (residual)
            f.push(add(p, (q as Record<string, number>).rd!))
              .mem(Op.f32Load)
              .op(Op.f32Add);
          f.mem(Op.f32Store);
        });
        f.inc(s, 32).incBy(c, ldc);
      });
    },
  );
}
