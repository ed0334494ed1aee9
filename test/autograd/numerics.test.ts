/**
 * Numerics of the op table and the reductions built on it, on every available backend (reference first, then
 * the conformance harness's list): softmax / log-softmax / cross-entropy at large offsets (ONNX's large-number
 * vectors; the float64 value within 1 ulp of the exact one), sum/mean gradients at infinite inputs (1, not NaN),
 * the stable sigmoid at extreme arguments, and a property test that every backend's elementwise primitive
 * equals the reference's on extreme inputs (+-inf, NaN, denormals, +-0, large magnitudes).
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { crossEntropy } from '../../src/nn/losses.js';
import type { Backend } from '../../src/tensor/backend.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import * as F from '../../src/tensor/index.js';
import { BINARY_NAMES, UNARY_NAMES } from '../../src/tensor/op-table.js';
import { availableBackends } from '../conformance/harness.js';
import { expectClose, TOL } from '../tolerances.js';

const ref = F.createReferenceBackend();
const backends: Backend[] = [ref, ...(await availableBackends()).flatMap((b) => (b.backend ? [b.backend] : []))];
afterAll(() => disposeBackends());

/** ONNX backend-test vectors softmax_large_number / logsoftmax_large_number (expected from NumPy). */
const LARGE = [0, 1, 2, 3, 10000, 10001, 10002, 10003];
const SOFTMAX_LARGE = [0.032058604, 0.08714432, 0.23688284, 0.6439143];
const LOGSOFTMAX_LARGE = [-3.4401896, -2.4401896, -1.4401896, -0.44018966];

async function values(t: F.Tensor): Promise<number[]> {
  return [...(await t.data())];
}

/** The float64 spacing at v. */
function ulp(v: number): number {
  const e = Math.floor(Math.log2(Math.abs(v)));
  return 2 ** (e - 52);
}

describe('softmax family at large offsets, float64 (reference)', () => {
  const x = () => F.fromTyped(Float64Array.from([10000, 10001, 10002, 10003]), [1, 4], { dtype: 'float64' });
  // exact: softmax_3 = 1 / (1 + e^-1 + e^-2 + e^-3); log-softmax_3 = -log(1 + e^-1 + e^-2 + e^-3)
  const s = 1 + Math.exp(-1) + Math.exp(-2) + Math.exp(-3);

  it('softmax([10000..10003]) last element is within 1 ulp of the exact value', () => {
    const got = F.tidy(() => x().softmax(1).dataSync()[3]);
    expect(Math.abs(got - 1 / s)).toBeLessThanOrEqual(ulp(1 / s));
    expect(got).toBeCloseTo(0.6439143, 7);
  });

  it('logSoftmax([10000..10003]) last element is within 1 ulp of the exact value', () => {
    const got = F.tidy(() => x().logSoftmax(1).dataSync()[3]);
    expect(Math.abs(got + Math.log(s))).toBeLessThanOrEqual(ulp(Math.log(s)));
  });
});

for (const b of backends) {
  describe(`numerics on ${b.name}`, () => {
    const t = (v: number[], shape: number[], requiresGrad = false) =>
      F.fromTyped(Float32Array.from(v), shape, { backend: b, requiresGrad });

    it("softmax and logSoftmax match ONNX's large-number vectors", async () => {
      const live = b.liveBuffers();
      const x = t(LARGE, [2, 4]);
      const sm = x.softmax(1);
      const lsm = x.logSoftmax(1);
      expectClose(await values(sm), [...SOFTMAX_LARGE, ...SOFTMAX_LARGE], TOL.elementwise, `${b.name} softmax`);
      expectClose(await values(lsm), [...LOGSOFTMAX_LARGE, ...LOGSOFTMAX_LARGE], TOL.elementwise, `${b.name} lsm`);
      for (const z of [x, sm, lsm]) z.dispose();
      expect(b.liveBuffers()).toBe(live);
    });

    it('crossEntropy at logits near 100 equals the float64 value', async () => {
      const logits = [100, 101.5, 99, 100.25, 102, 98.5];
      const want = [0, 1].map((i) => {
        const row = logits.slice(3 * i, 3 * i + 3);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0));
        return lse - row[[1, 0][i]];
      });
      const loss = F.tidy(() => crossEntropy(t(logits, [2, 3]), [1, 0], { reduction: 'none' }));
      expectClose(await values(loss), want, TOL.elementwise, `${b.name} crossEntropy`);
      loss.dispose();
    });

    it('sum and mean gradients are 1 and 1/N at infinite inputs (not NaN)', async () => {
      const x = t([1, Number.POSITIVE_INFINITY, -2, Number.NEGATIVE_INFINITY], [4], true);
      F.tidy(() => x.sum().backward());
      expect(await values(x.grad!)).toEqual([1, 1, 1, 1]);
      x.zeroGrad();
      F.tidy(() => x.mean().backward());
      expect(await values(x.grad!)).toEqual([0.25, 0.25, 0.25, 0.25]);
      x.dispose();
    });

    it('sigmoid is stable at extreme arguments, and its gradient finite', async () => {
      const x = t([-1000, -100, -20, 0, 20, 100, 1000], [7], true);
      const y = x.sigmoid();
      const v = await values(y);
      expect(v[0]).toBe(0);
      expect(v[3]).toBe(0.5);
      expect(v[6]).toBe(1);
      expectClose(v.slice(1, 6), [Math.exp(-100), 2.0611537e-9, 0.5, 1 - 2.0611537e-9, 1], TOL.elementwise);
      F.tidy(() => y.sum().backward());
      expect((await values(x.grad!)).every(Number.isFinite)).toBe(true);
      y.dispose();
      x.dispose();
    });
  });
}

