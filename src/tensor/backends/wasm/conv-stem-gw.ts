/**
 * Grad-weight of the BiT stem (a thin conv, see ./conv-thin.ts, with kw = 7 and stride 2: 3 -> C 7x7/2 pad 3) by
 * the phase-split kernels of ./kernels-stem-gw.ts: the input is copied once into its two zero-padded column
 * phases, then dy is read in place (NCHW) with output pixels in the SIMD lanes: no channels-last transpose of dy
 * and no tap table. Serves ow % 4 == 0 only; anything else returns false
 * and keeps ./conv-thin.ts's thinGradWeight. Tasks are blocks of 8 output channels, images in order inside a task,
 * so the bits do not depend on the thread count. Switch: BIT_STEM_GW=0 (read per call) turns it off, for A/B.
 */

import { envOn } from '../../../env.js';
import type { Conv2dGeom } from '../../backend.js';
import { isThin } from './conv-thin.js';
import { STEM_KW } from './kernels-stem-gw.js';
import { runSplit } from './split.js';
import type { WasmState } from './state.js';

/** True when the phase-split kernels serve this conv's grad-weight (the switch aside). */
export const isStemGw = (g: Conv2dGeom): boolean =>
  isThin(g) && g.stride === 2 && g.kw === STEM_KW && g.ow % 4 === 0 && g.ow > 0 && g.oh > 0;

/** dw [cout, cin, kh, 7] (bytes) = sum over the batch of dy x im2col(x)^T; overwrites dw. False when not served. */
export function stemGradWeight(ctx: WasmState, x: number, dy: number, dw: number, g: Conv2dGeom): boolean {
  if (!isStemGw(g) || !envOn('BIT_STEM_GW')) return false;
  const hp = g.h + 2 * g.pad;
  // phase row length: every index the kernel reads (<= ow + 2) and every column of x ((w - 1 + pad) >> 1)
  const L = Math.ceil(Math.max(g.ow + 3, (g.w + g.pad + 1) >> 1) / 4) * 4;
  const planes = g.n * g.cin;
  const nT = g.cin * g.kh * STEM_KW;
  const [xs, freeXs] = ctx.temp(planes * hp * 2 * L * 4);
  const [scr, freeScr] = ctx.temp(g.cout * nT * 16);
  try {
    runSplit(ctx, planes, planes * hp * L, 1, (lo, hi) => ({
      fn: 'stemSplit',
      args: [x, xs, g.h, g.w, g.pad, hp, L, lo, hi],
    }));
    runSplit(ctx, g.cout / 8, 2 * g.n * g.oh * g.ow * g.cout * nT, 1, (lo, hi) => ({
      fn: 'stemGw',
      args: [xs, dy, scr, dw, g.cin, g.kh, hp, L, g.oh, g.ow, g.n, g.cout, lo, hi],
    }));
  } finally {
    freeScr();
    freeXs();
  }
  return true;
}
