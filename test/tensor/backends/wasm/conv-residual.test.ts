/**
 * The wasm `conv2dAdd` (./src/tensor/backends/wasm/conv-residual.ts): conv2d + r with the add folded into the GEMM's
 * store where the GEMM writes y directly (1x1 stride-1 and im2col GEMMs on maps with oh*ow a multiple of 4, K over
 * one or several KC blocks, edge tiles through the scratch tile, in-place and packed A), and conv + an in-place add
 * pass elsewhere (Winograd, thin input, 1x1 and 7x7 maps, grouped convs). On random shapes (fast-check), on 1 and 2
 * threads with every op forced through the workers, with the fused store on and off, the result must equal the same
 * backend's conv2d followed by binary add element for element (Object.is: same bits, NaN for NaN), r holding
 * NaN, +-Infinity and -0 in places; and match the float64 reference's conv2dAdd within the linalg tolerance. Shapes
 * that take the 5x8 kernels (macroRowsR) also equal the 4x8 kernels (BIT_GEMM_ROWS=4, BIT_GEMM_ROWS_RESID=0).
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { convGeom, rng, TOL, violation } from './helpers.js';

function withStoreOff<T>(make: () => T): T {
  const old = process.env.BIT_WASM_RESADD_STORE;
  process.env.BIT_WASM_RESADD_STORE = '0';
  try {
    return make();
  } finally {
    if (old === undefined) delete process.env.BIT_WASM_RESADD_STORE;
    else process.env.BIT_WASM_RESADD_STORE = old;
  }
}

/** `f()` with env `name` = value (the GEMM reads BIT_GEMM_ROWS* per call), then the previous value restored. */
function withEnv<T>(name: string, value: string, f: () => T): T {
  const old = process.env[name];
  process.env[name] = value;
  try {
    return f();
  } finally {
    if (old === undefined) delete process.env[name];
    else process.env[name] = old;
  }
}

const ref = createReferenceBackend();
const configs = [
  { label: 't1', be: createWasmBackend({ threads: 1, minParallelWork: 0 }) },
  { label: 't2', be: createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false }) },
  { label: 't2-packed-A', be: createWasmBackend({ threads: 2, minParallelWork: 0, gemmInPlaceMaxN: 0 }) },
  { label: 't2-store-off', be: withStoreOff(() => createWasmBackend({ threads: 2, minParallelWork: 0 })) },
];
afterAll(() => {
  for (const c of configs) c.be.dispose();
});

interface Inputs {
  readonly x: number[];
  readonly w: number[];
  readonly r: number[];
}

function inputs(g: Conv2dGeom, seed: number, special: boolean): Inputs {
  const gen = rng(seed);
  const r = gen(g.n * g.cout * g.oh * g.ow);
  if (special) {
    // a few non-finite values and a -0 in the residual: the fused store must propagate them as the add does
    const vals = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0];
    for (let i = 0; i < r.length; i += 7) r[i] = vals[(i / 7) % vals.length]!;
  }
  return { x: gen(g.n * g.cin * g.h * g.w), w: gen(g.cout * (g.cin / g.groups) * g.kh * g.kw), r };
}

/** [conv2dAdd, conv2d then binary add] on `b`, as float64 arrays. */
function run(b: Backend, g: Conv2dGeom, d: Inputs, dtype: 'float32' | 'float64'): [Float64Array, Float64Array] {
  const [x, w, r] = [d.x, d.w, d.r].map((v) => b.upload(v, dtype));
  const fused = b.conv2dAdd(x!, w!, r!, g);
  const y = b.conv2d(x!, w!, g);
  const shape = [g.n, g.cout, g.oh, g.ow];
  const strides = [g.cout * g.oh * g.ow, g.oh * g.ow, g.ow, 1];
  const v = (buf: typeof y) => ({ buf, shape, strides, offset: 0 });
  const sep = b.binary('add', v(y), v(r!), shape);
  const out: [Float64Array, Float64Array] = [Float64Array.from(b.readSync(fused)), Float64Array.from(b.readSync(sep))];
  for (const t of [x, w, r, fused, y, sep]) b.free(t!);
  return out;
}

function sameValues(a: Float64Array, e: Float64Array): number {
  if (a.length !== e.length) return -2;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], e[i])) return i;
  return -1;
}

function check(g: Conv2dGeom, seed: number, special = false): void {
  const d = inputs(g, seed, special);
  const [want, sep] = run(ref, g, d, 'float64');
  expect(sameValues(want, sep), `reference conv2dAdd vs conv2d + add ${JSON.stringify(g)}`).toBe(-1);
  for (const { label, be } of configs) {
    const [got, plain] = run(be, g, d, 'float32');
    expect(
      sameValues(got, plain),
      `${label}: conv2dAdd vs conv2d + add, first differing index, ${JSON.stringify(g)}`,
    ).toBe(-1);
    if (!special) expect(violation(got, want, ...TOL.linalg), `${label} vs reference ${JSON.stringify(g)}`).toBe(0);
  }
}

