/**
 * Run under tsx (esbuild) by regressions.test.ts: kernels must survive esbuild's transform of their source text.
 * Prints one JSON line with a conv2d, a matmul and a GroupNorm result checksum.
 */

import { createGpujsBackend } from '../../../../src/tensor/backends/gpujs/index.js';

const b = await createGpujsBackend('webasm');
const x = b.upload(
  Array.from({ length: 2 * 3 * 5 * 5 }, (_, i) => (i % 7) - 3),
  'float32',
);
const w = b.upload(
  Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => (i % 5) - 2),
  'float32',
);
const g = { n: 2, cin: 3, h: 5, w: 5, cout: 4, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1, oh: 5, ow: 5 };
const y = b.readSync(b.conv2d(x, w, g));
const m = b.readSync(b.matmul(w, w, { batch: 1, m: 4, k: 27, n: 4, transA: false, transB: true }));
const gn = b.groupNorm(x, b.upload([1, 1, 1], 'float32'), b.upload([0, 0, 0], 'float32'), {
  n: 2,
  c: 3,
  hw: 25,
  groups: 1,
  eps: 1e-5,
});
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
console.log(JSON.stringify({ conv: sum(y), matmul: sum(m), gn: sum(b.readSync(gn.mean)), kernels: b.stats().length }));
b.dispose();
