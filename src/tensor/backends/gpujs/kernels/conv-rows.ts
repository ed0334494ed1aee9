/**
 * Direct convolutions whose single channel plane exceeds the chunk limit (an input or output plane of more than
 * 2^23 elements, e.g. a 3,000 x 3,000 image): one launch per (sample, channel pair, band of rows), with the direct
 * kernels of ./conv-direct.ts bound to windows of whole rows. A band's input window carries the kernel's halo (the
 * rows its taps reach, clipped to the image); `py` is the y padding seen from the window's first row, so the
 * kernels' index math is unchanged. Band bounds are integer arithmetic on the host (never a float quotient in a
 * kernel); every window and output stays under the limit. Partials over input channels (forward, gradInput over
 * output channels, gradWeight over samples, channels and bands) are added on the device.
 * Limits: a single row (w or ow elements, or a band's halo of kh rows) above the limit is a BackendError naming it.
 */

import { BackendError } from '../../../../errors.js';
import type { Conv2dGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { addOp } from './batch.js';
import { convFwdKernel, convGradInputKernel, convGradWeightKernel } from './conv-direct.js';
import { convConsts } from './conv-split.js';
import { exactIndexSource } from './index-math.js';

/** Whether one channel plane (input or output) exceeds the limit, so whole planes cannot be windows. */
export const planeTooBig = (g: Conv2dGeom, limit: number): boolean => Math.max(g.h * g.w, g.oh * g.ow) > limit;

/** A band of output rows [o0, o1) and the input rows [r0, r1) its taps read; py = pad seen from row r0. */
interface OutBand {
  o0: number;
  o1: number;
  r0: number;
  r1: number;
  py: number;
}

/** Output-row bands (forward, gradWeight): ob * ow and the halo'd input rows * w under the limit. */
export function outBands(op: string, g: Conv2dGeom, limit: number): OutBand[] {
  const byOut = Math.floor(limit / g.ow);
  const byIn = Math.floor((Math.floor(limit / g.w) - g.kh) / g.stride) + 1;
  const ob = Math.min(g.oh, byOut, byIn);
  if (!(ob >= 1)) {
    throw new BackendError(
      `${op}: one output row (ow=${g.ow}) with its ${g.kh}-row input halo (w=${g.w}) exceeds the chunk limit ${limit}`,
    );
  }
  const bands: OutBand[] = [];
  for (let o0 = 0; o0 < g.oh; o0 += ob) {
    const o1 = Math.min(g.oh, o0 + ob);
    const r0 = Math.max(0, o0 * g.stride - g.pad);
    const r1 = Math.max(r0 + 1, Math.min(g.h, (o1 - 1) * g.stride - g.pad + g.kh));
    bands.push({ o0, o1, r0, r1, py: g.pad - o0 * g.stride + r0 });
  }
  return bands;
}

/** A band of input rows [y0, y1) (gradInput) and the dy rows [o0, o1) that reach it; py = y0 + pad - o0 * s. */
interface InBand {
  y0: number;
  y1: number;
  o0: number;
  o1: number;
  py: number;
}

/** Input-row bands (gradInput): rows * w and the dy rows reaching them * ow under the limit. */
export function inBands(op: string, g: Conv2dGeom, limit: number): InBand[] {
  // dy rows reaching hb input rows: at most floor((hb + kh - 2) / s) + 2.
  const dyRows = (hb: number) => Math.floor((hb + g.kh - 2) / g.stride) + 2;
  let hb = Math.min(g.h, Math.floor(limit / g.w));
  while (hb >= 1 && dyRows(hb) * g.ow > limit) hb--;
  if (hb < 1) {
    throw new BackendError(
      `${op}: one input row (w=${g.w}) with the dy rows reaching it (ow=${g.ow}) exceeds the chunk limit ${limit}`,
    );
  }
  const bands: InBand[] = [];
  for (let y0 = 0; y0 < g.h; y0 += hb) {
    const y1 = Math.min(g.h, y0 + hb);
    // First dy row whose taps can reach y0 (o * s - pad + kh - 1 >= y0), last one reaching y1 - 1; at least one row.
    const o0 = Math.min(g.oh - 1, Math.max(0, Math.floor((y0 + g.pad - g.kh + 1) / g.stride)));
    const o1 = Math.max(o0 + 1, Math.min(g.oh, Math.floor((y1 - 1 + g.pad) / g.stride) + 1));
    bands.push({ y0, y1, o0, o1, py: y0 + g.pad - o0 * g.stride });
  }
  return bands;
}

/** The input channels of the group of output channel co. */
function groupChannels(g: Conv2dGeom, co: number): number[] {
  const [cinG, coutG] = [g.cin / g.groups, g.cout / g.groups];
  const c0 = Math.floor(co / coutG) * cinG;
  return Array.from({ length: cinG }, (_, i) => c0 + i);
}

/**
 * Kernel constants of one (co, ci) pair over a band of `h` input rows and `oh` output rows. The weight window holds
 * output channel co only, so co0 is its group's first channel (forward, gradWeight: the kernel reads the group from
 * it) and the constants vary with ci alone: one kernel per input channel and band shape, not per channel pair.
 */
function bandConsts(g: Conv2dGeom, co: number, ci: number, h: number, oh: number, py: number) {
  const coutG = g.cout / g.groups;
  return { ...convConsts(g, 1), h, oh, py, co0: Math.floor(co / coutG) * coutG, coutN: 1, ci0: ci, cinN: 1 };
}

/**
 * gradInput's constants for input channel ci with a dy / weight window of one output channel: coutG = 1 (one
 * output channel per launch) and co0 = the group of ci, so the kernel's window channel is 0 for every co.
 */
function bandConstsGi(g: Conv2dGeom, ci: number, h: number, oh: number, py: number) {
  const co0 = Math.floor(ci / (g.cin / g.groups));
  return { ...convConsts(g, 1), h, oh, py, coutG: 1, co0, coutN: 1, ci0: ci, cinN: 1 };
}

/** y [n, cout, oh, ow]: per sample, output channel and band of output rows, summed over the group's inputs. */
export function* conv2dRows(x: Arr, wt: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  const [hw, ohw, wc] = [g.h * g.w, g.oh * g.ow, (g.cin / g.groups) * g.kh * g.kw];
  const bands = outBands('conv2d', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.cout; co++) {
      for (const b of bands) {
        let acc: Arr | null = null;
        for (const ci of groupChannels(g, co)) {
          const spec = {
            name: 'conv2d.rows',
            fn: exactIndexSource(convFwdKernel),
            constants: bandConsts(g, co, ci, b.r1 - b.r0, b.o1 - b.o0, b.py),
            output: (b.o1 - b.o0) * g.ow,
            loops: Math.max(g.cin / g.groups, g.kh, g.kw),
          };
          const x0 = (n * g.cin + ci) * hw;
          const args = [x.subarray(x0 + b.r0 * g.w, x0 + b.r1 * g.w), wt.subarray(co * wc, (co + 1) * wc)];
          const part: Arr = yield { spec, args };
          acc = acc ? yield* addOp(acc, part) : part;
        }
        pieces.push({ src: acc!, at: (n * g.cout + co) * ohw + b.o0 * g.ow });
      }
    }
  }
  return yield* assemble(g.n * g.cout * ohw, pieces);
}

