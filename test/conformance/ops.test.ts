/**
 * The conformance suite: every primitive, reached through the Tensor-level ops, on every backend, against the
 * reference backend in float32, on random shapes from fast-check (awkward sizes included), forward and
 * backward, reading back asynchronously (`await t.data()`) so that one suite runs on every backend. The CPU
 * backends (wasm, gpujs-webasm, gpujs-cpu) must be available; webgpu runs where an adapter exists and is skipped
 * with the probe's reason otherwise, unless BIT_REQUIRE_WEBGPU=1 (CI) makes it required.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import * as F from '../../src/tensor/index.js';
import { TOL } from '../tolerances.js';
import { availableBackends, conform, REQUIRED } from './harness.js';

const backends = await availableBackends();
afterAll(() => disposeBackends());

const shape = (maxDims = 3, maxSize = 5) =>
  fc.array(fc.integer({ min: 1, max: maxSize }), { minLength: 1, maxLength: maxDims });
const seed = fc.integer({ min: 1, max: 1e6 });
const EW = { fwd: TOL.elementwise, grad: TOL.elementwise };
const LIN = { fwd: TOL.linear, grad: TOL.linear };
/**
 * gpu.js kernels in its CPU modes (webasm, cpu) are slow: fewer random cases there, same properties. WebGPU
 * (even a software adapter) runs at the full counts, like wasm.
 */
const runs = (name: string, n: number) =>
  name === 'gpujs-webasm' || name === 'gpujs-cpu' ? Math.max(3, Math.ceil(n / 4)) : n;

