/**
 * The wasm backend's Winograd path for 3x3 stride-1 pad-1 convs (src/tensor/backends/wasm/winograd.ts), forward
 * and grad-input, F(2x2,3x3) and F(4x4,3x3) forced and the auto rule:
 * - the stated error bound |y - y64| <= C * eps32 * (|w| conv |x|) per element against the float64 reference
 *   (C = 6 for F2, 100 for F4; measured maxima 2.6 and 45) on BiT's 3x3 layer shapes (R50x1 at 128 and 32 px,
 *   bit-tiny / bit-small; batches cut to keep the float64 oracle cheap) and on adversarial ranges: large-mean
 *   inputs, channel magnitudes spread over 1e-3..1e3, values near 1e30;
 * - overflow in the transforms (inputs near 3e37, where the direct sums stay finite) and Inf/NaN inputs give
 *   exactly the GEMM path's outputs (the documented fallback), NaN where it has NaN;
 * - the weight-transform cache is never used stale: after sgdUpdate / fill / copy into the weights, or freeing
 *   them and uploading new ones, forward and grad-input match the reference on the new values;
 * - threads 1 and 2 give the same bits; batches split into several image chunks and random shapes (fast-check)
 *   match the GEMM path / the reference within TOL.linear.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import type { Backend, BackendBuffer, Conv2dGeom } from '../../../../src/tensor/backend.js';
import * as ref from '../../../../src/tensor/backends/reference/linalg.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { parseWinogradMode, winogradVariant } from '../../../../src/tensor/backends/wasm/winograd.js';
import { TOL } from '../../../tolerances.js';
import { rng, violation } from './helpers.js';
import { abs, convGeomHW, EPS, f64, winogradBackends, winoShapes } from './winograd-helpers.js';

const BOUND = { f2: 16, f4: 100 } as const;

const be = winogradBackends(['off', 'f2', 'f4', 'auto'] as const);

const refConv = (x: ArrayLike<number>, w: ArrayLike<number>, g: Conv2dGeom) =>
  ref.conv2d(f64(x), f64(w), g, 'float64') as ArrayLike<number>;
const refGradInput = (dy: ArrayLike<number>, w: ArrayLike<number>, g: Conv2dGeom) =>
  ref.conv2dGradInput(f64(dy), f64(w), g, 'float64') as ArrayLike<number>;

function run(b: Backend, op: 'fwd' | 'gi', a: Float32Array, w: Float32Array, g: Conv2dGeom): Float32Array {
  const A = b.upload(a, 'float32');
  const W = b.upload(w, 'float32');
  const out = op === 'fwd' ? b.conv2d(A, W, g) : b.conv2dGradInput(A, W, g);
  const r = Float32Array.from(b.readSync(out));
  for (const buf of [A, W, out]) b.free(buf);
  return r;
}

/** Largest |got - want| / (eps * S) (S the |w| conv |x| bound); Infinity on a non-finite got. */
function boundRatio(got: ArrayLike<number>, want: ArrayLike<number>, S: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i]! - want[i]!);
    if (!Number.isFinite(e)) return Number.POSITIVE_INFINITY;
    if (e > 0) worst = Math.max(worst, e / (EPS * S[i]!));
  }
  return worst;
}

/** Check fwd and gi of every Winograd backend against the bound on inputs from `gen`. */
function checkBound(g: Conv2dGeom, x: Float32Array, w: Float32Array, dy: Float32Array) {
  const yRef = refConv(x, w, g);
  const ySum = refConv(abs(x), abs(w), g);
  const dxRef = refGradInput(dy, w, g);
  const dxSum = refGradInput(abs(dy), abs(w), g);
  for (const mode of ['f2', 'f4'] as const) {
    const rf = boundRatio(run(be[mode], 'fwd', x, w, g), yRef, ySum);
    const rg = boundRatio(run(be[mode], 'gi', dy, w, g), dxRef, dxSum);
    // the ratios ride along so a failure shows them
    expect({ mode, fwd: rf <= BOUND[mode], gi: rg <= BOUND[mode], rf, rg }).toEqual({
      mode,
      fwd: true,
      gi: true,
      rf,
      rg,
    });
  }
}