/** dx [n, cin, h, w]: per sample, input channel and band of input rows, summed over the output channels reading it. */
export function* conv2dGradInputRows(dy: Arr, wt: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  const [hw, ohw, wc] = [g.h * g.w, g.oh * g.ow, (g.cin / g.groups) * g.kh * g.kw];
  const [cinG, coutG] = [g.cin / g.groups, g.cout / g.groups];
  const bands = inBands('conv2dGradInput', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (let n = 0; n < g.n; n++) {
    for (let ci = 0; ci < g.cin; ci++) {
      const c0 = Math.floor(ci / cinG) * coutG;
      for (const b of bands) {
        let acc: Arr | null = null;
        for (let co = c0; co < c0 + coutG; co++) {
          const spec = {
            name: 'conv2dGradInput.rows',
            fn: exactIndexSource(convGradInputKernel),
            constants: bandConstsGi(g, ci, b.y1 - b.y0, b.o1 - b.o0, b.py),
            output: (b.y1 - b.y0) * g.w,
            loops: Math.max(1, g.kh, g.kw),
          };
          const d0 = (n * g.cout + co) * ohw;
          const args = [dy.subarray(d0 + b.o0 * g.ow, d0 + b.o1 * g.ow), wt.subarray(co * wc, (co + 1) * wc)];
          const part: Arr = yield { spec, args };
          acc = acc ? yield* addOp(acc, part) : part;
        }
        pieces.push({ src: acc!, at: (n * g.cin + ci) * hw + b.y0 * g.w });
      }
    }
  }
  return yield* assemble(g.n * g.cin * hw, pieces);
}

/** dw [cout, cin/groups, kh, kw]: per output channel, summed over samples, the group's inputs and row bands. */
export function* conv2dGradWeightRows(x: Arr, dy: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  const [hw, ohw, wc] = [g.h * g.w, g.oh * g.ow, (g.cin / g.groups) * g.kh * g.kw];
  const bands = outBands('conv2dGradWeight', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (let co = 0; co < g.cout; co++) {
    let acc: Arr | null = null;
    for (let n = 0; n < g.n; n++) {
      // Each (ci, band) launch writes the weights of its input channel (0 for the others): the sum is exact.
      for (const ci of groupChannels(g, co)) {
        for (const b of bands) {
          const spec = {
            name: 'conv2dGradWeight.rows',
            fn: exactIndexSource(convGradWeightKernel),
            constants: bandConsts(g, co, ci, b.r1 - b.r0, b.o1 - b.o0, b.py),
            output: wc,
            loops: Math.max(1, b.o1 - b.o0, g.ow),
          };
          const x0 = (n * g.cin + ci) * hw;
          const d0 = (n * g.cout + co) * ohw;
          const args = [x.subarray(x0 + b.r0 * g.w, x0 + b.r1 * g.w), dy.subarray(d0 + b.o0 * g.ow, d0 + b.o1 * g.ow)];
          const part: Arr = yield { spec, args };
          acc = acc ? yield* addOp(acc, part) : part;
        }
      }
    }
    pieces.push({ src: acc!, at: co * wc });
  }
  return yield* assemble(g.cout * wc, pieces);
}
