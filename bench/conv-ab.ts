/**
 * What the per-conv A/B benches (bench/conv-sites-ab.ts, bench/gemm-ab.ts) share: one conv geometry's inputs
 * uploaded to each side's wasm backend, its three directions (forward, grad-input, grad-weight) as callables, and
 * whether the two sides produce the same bits for a direction. Invariant: both sides get the same input values
 * (fixed fill seeds 3, 4, 5 for x, w, dy), so "same bits" compares the kernels, not the data.
 */

import type { BackendBuffer, Conv2dGeom } from '../src/tensor/backend.js';
import type { WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { fill } from './wasm-kernels.js';

/** A conv direction on one backend: inputs [x, w, dy] -> its output buffer. */
export type ConvOp = (be: WasmBackend, b: BackendBuffer[]) => BackendBuffer;

/** x, w and dy of `g` uploaded to each backend (free them with `be.free`). */
export function uploadConvInputs(backends: readonly WasmBackend[], g: Conv2dGeom): BackendBuffer[][] {
  const data = [
    fill(g.n * g.cin * g.h * g.w, 3),
    fill(g.cout * g.cin * g.kh * g.kw, 4),
    fill(g.n * g.cout * g.oh * g.ow, 5),
  ];
  return backends.map((be) => data.map((d) => be.upload(d, 'float32')));
}

/** The three directions of `g`, named by `names` (forward, grad-input, grad-weight). */
export function convDirections(g: Conv2dGeom, names: readonly [string, string, string]): [string, ConvOp][] {
  return [
    [names[0], (be, [x, w]) => be.conv2d(x!, w!, g)],
    [names[1], (be, [, w, dy]) => be.conv2dGradInput(dy!, w!, g)],
    [names[2], (be, [x, , dy]) => be.conv2dGradWeight(x!, dy!, g)],
  ];
}

/** Run `op` once on each side and say whether the outputs are equal bit for bit (NaN payloads and -0 included). */
export function sameBits(backends: readonly WasmBackend[], bufs: BackendBuffer[][], op: ConvOp): boolean {
  const outs = backends.map((be, i) => {
    const o = op(be, bufs[i]!);
    const r = be.readSync(o);
    be.free(o);
    return r;
  });
  return outs[0]!.every((v, i) => Object.is(v, outs[1]![i]));
}