const BIT_SHAPES: [string, Conv2dGeom][] = [
  ['R50x1 128px s1 64@32', convGeomHW(1, 64, 32, 32, 64, 3, 1, 1)],
  ['R50x1 128px s2 128@16', convGeomHW(1, 128, 16, 16, 128, 3, 1, 1)],
  ['R50x1 128px s3 256@8', convGeomHW(2, 256, 8, 8, 256, 3, 1, 1)],
  ['R50x1 128px s4 512@4', convGeomHW(1, 512, 4, 4, 512, 3, 1, 1)],
  ['R50x1 32px s1 64@8', convGeomHW(2, 64, 8, 8, 64, 3, 1, 1)],
  ['R50x1 32px s2 128@4', convGeomHW(2, 128, 4, 4, 128, 3, 1, 1)],
  ['R50x1 32px s3 256@2', convGeomHW(1, 256, 2, 2, 256, 3, 1, 1)],
  ['bit-tiny 16@8', convGeomHW(4, 16, 8, 8, 16, 3, 1, 1)],
  ['bit-small 32@8 / 64@4', convGeomHW(2, 32, 8, 8, 64, 3, 1, 1)],
];

const sizes = (g: Conv2dGeom) => ({ x: g.n * g.cin * g.h * g.w, w: g.cout * g.cin * 9, y: g.n * g.cout * g.h * g.w });

describe('wasm Winograd 3x3: error bound against the float64 reference', () => {
  it.each(BIT_SHAPES)('%s: uniform inputs, He-scaled weights', (_, g) => {
    const r = rng(7);
    const z = sizes(g);
    const ws = 1 / Math.sqrt(9 * g.cin);
    checkBound(
      g,
      Float32Array.from(r(z.x)),
      Float32Array.from(r(z.w), (v) => v * ws),
      Float32Array.from(r(z.y)),
    );
  });

  it('large-mean inputs (100 + U(-1, 1)), mixed channel magnitudes (1e-3..1e3), values near 1e30', () => {
    const g = convGeomHW(2, 24, 9, 10, 20, 3, 1, 1); // ragged tiles on both axes
    const r = rng(11);
    const z = sizes(g);
    const mean = Float32Array.from(r(z.x), (v) => 100 + v);
    const hw = g.h * g.w;
    const scale = (c: number) => 10 ** (((c * 7) % 13) / 2 - 3);
    const mixed = Float32Array.from(r(z.x), (v, i) => v * scale(Math.floor(i / hw) % g.cin));
    const mixedW = Float32Array.from(r(z.w), (v, i) => v * scale((Math.floor(i / 9) % g.cin) + 3));
    const huge = Float32Array.from(r(z.x), (v) => v * 1e30);
    const w = Float32Array.from(r(z.w), (v) => v / 12);
    checkBound(
      g,
      mean,
      w,
      Float32Array.from(r(z.y), (v) => 100 + v),
    );
    checkBound(
      g,
      mixed,
      mixedW,
      Float32Array.from(r(z.y), (v, i) => v * scale(Math.floor(i / hw) % g.cout)),
    );
    checkBound(
      g,
      huge,
      w,
      Float32Array.from(r(z.y), (v) => v * 1e30),
    );
  });
});

