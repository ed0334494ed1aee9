/**
 * The wasm backend's phase-split grad-weight for the BiT stem (src/tensor/backends/wasm/conv-stem-gw.ts: thin
 * input, kw = 7, stride 2, ow % 4 == 0) and the thin kernel it falls back to (conv-thin.ts):
 * - against the float64 reference within TOL.linalg on BiT's stem shapes (3 -> 16/32/64, 7x7/2 pad 3, 12x12..64x64
 *   outputs, batches cut) and random thin shapes (fast-check; ow % 4 == 0 and not, other strides and kernels);
 * - threads 1 and 2 give the same bits;
 * - NaN / Inf in x or dy: non-finite exactly where the reference is (Object.is), the rest within tolerance;
 * - BIT_STEM_GW=0 takes the old kernel (different summation order, so different bits; both within tolerance).
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Conv2dGeom } from '../../../../src/tensor/backend.js';
import * as ref from '../../../../src/tensor/backends/reference/linalg.js';
import { isStemGw } from '../../../../src/tensor/backends/wasm/conv-stem-gw.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { convGeom, rng, TOL, violation } from './helpers.js';

const be = {
  t1: createWasmBackend({ threads: 1, minParallelWork: 0 }),
  t2: createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false }),
};
afterAll(() => {
  for (const b of Object.values(be)) b.dispose();
});

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const refGw = (x: ArrayLike<number>, dy: ArrayLike<number>, g: Conv2dGeom) =>
  ref.conv2dGradWeight(f64(x), f64(dy), g, 'float64') as ArrayLike<number>;

/** conv2dGradWeight on `b` with BIT_STEM_GW set to `sw` for the call ('' = unset: the default, on). */
function gw(b: Backend, x: Float32Array, dy: Float32Array, g: Conv2dGeom, sw = ''): Float32Array {
  const prev = process.env.BIT_STEM_GW;
  if (sw === '') delete process.env.BIT_STEM_GW;
  else process.env.BIT_STEM_GW = sw;
  try {
    const X = b.upload(x, 'float32');
    const DY = b.upload(dy, 'float32');
    const out = b.conv2dGradWeight(X, DY, g);
    const r = Float32Array.from(b.readSync(out));
    for (const buf of [X, DY, out]) b.free(buf);
    return r;
  } finally {
    if (prev === undefined) delete process.env.BIT_STEM_GW;
    else process.env.BIT_STEM_GW = prev;
  }
}

const inputs = (g: Conv2dGeom, seed: number) => {
  const r = rng(seed);
  return {
    x: Float32Array.from(r(g.n * g.cin * g.h * g.w)),
    dy: Float32Array.from(r(g.n * g.cout * g.oh * g.ow)),
  };
};

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, label: string) {
  const [atol, rtol] = TOL.linalg;
  expect({ label, v: violation(got, want, atol, rtol) }).toEqual({ label, v: 0 });
}

const stem = (n: number, cout: number, px: number) =>
  convGeom({ n, cin: 3, h: px, w: px, cout, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 });

const BIT_SHAPES: [string, Conv2dGeom][] = [
  ['bit-tiny 3->16 @16x16', stem(3, 16, 32)],
  ['bit-small 3->32 @16x16', stem(2, 32, 32)],
  ['R50x1 3->64 @64x64', stem(1, 64, 128)],
  ['3->16 @32x32', stem(2, 16, 64)],
  ['3->24 @12x12 (4 pixels per trip)', stem(2, 24, 24)],
  ['3->8 @8x8 from odd 15x15', stem(3, 8, 15)],
];