/** Extreme float32 inputs: signed zeros, denormals, infinities, NaN, the float32 extremes, overflow edges. */
const EXTREMES = [
  0,
  -0,
  1.4e-45,
  -1.4e-45,
  1e-40,
  -1e-40,
  1.1754944e-38,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
  3.4028235e38,
  -3.4028235e38,
  1e30,
  -1e30,
  88.7,
  -88.7,
  89,
  -104,
  1,
  -1,
  0.5,
  -0.5,
  2,
  -3,
];
const extreme = fc.oneof(fc.constantFrom(...EXTREMES), fc.float({ noDefaultInfinity: false }));

/**
 * WGSL (gpujs-webgpu) guarantees IEEE results for finite normal values only: denormals may flush to zero, and
 * NaN or infinite inputs and results are indeterminate (WGSL spec, floating-point evaluation). There the property
 * draws finite normal inputs (and +-0, the float32 extremes) and checks every element whose reference result is
 * finite normal or zero; pow, which WGSL computes as exp2(b log2 a) (error bound growing with |b log2 a|,
 * undefined at a = 0), is checked where a != 0 and |log2 result| <= 32 (67 ulp, inside the tolerance).
 */
const WGSL = new Set(['gpujs-webgpu']);
const normalOrZero = (v: number) => v === 0 || (Number.isFinite(v) && Math.abs(v) >= 1.1754944e-38);

/** Equal up to the elementwise tolerance; NaN matches NaN and an infinity matches only itself. */
function sameValue(got: number, want: number): boolean {
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got);
  if (!Number.isFinite(want) || !Number.isFinite(got)) return got === want;
  return Math.abs(got - want) <= TOL.elementwise.atol + TOL.elementwise.rtol * Math.abs(want);
}

async function read(b: Backend, buf: F.BackendBuffer): Promise<Float32Array | Float64Array> {
  const v = await b.read(buf);
  b.free(buf);
  return v;
}

