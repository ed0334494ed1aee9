/**
 * The wasm backend's Winograd grad-weight for 3x3 stride-1 pad-1 convs
 * (src/tensor/backends/wasm/winograd-grad-weight.ts), F(2x2,3x3) and F(4x4,3x3) forced and the auto rule:
 * - the stated error bound |dw - dw64| <= C * eps32 * Sf per element against the float64 reference, Sf the
 *   filter's sum over its 9 taps of S, the same correlation on |dy| and |x| (C = 4 for F2, 40 for F4; measured
 *   maxima 1.1 and 15) on BiT's 3x3 layer shapes (batches cut to keep the float64 oracle cheap), random shapes
 *   (fast-check) and adversarial ranges: large-mean inputs, channel magnitudes spread over 1e-3..1e3, products
 *   near 1e30;
 * - overflow in the transforms and Inf/NaN inputs give exactly the GEMM path's dw (the documented fallback);
 * - threads 1 and 2 give the same bits; batches split into several image chunks stay within the bound;
 *   BIT_WINO_WGRAD=0 gives the GEMM path's bits.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Conv2dGeom } from '../../../../src/tensor/backend.js';
import * as ref from '../../../../src/tensor/backends/reference/linalg.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { winogradGradWeightVariant } from '../../../../src/tensor/backends/wasm/winograd-grad-weight.js';
import { rng } from './helpers.js';
import { abs, convGeomHW, EPS, f64, winogradBackends, winoShapes } from './winograd-helpers.js';

/** Stated bounds (C in C eps Sf); measured maxima over this file's cases: F2 1.1, F4 15 (BIT_WGRAD_REPORT=1). */
const BOUND = { f2: 4, f4: 40 } as const;

const be = winogradBackends(['off', 'f2', 'f4'] as const);

const refGw = (x: ArrayLike<number>, dy: ArrayLike<number>, g: Conv2dGeom) =>
  ref.conv2dGradWeight(f64(x), f64(dy), g, 'float64') as ArrayLike<number>;

function gw(b: Backend, x: Float32Array, dy: Float32Array, g: Conv2dGeom): Float32Array {
  const X = b.upload(x, 'float32');
  const DY = b.upload(dy, 'float32');
  const out = b.conv2dGradWeight(X, DY, g);
  const r = Float32Array.from(b.readSync(out));
  for (const buf of [X, DY, out]) b.free(buf);
  return r;
}

/**
 * Largest |got - want| / (eps * Sf) with Sf the filter's S summed over its 9 taps (the inverse transform mixes
 * all taps of a filter, so a tap that sees few pixels, e.g. a corner tap on a 2x2 map, shares the rounding of
 * the others); Infinity on a non-finite got.
 */
function boundRatio(got: ArrayLike<number>, want: ArrayLike<number>, S: ArrayLike<number>): number {
  let worst = 0;
  for (let q = 0; q < got.length; q += 9) {
    let sf = 0;
    for (let k = 0; k < 9; k++) sf += S[q + k]!;
    for (let k = q; k < q + 9; k++) {
      const e = Math.abs(got[k]! - want[k]!);
      if (!Number.isFinite(e)) return Number.POSITIVE_INFINITY;
      if (e > 0) worst = Math.max(worst, e / (EPS * sf));
    }
  }
  return worst;
}

const seen = { f2: 0, f4: 0 };
afterAll(() => {
  if (process.env.BIT_WGRAD_REPORT) console.log(`winograd grad-weight: max C seen ${JSON.stringify(seen)}`);
});

function checkBound(g: Conv2dGeom, x: Float32Array, dy: Float32Array, modes: readonly ('f2' | 'f4')[] = ['f2', 'f4']) {
  const want = refGw(x, dy, g);
  const S = refGw(abs(x), abs(dy), g);
  for (const mode of modes) {
    const r = boundRatio(gw(be[mode], x, dy, g), want, S);
    seen[mode] = Math.max(seen[mode], r);
    expect({ mode, ok: r <= BOUND[mode], r }).toEqual({ mode, ok: true, r });
  }
}

const sizes = (g: Conv2dGeom) => ({ x: g.n * g.cin * g.h * g.w, y: g.n * g.cout * g.h * g.w });