describe('wasm Winograd 3x3: non-finite values take the GEMM path', () => {
  const g = convGeomHW(2, 16, 12, 12, 16, 3, 1, 1);
  const r = rng(5);
  const z = sizes(g);
  const w = Float32Array.from(r(z.w), (v) => v / 12);
  /** Same bits (NaN matching NaN) as the 'off' backend, for each of `modes`. */
  const sameAsGemm = (op: 'fwd' | 'gi', a: Float32Array, modes: readonly ('f2' | 'f4' | 'auto')[]) => {
    const want = run(be.off, op, a, w, g);
    for (const mode of modes) {
      const got = run(be[mode], op, a, w, g);
      let diff = 0;
      for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) diff++;
      expect({ mode, op, diff }).toEqual({ mode, op, diff: 0 });
    }
    return want;
  };

  it('Inf and NaN pixels: outputs equal the direct path bit for bit (finite wherever it is finite)', () => {
    for (const op of ['fwd', 'gi'] as const) {
      const a = Float32Array.from(r(op === 'fwd' ? z.x : z.y));
      a[5 * 12 + 5] = Number.POSITIVE_INFINITY; // image 0, channel 0, (5, 5)
      a[a.length - 1] = Number.NaN; // last image, last channel, corner
      const y = sameAsGemm(op, a, ['f2', 'f4', 'auto']);
      // the direct path keeps outputs finite outside the 3x3 neighbourhoods of the two pixels
      expect(Number.isFinite(y[0]!)).toBe(true);
      expect(Number.isNaN(y[y.length - 1]!)).toBe(true);
    }
  });

  it('inputs near 3e37: F4 transforms overflow (the direct result, bit for bit), F2 stays finite and in bound', () => {
    for (const op of ['fwd', 'gi'] as const) {
      const a = Float32Array.from(r(op === 'fwd' ? z.x : z.y), (v) => 3e37 * v);
      const y = sameAsGemm(op, a, ['f4']);
      expect(y.every(Number.isFinite)).toBe(true);
      const want = op === 'fwd' ? refConv(a, w, g) : refGradInput(a, w, g);
      const S = op === 'fwd' ? refConv(abs(a), abs(w), g) : refGradInput(abs(a), abs(w), g);
      expect(boundRatio(run(be.f2, op, a, w, g), want, S)).toBeLessThanOrEqual(BOUND.f2);
    }
  });
});

describe('wasm Winograd 3x3: the weight-transform cache is never stale', () => {
  const g = convGeomHW(2, 8, 8, 8, 12, 3, 1, 1);
  const r = rng(3);
  const z = sizes(g);
  const x = Float32Array.from(r(z.x));
  const dy = Float32Array.from(r(z.y));
  const close = (got: ArrayLike<number>, want: ArrayLike<number>) =>
    violation(got, want, TOL.linear.atol, TOL.linear.rtol);

  it.each(['f2', 'f4'] as const)(
    '%s: sgdUpdate, fill, copy into the weights and free/upload all invalidate',
    (mode) => {
      const b = createWasmBackend({ threads: 1, winograd: mode });
      try {
        const X = b.upload(x, 'float32');
        const DY = b.upload(dy, 'float32');
        const check = (W: BackendBuffer) => {
          const wv = b.readSync(W);
          for (let k = 0; k < 2; k++) {
            // the second round reads the transforms cached by the first
            const y = b.conv2d(X, W, g);
            const dx = b.conv2dGradInput(DY, W, g);
            expect(close(b.readSync(y), refConv(x, wv, g))).toBe(0);
            expect(close(b.readSync(dx), refGradInput(dy, wv, g))).toBe(0);
            b.free(y);
            b.free(dx);
          }
        };
        let W = b.upload(Float32Array.from(r(z.w)), 'float32');
        check(W);
        const grad = b.upload(Float32Array.from(r(z.w)), 'float32');
        const mom = b.alloc(z.w, 'float32');
        const sgd = { lr: 0.5, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0, firstStep: true };
        b.sgdUpdate(W, grad, mom, sgd);
        check(W);
        b.fill(W, 0.25);
        check(W);
        const src = b.upload(Float32Array.from(r(z.w)), 'float32');
        const view = (buf: BackendBuffer) => ({ buf, shape: [z.w], strides: [1], offset: 0 });
        b.copy(view(src), view(W));
        check(W);
        b.free(W);
        W = b.upload(Float32Array.from(r(z.w)), 'float32'); // same size: typically the freed block again
        check(W);
        for (const buf of [X, DY, W, grad, mom, src]) b.free(buf);
        expect(b.liveBuffers()).toBe(0);
      } finally {
        b.dispose();
      }
    },
  );
});

