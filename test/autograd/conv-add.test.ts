/**
 * The fused conv + residual primitive (`conv2dAdd`, Backend.conv2dAdd), ResNetV2's unit end `conv3(h) + shortcut`:
 * - every backend against the reference on random shapes (fast-check), forward and the gradients of x, w and r;
 * - fused == the unfused conv2d(x, w).add(r) element for element (forward and all gradients) on every backend: the
 *   backends add the residual to the conv output in the add's order (wasm: in the GEMM store, see
 *   test/tensor/backends/wasm/conv-residual.test.ts), and dr is dy as add's gradient;
 * - float64 gradcheck on the reference;
 * - a whole ResNetV2 with every unit's add fused equals the unfused model bit for bit (training: logits and every
 *   parameter gradient; inference under noGrad with the early frees: logits, and no buffer left behind);
 * - gpu.js above its chunk limit (the conv in batch groups, the add in windows) equals the reference.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { assertGradcheck } from '../../src/autograd/gradcheck.js';
import { resnetV2, setFusedResidualAdd } from '../../src/models/index.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import type { Backend, Tensor } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { Rng } from '../../src/tensor/random.js';
import { availableBackends, conform } from '../conformance/harness.js';
import { leaf64 } from '../helpers.js';
import { backendPool, MODES, same, up } from '../tensor/backends/gpujs/helpers.js';
import { TOL } from '../tolerances.js';

const available = (await availableBackends()).flatMap((b) => (b.backend ? [b.backend] : []));
const backends: Backend[] = [F.createReferenceBackend(), ...available];
afterAll(() => disposeBackends());

/** webgpu on a software adapter compiles each new shape's kernels slowly; gpu.js CPU modes are slow: fewer cases. */
const slow = (b: Backend) => b.name.startsWith('gpujs');
const LIN = { fwd: TOL.linear, grad: TOL.linear };

function randomData(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

interface Case {
  readonly x: number[];
  readonly w: number[];
  readonly stride: number;
  readonly pad: number;
}

const outShape = (c: Case) => {
  const [n, , h, wd] = c.x;
  const [cout, , kh, kw] = c.w;
  return [n, cout, Math.floor((h + 2 * c.pad - kh) / c.stride) + 1, Math.floor((wd + 2 * c.pad - kw) / c.stride) + 1];
};

/** Forward and the gradients of x, w, r of `f` on backend b, read back. */
async function runCase(b: Backend, f: (x: Tensor, w: Tensor, r: Tensor) => Tensor, c: Case, seed: number) {
  const ys = outShape(c);
  const size = (s: number[]) => s.reduce((p, v) => p * v, 1);
  const r = F.tidy(() => {
    const x = F.fromTyped(randomData(size(c.x), seed), c.x, { backend: b, requiresGrad: true });
    const w = F.fromTyped(randomData(size(c.w), seed + 1), c.w, { backend: b, requiresGrad: true });
    const res = F.fromTyped(randomData(size(ys), seed + 2), ys, { backend: b, requiresGrad: true });
    const y = f(x, w, res);
    y.backward(F.fromTyped(randomData(size(ys), seed + 3), ys, { backend: b }));
    return [y.detach(), x.grad!.clone(), w.grad!.clone(), res.grad!.clone()];
  });
  const out: Float32Array[] = [];
  for (const t of r) out.push((await t.data()) as Float32Array);
  for (const t of r) t.dispose();
  return out;
}

const fused = (c: Case) => (x: Tensor, w: Tensor, r: Tensor) =>
  F.conv2dAdd(x, w, r, { stride: c.stride, padding: c.pad });
const unfused = (c: Case) => (x: Tensor, w: Tensor, r: Tensor) =>
  F.conv2d(x, w, null, { stride: c.stride, padding: c.pad }).add(r);
const NAMES = ['forward', 'dx', 'dw', 'dr'];

for (const b of backends) {
  describe(`conv2dAdd on ${b.name}`, () => {
    const vsReference = b.name === 'reference' ? () => {} : it;
    vsReference('equals the reference on random shapes (forward and gradients)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            n: fc.integer({ min: 1, max: 2 }),
            cin: fc.constantFrom(1, 3, 5, 8),
            cout: fc.constantFrom(1, 4, 7),
            h: fc.constantFrom(1, 2, 4, 7, 8),
            k: fc.constantFrom(1, 1, 3),
            s: fc.constantFrom(1, 2),
          }),
          fc.integer({ min: 1, max: 1e6 }),
          async ({ n, cin, cout, h, k, s }, seed) => {
            const pad = k >> 1;
            const c = { x: [n, cin, h, h], w: [cout, cin, k, k], stride: s, pad };
            const spec = { shapes: [c.x, c.w, outShape(c)] };
            await conform(b, fused(c), spec, seed, LIN);
          },
        ),
        { numRuns: slow(b) ? 3 : 16, seed: 24 },
      );
    });

    it('equals conv2d then add element for element (forward, dx, dw, dr)', async () => {
      const live = b.liveBuffers();
      const cases: Case[] = [
        { x: [2, 8, 8, 8], w: [12, 8, 1, 1], stride: 1, pad: 0 }, // conv3: wasm fuses into the GEMM store
        { x: [2, 5, 7, 7], w: [6, 5, 1, 1], stride: 1, pad: 0 }, // 7x7 map: wasm's add pass
        { x: [3, 4, 6, 6], w: [5, 4, 3, 3], stride: 2, pad: 1 },
        ...(slow(b) ? [] : [{ x: [2, 300, 4, 4], w: [9, 300, 1, 1], stride: 1, pad: 0 }]), // K over 2 KC blocks
      ];
      for (const [i, c] of cases.entries()) {
        const got = await runCase(b, fused(c), c, 10 * i + 1);
        const want = await runCase(b, unfused(c), c, 10 * i + 1);
        for (const [j, g] of got.entries())
          expect(Array.from(g), `${b.name} ${JSON.stringify(c)} ${NAMES[j]}`).toEqual(Array.from(want[j]!));
      }
      expect(b.liveBuffers()).toBe(live);
    });

    it('refuses an addend that is not of the output shape (no broadcasting) with ShapeError', () => {
      const x = F.zeros([1, 2, 4, 4], { backend: b });
      const w = F.zeros([3, 2, 1, 1], { backend: b });
      const r = F.zeros([1, 3, 1, 1], { backend: b });
      expect(() => F.conv2dAdd(x, w, r)).toThrow(/conv2dAdd: r shape/);
      for (const t of [x, w, r]) t.dispose();
    });
  });
}

