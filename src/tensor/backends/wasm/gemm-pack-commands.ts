/**
 * The pack commands of the GEMM driver (./gemm.ts): which kernel packs a stretch of an operand (`PanelSrc`) into a
 * 4- or 8-wide panel or an R-row strip, with which arguments. Pure planning (no memory is touched here); the kernels
 * are in ./kernels-pack.ts, ./kernels-conv.ts (im2col) and ./kernels-pack-rows.ts (R-row strips).
 */

import { envOn } from '../../../env.js';
import { type GemmContext, NOSEG, type PanelSrc } from './gemm.js';
import { NR } from './kernels-gemm-micro.js';
import type { Command } from './threads.js';

/** The pack command for `count` s-values from s0 and `dCount` d-values from d0 into dst (bytes), panel width P. */
export function packCommand(
  src: PanelSrc,
  P: 4 | 8,
  s0: number,
  sCount: number,
  d0: number,
  dCount: number,
  dst: number,
  zeroPtr: number,
): Command {
  if (src.kind === 'strided') {
    // contiguous along K in segments of a multiple of 4 (channel planes of NCHW images, weight rows): the packers
    // that walk 4 K steps at a time (./kernels-pack.ts pack8t / pack4t, same panel bits; env BIT_PACK8T=0, read per
    // call: the generic ones)
    const kq = src.dStride === 1 && ((src.dSeg ?? NOSEG) | d0 | dCount) % 4 === 0 && envOn('BIT_PACK8T');
    return {
      fn: `pack${P}${kq ? 't' : ''}`,
      args: [
        src.ptr,
        src.sStride * 4,
        src.sSeg ?? NOSEG,
        (src.sSegStride ?? 0) * 4,
        src.dStride * 4,
        src.dSeg ?? NOSEG,
        (src.dSegStride ?? 0) * 4,
        s0,
        sCount,
        d0,
        dCount,
        dst,
      ],
    };
  }
  const g = src.g;
  const geom = [src.ptr, g.cin, g.h, g.w, g.kh, g.kw, g.stride, g.pad, g.oh, g.ow];
  return {
    fn: src.kind === 'im2col' ? 'im2colPack' : 'im2colTPack',
    args: [...geom, d0, dCount, s0, sCount, dst, zeroPtr],
  };
}

/**
 * The command that packs B's columns [s0, s0 + sCount) x K rows [d0, d0 + dCount) into an NR-wide panel at dst:
 * `pack8r` when the source's 8-column strips are contiguous, or (ctx.smallMaps) made of two contiguous 4-column
 * halves (NCHW images of 2x2 maps), see ./kernels-pack.ts; else the generic packer. Same panel bits either way.
 */
export function packBCommand(
  ctx: GemmContext,
  src: PanelSrc,
  s0: number,
  sCount: number,
  d0: number,
  dCount: number,
  dst: number,
): Command {
  // 4-wide half strips (2x2 maps) only with the small-map lowerings on (BIT_CONV_SMALLMAP=0: 8-wide, as before)
  const q = ctx.smallMaps ? 4 : NR;
  const rows =
    ctx.packRows &&
    src.kind === 'strided' &&
    src.sStride === 1 &&
    (src.sSeg ?? NOSEG) % q === 0 &&
    s0 % q === 0 &&
    (src.dSeg ?? NOSEG) >= d0 + dCount;
  if (!rows) return packCommand(src, NR, s0, sCount, d0, dCount, dst, ctx.zeroPtr);
  const args = [src.ptr + d0 * src.dStride * 4, src.sSeg ?? NOSEG, (src.sSegStride ?? 0) * 4, src.dStride * 4];
  return { fn: 'pack8r', args: [...args, s0, sCount, dCount, dst] };
}

/**
 * The R-row strip packer (./kernels-pack-rows.ts) for A's rows [s0, s0 + sCount) x K [d0, d0 + dCount): `packRowsK`
 * for rows contiguous along K (conv forward's W, grad-weight's dY; any segments), `packRowsM` for K steps whose rows
 * are contiguous (grad-input's W^T) where neither range crosses a segment boundary; else the scalar `packRows`. Same
 * bytes from each.
 * Env BIT_PACKROWS_VEC=0 (read per call, for A/B runs): always the scalar one.
 */
export function rowsPacker(
  a: PanelSrc,
  s0: number,
  sCount: number,
  d0: number,
  dCount: number,
): 'packRows' | 'packRowsK' | 'packRowsM' {
  const inSeg = (x0: number, n: number, seg: number) => Math.floor(x0 / seg) === Math.floor((x0 + n - 1) / seg);
  if (a.kind !== 'strided' || !envOn('BIT_PACKROWS_VEC') || sCount <= 0 || dCount <= 0) return 'packRows';
  if (a.dStride === 1) return 'packRowsK';
  if (!inSeg(s0, sCount, a.sSeg ?? NOSEG) || !inSeg(d0, dCount, a.dSeg ?? NOSEG)) return 'packRows';
  return a.sStride === 1 ? 'packRowsM' : 'packRows';
}
