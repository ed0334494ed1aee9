/**
 * Direct convolutions whose single sample exceeds the chunk limit (e.g. BiT-R50x3's 7x7/2 stem at 480 px:
 * 1 x 3 x 480 x 480 -> 1 x 192 x 240 x 240 = 11.1M outputs), run one sample at a time in channel windows
 * (./conv-direct.ts): forward and gradWeight by blocks of output channels; gradInput by blocks of input channels,
 * each the device-side sum of its partials over blocks of output channels. Every launch's output and every bound
 * window stays under the limit; the channel offsets are integer constants (no index is derived from a float
 * quotient). A sample whose input alone exceeds the limit runs forward and gradWeight over windows of whole input
 * planes too (partials added on the device); one channel plane above the limit runs in bands of rows
 * (./conv-rows.ts).
 */

import type { Conv2dGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { addOp, batchGroups } from './batch.js';
import { convFwdKernel, convGradInputKernel, convGradWeightKernel } from './conv-direct.js';
import { conv2dGradInputRows, conv2dGradWeightRows, conv2dRows, planeTooBig } from './conv-rows.js';
import { exactIndexSource } from './index-math.js';

/** Kernel constants of a conv geometry for a launch over nc samples; channel windows default to all channels. */
export function convConsts(g: Conv2dGeom, nc: number): Record<string, number> {
  return {
    N: nc,
    cin: g.cin,
    cinG: g.cin / g.groups,
    cout: g.cout,
    coutG: g.cout / g.groups,
    h: g.h,
    w: g.w,
    kh: g.kh,
    kw: g.kw,
    stride: g.stride,
    pad: g.pad,
    py: g.pad,
    oh: g.oh,
    ow: g.ow,
    nky: Math.ceil(g.kh / g.stride),
    nkx: Math.ceil(g.kw / g.stride),
    co0: 0,
    coutN: g.cout,
    ci0: 0,
    cinN: g.cin,
  };
}

/** Whether whole samples fit one direct launch (input and output of a sample under the limit). */
export const samplesFit = (g: Conv2dGeom, limit: number): boolean =>
  Math.max(g.cin * g.h * g.w, g.cout * g.oh * g.ow) <= limit;

function sizes(g: Conv2dGeom) {
  return { xs: g.cin * g.h * g.w, ohw: g.oh * g.ow, hw: g.h * g.w, wc: (g.cin / g.groups) * g.kh * g.kw };
}

/**
 * Input-channel windows of one sample for forward / gradWeight: the whole sample when it fits, else blocks of
 * whole planes (a plane above the limit never gets here: ./conv-rows.ts).
 */
function ciWindows(op: string, g: Conv2dGeom, limit: number): [number, number][] {
  if (g.cin * g.h * g.w <= limit) return [[0, g.cin]];
  return batchGroups(op, g.cin, [g.h * g.w], limit, 'input channel plane');
}

/** Whether input channels [ci0, ci0 + cic) meet the groups of output channels [co0, co0 + cc). */
function meets(g: Conv2dGeom, ci0: number, cic: number, co0: number, cc: number): boolean {
  const [cinG, coutG] = [g.cin / g.groups, g.cout / g.groups];
  const lo = Math.floor(co0 / coutG) * cinG;
  const hi = (Math.floor((co0 + cc - 1) / coutG) + 1) * cinG;
  return ci0 < hi && ci0 + cic > lo;
}

/** Output-channel blocks: each block's dy / y window and weight window under the limit. */
const coBlocks = (op: string, g: Conv2dGeom, limit: number) =>
  batchGroups(op, g.cout, [g.oh * g.ow, (g.cin / g.groups) * g.kh * g.kw], limit, 'output channel');

/** y [n, cout, oh, ow], one sample and one block of output channels per launch. */
export function* conv2dDirectSplit(x: Arr, wt: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  if (planeTooBig(g, limit)) return yield* conv2dRows(x, wt, g, limit);
  const { xs, ohw, hw, wc } = sizes(g);
  const cis = ciWindows('conv2d', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (let n = 0; n < g.n; n++) {
    for (const [co0, cc] of coBlocks('conv2d', g, limit)) {
      // A sample above the limit: partial sums over windows of input planes, added on the device.
      let acc: Arr | null = null;
      for (const [ci0, cic] of cis) {
        if (!meets(g, ci0, cic, co0, cc)) continue;
        const spec = {
          name: 'conv2d.direct',
          fn: exactIndexSource(convFwdKernel),
          constants: { ...convConsts(g, 1), co0, coutN: cc, ci0, cinN: cic },
          output: cc * ohw,
          loops: Math.max(g.cin / g.groups, g.kh, g.kw),
        };
        const x0 = n * xs + ci0 * hw;
        const args = [x.subarray(x0, x0 + cic * hw), wt.subarray(co0 * wc, (co0 + cc) * wc)];
        const part: Arr = yield { spec, args };
        acc = acc ? yield* addOp(acc, part) : part;
      }
      pieces.push({ src: acc!, at: (n * g.cout + co0) * ohw });
    }
  }
  return yield* assemble(g.n * g.cout * ohw, pieces);
}

/** dx [n, cin, h, w]: one sample and one block of input channels per output, summed over output-channel blocks. */
export function* conv2dGradInputDirectSplit(dy: Arr, wt: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  if (planeTooBig(g, limit)) return yield* conv2dGradInputRows(dy, wt, g, limit);
  const { xs, ohw, hw, wc } = sizes(g);
  const [cinG, coutG] = [g.cin / g.groups, g.cout / g.groups];
  const ciBlocks = batchGroups('conv2dGradInput', g.cin, [hw], limit, 'input channel');
  const cos = coBlocks('conv2dGradInput', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (let n = 0; n < g.n; n++) {
    for (const [ci0, cic] of ciBlocks) {
      // output channels that read these input channels: those of groups floor(ci0/cinG) .. floor((ci0+cic-1)/cinG)
      const lo = Math.floor(ci0 / cinG) * coutG;
      const hi = (Math.floor((ci0 + cic - 1) / cinG) + 1) * coutG;
      let acc: Arr | null = null;
      for (const [co0, cc] of cos) {
        if (co0 + cc <= lo || co0 >= hi) continue;
        const spec = {
          name: 'conv2dGradInput.direct',
          fn: exactIndexSource(convGradInputKernel),
          constants: { ...convConsts(g, 1), co0, coutN: cc, ci0, cinN: cic },
          output: cic * hw,
          loops: Math.max(coutG, g.kh, g.kw),
        };
        const d0 = (n * g.cout + co0) * ohw;
        const part: Arr = yield {
          spec,
          args: [dy.subarray(d0, d0 + cc * ohw), wt.subarray(co0 * wc, (co0 + cc) * wc)],
        };
        acc = acc ? yield* addOp(acc, part) : part;
      }
      pieces.push({ src: acc!, at: n * xs + ci0 * hw });
    }
  }
  return yield* assemble(g.n * xs, pieces);
}

/** dw [cout, cin/groups, kh, kw]: one block of output channels per piece, summed over the samples on the device. */
export function* conv2dGradWeightDirectSplit(x: Arr, dy: Arr, g: Conv2dGeom, limit: number): OpGen<Arr> {
  if (planeTooBig(g, limit)) return yield* conv2dGradWeightRows(x, dy, g, limit);
  const { xs, ohw, hw, wc } = sizes(g);
  const cis = ciWindows('conv2dGradWeight', g, limit);
  const pieces: { src: Arr; at: number }[] = [];
  for (const [co0, cc] of coBlocks('conv2dGradWeight', g, limit)) {
    let acc: Arr | null = null;
    for (let n = 0; n < g.n; n++) {
      // Input-plane windows write disjoint weights (0 elsewhere): their sum is exact.
      for (const [ci0, cic] of cis) {
        if (!meets(g, ci0, cic, co0, cc)) continue;
        const spec = {
          name: 'conv2dGradWeight.direct',
          fn: exactIndexSource(convGradWeightKernel),
          constants: { ...convConsts(g, 1), co0, coutN: cc, ci0, cinN: cic },
          output: cc * wc,
          loops: Math.max(1, g.oh, g.ow),
        };
        const d0 = (n * g.cout + co0) * ohw;
        const x0 = n * xs + ci0 * hw;
        const part: Arr = yield { spec, args: [x.subarray(x0, x0 + cic * hw), dy.subarray(d0, d0 + cc * ohw)] };
        acc = acc ? yield* addOp(acc, part) : part;
      }
    }
    pieces.push({ src: acc!, at: co0 * wc });
  }
  return yield* assemble(g.cout * wc, pieces);
}
