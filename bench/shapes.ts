/**
 * Benchmark shapes shared by every bench and by the PyTorch peer script: SGEMM sizes, the BiT-R50 conv
 * shapes at batch 8 with a 128 px input (stem, each stage's 1x1/3x3 convs and strided projections) and at batch 32
 * with a 32 px input (small feature maps), and the
 * GroupNorm / weight-standardization sizes of the same network.
 */

import type { Conv2dGeom } from '../src/tensor/backend.js';

/** One benchmark result, the JSON line `npm run bench -- --json` prints (torch columns null without a peer). */
export interface BenchRow {
  bench: string;
  backend: string;
  shape: string;
  first_ms: number;
  ms: number;
  gflops: number | null;
  torch_ms: number | null;
  ratio_to_torch: number | null;
}

export function convGeom(
  n: number,
  cin: number,
  h: number,
  cout: number,
  k: number,
  stride: number,
  pad: number,
): Conv2dGeom {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  return { n, cin, h, w: h, cout, kh: k, kw: k, stride, pad, groups: 1, oh, ow: oh };
}

export const GEMM_SIZES = [512, 1024];

/** BiT-R50x1 convs at batch 8, 128 px input (stem output 64 px, pool 32 px; stages at 32, 16, 8, 4 px). */
export const CONV_SHAPES: { name: string; g: Conv2dGeom }[] = [
  { name: 'stem 7x7/2 3->64 @128', g: convGeom(8, 3, 128, 64, 7, 2, 3) },
  { name: 's1 1x1 64->64 @32', g: convGeom(8, 64, 32, 64, 1, 1, 0) },
  { name: 's1 3x3 64->64 @32', g: convGeom(8, 64, 32, 64, 3, 1, 1) },
  { name: 's1 1x1 64->256 @32', g: convGeom(8, 64, 32, 256, 1, 1, 0) },
  { name: 's2 3x3/2 128->128 @32', g: convGeom(8, 128, 32, 128, 3, 2, 1) },
  { name: 's2 proj 1x1/2 256->512 @32', g: convGeom(8, 256, 32, 512, 1, 2, 0) },
  { name: 's3 3x3 256->256 @8', g: convGeom(8, 256, 8, 256, 3, 1, 1) },
  { name: 's4 3x3 512->512 @4', g: convGeom(8, 512, 4, 512, 3, 1, 1) },
];

/** BiT-R50x1 convs at batch 32, 32 px input (stages at 8, 4, 2, 1 px): the small feature maps of CIFAR-sized input. */
export const CONV_SHAPES_32: { name: string; g: Conv2dGeom }[] = [
  { name: 'b32 stem 7x7/2 3->64 @32', g: convGeom(32, 3, 32, 64, 7, 2, 3) },
  { name: 'b32 s1 3x3 64->64 @8', g: convGeom(32, 64, 8, 64, 3, 1, 1) },
  { name: 'b32 s3 3x3 256->256 @2', g: convGeom(32, 256, 2, 256, 3, 1, 1) },
  { name: 'b32 s3 1x1 1024->256 @2', g: convGeom(32, 1024, 2, 256, 1, 1, 0) },
  { name: 'b32 s4 3x3/2 512->512 @2', g: convGeom(32, 512, 2, 512, 3, 2, 1) },
  { name: 'b32 s4 3x3 512->512 @1', g: convGeom(32, 512, 1, 512, 3, 1, 1) },
  { name: 'b32 s4 1x1 512->2048 @1', g: convGeom(32, 512, 1, 2048, 1, 1, 0) },
];

export const GN_SHAPES = [
  { name: 'GN 8x256x32x32', n: 8, c: 256, hw: 32 * 32 },
  { name: 'GN 8x1024x8x8', n: 8, c: 1024, hw: 8 * 8 },
];

export const WS_SHAPES = [
  { name: 'WS 256x64x3x3', o: 256, fanIn: 64 * 9 },
  { name: 'WS 2048x512x1x1', o: 2048, fanIn: 512 },
];

export function convFlops(g: Conv2dGeom): number {
  return 2 * g.n * g.cout * g.oh * g.ow * (g.cin / g.groups) * g.kh * g.kw;
}