for (const b of backends.slice(1)) {
  describe(`${b.name} elementwise primitives equal the reference on extreme inputs`, () => {
    const view = (buf: F.BackendBuffer, n: number) => ({ buf, shape: [n], strides: [1], offset: 0 });
    const wgsl = WGSL.has(b.name);
    const input = wgsl ? extreme.filter(normalOrZero) : extreme;
    const checked = (want: number, op = '', a = 1) =>
      !wgsl ||
      (normalOrZero(want) && (op !== 'pow' || (a !== 0 && (want === 0 || Math.abs(Math.log2(Math.abs(want))) <= 32))));

    it('every unary op of the op table', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(input, { minLength: 1, maxLength: 40 }), async (xs) => {
          for (const op of UNARY_NAMES) {
            const rx = ref.upload(xs, 'float32');
            const bx = b.upload(xs, 'float32');
            const want = await read(ref, ref.unary(op, rx));
            const got = await read(b, b.unary(op, bx));
            ref.free(rx);
            b.free(bx);
            xs.forEach((x, i) => {
              if (checked(want[i]) && !sameValue(got[i], want[i]))
                throw new Error(`${b.name} ${op}(${x}) = ${got[i]}, want ${want[i]}`);
            });
          }
        }),
        { numRuns: 8 },
      );
    });

    it('every binary op of the op table', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(input, input), { minLength: 1, maxLength: 40 }), async (ps) => {
          const n = ps.length;
          const as = ps.map((p) => p[0]);
          const bs = ps.map((p) => p[1]);
          for (const op of BINARY_NAMES) {
            const [ra, rb, ba, bb] = [ref.upload(as, 'float32'), ref.upload(bs, 'float32')].concat([
              b.upload(as, 'float32'),
              b.upload(bs, 'float32'),
            ]);
            const want = await read(ref, ref.binary(op, view(ra, n), view(rb, n), [n]));
            const got = await read(b, b.binary(op, view(ba, n), view(bb, n), [n]));
            for (const [bk, x] of [
              [ref, ra],
              [ref, rb],
              [b, ba],
              [b, bb],
            ] as const)
              bk.free(x);
            ps.forEach(([x, y], i) => {
              if (checked(want[i], op, x) && !sameValue(got[i], want[i])) {
                throw new Error(`${b.name} ${op}(${x}, ${y}) = ${got[i]}, want ${want[i]}`);
              }
            });
          }
        }),
        { numRuns: 8 },
      );
    });

    it('every binary op with a broadcast scalar operand (the wasm SIMD overrides bs_*)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(input, { minLength: 1, maxLength: 40 }), input, async (as, y) => {
          const n = as.length;
          const scalar = (buf: F.BackendBuffer) => ({ buf, shape: [n], strides: [0], offset: 0 });
          for (const op of BINARY_NAMES) {
            const [ra, ry, ba, by] = [ref.upload(as, 'float32'), ref.upload([y], 'float32')].concat([
              b.upload(as, 'float32'),
              b.upload([y], 'float32'),
            ]);
            const want = await read(ref, ref.binary(op, view(ra, n), scalar(ry), [n]));
            const got = await read(b, b.binary(op, view(ba, n), scalar(by), [n]));
            for (const [bk, x] of [
              [ref, ra],
              [ref, ry],
              [b, ba],
              [b, by],
            ] as const)
              bk.free(x);
            as.forEach((x, i) => {
              if (checked(want[i], op, x) && !sameValue(got[i], want[i])) {
                throw new Error(`${b.name} ${op}(${x}, scalar ${y}) = ${got[i]}, want ${want[i]}`);
              }
            });
          }
        }),
        { numRuns: 8 },
      );
    });
  });
}

/**
 * Issue 23 case 2: relu and the other clamps keep NaN, as PyTorch does (torch 1.13: relu([nan, -1, 0, -0, 2]) =
 * [nan, 0, 0, -0, 2]; maximum(nan, 0) = nan; max_pool2d over a window holding nan = nan), so one damaged weight
 * shows in the output instead of changing accuracy silently. 13 elements reach the wasm SIMD body and its tail.
 * WGSL leaves NaN results indeterminate (see WGSL above), so gpujs-webgpu is held to the finite elements only.
 */
describe('relu and clamps propagate NaN on every backend (PyTorch)', () => {
  const xs = [Number.NaN, -1, 0, -0, 2, Number.NaN, -3, 4, Number.NaN, Number.NaN, -0.5, 0.25, Number.NaN];
  const want = [Number.NaN, 0, 0, -0, 2, Number.NaN, 0, 4, Number.NaN, Number.NaN, 0, 0.25, Number.NaN];
  for (const b of backends) {
    it(`${b.name}: relu and maximum with 0`, async () => {
      const wgsl = WGSL.has(b.name);
      const keep = (w: number) => !wgsl || Number.isFinite(w);
      const x = b.upload(xs, 'float32');
      const r = await read(b, b.unary('relu', x));
      xs.forEach((_, i) => {
        if (keep(want[i]!)) expect(Object.is(r[i], want[i]) || (r[i] === 0 && want[i] === 0 && wgsl)).toBe(true);
      });
      const n = xs.length;
      const z = b.upload([0], 'float32');
      const m = await read(
        b,
        b.binary(
          'maximum',
          { buf: x, shape: [n], strides: [1], offset: 0 },
          { buf: z, shape: [n], strides: [0], offset: 0 },
          [n],
        ),
      );
      xs.forEach((v, i) => {
        if (keep(want[i]!)) expect(Number.isNaN(m[i]!)).toBe(Number.isNaN(v));
      });
      b.free(x);
      b.free(z);
    });
  }
  it('through the differentiable op: relu(NaN) is NaN and passes its gradient (torch: grad [1, 0, 1])', async () => {
    const x = F.fromTyped(Float32Array.from([Number.NaN, -1, 2]), [3], { requiresGrad: true });
    const y = x.relu();
    expect(Number.isNaN((await y.data())[0]!)).toBe(true);
    F.tidy(() => y.sum().backward());
    expect([...(await x.grad!.data())]).toEqual([1, 0, 1]);
    y.dispose();
    x.dispose();
  });
});
