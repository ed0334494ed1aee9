/**
 * The GEMM levers against the plain path, bit for bit (both are pure data movement or the same FMA sequence):
 * - narrow N reads A (conv weights, matmul's left operand) in place instead of packing it (gemm.ts `inPlaceA`,
 *   kernels `macroS`/`microS`): M not a multiple of the 4-row tile (the edge rows re-read row M-1), K across
 *   several KC blocks, transposed A for grad-input and transA. There is no cached copy of the weights: a weight
 *   updated in place (sgdUpdate) is read as updated. Grad-weight's dY is read in place when its images cut K only
 *   at multiples of KC.
 * - B panels of column-contiguous sources packed K rows at a time (`pack8r`), with a partial last strip.
 * - the 5x8 kernels over A packed in 5-row strips (kernels-gemm-rows.ts, env BIT_GEMM_ROWS per call), M off the
 *   5-row tile, also where A could be read in place (used at N >= 384).
 * On random shapes (fast-check) every lever configuration, on 1 and 2 threads with every op forced through the
 * workers, must equal the path with both levers off, which must match the float64 reference.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Conv2dGeom, MatmulGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { type ConvKind, convGeom, rng, runConv, TOL, violation } from './helpers.js';

const ref = createReferenceBackend();
const packed = createWasmBackend({ threads: 1, minParallelWork: 0, gemmInPlaceMaxN: 0, gemmPackRows: false });
const levers = [
  createWasmBackend({ threads: 1, minParallelWork: 0, gemmInPlaceMaxN: 0, gemmPackRows: true }),
  createWasmBackend({ threads: 1, minParallelWork: 0, gemmInPlaceMaxN: 1 << 30, gemmPackRows: false }),
  createWasmBackend({
    threads: 2,
    minParallelWork: 0,
    adaptiveThreads: false,
    gemmInPlaceMaxN: 1 << 30,
    gemmPackRows: true,
  }),
];
afterAll(() => {
  for (const b of [packed, ...levers]) b.dispose();
});

function conv(b: Backend, kind: ConvKind, g: Conv2dGeom, seed: number): Float32Array {
  const r = rng(seed);
  return runConv(
    b,
    kind,
    g,
    r(g.n * g.cin * g.h * g.w),
    r(g.cout * g.cin * g.kh * g.kw),
    r(g.n * g.cout * g.oh * g.ow),
  );
}

function matmul(b: Backend, g: MatmulGeom, seed: number): Float32Array {
  const r = rng(seed);
  const A = b.upload(Float32Array.from(r(g.batch * g.m * g.k)), 'float32');
  const B = b.upload(Float32Array.from(r(g.batch * g.k * g.n)), 'float32');
  const out = b.matmul(A, B, g);
  const res = Float32Array.from(b.readSync(out));
  for (const t of [A, B, out]) b.free(t);
  return res;
}

const bitsEqual = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** `f()` with env BIT_GEMM_ROWS = rows (read per GEMM call), then the previous value restored. */
function withRows<T>(rows: '4' | '5', f: () => T): T {
  const saved = process.env.BIT_GEMM_ROWS;
  process.env.BIT_GEMM_ROWS = rows;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.BIT_GEMM_ROWS;
    else process.env.BIT_GEMM_ROWS = saved;
  }
}

/**
 * Every lever configuration, with the 4x8 and the 5x8 kernels, equals the plain 4x8 path bit for bit, which
 * matches the reference within `linalg`.
 */
function check(run: (b: Backend) => Float32Array, label: string): void {
  const want = withRows('4', () => run(packed));
  const exact = run(ref);
  expect(violation(want, exact, ...TOL.linalg), `${label}: packed vs reference`).toBe(0);
  expect(
    bitsEqual(
      withRows('5', () => run(packed)),
      want,
    ),
    `${label}: 5-row kernels vs plain`,
  ).toBe(true);
  for (const rows of ['4', '5'] as const) {
    for (const [i, b] of levers.entries()) {
      const got = withRows(rows, () => run(b));
      expect(bitsEqual(got, want), `${label}: levers config ${i} (t${b.threads}, rows ${rows}) vs plain`).toBe(true);
    }
  }
}

