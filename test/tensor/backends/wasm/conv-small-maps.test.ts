/**
 * Convolutions whose output maps are small (1x1, 2x2, 3x3, 7x7: oh*ow not a multiple of the GEMM's 8-column
 * micro-tile) run as ONE GEMM over the batch plus a per-image copy into NCHW. The batched result must be bit for bit
 * the one of calling the same conv image by image (n = 1 takes the plain segmented store), on 1 and 2 threads with
 * every op forced through the workers, and must match the float64 reference within the linalg tolerance (which
 * also holds single-tap convs, run as the 1x1 conv of their one tap, to the full conv, including exact zeros in
 * grad-weight's other taps).
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { type ConvKind, convGeom, rng, runConv, TOL, violation } from './helpers.js';

const ref = createReferenceBackend();
const configs = [
  { label: 't1', be: createWasmBackend({ threads: 1, minParallelWork: 0 }) },
  { label: 't2', be: createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false }) },
  { label: 't2-default-split', be: createWasmBackend({ threads: 2 }) },
  // the small-map lowerings off (BIT_CONV_SMALLMAP=0): the per-image copy paths they replace stay correct
  { label: 't2-smallmaps-off', be: createWasmBackend({ threads: 2, minParallelWork: 0, convSmallMaps: false }) },
];
afterAll(() => {
  for (const c of configs) c.be.dispose();
});

const SHAPES: Omit<Conv2dGeom, 'oh' | 'ow'>[] = [
  // 3x3 on a 1x1 map (late BiT stage at 32 px), 1x1 on 1x1, 3x3/2 from 2x2 to 1x1
  { n: 5, cin: 24, h: 1, w: 1, cout: 16, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
  { n: 6, cin: 20, h: 1, w: 1, cout: 36, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  { n: 4, cin: 12, h: 2, w: 2, cout: 8, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  // 2x2 and 3x3 and 7x7 maps, strided projection to 2x2
  { n: 3, cin: 16, h: 2, w: 2, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
  { n: 3, cin: 8, h: 3, w: 3, cout: 4, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  { n: 2, cin: 8, h: 7, w: 7, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
  { n: 3, cin: 8, h: 4, w: 4, cout: 20, kh: 1, kw: 1, stride: 2, pad: 0, groups: 1 },
  // single-tap convs (every output reads one tap): 5x5 pad 2 and 3x3/2 pad 1 on 1x1 maps, odd channel counts
  { n: 4, cin: 7, h: 1, w: 1, cout: 12, kh: 5, kw: 5, stride: 1, pad: 2, groups: 1 },
  { n: 3, cin: 9, h: 1, w: 1, cout: 5, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  // cropped taps: 3x3/2 pad 1 from 2x2 (2x2 live taps), 3x3/2 pad 1 from 3x2 (3x2: not cropped) and from 1x2
  // (1x2 live taps), 5x5/3 pad 2 from 2x2 (2x2 live, stride > 1)
  { n: 4, cin: 12, h: 2, w: 2, cout: 8, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  { n: 3, cin: 6, h: 3, w: 2, cout: 8, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  { n: 3, cin: 5, h: 1, w: 2, cout: 8, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  { n: 2, cin: 7, h: 2, w: 2, cout: 4, kh: 5, kw: 5, stride: 3, pad: 2, groups: 1 },
  // strided 1x1 projections to a 1x1 map (grad-input: the [n, cin] matmul copied to pixel (0, 0))
  { n: 4, cin: 10, h: 2, w: 2, cout: 12, kh: 1, kw: 1, stride: 2, pad: 0, groups: 1 },
  { n: 3, cin: 6, h: 3, w: 2, cout: 9, kh: 1, kw: 1, stride: 3, pad: 0, groups: 1 },
  // pointwise grad-weight on 8x8 / 16x4 maps by the packing-free gwDot kernel (4-channel blocks split over threads)
  { n: 3, cin: 6, h: 8, w: 8, cout: 12, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  { n: 2, cin: 10, h: 16, w: 4, cout: 8, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  // 3x3 stride-1 grad-weight by gwDot from a zero-padded copy of x: pad 1 on 8x8 and 16x4, pad 0 from 10x10
  { n: 3, cin: 6, h: 8, w: 8, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
  { n: 2, cin: 4, h: 16, w: 4, cout: 8, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
  { n: 2, cin: 6, h: 10, w: 10, cout: 4, kh: 3, kw: 3, stride: 1, pad: 0, groups: 1 },
  // stride-2 grad-input windows one lane off the row (col2im): 3x3/2 pad 1 from 8x8, 16x16, 8x9; 5x5/2 pad 1
  { n: 2, cin: 5, h: 8, w: 8, cout: 6, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  { n: 2, cin: 5, h: 16, w: 16, cout: 4, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  { n: 2, cin: 5, h: 8, w: 9, cout: 4, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  { n: 2, cin: 5, h: 9, w: 10, cout: 4, kh: 5, kw: 5, stride: 2, pad: 1, groups: 1 },
  // grad-weight of 3x3/2 from 2x2 at batch >= 128: the matmul over the batch copied to the 2x2 live taps
  { n: 128, cin: 6, h: 2, w: 2, cout: 4, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  // 2x2 maps stored by 4-column halves: odd cout / cin (edge tiles through the scratch tile straddle images)
  { n: 5, cin: 13, h: 2, w: 2, cout: 11, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  { n: 3, cin: 9, h: 4, w: 2, cout: 7, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
  // cout * oh*ow not a multiple of 4: the copy into NCHW is a plain loop on the calling thread
  { n: 3, cin: 5, h: 1, w: 1, cout: 3, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
  { n: 2, cin: 4, h: 3, w: 3, cout: 5, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
];

type Kind = ConvKind;
const run = runConv;

/** The same conv run one image at a time (grad-weight: summed over images is not bitwise comparable; skipped). */
function perImage(
  b: Backend,
  kind: Exclude<Kind, 'conv2dGradWeight'>,
  g: Conv2dGeom,
  x: number[],
  w: number[],
  dy: number[],
) {
  const g1 = { ...g, n: 1 };
  const xs = g.cin * g.h * g.w;
  const ys = g.cout * g.oh * g.ow;
  const parts: Float32Array[] = [];
  for (let i = 0; i < g.n; i++) {
    parts.push(run(b, kind, g1, x.slice(i * xs, (i + 1) * xs), w, dy.slice(i * ys, (i + 1) * ys)));
  }
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe.each(configs)('wasm conv on small feature maps ($label)', ({ be }) => {
  it.each(SHAPES.map((s, i) => ({ s, i })))(
    'shape $i: batched = image by image (bitwise) and = reference',
    ({ s, i }) => {
      const g = convGeom(s);
      const r = rng(100 + i);
      const x = r(g.n * g.cin * g.h * g.w);
      const w = r(g.cout * g.cin * g.kh * g.kw);
      const dy = r(g.n * g.cout * g.oh * g.ow);
      for (const kind of ['conv2d', 'conv2dGradInput', 'conv2dGradWeight'] as const) {
        const got = run(be, kind, g, x, w, dy);
        const want = run(ref, kind, g, x, w, dy);
        const [atol, rtol] = TOL.linalg;
        expect(violation(got, want, atol, rtol), `${kind} vs reference`).toBe(0);
        if (kind !== 'conv2dGradWeight') {
          expect(Array.from(got), `${kind} batched vs per image`).toEqual(Array.from(perImage(be, kind, g, x, w, dy)));
        }
      }
    },
  );
});

describe('wasm pointwise grad-weight on small maps (gwDot)', () => {
  it('gives the same bits on 1 and 2 threads (every op through the workers) and matches the reference', () => {
    for (const k of [1, 3]) {
      const g = convGeom({ n: 5, cin: 14, h: 8, w: 8, cout: 20, kh: k, kw: k, stride: 1, pad: (k - 1) / 2, groups: 1 });
      const r = rng(77);
      const x = r(g.n * g.cin * g.h * g.w);
      const dy = r(g.n * g.cout * g.oh * g.ow);
      const w = r(g.cout * g.cin * k * k);
      const outs = configs.slice(0, 2).map(({ be }) => run(be, 'conv2dGradWeight', g, x, w, dy));
      expect(Array.from(outs[1]!)).toEqual(Array.from(outs[0]!));
      const [atol, rtol] = TOL.linalg;
      expect(violation(outs[0]!, run(ref, 'conv2dGradWeight', g, x, w, dy), atol, rtol)).toBe(0);
    }
  });
});
