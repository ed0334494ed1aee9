/**
 * Fused SGD step (PyTorch semantics): d = grad + wd*param; buf = firstStep ? d : momentum*buf + (1-dampening)*d;
 * d = nesterov ? d + momentum*buf : buf (momentum 0: d); param -= lr*d. Two kernels (new momentum buffer, new
 * parameter); flags are constants, hyper-parameters scalar arguments (a schedule changing lr builds nothing new).
 * Windows are chunked linearly (elementwise, so the shifted last window may recompute a few cells).
 */

import type { SgdParams } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { linearChunks, windowOf } from '../strided.js';
import type { KThis } from './types.js';

export function sgdBufKernel(
  this: KThis,
  p: Float32Array,
  g: Float32Array,
  buf: Float32Array,
  momentum: number,
  dampening: number,
  wd: number,
): number {
  const i = this.thread.x;
  const d = g[i]! + wd * p[i]!;
  if (this.constants.first === 1) return d;
  return momentum * buf[i]! + (1 - dampening) * d;
}

export function sgdParamKernel(
  this: KThis,
  p: Float32Array,
  g: Float32Array,
  nbuf: Float32Array,
  lr: number,
  momentum: number,
  wd: number,
): number {
  const i = this.thread.x;
  const d = g[i]! + wd * p[i]!;
  if (this.constants.hasMomentum === 0) return p[i]! - lr * d;
  if (this.constants.nesterov === 1) return p[i]! - lr * (d + momentum * nbuf[i]!);
  return p[i]! - lr * nbuf[i]!;
}

/** Returns [newParam, newBuf] (newBuf is `buf` unchanged when momentum is 0). */
export function* sgdOp(param: Arr, grad: Arr, buf: Arr, p: SgdParams, limit: number): OpGen<[Arr, Arr]> {
  const n = param.length;
  const hasMomentum = p.momentum !== 0 ? 1 : 0;
  const { starts, len } = linearChunks(n, limit);
  const bufSpec = { name: 'sgd.buf', fn: sgdBufKernel, constants: { first: p.firstStep ? 1 : 0 }, output: len };
  const parSpec = {
    name: 'sgd.param',
    fn: sgdParamKernel,
    constants: { hasMomentum, nesterov: p.nesterov ? 1 : 0 },
    output: len,
  };
  const partsP: { src: Arr; at: number }[] = [];
  const partsB: { src: Arr; at: number }[] = [];
  for (const s of starts) {
    const pw = windowOf(param, s, len);
    const gw = windowOf(grad, s, len);
    let bw = hasMomentum ? windowOf(buf, s, len) : pw;
    if (hasMomentum) bw = yield { spec: bufSpec, args: [pw, gw, bw, p.momentum, p.dampening, p.weightDecay] };
    const np = yield { spec: parSpec, args: [pw, gw, bw, p.lr, p.momentum, p.weightDecay] };
    partsP.push({ src: np, at: s });
    if (hasMomentum) partsB.push({ src: bw, at: s });
  }
  const one = starts.length === 1;
  const newP = one ? partsP[0]!.src : yield* assemble(n, partsP);
  const newB = !hasMomentum ? buf : one ? partsB[0]!.src : yield* assemble(n, partsB);
  return [newP, newB];
}
