/**
 * Emits the GEMM kernels: the 4x8 f32x4 register-blocked micro-kernel (8 v128 accumulators, A broadcast with
 * v128.load32_splat, optional relaxed_madd), the macro-kernel that walks an MC-blocked grid of micro-tiles with
 * zero-padded edge tiles going through a scratch tile (the panel packers are in ./kernels-pack.ts).
 *
 * Packed layouts (all float32): an A panel is strips of MR=4 rows, each [kc][4]; a B panel is strips of NR=8
 * columns, each [kc][8]; a partial strip is zero padded. C(i, j) lives at
 * `c + i*ldc + ((j / seg) * segStride + (j % seg)) * 4` (bytes), which lets conv write NCHW output directly.
 * Every C element is produced by the same instruction sequence no matter which thread runs its tile.
 */

import { add, and, type Expr, f32At, lit, mul, shl, sub } from './emit-expr.js';
import { emitRowGemmKernels, emitRowResidualKernels } from './kernels-gemm-rows.js';
import { emitPackKernels } from './kernels-pack.js';
import { type FnBuilder, I32, type ModuleBuilder, Op, Simd, V128 } from './module-builder.js';

export const MR = 4;
export const NR = 8;
/**
 * Row length (bytes of C's leading dimension) from which the residual macro-kernels walk M strips outer (see
 * emitMacro): 1 KiB, a 16x16 map (measured with bench/resadd-ab.ts: rows outer costs 1.1x on 4x4 maps, columns
 * outer 1.3x on 32x32 maps).
 */
export const RESID_ROWS_BYTES = 1024;
/** M strips per MC block of the macro-kernel (MC = 128 rows). */
export const MC_STRIPS = 32;

/** acc += a * b (f32x4 locals): relaxed_madd when `relaxed`, else mul then add (the GEMM micro-kernel's choice). */
export function emitFma(f: FnBuilder, relaxed: boolean, acc: number, a: number, b: number): void {
  if (relaxed) f.get(a).get(b).get(acc).simd(Simd.f32x4RelaxedMadd).set(acc);
  else f.get(acc).get(a).get(b).simd(Simd.f32x4Mul).simd(Simd.f32x4Add).set(acc);
}