const BIT_SHAPES: [string, Conv2dGeom][] = [
  ['R50x1 128px s1 64@32', convGeomHW(1, 64, 32, 32, 64, 3, 1, 1)],
  ['R50x1 128px s2 128@16', convGeomHW(1, 128, 16, 16, 128, 3, 1, 1)],
  ['R50x1 128px s3 256@8', convGeomHW(2, 256, 8, 8, 256, 3, 1, 1)],
  ['R50x1 128px s4 512@4', convGeomHW(1, 512, 4, 4, 512, 3, 1, 1)],
  ['R50x1 32px s1 64@8', convGeomHW(2, 64, 8, 8, 64, 3, 1, 1)],
  ['R50x1 32px s3 256@2', convGeomHW(2, 256, 2, 2, 256, 3, 1, 1)],
  ['bit-tiny 16@8', convGeomHW(8, 16, 8, 8, 16, 3, 1, 1)],
  ['bit-small 32@8 / 64@4', convGeomHW(4, 32, 8, 8, 64, 3, 1, 1)],
];

describe('wasm Winograd grad-weight: error bound against the float64 reference', () => {
  it.each(BIT_SHAPES)('%s: uniform inputs', (_, g) => {
    const r = rng(7);
    const z = sizes(g);
    checkBound(g, Float32Array.from(r(z.x)), Float32Array.from(r(z.y)));
  });

  it('large-mean inputs (100 + U(-1, 1)), mixed channel magnitudes (1e-3..1e3), values near 1e30', () => {
    const g = convGeomHW(3, 24, 9, 10, 20, 3, 1, 1); // ragged tiles on both axes
    const r = rng(11);
    const z = sizes(g);
    const hw = g.h * g.w;
    const scale = (c: number) => 10 ** (((c * 7) % 13) / 2 - 3);
    checkBound(
      g,
      Float32Array.from(r(z.x), (v) => 100 + v),
      Float32Array.from(r(z.y), (v) => 100 + v),
    );
    checkBound(
      g,
      Float32Array.from(r(z.x), (v, i) => v * scale(Math.floor(i / hw) % g.cin)),
      Float32Array.from(r(z.y), (v, i) => v * scale((Math.floor(i / hw) % g.cout) + 3)),
    );
    checkBound(
      g,
      Float32Array.from(r(z.x), (v) => v * 1e15),
      Float32Array.from(r(z.y), (v) => v * 1e15),
    );
  });

  it('random shapes (fast-check): F2 and F4 within the bound', () => {
    fc.assert(
      fc.property(winoShapes, ({ g, seed }) => {
        const r = rng(seed);
        const z = sizes(g);
        checkBound(g, Float32Array.from(r(z.x)), Float32Array.from(r(z.y)));
      }),
      { numRuns: 25 },
    );
  });

  it('batches split into image chunks (64 ch at 32x32, 5 images: 2 + 2 + 1 per F2 chunk, 3 + 2 per F4 chunk) stay within the bound', () => {
    const g = convGeomHW(5, 64, 32, 32, 64, 3, 1, 1);
    const r = rng(13);
    const z = sizes(g);
    checkBound(g, Float32Array.from(r(z.x)), Float32Array.from(r(z.y)));
  });
});

describe('wasm Winograd grad-weight: non-finite values take the GEMM path', () => {
  const g = convGeomHW(2, 16, 12, 12, 16, 3, 1, 1);
  const r = rng(5);
  const z = sizes(g);
  const sameAsGemm = (x: Float32Array, dy: Float32Array, modes: readonly ('f2' | 'f4')[]) => {
    const want = gw(be.off, x, dy, g);
    for (const mode of modes) {
      const got = gw(be[mode], x, dy, g);
      let diff = 0;
      for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) diff++;
      expect({ mode, diff }).toEqual({ mode, diff: 0 });
    }
    return want;
  };

  it('Inf and NaN in x or dy: dw equals the direct path bit for bit', () => {
    const x = Float32Array.from(r(z.x));
    const dy = Float32Array.from(r(z.y));
    x[5 * 12 + 5] = Number.POSITIVE_INFINITY; // image 0, channel 0, (5, 5)
    dy[dy.length - 1] = Number.NaN; // last image, last channel, corner
    const w = sameAsGemm(x, dy, ['f2', 'f4']);
    expect(w.some(Number.isFinite)).toBe(true);
    expect(w.some(Number.isNaN)).toBe(true);
  });

  it('values near 1e18: F4 transforms overflow (the direct result, bit for bit), F2 in bound', () => {
    const x = Float32Array.from(r(z.x), (v) => 3e18 * v);
    const dy = Float32Array.from(r(z.y), (v) => 3e18 * v);
    const w = sameAsGemm(x, dy, ['f4']);
    expect(w.every(Number.isFinite)).toBe(true);
    checkBound(g, x, dy, ['f2']);
  });
});

