/**
 * The packed-A cache (src/tensor/backends/wasm/gemm-pack-cache.ts): conv weights (and their cached Winograd
 * transforms) packed once for the 5x8 kernels and reused while the weight buffer is unchanged.
 * - Same bits as a backend with the cache off, on the first call (nothing cached), the second (packed and cached)
 *   and later ones (cache hits), on 1 and 2 threads, for 1x1 convs on narrow maps (n = 128 columns: the 4x8 in-place
 *   kernels without the cache), strided 3x3 (im2col) and Winograd 3x3 convs, and conv2dAdd's residual store.
 * - A weight written in place (`fill`, `copy` into it, `sgdUpdate`) or freed drops its entries: the next conv
 *   reads the new values.
 * - A weight used once (a training step's standardized weight) is never packed into the cache; a budget too small
 *   for a pack keeps nothing and changes no result.
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BackendBuffer, Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { convGeom, rng } from './helpers.js';

const opts = { minParallelWork: 0, adaptiveThreads: false } as const;
const off = createWasmBackend({ threads: 1, ...opts, gemmPackCacheBytes: 0 });
const on1 = createWasmBackend({ threads: 1, ...opts });
const on2 = createWasmBackend({ threads: 2, ...opts });
const tiny = createWasmBackend({ threads: 1, ...opts, gemmPackCacheBytes: 1024 });
afterAll(() => {
  for (const b of [off, on1, on2, tiny]) b.dispose();
});

/** The geometries: 1x1 on a 4x4 map at batch 8 (n = 128), 3x3/2 (im2col), a Winograd 3x3 (F4 on 16x16 maps: 128 tiles). */
const SHAPES: [string, Conv2dGeom][] = [
  ['1x1 @4x4', convGeom({ n: 8, cin: 64, h: 4, w: 4, cout: 48, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 })],
  ['1x1 @4x4 wide', convGeom({ n: 8, cin: 96, h: 4, w: 4, cout: 160, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 })],
  ['3x3/2 @8x8 -> 4x4', convGeom({ n: 8, cin: 48, h: 8, w: 8, cout: 64, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 })],
  [
    '3x3/1 @16x16 (Winograd F4)',
    convGeom({ n: 8, cin: 64, h: 16, w: 16, cout: 64, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }),
  ],
];

const bits = (a: ArrayLike<number>) => new Uint32Array(Float32Array.from(a).buffer);

/** conv2d (or conv2dAdd with `resid`) of fresh x with weight buffer `w` on `b`, read back. */
function convWith(b: Backend, w: BackendBuffer, g: Conv2dGeom, seed: number, resid = false): Float32Array {
  const r = rng(seed);
  const x = b.upload(r(g.n * g.cin * g.h * g.w), 'float32');
  const rb = resid ? b.upload(r(g.n * g.cout * g.oh * g.ow), 'float32') : null;
  const y = rb ? b.conv2dAdd(x, w, rb, g) : b.conv2d(x, w, g);
  const out = Float32Array.from(b.readSync(y));
  for (const t of [x, y, ...(rb ? [rb] : [])]) b.free(t);
  return out;
}

const wOf = (g: Conv2dGeom, seed: number) => rng(seed)(g.cout * g.cin * g.kh * g.kw);

describe('wasm packed-A cache', () => {
  for (const [name, g] of SHAPES) {
    for (const resid of [false, true]) {
      it(`${name}${resid ? ' (conv2dAdd)' : ''}: the same bits uncached, on caching and from the cache`, () => {
        const wv = wOf(g, 7);
        const wOff = off.upload(wv, 'float32');
        for (const b of [on1, on2]) {
          const before = (b as WasmBackend).packCacheStats().buffers;
          const w = b.upload(wv, 'float32');
          for (let call = 0; call < 3; call++) {
            const want = convWith(off, wOff, g, 100 + call, resid);
            expect(bits(convWith(b, w, g, 100 + call, resid))).toEqual(bits(want));
          }
          // from the second call on, the weight (or its transform) is held packed
          expect((b as WasmBackend).packCacheStats().buffers).toBe(before + 1);
          b.free(w);
          expect((b as WasmBackend).packCacheStats().buffers).toBe(before);
        }
        off.free(wOff);
        expect((off as WasmBackend).packCacheStats().bytes).toBe(0);
      });
    }
  }

  it('a weight written in place is read anew: fill, copy into it, sgdUpdate', () => {
    const g = SHAPES[0]![1];
    const n = g.cout * g.cin;
    const w = on1.upload(wOf(g, 1), 'float32');
    const ref = (vals: ArrayLike<number>, seed: number) => {
      const wo = off.upload(vals, 'float32');
      const y = convWith(off, wo, g, seed);
      off.free(wo);
      return y;
    };
    convWith(on1, w, g, 1);
    convWith(on1, w, g, 2); // cached now
    expect(on1.packCacheStats().buffers).toBe(1);
    on1.fill(w, 0.25);
    expect(on1.packCacheStats().buffers).toBe(0);
    expect(bits(convWith(on1, w, g, 3))).toEqual(bits(ref(new Array(n).fill(0.25), 3)));
    convWith(on1, w, g, 4);
    const src = on1.upload(wOf(g, 2), 'float32');
    on1.copy({ buf: src, shape: [n], strides: [1], offset: 0 }, { buf: w, shape: [n], strides: [1], offset: 0 });
    expect(bits(convWith(on1, w, g, 5))).toEqual(bits(ref(wOf(g, 2), 5)));
    convWith(on1, w, g, 6);
    const grad = on1.upload(new Array(n).fill(1), 'float32');
    const mom = on1.upload(new Array(n).fill(0), 'float32');
    on1.sgdUpdate(w, grad, mom, {
      lr: 0.5,
      momentum: 0,
      weightDecay: 0,
      nesterov: false,
      dampening: 0,
      firstStep: true,
    });
    const stepped = wOf(g, 2).map((v) => Math.fround(v - 0.5));
    expect(bits(convWith(on1, w, g, 7))).toEqual(bits(ref(stepped, 7)));
    for (const t of [w, src, grad, mom]) on1.free(t);
    expect(on1.packCacheStats().buffers).toBe(0);
  });

  it('a weight used once is not cached; a budget too small keeps nothing and changes no bit', () => {
    const g = SHAPES[1]![1];
    const wv = wOf(g, 9);
    const w = on1.upload(wv, 'float32');
    convWith(on1, w, g, 1);
    expect(on1.packCacheStats().bytes).toBe(0);
    on1.free(w);
    const wt = tiny.upload(wv, 'float32');
    const wo = off.upload(wv, 'float32');
    for (let call = 0; call < 3; call++) {
      expect(bits(convWith(tiny, wt, g, call))).toEqual(bits(convWith(off, wo, g, call)));
    }
    expect(tiny.packCacheStats().bytes).toBe(0);
    tiny.free(wt);
    off.free(wo);
  });
});