describe('wasm stem grad-weight (phase-split kernel)', () => {
  it.each(BIT_SHAPES)('%s: matches the float64 reference; 1 and 2 threads same bits', (name, g) => {
    expect(isStemGw(g)).toBe(true);
    const { x, dy } = inputs(g, 7);
    const a = gw(be.t1, x, dy, g);
    expectClose(a, refGw(x, dy, g), name);
    expect(gw(be.t2, x, dy, g)).toEqual(a);
  });

  it('random thin shapes (fast-check): new and old kernels match the reference, threads agree', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 3 }),
          cin: fc.integer({ min: 1, max: 4 }),
          cout: fc.constantFrom(8, 16, 24),
          h: fc.integer({ min: 1, max: 21 }),
          w: fc.integer({ min: 1, max: 21 }),
          kh: fc.constantFrom(3, 5, 7),
          kw: fc.constantFrom(3, 7),
          stride: fc.constantFrom(1, 2),
          pad: fc.integer({ min: 0, max: 3 }),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ seed, ...p }) => {
          if (p.h + 2 * p.pad < p.kh || p.w + 2 * p.pad < p.kw) return;
          const g = convGeom({ ...p, groups: 1 });
          const { x, dy } = inputs(g, seed);
          const want = refGw(x, dy, g);
          const a = gw(be.t1, x, dy, g);
          expectClose(a, want, `new ${JSON.stringify(p)}`);
          expect(gw(be.t2, x, dy, g)).toEqual(a);
          expectClose(gw(be.t2, x, dy, g, '0'), want, `old ${JSON.stringify(p)}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('random shapes with kw 7, stride 2 and ow % 4 == 0 (the new kernel)', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 3 }),
          cin: fc.integer({ min: 1, max: 4 }),
          cout: fc.constantFrom(8, 16, 32),
          h: fc.integer({ min: 1, max: 20 }),
          ow: fc.constantFrom(4, 8, 12, 16),
          wOdd: fc.boolean(),
          kh: fc.constantFrom(1, 3, 7),
          pad: fc.integer({ min: 0, max: 3 }),
          seed: fc.integer({ min: 1, max: 1e6 }),
        }),
        ({ n, cin, cout, h, ow, wOdd, kh, pad, seed }) => {
          // w + 2 pad - 7 = 2 (ow - 1) (+ 1 when wOdd): exactly ow output columns
          const w = 2 * (ow - 1) + 7 - 2 * pad + (wOdd ? 1 : 0);
          if (w < 1 || h + 2 * pad < kh) return;
          const g = convGeom({ n, cin, h, w, cout, kh, kw: 7, stride: 2, pad, groups: 1 });
          expect(isStemGw(g)).toBe(true);
          const { x, dy } = inputs(g, seed);
          const a = gw(be.t2, x, dy, g);
          expectClose(a, refGw(x, dy, g), JSON.stringify(g));
          expect(gw(be.t1, x, dy, g)).toEqual(a);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('NaN and Inf in x or dy: non-finite exactly where the reference is', () => {
    const g = stem(2, 16, 32);
    const { x, dy } = inputs(g, 5);
    x[10 * 32 + 11] = Number.POSITIVE_INFINITY; // image 0, channel 0, (10, 11)
    x[g.cin * 32 * 32 + 2 * 32 * 32 + 31] = Number.NEGATIVE_INFINITY; // image 1, channel 2, row 0, last column
    dy[(g.cout + 3) * 256 + 17] = Number.NaN; // image 1, channel 3, (1, 1)
    const want = refGw(x, dy, g);
    for (const b of [be.t1, be.t2]) {
      const got = gw(b, x, dy, g);
      let nonFinite = 0;
      const fin: number[] = [];
      const finWant: number[] = [];
      for (let i = 0; i < got.length; i++) {
        if (Number.isFinite(want[i]!)) {
          fin.push(got[i]!);
          finWant.push(want[i]!);
        } else {
          nonFinite++;
          expect({ i, got: got[i] }).toEqual({ i, got: want[i] });
        }
      }
      expect(nonFinite).toBeGreaterThan(0);
      expect(fin.length).toBeGreaterThan(0);
      expectClose(fin, finWant, 'finite positions');
    }
  });

  it('BIT_STEM_GW=0 takes the old kernel: other bits, both within tolerance', () => {
    const g = stem(2, 32, 32);
    const { x, dy } = inputs(g, 3);
    const want = refGw(x, dy, g);
    const on = gw(be.t2, x, dy, g);
    const off = gw(be.t2, x, dy, g, '0');
    expectClose(on, want, 'on');
    expectClose(off, want, 'off');
    let diff = 0;
    for (let i = 0; i < on.length; i++) if (!Object.is(on[i], off[i])) diff++;
    expect(diff).toBeGreaterThan(0);
    expect(gw(be.t2, x, dy, g, '1')).toEqual(on);
  });
});