describe('wasm conv2dAdd: the residual add in the conv store', () => {
  it('BiT unit shapes: 1x1 conv3 on 32x32 .. 4x4 maps (fused), 7x7 and 1x1 maps (add pass), K over KC blocks', () => {
    const shapes = [
      { n: 2, cin: 16, h: 32, w: 32, cout: 64, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 3, cin: 300, h: 8, w: 8, cout: 37, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 4, cin: 520, h: 4, w: 4, cout: 12, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 2, cin: 24, h: 2, w: 2, cout: 9, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 2, cin: 40, h: 7, w: 7, cout: 33, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 5, cin: 20, h: 1, w: 1, cout: 36, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 1, cin: 30, h: 5, w: 5, cout: 10, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      // rows of >= 1 KiB (the residual store walks M strips outer): K over two KC blocks with edge rows, and one
      // image of 17x17 (a partial last column strip through the scratch tile)
      { n: 2, cin: 300, h: 16, w: 16, cout: 37, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 1, cin: 20, h: 17, w: 17, cout: 10, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      // im2col GEMMs (strided 3x3, 1x1/2), a thin-input stem conv, Winograd 3x3/1, a grouped conv
      { n: 2, cin: 8, h: 16, w: 16, cout: 12, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
      { n: 2, cin: 8, h: 16, w: 16, cout: 20, kh: 1, kw: 1, stride: 2, pad: 0, groups: 1 },
      { n: 2, cin: 3, h: 20, w: 20, cout: 8, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
      { n: 2, cin: 32, h: 16, w: 16, cout: 32, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
      { n: 2, cin: 8, h: 6, w: 6, cout: 12, kh: 3, kw: 3, stride: 1, pad: 1, groups: 4 },
    ];
    for (const [i, s] of shapes.entries()) check(convGeom(s), 10 + i);
  });

  it('5x8 kernels (M >= 40, N >= 384): macroRowsR equals conv2d + add and the 4x8 store, bit for bit', () => {
    // rows of >= 1 KiB (strips outer) and shorter (columns outer), M off the 5-row tile, K over 1..3 KC blocks, a
    // partial last column strip (batch 1, 21x21), tiles straddling two 2x2 images (microRowsHR)
    const shapes = [
      { n: 2, cin: 64, h: 16, w: 16, cout: 43, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 8, cin: 300, h: 8, w: 8, cout: 41, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 1, cin: 520, h: 21, w: 21, cout: 47, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 100, cin: 300, h: 2, w: 2, cout: 45, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
    ];
    for (const { be } of configs)
      expect((be as { relaxed?: boolean }).relaxed, 'relaxed SIMD (5x8 kernels)').toBe(true);
    for (const [i, s] of shapes.entries()) {
      const g = convGeom(s);
      check(g, 70 + i);
      const d = inputs(g, 70 + i, i === 1);
      for (const { label, be } of configs.slice(0, 3)) {
        const [rows5] = run(be, g, d, 'float32');
        const [rows4] = withEnv('BIT_GEMM_ROWS', '4', () => run(be, g, d, 'float32'));
        const [resid4] = withEnv('BIT_GEMM_ROWS_RESID', '0', () => run(be, g, d, 'float32'));
        expect(sameValues(rows5, rows4), `${label}: 5x8 vs BIT_GEMM_ROWS=4, ${JSON.stringify(g)}`).toBe(-1);
        expect(sameValues(rows5, resid4), `${label}: 5x8 vs BIT_GEMM_ROWS_RESID=0, ${JSON.stringify(g)}`).toBe(-1);
      }
    }
  });

  it('random shapes: same values as conv2d then add, and the reference within linalg', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 4 }),
          cin: fc.integer({ min: 1, max: 300 }),
          cout: fc.integer({ min: 1, max: 23 }),
          hw: fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 12, 16),
          k: fc.constantFrom(1, 1, 3),
          stride: fc.constantFrom(1, 1, 2),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ n, cin, cout, hw, k, stride, seed }) => {
          check(convGeom({ n, cin, h: hw, w: hw, cout, kh: k, kw: k, stride, pad: k >> 1, groups: 1 }), seed);
        },
      ),
      { numRuns: 30, seed: 2424 },
    );
  });

  it('NaN, +-Infinity and -0 in the residual: the same values as the separate add', () => {
    for (const [i, s] of [
      { n: 2, cin: 12, h: 8, w: 8, cout: 10, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 3, cin: 270, h: 4, w: 4, cout: 5, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 2, cin: 6, h: 7, w: 7, cout: 6, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
    ].entries()) {
      check(convGeom(s), 50 + i, true);
    }
  });

  it('rejects a residual smaller than the output with ShapeError', () => {
    const g = convGeom({ n: 2, cin: 4, h: 4, w: 4, cout: 4, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 });
    const be = configs[0]!.be;
    const [x, w, r] = [g.n * 64, 16, 10].map((n) => be.upload(new Float32Array(n), 'float32'));
    expect(() => be.conv2dAdd(x!, w!, r!, g)).toThrow(/conv2dAdd/);
    for (const t of [x, w, r]) be.free(t!);
  });
});