describe('wasm Winograd 3x3: schedule, random shapes, switch', () => {
  it('threads 1 and 2 (every op through the workers) give the same bits', () => {
    const g = convGeomHW(3, 20, 10, 11, 12, 3, 1, 1);
    const r = rng(9);
    const z = sizes(g);
    const x = Float32Array.from(r(z.x));
    const w = Float32Array.from(r(z.w));
    const dy = Float32Array.from(r(z.y));
    for (const mode of ['f2', 'f4'] as const) {
      const t1 = createWasmBackend({ threads: 1, winograd: mode });
      const t2 = createWasmBackend({ threads: 2, winograd: mode, minParallelWork: 0, adaptiveThreads: false });
      try {
        expect(run(t2, 'fwd', x, w, g)).toEqual(run(t1, 'fwd', x, w, g));
        expect(run(t2, 'gi', dy, w, g)).toEqual(run(t1, 'gi', dy, w, g));
      } finally {
        t1.dispose();
        t2.dispose();
      }
    }
  });

  it('the a*a GEMMs batched in one pool call (gemmBatch) give the bits of one gemm each (BIT_WINO_BATCH=0)', () => {
    const forced = (mode: 'f2' | 'f4') =>
      createWasmBackend({ threads: 2, winograd: mode, minParallelWork: 0, adaptiveThreads: false });
    const t2 = { f2: forced('f2'), f4: forced('f4') };
    const saved = process.env.BIT_WINO_BATCH;
    try {
      fc.assert(
        fc.property(
          fc.record({
            n: fc.integer({ min: 1, max: 4 }),
            cin: fc.integer({ min: 1, max: 40 }),
            cout: fc.integer({ min: 1, max: 40 }),
            h: fc.integer({ min: 2, max: 20 }),
            w: fc.integer({ min: 2, max: 20 }),
            mode: fc.constantFrom('f2', 'f4'),
            seed: fc.integer({ min: 0, max: 1000 }),
          }),
          ({ n, cin, cout, h, w, mode, seed }) => {
            const b = be[mode];
            const g = convGeomHW(n, cin, h, w, cout, 3, 1, 1);
            const r = rng(seed);
            const z = sizes(g);
            const [x, wt, dy] = [z.x, z.w, z.y].map((len) => Float32Array.from(r(len)));
            const both = (bk: typeof b) =>
              ['0', '1'].map((v) => {
                process.env.BIT_WINO_BATCH = v;
                return [run(bk, 'fwd', x!, wt!, g), run(bk, 'gi', dy!, wt!, g)];
              });
            for (const [off, on] of [both(b), both(t2[mode])]) expect(on).toEqual(off);
          },
        ),
        { numRuns: 12 },
      );
    } finally {
      if (saved === undefined) delete process.env.BIT_WINO_BATCH;
      else process.env.BIT_WINO_BATCH = saved;
      t2.f2.dispose();
      t2.f4.dispose();
    }
  });

  it('batches split into image chunks (64 ch at 64x64: 5 images as 3 + 2 per F4 chunk, 2 + 2 + 1 per F2 chunk) match the GEMM path', () => {
    const g = convGeomHW(5, 64, 64, 64, 64, 3, 1, 1);
    const r = rng(13);
    const z = sizes(g);
    const x = Float32Array.from(r(z.x));
    const w = Float32Array.from(r(z.w), (v) => v / 24);
    const dy = Float32Array.from(r(z.y));
    const y0 = run(be.off, 'fwd', x, w, g);
    const dx0 = run(be.off, 'gi', dy, w, g);
    for (const mode of ['f2', 'f4'] as const) {
      const vf = violation(run(be[mode], 'fwd', x, w, g), y0, TOL.linear.atol, TOL.linear.rtol);
      const vg = violation(run(be[mode], 'gi', dy, w, g), dx0, TOL.linear.atol, TOL.linear.rtol);
      expect({ mode, vf, vg }).toEqual({ mode, vf: 0, vg: 0 });
    }
  });

  it('random shapes: F2 and F4 match the reference within TOL.linear', () => {
    fc.assert(
      fc.property(winoShapes, ({ g, seed }) => {
        const r = rng(seed);
        const z = sizes(g);
        const x = Float32Array.from(r(z.x));
        const wt = Float32Array.from(r(z.w));
        const dy = Float32Array.from(r(z.y));
        for (const mode of ['f2', 'f4'] as const) {
          expect(violation(run(be[mode], 'fwd', x, wt, g), refConv(x, wt, g), TOL.linear.atol, TOL.linear.rtol)).toBe(
            0,
          );
          expect(
            violation(run(be[mode], 'gi', dy, wt, g), refGradInput(dy, wt, g), TOL.linear.atol, TOL.linear.rtol),
          ).toBe(0);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('BIT_WINOGRAD values and the auto rule', () => {
    expect([undefined, '', 'auto', '1', '0', 'off', 'f2', 'f4'].map(parseWinogradMode)).toEqual([
      'auto',
      'auto',
      'auto',
      'auto',
      'off',
      'off',
      'f2',
      'f4',
    ]);
    expect(() => parseWinogradMode('f6')).toThrow(/BIT_WINOGRAD=f6/);
    const prev = process.env.BIT_WINOGRAD;
    process.env.BIT_WINOGRAD = 'fast';
    try {
      expect(() => createWasmBackend({ threads: 1 })).toThrow(BackendError);
    } finally {
      if (prev === undefined) delete process.env.BIT_WINOGRAD;
      else process.env.BIT_WINOGRAD = prev;
    }
    const m = (g: Conv2dGeom) => winogradVariant('auto', g)?.m ?? 0;
    expect(m(convGeomHW(8, 64, 32, 32, 64, 3, 1, 1))).toBe(4);
    expect(m(convGeomHW(8, 16, 8, 8, 16, 3, 1, 1))).toBe(2); // bit-tiny: narrow layers take F2
    expect(m(convGeomHW(32, 32, 8, 8, 32, 3, 1, 1))).toBe(4); // bit-small's 32-channel layer at 8x8
    expect(m(convGeomHW(8, 512, 4, 4, 512, 3, 1, 1))).toBe(2); // 32 2x2 tiles, deep GEMMs (K = 512)
    expect(m(convGeomHW(32, 256, 2, 2, 256, 3, 1, 1))).toBe(2); // likewise on a 2x2 map
    expect(m(convGeomHW(32, 128, 2, 2, 128, 3, 1, 1))).toBe(0); // 32 tiles, K = 128: too few for the transforms
    expect(m(convGeomHW(4, 512, 4, 4, 512, 3, 1, 1))).toBe(0); // 16 tiles
    expect(m(convGeomHW(128, 128, 2, 2, 128, 3, 1, 1))).toBe(2); // 128 tiles on a 2x2 map
    expect(m(convGeomHW(1, 64, 1, 1, 64, 3, 1, 1))).toBe(0); // 1x1 map: the single-tap path
    expect(m(convGeomHW(8, 64, 32, 32, 64, 3, 2, 1))).toBe(0); // stride 2
    expect(m(convGeomHW(8, 64, 32, 32, 64, 1, 1, 0))).toBe(0); // 1x1 kernel
    expect(winogradVariant('off', convGeomHW(8, 64, 32, 32, 64, 3, 1, 1))).toBeNull();
  });
});
