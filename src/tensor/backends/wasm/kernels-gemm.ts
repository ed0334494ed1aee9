/**
 * Emits the GEMM kernels: the macro-kernel that walks an MC-blocked grid of 4x8 f32x4 register-blocked micro-tiles
 * (./kernels-gemm-micro.ts: 8 v128 accumulators, A broadcast with v128.load32_splat, optional relaxed_madd) with
 * zero-padded edge tiles going through a scratch tile (the panel packers are in ./kernels-pack.ts, the 5x8 tile in
 * ./kernels-gemm-rows.ts).
 *
 * Packed layouts (all float32): an A panel is strips of MR=4 rows, each [kc][4]; a B panel is strips of NR=8
 * columns, each [kc][8]; a partial strip is zero padded. C(i, j) lives at
 * `c + i*ldc + ((j / seg) * segStride + (j % seg)) * 4` (bytes), which lets conv write NCHW output directly.
 * Every C element is produced by the same instruction sequence no matter which thread runs its tile.
 */

import { add, and, lit, mul, shl, sub } from './emit-expr.js';
import { emitMicro, emitScatter, MR, NR } from './kernels-gemm-micro.js';
import { emitRowGemmKernels, emitRowResidualKernels } from './kernels-gemm-rows.js';
import { emitPackKernels } from './kernels-pack.js';
import { I32, type ModuleBuilder, Op, V128 } from './module-builder.js';

/**
 * Row length (bytes of C's leading dimension) from which the residual macro-kernels walk M strips outer (see
 * emitMacro): 1 KiB, a 16x16 map (measured with bench/resadd-ab.ts: rows outer costs 1.1x on 4x4 maps, columns
 * outer 1.3x on 32x32 maps).
 */
export const RESID_ROWS_BYTES = 1024;
/** M strips per MC block of the macro-kernel (MC = 128 rows). */
export const MC_STRIPS = 32;

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