describe('wasm GEMM levers: A read in place, B packed by rows', () => {
  it('convs with narrow N (small maps): forward, grad-input, grad-weight equal the packed path bit for bit', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 6 }),
          cin: fc.integer({ min: 1, max: 80 }),
          cout: fc.integer({ min: 1, max: 23 }),
          hw: fc.constantFrom(1, 2, 3, 4, 5, 8),
          k: fc.constantFrom(1, 3),
          stride: fc.constantFrom(1, 2),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ n, cin, cout, hw, k, stride, seed }) => {
          const g = convGeom({ n, cin, h: hw, w: hw, cout, kh: k, kw: k, stride, pad: k >> 1, groups: 1 });
          for (const kind of ['conv2d', 'conv2dGradInput', 'conv2dGradWeight'] as const) {
            check((b) => conv(b, kind, g, seed), `${kind} ${JSON.stringify(g)}`);
          }
        },
      ),
      { numRuns: 25, seed: 24 },
    );
  });

  it('5x8 kernels (N >= 384, M >= 40): M off the tile, A in place or transposed, K over KC blocks, 2x2 maps', () => {
    const convs = [
      convGeom({ n: 8, cin: 37, h: 8, w: 8, cout: 43, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 }),
      convGeom({ n: 2, cin: 13, h: 16, w: 16, cout: 11, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }),
      convGeom({ n: 100, cin: 300, h: 2, w: 2, cout: 7, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 }),
      convGeom({ n: 3, cin: 9, h: 24, w: 24, cout: 6, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 }),
    ];
    for (const [i, g] of convs.entries()) {
      for (const kind of ['conv2d', 'conv2dGradInput', 'conv2dGradWeight'] as const) {
        check((b) => conv(b, kind, g, 200 + i), `${kind} ${JSON.stringify(g)}`);
      }
    }
    for (const [i, g] of [
      { batch: 1, m: 47, n: 400, k: 300, transA: false, transB: false },
      { batch: 2, m: 41, n: 391, k: 17, transA: true, transB: true },
    ].entries()) {
      check((b) => matmul(b, g, 300 + i), `matmul ${JSON.stringify(g)}`);
    }
  });

  it('grad-weight reads dY in place when its images cut K at multiples of KC (maps of 16x16 and 32x16)', () => {
    const shapes = [
      convGeom({ n: 3, cin: 5, h: 16, w: 16, cout: 7, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 }),
      convGeom({ n: 2, cin: 9, h: 16, w: 16, cout: 6, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }),
      convGeom({ n: 2, cin: 6, h: 32, w: 16, cout: 5, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 }),
    ];
    for (const [i, g] of shapes.entries()) {
      check((b) => conv(b, 'conv2dGradWeight', g, 100 + i), `conv2dGradWeight ${JSON.stringify(g)}`);
    }
  });

  it('matmul with K over several KC blocks, M and N off the tile sizes, transposed A', () => {
    fc.assert(
      fc.property(
        fc.record({
          m: fc.integer({ min: 1, max: 13 }),
          n: fc.integer({ min: 1, max: 40 }),
          k: fc.integer({ min: 1, max: 700 }),
          batch: fc.integer({ min: 1, max: 2 }),
          transA: fc.boolean(),
          transB: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        (p) => {
          const g: MatmulGeom = { batch: p.batch, m: p.m, n: p.n, k: p.k, transA: p.transA, transB: p.transB };
          check((b) => matmul(b, g, p.seed), `matmul ${JSON.stringify(g)}`);
        },
      ),
      { numRuns: 25, seed: 7 },
    );
  });

  it('reads weights updated in place (sgdUpdate) as updated: no stale copy', () => {
    const g = convGeom({ n: 4, cin: 40, h: 2, w: 2, cout: 9, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 });
    const r = rng(5);
    const [xs, ws, gs] = [r(g.n * g.cin * 4), r(g.cout * g.cin), r(g.cout * g.cin)];
    const outs = [ref, levers[2]!].map((b) => {
      const x = b.upload(Float32Array.from(xs), 'float32');
      const w = b.upload(Float32Array.from(ws), 'float32');
      const grad = b.upload(Float32Array.from(gs), 'float32');
      const mom = b.alloc(ws.length, 'float32');
      const y0 = b.conv2d(x, w, g);
      b.sgdUpdate(w, grad, mom, {
        lr: 0.5,
        momentum: 0,
        dampening: 0,
        nesterov: false,
        weightDecay: 0,
        firstStep: true,
      });
      const y1 = b.conv2d(x, w, g);
      const res = [Float32Array.from(b.readSync(y0)), Float32Array.from(b.readSync(y1))];
      for (const t of [x, w, grad, mom, y0, y1]) b.free(t);
      return res;
    });
    const [[r0, r1], [w0, w1]] = outs as [Float32Array[], Float32Array[]];
    expect(violation(w0!, r0!, ...TOL.linalg)).toBe(0);
    expect(violation(w1!, r1!, ...TOL.linalg)).toBe(0);
    expect(violation(w1!, r0!, ...TOL.linalg)).toBeGreaterThan(0); // the update changed the output
  });
});
