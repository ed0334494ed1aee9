/**
 * The wasm backend does not zero a conv's output buffer when it allocates it: every lowering (pointwise GEMM,
 * im2col GEMM + col2im, Winograd F2 / F4, the 1x1-map matmuls, single-tap and cropped-tap convs, the thin stem
 * kernels, grouped convs on the reference loops) must write every element of its output itself. Here the output's
 * block is poisoned first (a freed buffer of the same size class filled with NaN, which the allocator hands out
 * again: asserted by pointer), and forward, grad-input and grad-weight must still match the float64 reference
 * within the linalg tolerance, on 1 and 2 threads.
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import type { WasmBuffer } from '../../../../src/tensor/backends/wasm/state.js';
import { type ConvKind, convGeom, rng, runConv, TOL, violation } from './helpers.js';

const ref = createReferenceBackend();
const configs = [
  { label: 't1', be: createWasmBackend({ threads: 1, minParallelWork: 0 }) },
  { label: 't2', be: createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false }) },
];
afterAll(() => {
  for (const c of configs) c.be.dispose();
});

/** One geometry per lowering (named by the path grad-input takes where they differ). */
const CASES: [string, Omit<Conv2dGeom, 'oh' | 'ow'>][] = [
  ['pointwise 8x8', { n: 3, cin: 12, h: 8, w: 8, cout: 16, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 }],
  [
    'pointwise 7x7 map (batched GEMM + copy)',
    { n: 2, cin: 8, h: 7, w: 7, cout: 12, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  ],
  ['1x1 stride 2 (col2im)', { n: 3, cin: 8, h: 8, w: 8, cout: 16, kh: 1, kw: 1, stride: 2, pad: 0, groups: 1 }],
  ['3x3 stride 2 (col2im)', { n: 2, cin: 6, h: 9, w: 8, cout: 8, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 }],
  [
    '3x3 stride 1, few tiles (im2col GEMM)',
    { n: 1, cin: 8, h: 4, w: 4, cout: 8, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
  ],
  ['3x3 stride 1, Winograd F2', { n: 16, cin: 8, h: 8, w: 8, cout: 8, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }],
  ['3x3 stride 1, Winograd F4', { n: 8, cin: 32, h: 8, w: 8, cout: 32, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }],
  ['3x3 on a 1x1 map (single tap)', { n: 4, cin: 8, h: 1, w: 1, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }],
  ['3x3/2 from 2x2 (cropped taps)', { n: 4, cin: 8, h: 2, w: 2, cout: 8, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 }],
  ['1x1/2 to a 1x1 map', { n: 4, cin: 10, h: 2, w: 2, cout: 12, kh: 1, kw: 1, stride: 2, pad: 0, groups: 1 }],
  ['thin stem 7x7/2', { n: 2, cin: 3, h: 16, w: 16, cout: 8, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 }],
  ['5x5/3 pad 2', { n: 2, cin: 5, h: 7, w: 6, cout: 4, kh: 5, kw: 5, stride: 3, pad: 2, groups: 1 }],
  ['grouped 3x3', { n: 2, cin: 8, h: 5, w: 5, cout: 8, kh: 3, kw: 3, stride: 1, pad: 1, groups: 2 }],
];

const KINDS: ConvKind[] = ['conv2d', 'conv2dGradInput', 'conv2dGradWeight'];
const outSize = (kind: ConvKind, g: Conv2dGeom) =>
  kind === 'conv2d'
    ? g.n * g.cout * g.oh * g.ow
    : kind === 'conv2dGradInput'
      ? g.n * g.cin * g.h * g.w
      : g.cout * (g.cin / g.groups) * g.kh * g.kw;

describe.each(configs)('wasm conv outputs start as garbage ($label)', ({ be }) => {
  it.each(CASES)('%s: every output element is written', (_name, p) => {
    const g = convGeom(p);
    const r = rng(7);
    const x = r(g.n * g.cin * g.h * g.w);
    const w = r(g.cout * (g.cin / g.groups) * g.kh * g.kw);
    const dy = r(g.n * g.cout * g.oh * g.ow);
    const [atol, rtol] = TOL.linalg;
    for (const kind of KINDS) {
      const X = be.upload(Float32Array.from(x), 'float32');
      const W = be.upload(Float32Array.from(w), 'float32');
      const D = be.upload(Float32Array.from(dy), 'float32');
      const poison = be.alloc(outSize(kind, g), 'float32') as WasmBuffer;
      be.fill(poison, Number.NaN);
      const poisonPtr = poison.ptr;
      be.free(poison);
      const out = (
        kind === 'conv2d'
          ? be.conv2d(X, W, g)
          : kind === 'conv2dGradInput'
            ? be.conv2dGradInput(D, W, g)
            : be.conv2dGradWeight(X, D, g)
      ) as WasmBuffer;
      const reused = out.ptr === poisonPtr;
      const got = Float32Array.from(be.readSync(out));
      for (const t of [X, W, D, out]) be.free(t);
      const want = runConv(ref, kind, g, x, w, dy);
      expect({ kind, reused, nan: got.some(Number.isNaN), v: violation(got, want, atol, rtol) === 0 }).toEqual({
        kind,
        reused: true,
        nan: false,
        v: true,
      });
    }
  });
});