const small = backendPool({ chunkLimit: 64 });
afterAll(() => small.dispose());
for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`conv2dAdd on gpujs-${mode.name} above the chunk limit`, () => {
    it('a [2, 3, 6, 6] -> [2, 4, 6, 6] 3x3 conv plus residual (288 output cells) equals the reference', async () => {
      const b = await small.get(mode);
      const g = { n: 2, cin: 3, h: 6, w: 6, cout: 4, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1, oh: 6, ow: 6 };
      const [x, w, r] = [randomData(216, 41), randomData(108, 42), randomData(288, 43)];
      const want = F.createReferenceBackend();
      await same(
        b,
        b.conv2dAdd(up(b, x), up(b, w), up(b, r), g),
        want.conv2dAdd(up(want, x), up(want, w), up(want, r), g),
        TOL.linear,
        'y',
      );
    });
  });
}

describe('conv2dAdd float64', () => {
  it('passes gradcheck on the reference backend (x, w, r), 1x1 and 3x3/2', () => {
    const check = (f: (...xs: Tensor[]) => Tensor, xs: Tensor[]) => assertGradcheck(f, xs, TOL.gradcheck);
    check(
      (x, w, r) => F.conv2dAdd(x, w, r),
      [leaf64([2, 3, 4, 4], 61), leaf64([5, 3, 1, 1], 62), leaf64([2, 5, 4, 4], 63)],
    );
    check(
      (x, w, r) => F.conv2dAdd(x, w, r, { stride: 2, padding: 1 }),
      [leaf64([2, 2, 5, 5], 64), leaf64([3, 2, 3, 3], 65), leaf64([2, 3, 3, 3], 66)],
    );
  });
});

describe('ResNetV2 with the residual add fused into conv3', () => {
  const build = (backend: Backend) =>
    resnetV2({ blockUnits: [2, 1, 1, 1], widthFactor: 1, baseWidth: 4, gnGroups: 2, numClasses: 3, seed: 5, backend });
  const withFusion = <T>(on: boolean, f: () => T): T => {
    const old = setFusedResidualAdd(on);
    try {
      return f();
    } finally {
      setFusedResidualAdd(old);
    }
  };
  const wasm = available.find((b) => b.name === 'wasm');
  const cpu = [backends[0]!, ...(wasm ? [wasm] : [])];

  it('training: equals the unfused model bit for bit (logits and every parameter gradient), reference and wasm', () => {
    for (const backend of cpu) {
      const model = build(backend);
      const input = randomData(2 * 3 * 32 * 32, 11);
      const pass = () => {
        const r = F.tidy(() => {
          const y = model.forward(F.fromTyped(input, [2, 3, 32, 32], { backend }));
          y.square().sum().backward();
          return y.detach();
        });
        const grads = model.parameters().map((p) => Array.from(p.grad!.dataSync()));
        model.zeroGrad();
        const logits = Array.from(r.dataSync());
        r.dispose();
        return { logits, grads };
      };
      const got = withFusion(true, pass);
      const want = withFusion(false, pass);
      expect(got.logits, backend.name).toEqual(want.logits);
      for (const [i, g] of got.grads.entries()) expect(g, `${backend.name} param ${i}`).toEqual(want.grads[i]);
      model.dispose();
    }
  });

  it('inference under noGrad (early frees): equal logits and no buffer left behind, reference and wasm', () => {
    for (const backend of cpu) {
      const model = build(backend);
      model.eval();
      const input = randomData(2 * 3 * 32 * 32, 12);
      const infer = () =>
        F.noGrad(() => {
          const live = backend.liveBuffers();
          const x = F.fromTyped(input, [2, 3, 32, 32], { backend });
          const y = model.forward(x);
          const out = Array.from(y.dataSync());
          y.dispose();
          x.dispose();
          return { out, leaked: backend.liveBuffers() - live };
        });
      withFusion(true, infer); // fills the standardized-kernel cache (eval mode), which then stays
      const got = withFusion(true, infer);
      const want = withFusion(false, infer);
      expect(got.out, backend.name).toEqual(want.out);
      expect([got.leaked, want.leaked], backend.name).toEqual([0, 0]);
      model.dispose();
    }
  });
});