for (const { name, backend, reason } of backends) {
  describe(`conformance: ${name}`, () => {
    if (!backend) {
      it(`is available (${reason})`, () => {
        // CPU backends must run everywhere; webgpu needs an adapter.
        expect(REQUIRED.includes(name)).toBe(false);
        console.log(`skipping ${name}: ${reason}`);
      });
      return;
    }
    const b = backend;
    it('unary ops', async () => {
      await fc.assert(
        fc.asyncProperty(shape(), seed, async (s, sd) => {
          for (const op of ['neg', 'abs', 'exp', 'relu', 'sigmoid', 'tanh'] as const) {
            await conform(b, (x) => x[op](), { shapes: [s] }, sd, EW);
          }
          for (const op of ['log', 'sqrt', 'rsqrt'] as const) {
            await conform(b, (x) => x[op](), { shapes: [s], positive: [true] }, sd, EW);
          }
        }),
        { numRuns: runs(name, 12) },
      );
    });
    it('binary ops with broadcasting, comparisons, where', async () => {
      await fc.assert(
        fc.asyncProperty(
          shape(3, 4),
          fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
          seed,
          async (s, ones, sd) => {
            const t = s.map((d, i) => (ones[i] ? 1 : d));
            for (const op of ['add', 'sub', 'mul', 'maximum', 'minimum'] as const) {
              await conform(b, (x, y) => x[op](y), { shapes: [s, t] }, sd, EW);
            }
            await conform(b, (x, y) => x.div(y), { shapes: [s, t], positive: [false, true] }, sd, EW);
            await conform(b, (x, y) => x.pow(y), { shapes: [s, t], positive: [true, false] }, sd, EW);
            await conform(b, (x, y) => x.gt(y).add(x.le(y).mul(2)), { shapes: [s, t] }, sd, EW, false);
            await conform(b, (c, x, y) => F.where(c.gt(0), x, y), { shapes: [t, s, t], noGrad: [true] }, sd, EW);
          },
        ),
        { numRuns: runs(name, 12) },
      );
    });
    it('reductions over random axes, softmax, logSoftmax', async () => {
      await fc.assert(
        fc.asyncProperty(shape(3, 7), fc.integer({ min: 0, max: 2 }), seed, async (s, a0, sd) => {
          const ax = a0 % s.length;
          await conform(b, (x) => x.sum(ax), { shapes: [s] }, sd, LIN);
          await conform(b, (x) => x.mean(ax, true), { shapes: [s] }, sd, LIN);
          await conform(b, (x) => x.max(ax), { shapes: [s] }, sd, LIN);
          await conform(b, (x) => x.argmax(ax), { shapes: [s] }, sd, LIN, false);
          await conform(b, (x) => x.var(ax, { unbiased: false }), { shapes: [s] }, sd, LIN);
          await conform(b, (x) => x.logSoftmax(ax), { shapes: [s] }, sd, LIN);
          await conform(b, (x) => x.softmax(ax), { shapes: [s] }, sd, LIN);
          await conform(b, (x) => x.sum(), { shapes: [s] }, sd, LIN);
        }),
        { numRuns: runs(name, 12) },
      );
    });
    it('movement: permute, slice, pad, concat', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }),
          seed,
          async (s, sd) => {
            await conform(b, (x) => x.permute([2, 0, 1]).contiguous(), { shapes: [s] }, sd, EW);
            await conform(b, (x) => x.slice(1, 0, s[1], 2).mul(1), { shapes: [s] }, sd, EW);
            await conform(b, (x) => x.pad([1, 2, 2, 0], 0.25), { shapes: [s] }, sd, EW);
            await conform(b, (x, y) => F.concat([x, y], 0), { shapes: [s, s] }, sd, EW);
          },
        ),
        { numRuns: runs(name, 10) },
      );
    });
    it('matmul (batched, awkward sizes)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(1, 2, 3),
          fc.constantFrom(1, 3, 5, 7, 13, 65),
          fc.constantFrom(1, 3, 5, 7, 13, 65),
          fc.constantFrom(1, 3, 5, 7, 13, 65),
          seed,
          (bt, m, k, n, sd) =>
            conform(
              b,
              (x, y) => x.matmul(y),
              {
                shapes: [
                  [bt, m, k],
                  [k, n],
                ],
              },
              sd,
              LIN,
            ),
        ),
        { numRuns: runs(name, 16) },
      );
    });
    it('conv2d forward, grad-input, grad-weight (random geometry incl. BiT cases)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            n: fc.integer({ min: 1, max: 2 }),
            cin: fc.constantFrom(1, 3, 4, 5),
            cout: fc.constantFrom(1, 2, 7),
            h: fc.constantFrom(1, 3, 5, 7, 8, 13),
            k: fc.constantFrom(1, 3, 7),
            s: fc.constantFrom(1, 2, 3),
            p: fc.constantFrom(0, 1, 3),
          }),
          seed,
          async ({ n, cin, cout, h, k, s, p }, sd) => {
            fc.pre(h + 2 * p >= k);
            await conform(
              b,
              (x, w) => F.conv2d(x, w, null, { stride: s, padding: p }),
              {
                shapes: [
                  [n, cin, h, h],
                  [cout, cin, k, k],
                ],
              },
              sd,
              LIN,
            );
          },
        ),
        { numRuns: runs(name, 24) },
      );
    });
    it('pooling: zero-padded stem max-pool 3x3/2, avg-pool, global average pool', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(3, 4, 5, 8, 13), fc.integer({ min: 1, max: 3 }), seed, async (h, c, sd) => {
          await conform(b, (x) => F.maxPool2d(x.pad([1, 1, 1, 1]), 3, 2), { shapes: [[2, c, h, h]] }, sd, LIN);
          // the same zero pad fused into the pool (the model's stem), and PyTorch's -inf padding
          await conform(b, (x) => F.maxPool2d(x.sub(0.5), 3, 2, 1, 0), { shapes: [[2, c, h, h]] }, sd, LIN);
          await conform(b, (x) => F.maxPool2d(x, 3, 2, 1), { shapes: [[1, c, h, h + 1]] }, sd, LIN);
          await conform(b, (x) => F.avgPool2d(x, 2, 1), { shapes: [[1, c, h, h]] }, sd, LIN);
          await conform(b, (x) => x.mean([2, 3]), { shapes: [[2, c, h, h]] }, sd, LIN);
        }),
        { numRuns: runs(name, 10) },
      );
    });
    it('GroupNorm and weight standardization (fused), forward and gradients', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(1, 2, 4),
          fc.constantFrom(1, 2, 3),
          fc.constantFrom(1, 3, 5, 8),
          seed,
          async (groups, cpg, h, sd) => {
            // groups of < 9 elements make rstd ~ 1/sqrt(eps) and float32 gradients ill-conditioned
            fc.pre(cpg * h * h >= 9);
            const c = groups * cpg;
            await conform(
              b,
              (x, g, be) => F.groupNorm(x, groups, g, be, 1e-5),
              { shapes: [[2, c, h, h], [c], [c]] },
              sd,
              {
                fwd: TOL.groupNormFwd,
                grad: TOL.groupNormGrad,
              },
            );
            await conform(b, (w) => F.weightStandardize(w, 1e-10), { shapes: [[c, cpg + 1, 3, 3]] }, sd, {
              fwd: TOL.groupNormFwd,
              grad: TOL.groupNormGrad,
            });
          },
        ),
        { numRuns: runs(name, 10) },
      );
    });
    it('SGD update primitive (momentum, nesterov, weight decay, dampening) over 3 steps', async () => {
      const ref = F.createReferenceBackend();
      for (const p of [
        { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },
        { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-4 },
        { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 },
        { lr: 0.01, momentum: 0.5, dampening: 0.3, nesterov: false, weightDecay: 0.01 },
      ]) {
        const n = 37;
        const init = Array.from({ length: n }, (_, i) => Math.sin(i));
        const bufs = [ref, b].map((be) => ({ be, w: be.upload(init, 'float32'), m: be.alloc(n, 'float32') }));
        for (let step = 0; step < 3; step++) {
          const grad = Array.from({ length: n }, (_, i) => Math.cos(i * (step + 1)));
          for (const q of bufs) {
            const g = q.be.upload(grad, 'float32');
            q.be.sgdUpdate(q.w, g, q.m, { ...p, firstStep: step === 0 });
            q.be.free(g);
          }
        }
        const [want, got] = await Promise.all(bufs.map((q) => q.be.read(q.w)));
        const [wm, gm] = await Promise.all(bufs.map((q) => q.be.read(q.m)));
        expect(Array.from(got).every((v, i) => Math.abs(v - want[i]) <= 1e-6 + 1e-5 * Math.abs(want[i]))).toBe(true);
        expect(Array.from(gm).every((v, i) => Math.abs(v - wm[i]) <= 1e-6 + 1e-5 * Math.abs(wm[i]))).toBe(true);
        for (const q of bufs) {
          q.be.free(q.w);
          q.be.free(q.m);
        }
      }
    });
  });
}
