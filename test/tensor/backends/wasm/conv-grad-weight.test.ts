/**
 * Grad-weight's GEMM path (src/tensor/backends/wasm/conv-grad-weight.ts), its two levers against their switches.
 * The K-contiguous packers (pack8t / pack4t, env BIT_PACK8T=0 off) are pure data movement: grad-weight with them
 * must equal the generic packers bit for bit, on maps of 2x2 .. 32x32 (A packed or read in place, B on 1x1 and 3x3
 * convs), 1 and 2 threads. The swapped orientation: 1x1 convs with cin >= 2*cout
 * compute dW^T = x x dY^T and transpose it. Each dW element is the same FMA chain over k in the same KC blocks as
 * dY x col^T, so the result must equal the plain orientation (env BIT_GW_SWAP=0) bit for bit, on 1 and 2 threads
 * with every op forced through the workers, and match the float64 reference within `linalg`. Shapes cover cin / cout
 * off the 4-row and 8-column tiles (the transpose's scalar path), K over several KC blocks, images that are one
 * or several KC blocks long, and a check that the rule really picks the swapped spec for each of them.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { swapSpec } from '../../../../src/tensor/backends/wasm/conv-grad-weight.js';
import type { GemmContext, GemmSpec } from '../../../../src/tensor/backends/wasm/gemm.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { convGeom, rng, runConv, TOL, violation } from './helpers.js';

const ref = createReferenceBackend();
const one = createWasmBackend({ threads: 1, minParallelWork: 0 });
const two = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
afterAll(() => {
  one.dispose();
  two.dispose();
});

function gradWeight(b: Backend, g: Conv2dGeom, seed: number, swap: boolean, packT = true): Float32Array {
  const r = rng(seed);
  const saved = [process.env.BIT_GW_SWAP, process.env.BIT_PACK8T];
  if (swap) delete process.env.BIT_GW_SWAP;
  else process.env.BIT_GW_SWAP = '0';
  if (packT) delete process.env.BIT_PACK8T;
  else process.env.BIT_PACK8T = '0';
  try {
    return runConv(
      b,
      'conv2dGradWeight',
      g,
      r(g.n * g.cin * g.h * g.w),
      r(g.cout * g.cin * g.kh * g.kw),
      r(g.n * g.cout * g.oh * g.ow),
    );
  } finally {
    for (const [k, v] of [
      ['BIT_GW_SWAP', saved[0]],
      ['BIT_PACK8T', saved[1]],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Whether the rule swaps `g` with the backend defaults (in-place limit 512, the 5x8 kernels available). */
function swaps(g: Conv2dGeom): boolean {
  const ctx = { inPlaceMaxN: 512, relaxed: true } as GemmContext;
  const hw = g.h * g.w;
  const plain: GemmSpec = {
    m: g.cout,
    n: g.cin,
    k: g.n * hw,
    a: { kind: 'strided', ptr: 0, sStride: hw, dStride: 1, dSeg: hw, dSegStride: g.cout * hw },
    b: { kind: 'strided', ptr: 0, sStride: hw, dStride: 1, dSeg: hw, dSegStride: g.cin * hw },
    c: 0,
    ldc: g.cin,
  };
  return swapSpec(ctx, plain, g, 0) !== null;
}

const bitsEqual = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

function check(g: Conv2dGeom, seed: number): void {
  const label = JSON.stringify(g);
  expect(swaps(g), `${label}: the rule swaps`).toBe(true);
  const plain = gradWeight(one, g, seed, false);
  expect(violation(plain, gradWeight(ref, g, seed, false), ...TOL.linalg), `${label}: vs reference`).toBe(0);
  for (const b of [one, two]) {
    expect(bitsEqual(gradWeight(b, g, seed, true), plain), `${label}: swapped (t${b.threads}) vs plain`).toBe(true);
  }
}

const pointwise = (n: number, cin: number, h: number, w: number, cout: number) =>
  convGeom({ n, cin, h, w, cout, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 });

describe('wasm conv grad-weight: the swapped orientation (dW^T = x x dY^T)', () => {
  it('random 1x1 convs with cin >= 2*cout equal the plain orientation bit for bit, 1 and 2 threads', () => {
    fc.assert(
      fc.property(
        fc.record({
          cout: fc.integer({ min: 0, max: 12 }).map((c) => 2 * c + 1), // odd: never the gwDot small-map path
          extra: fc.integer({ min: 0, max: 90 }),
          map: fc.constantFrom([1, 7, 9], [1, 20, 20], [1, 5, 60], [2, 16, 16], [3, 16, 32], [2, 32, 16]),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ cout, extra, map, seed }) => {
          const [n, h, w] = map as [number, number, number];
          fc.pre(n * h * w >= 2 * cout);
          check(pointwise(n, 2 * cout + extra, h, w, cout), seed);
        },
      ),
      { numRuns: 20, seed: 7 },
    );
  });

  it('tile-aligned shapes (the 4x4 transpose blocks) and R50-like ratios', () => {
    const shapes = [pointwise(2, 64, 32, 32, 16), pointwise(1, 256, 16, 16, 64), pointwise(2, 128, 16, 16, 36)];
    for (const [i, g] of shapes.entries()) check(g, 100 + i);
  });

  it('keeps the plain orientation where the rule says so', () => {
    expect(swaps(pointwise(8, 64, 32, 32, 256))).toBe(false); // cin < 2*cout
    expect(swaps(pointwise(8, 1024, 8, 8, 256))).toBe(false); // x not in place (8x8 images cut KC blocks)
    expect(swaps(pointwise(8, 512, 16, 16, 128))).toBe(false); // the plain orientation gets the 5x8 kernels
    expect(swaps(pointwise(1, 64, 4, 4, 16))).toBe(false); // K = 16 < 2*cout
  });
});

describe('wasm conv grad-weight: the K-contiguous packers (pack8t / pack4t)', () => {
  it('equal the generic packers bit for bit, 1 and 2 threads', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 5 }),
          cin: fc.integer({ min: 1, max: 70 }),
          cout: fc.integer({ min: 1, max: 45 }),
          hw: fc.constantFrom(2, 3, 4, 6, 16, 20, 32),
          k: fc.constantFrom(1, 1, 3),
          stride: fc.constantFrom(1, 1, 2),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ n, cin, cout, hw, k, stride, seed }) => {
          const g = convGeom({ n, cin, h: hw, w: hw, cout, kh: k, kw: k, stride, pad: k >> 1, groups: 1 });
          const want = gradWeight(one, g, seed, true, false);
          for (const b of [one, two]) {
            const got = gradWeight(b, g, seed, true, true);
            expect(bitsEqual(got, want), `${JSON.stringify(g)} t${b.threads}`).toBe(true);
          }
        },
      ),
      { numRuns: 30, seed: 3 },
    );
  });
});