describe('wasm Winograd grad-weight: schedule, switch, rule', () => {
  it('threads 1 and 2 (every op through the workers) give the same bits', () => {
    const g = convGeomHW(3, 20, 10, 11, 12, 3, 1, 1);
    const r = rng(9);
    const z = sizes(g);
    const x = Float32Array.from(r(z.x));
    const dy = Float32Array.from(r(z.y));
    for (const mode of ['f2', 'f4'] as const) {
      const t1 = createWasmBackend({ threads: 1, winograd: mode });
      const t2 = createWasmBackend({ threads: 2, winograd: mode, minParallelWork: 0, adaptiveThreads: false });
      try {
        expect(gw(t2, x, dy, g)).toEqual(gw(t1, x, dy, g));
      } finally {
        t1.dispose();
        t2.dispose();
      }
    }
  });

  it('BIT_WINO_WGRAD=0 gives the GEMM path bit for bit', () => {
    const g = convGeomHW(2, 16, 8, 8, 24, 3, 1, 1);
    const r = rng(21);
    const z = sizes(g);
    const x = Float32Array.from(r(z.x));
    const dy = Float32Array.from(r(z.y));
    const saved = process.env.BIT_WINO_WGRAD;
    try {
      process.env.BIT_WINO_WGRAD = '0';
      const got = gw(be.f4, x, dy, g);
      delete process.env.BIT_WINO_WGRAD;
      expect(got).toEqual(gw(be.off, x, dy, g));
      expect(gw(be.f4, x, dy, g)).not.toEqual(got);
    } finally {
      if (saved === undefined) delete process.env.BIT_WINO_WGRAD;
      else process.env.BIT_WINO_WGRAD = saved;
    }
  });

  it('the auto rule', () => {
    const m = (g: Conv2dGeom) => winogradGradWeightVariant('auto', g)?.m ?? 0;
    expect(m(convGeomHW(8, 64, 32, 32, 64, 3, 1, 1))).toBe(4); // R50x1 at 128 px
    expect(m(convGeomHW(8, 256, 8, 8, 256, 3, 1, 1))).toBe(4);
    expect(m(convGeomHW(128, 32, 8, 8, 32, 3, 1, 1))).toBe(4); // bit-small
    expect(m(convGeomHW(128, 16, 8, 8, 16, 3, 1, 1))).toBe(0); // bit-tiny: too narrow
    expect(m(convGeomHW(32, 128, 4, 4, 128, 3, 1, 1))).toBe(2); // 4x4 map: F2
    expect(m(convGeomHW(128, 128, 2, 2, 128, 3, 1, 1))).toBe(2);
    expect(m(convGeomHW(8, 512, 4, 4, 512, 3, 1, 1))).toBe(0); // 32 2x2 tiles: K too short
    expect(m(convGeomHW(128, 32, 4, 4, 64, 3, 1, 1))).toBe(0); // F2 needs 64 channels
    expect(m(convGeomHW(1, 64, 1, 1, 64, 3, 1, 1))).toBe(0); // 1x1 map: the single-tap path
    expect(m(convGeomHW(8, 64, 32, 32, 64, 3, 2, 1))).toBe(0); // stride 2
    expect(m(convGeomHW(8, 64, 32, 32, 64, 1, 1, 0))).toBe(0); // 1x1 kernel
    expect(winogradGradWeightVariant('off', convGeomHW(8, 64, 32, 32, 64, 3, 1, 1))).toBeNull();
    expect(winogradGradWeightVariant('f2', convGeomHW(8, 64, 32, 32, 64, 3, 1, 1))?.m).toBe(2);
    // M ([a*a][cout x cin]) over 2^24 floats: the GEMM path, forced or not
    expect(winogradGradWeightVariant('f4', convGeomHW(1, 700, 8, 8, 700, 3, 1, 1))).toBeNull();
    expect(winogradGradWeightVariant('f2', convGeomHW(1, 700, 8, 8, 700, 3, 1, 1))?.m).toBe(2);
  });
});
