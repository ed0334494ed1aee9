/**
 * The wasm max-pool's four-plane kernel (`maxPool4`, planes in f32x4 lanes; the scalar `maxPool` takes the < 4
 * planes left of a thread's range): values (Object.is: signed zeros; NaN as NaN) and indices equal the reference's
 * on inputs full of ties, NaN, -0 and -Infinity, with and without padding of either value, on plane counts that are
 * and are not multiples of 4, with 1 and 2 threads (which split the planes differently).
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { MaxPool2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { rng } from './helpers.js';

const ref = createReferenceBackend();
const wasm = [createWasmBackend({ threads: 1 }), createWasmBackend({ threads: 2 })];
await Promise.all(wasm.map((b) => b.ready));
afterAll(() => {
  for (const b of wasm) b.dispose();
});

const VALS = [0, -0, 1, -1, Number.NaN, 2, Number.NEGATIVE_INFINITY];

describe('wasm maxPool4 (four planes per f32x4)', () => {
  it('equals the reference: ties, NaN, signed zeros, padding, 1 and 2 threads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 3, max: 9 }),
        fc.integer({ min: 3, max: 9 }),
        fc.constantFrom(2, 3),
        fc.constantFrom(1, 2, 3),
        fc.constantFrom(0, 1),
        fc.constantFrom(0, Number.NEGATIVE_INFINITY),
        fc.integer({ min: 1, max: 1e6 }),
        (n, c, h, w, k, stride, pad, padValue, sd) => {
          const r = rng(sd);
          const x = Float32Array.from({ length: n * c * h * w }, () => VALS[Math.floor(((r(1)[0]! + 1) / 2) * 6.999)]!);
          const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
          const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
          const g: MaxPool2dGeom = { n, c, h, w, kh: k, kw: k, stride, oh, ow, pad, padValue };
          const want = ref.maxPool2d(ref.upload(x, 'float32'), g);
          const [wv, wi] = [ref.readSync(want.out), ref.readSync(want.indices)];
          for (const be of wasm) {
            const xb = be.upload(x, 'float32');
            const got = be.maxPool2d(xb, g);
            const [gv, gi] = [be.readSync(got.out), be.readSync(got.indices)];
            for (let i = 0; i < wv.length; i++) {
              if (!Object.is(gv[i], wv[i]) && !(Number.isNaN(gv[i]) && Number.isNaN(wv[i]))) {
                throw new Error(`${be.name}: value ${i}: ${gv[i]} vs ${wv[i]} (${JSON.stringify(g)})`);
              }
              if (gi[i] !== wi[i])
                throw new Error(`${be.name}: index ${i}: ${gi[i]} vs ${wi[i]} (${JSON.stringify(g)})`);
            }
            be.free(xb);
            be.free(got.out);
            be.free(got.indices);
          }
        },
      ),
      { numRuns: 80, seed: 24 },
    );
    expect(wasm.map((b) => b.liveBuffers())).toEqual([0, 0]);
  });
});