function emitMicro(m: ModuleBuilder, relaxed: boolean, residual = false): void {
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

function emitScatter(m: ModuleBuilder, residual = false): void {
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

/**
 * The macro-kernel: for each MC block of M strips, for each NR column strip of the B panel, for each M strip in the
 * block, one micro call (edge tiles through the scratch tile and `scatter`). `inPlace` emits `macroS`, whose A is
 * read in place (element (i, k) at ap + i*lda + k*aks, bytes) instead of from packed strips.
 */
function emitMacro(m: ModuleBuilder, inPlace: boolean, residual = false): void {
  const r = residual ? 'R' : '';
  const micro = m.index(`${inPlace ? 'microS' : 'micro'}${r}`);
  const microH = m.index(`${inPlace ? 'microSH' : 'microH'}${r}`);
  const scatter = m.index(`scatter${r}`);
  const microTmp = m.index(inPlace ? 'microS' : 'micro'); // edge tiles into the scratch tile: never R
  // macro(ap, bp, c, mStrips, nStrips, kc, ldcBytes, jBase, seg, segStrideBytes, accum, mValid, nValid, scratch)
  // macroS(ap, lda, aks, bp, c, ...the same from mStrips on)
  // macroR / macroSR: the same, with accum = rd | accumulate: rd the byte offset of the residual R from C (R(i, j)
  // at C(i, j)'s address + rd; a multiple of 4, so bit 0 is free for the flag; 16 arguments is the pool's limit)
  const aParams: Record<string, number> = inPlace ? { ap: I32, lda: I32, aks: I32 } : { ap: I32 };
  m.kernel(
    `${inPlace ? 'macroS' : 'macro'}${r}`,
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
      const { ap, bp, c, mStrips, nStrips, kc, ldc, jBase, seg, segStride, mValid, nValid, scratch } = q as Record<
        string,
        number
      >;
      const [lda, aks] = [q.lda ?? -1, q.aks ?? -1];
      const accum = residual ? f.local(I32) : q.accum!;
      const rd = residual ? f.local(I32) : -1;
      if (residual) {
        f.assign(accum, and(q.accum!, lit(1)));
        f.assign(rd, and(q.accum!, lit(-4)));
      }
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
      const api = f.local(I32);
      const stripA = f.local(I32);
      const stripB = f.local(I32);
      if (inPlace) f.assign(stripA, mul(lda, lit(MR)));
      else f.assign(stripA, mul(kc, lit(16)));
      f.assign(stripB, mul(kc, lit(32)));
      // the micro call's A arguments, then its B, C, kc, ldc, accum
      // the plain micro-kernel (contiguous 8-column rows, h2 = 16) or, when the tile straddles a segment, microH
      const callMicro = (
        cArg: () => void,
        split: boolean,
        ldcArg: () => void,
        accumArg: () => void,
        toScratch = false,
      ) => {
        f.get(api);
        if (inPlace) f.get(lda).get(aks).get(mr);
        f.get(bpj);
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
      f.for(
        ic,
        () => f.i32(0),
        () => f.get(mStrips),
        MC_STRIPS,
        () => {
          // icEnd = min(ic + MC_STRIPS, mStrips)
          f.get(ic).i32(MC_STRIPS).op(Op.i32Add).tee(icEnd).get(mStrips).op(Op.i32GtS);
          f.if(() => f.get(mStrips).set(icEnd));
          // per column strip jr: its C column offset, h2, width and B strip
          const jPart = () => {
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
            f.assign(bpj, add(bp, mul(jr, stripB)));
          };
          // per M strip ir: its A strip and height
          const iPart = () => {
            f.assign(api, add(ap, mul(ir, stripA)));
            f.assign(mr, sub(mValid, shl(ir, 2)));
            f.get(mr)
              .i32(MR)
              .op(Op.i32GtS)
              .if(() => f.i32(MR).set(mr));
          };
          const tile = () => {
            f.assign(cp, add(add(c, mul(shl(ir, 2), ldc)), colOff));
            f.get(mr).i32(MR).op(Op.i32Eq).get(nr).i32(NR).op(Op.i32Eq).op(Op.i32And);
            f.if(
              () =>
                f
                  .get(h2)
                  .i32(16)
                  .op(Op.i32Eq)
                  .if(
                    () =>
                      callMicro(
                        () => f.get(cp),
                        false,
                        () => f.get(ldc),
                        () => f.get(accum),
                      ),
                    () =>
                      callMicro(
                        () => f.get(cp),
                        true,
                        () => f.get(ldc),
                        () => f.get(accum),
                      ),
                  ),
              () => {
                callMicro(
                  () => f.get(scratch),
                  false,
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
          // column strips outer: one B strip stays in L1 while the M strips of the block pass over it
          const columnsOuter = () =>
            f.range(jr, nStrips, () => {
              jPart();
              irLoop(() => {
                iPart();
                tile();
              });
            });
          if (!residual) columnsOuter();
          else {
            // the residual variants pick the order in which consecutive tiles read R (and write C) sequentially,
            // so the hardware prefetches it instead of each tile waiting for 4 cold rows: on maps whose rows are
            // at least RESID_ROWS_BYTES long, M strips outer (tiles walk along the rows; B strips then come from
            // L2), else columns outer (tiles walk down rows ldc apart, a short stride)
            f.get(ldc)
              .i32(RESID_ROWS_BYTES)
              .op(Op.i32GeS)
              .if(
                () =>
                  irLoop(() => {
                    iPart();
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
    },
  );
}

/**
 * Adds micro, microS, scatter, macro, macroS, pack4, pack8, pack8r, the R-row kernels (microRows, microRowsH,
 * macroRows, packRows: ./kernels-gemm-rows.ts) and the residual store variants to `m`.
 */
export function emitGemmKernels(m: ModuleBuilder, relaxed: boolean): void {
  emitMicro(m, relaxed);
  emitScatter(m);
  emitMacro(m, false);
  emitMacro(m, true);
  emitPackKernels(m);
  emitRowGemmKernels(m, relaxed);
  emitResidualStoreKernels(m, relaxed);
}

/**
 * The residual-store variants (microR, microSR, microHR, microSHR, scatterR, macroR, macroSR: see emitMacro; then
 * the R-row ones, microRowsR, microRowsHR, macroRowsR: ./kernels-gemm-rows.ts).
 */
function emitResidualStoreKernels(m: ModuleBuilder, relaxed: boolean): void {
  emitMicro(m, relaxed, true);
  emitScatter(m, true);
  emitMacro(m, false, true);
  emitMacro(m, true, true);
  emitRowResidualKernels(m, relaxed);
}

/** A module with just `f32x4.relaxed_madd`, for feature detection with WebAssembly.validate. */
export function relaxedProbeBytes(): Uint8Array {
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  // type: (v128 v128 v128) -> v128
  const type = [1, 0x60, 3, V128, V128, V128, 1, V128];
  const body = [0, 0x20, 0, 0x20, 1, 0x20, 2, 0xfd, 0x85, 0x02, 0x0b];
  bytes.push(1, type.length, ...type, 3, 2, 1, 0, 10, body.length + 2, 1, body.length, ...body);
  return new Uint8Array(bytes);
}
