/**
 * The fused GroupNorm + ReLU primitive (`groupNormRelu`, Backend.groupNormRelu / groupNormReluBackward):
 * - every backend against the reference on random shapes (fast-check; hw covers the SIMD tails), forward and the
 *   gradients of x, gamma and beta;
 * - fused == the unfused composite relu(groupNorm(...)) bit for bit (forward and all gradients) on every backend:
 *   each does the composite's arithmetic (the same relu, the mask dy * (y != 0) with the `ne`/`mul` results);
 * - NaN: a NaN input poisons its group as in the composite, a NaN dy at a masked position stays NaN (dy * 0);
 * - float64 gradcheck on the reference;
 * - a whole ResNetV2 (GroupNorm's `forwardRelu` in every pre-activation) equals the unfused model bit for bit;
 * - gpu.js above its chunk limit (64 cells: the relu and mask kernels run in windows) equals the reference.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { assertGradcheck } from '../../src/autograd/gradcheck.js';
import { resnetV2 } from '../../src/models/index.js';
import { GroupNorm } from '../../src/nn/norm.js';
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

/** webgpu on a software adapter compiles each new shape's kernels slowly: fewer, smaller cases there. */
const slow = (b: Backend) => b.name.includes('webgpu');

const gnShape = (big: boolean) =>
  fc.record({
    n: fc.integer({ min: 1, max: big ? 3 : 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cpg: fc.integer({ min: 1, max: 3 }),
    hw: fc.constantFrom(...(big ? [1, 3, 4, 5, 7, 9, 16, 17, 30] : [1, 5, 9])),
  });

function randomData(n: number, seed: number, nanAt: number[] = []): Float32Array {
  const rng = new Rng(seed);
  const v = Float32Array.from({ length: n }, () => rng.normal());
  for (const i of nanAt) v[i] = Number.NaN;
  return v;
}

/** Forward and the three gradients of `f` on backend b, read back. */
async function runGn(
  b: Backend,
  f: (x: Tensor, g: Tensor, be: Tensor) => Tensor,
  shape: number[],
  data: { x: Float32Array; gamma: Float32Array; beta: Float32Array; dy: Float32Array },
) {
  const c = shape[1];
  const r = F.tidy(() => {
    const x = F.fromTyped(data.x, shape, { backend: b, requiresGrad: true });
    const g = F.fromTyped(data.gamma, [c], { backend: b, requiresGrad: true });
    const be = F.fromTyped(data.beta, [c], { backend: b, requiresGrad: true });
    const y = f(x, g, be);
    y.backward(F.fromTyped(data.dy, shape, { backend: b }));
    return [y.detach(), x.grad!.clone(), g.grad!.clone(), be.grad!.clone()];
  });
  const out: Float32Array[] = [];
  for (const t of r) out.push((await t.data()) as Float32Array);
  for (const t of r) t.dispose();
  return out;
}

const fused = (groups: number) => (x: Tensor, g: Tensor, be: Tensor) => F.groupNormRelu(x, groups, g, be);
const unfused = (groups: number) => (x: Tensor, g: Tensor, be: Tensor) => F.groupNorm(x, groups, g, be).relu();
const NAMES = ['forward', 'dx', 'dgamma', 'dbeta'];

/** Every output equal element for element (NaN equals NaN; +0 and -0 differ). */
function sameAll(got: Float32Array[], want: Float32Array[], name: string): void {
  for (const [i, g] of got.entries()) expect(Array.from(g), `${name} ${NAMES[i]}`).toEqual(Array.from(want[i]));
}

for (const b of backends) {
  describe(`groupNormRelu on ${b.name}`, () => {
    it.skipIf(b.name === 'reference')('equals the reference on random shapes (forward and gradients)', async () => {
      await fc.assert(
        fc.asyncProperty(gnShape(!slow(b)), fc.integer({ min: 1, max: 1e6 }), async (s, seed) => {
          const c = s.groups * s.cpg;
          const spec = { shapes: [[s.n, c, s.hw], [c], [c]] };
          await conform(b, fused(s.groups), spec, seed, { fwd: TOL.groupNormFwd, grad: TOL.groupNormGrad });
        }),
        { numRuns: slow(b) ? 2 : 12, seed: 24 },
      );
    });

    it('equals the unfused composite bit for bit (forward, dx, dgamma, dbeta)', async () => {
      const live = b.liveBuffers();
      for (const [n, groups, cpg, hw, seed] of slow(b)
        ? [[2, 2, 2, 5, 3]]
        : [
            [2, 2, 3, 7, 1],
            [3, 4, 2, 16, 2],
            [1, 1, 5, 33, 3],
          ]) {
        const shape = [n, groups * cpg, hw];
        const size = n * groups * cpg * hw;
        const data = {
          x: randomData(size, seed),
          gamma: randomData(groups * cpg, seed + 1),
          beta: randomData(groups * cpg, seed + 2),
          dy: randomData(size, seed + 3),
        };
        const got = await runGn(b, fused(groups), shape, data);
        const want = await runGn(b, unfused(groups), shape, data);
        // some outputs are clipped to 0: the mask is exercised
        expect(got[0].some((v) => v === 0) && got[0].some((v) => v > 0)).toBe(true);
        sameAll(got, want, b.name);
      }
      expect(b.liveBuffers()).toBe(live);
    });

    it('propagates NaN as the composite does (NaN input; NaN dy where the output is clipped)', async () => {
      const [n, groups, cpg, hw] = [2, 2, 2, 5];
      const shape = [n, groups * cpg, hw];
      const size = n * groups * cpg * hw;
      const x = randomData(size, 7, [3]); // sample 0, group 0
      const beta = randomData(groups * cpg, 9);
      const gamma = randomData(groups * cpg, 8);
      // dy NaN at the first clipped output of sample 1
      const y0 = await runGn(b, fused(groups), shape, { x, gamma, beta, dy: new Float32Array(size) });
      const clipped = y0[0].findIndex((v, i) => i >= size / 2 && v === 0);
      expect(clipped).toBeGreaterThan(0);
      const dy = randomData(size, 10, [clipped]);
      const got = await runGn(b, fused(groups), shape, { x, gamma, beta, dy });
      const want = await runGn(b, unfused(groups), shape, { x, gamma, beta, dy });
      sameAll(got, want, b.name);
      const half = size / 2;
      expect(got[0].subarray(0, half / groups).every(Number.isNaN)).toBe(true); // the NaN's group
      expect(got[0].subarray(half / groups, half).some(Number.isNaN)).toBe(false); // the other group
      const glen = cpg * hw;
      const g0 = half + Math.floor((clipped - half) / glen) * glen;
      expect(got[1].subarray(g0, g0 + glen).every(Number.isNaN)).toBe(true); // dx of that group: dy * 0 is NaN
    });
  });
}

const small = backendPool({ chunkLimit: 64 });
afterAll(() => small.dispose());
for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`groupNormRelu on gpujs-${mode.name} above the chunk limit`, () => {
    it('forward and backward of a [2, 4, 20] input (160 cells, groups of 40) equal the reference', async () => {
      const b = await small.get(mode);
      const g = { n: 2, c: 4, hw: 20, groups: 2, eps: 1e-5 };
      const [x, gamma, beta, dy] = [randomData(160, 31), randomData(4, 32), randomData(4, 33), randomData(160, 34)];
      const got = b.groupNormRelu(up(b, x), up(b, gamma), up(b, beta), g);
      const want = F.createReferenceBackend();
      const w = want.groupNormRelu(up(want, x), up(want, gamma), up(want, beta), g);
      await same(b, got.y, w.y, TOL.groupNormFwd, 'y');
      const gd = b.groupNormReluBackward(up(b, dy), got.y, up(b, x), up(b, gamma), got.mean, got.rstd, g);
      const wd = want.groupNormReluBackward(up(want, dy), w.y, up(want, x), up(want, gamma), w.mean, w.rstd, g);
      await same(b, gd.dx, wd.dx, TOL.groupNormGrad, 'dx');
      await same(b, gd.dgamma, wd.dgamma, TOL.groupNormGrad, 'dgamma');
      await same(b, gd.dbeta, wd.dbeta, TOL.groupNormGrad, 'dbeta');
    });
  });
}

describe('groupNormRelu float64', () => {
  it('passes gradcheck on the reference backend (x, gamma, beta)', () => {
    const x = leaf64([2, 4, 3, 3], 51);
    assertGradcheck(
      (a, g, be) => F.groupNormRelu(a, 2, g, be, 1e-5),
      [x, leaf64([4], 52), leaf64([4], 53)],
      TOL.gradcheck,
    );
  });
});

describe('ResNetV2 with the fused pre-activation', () => {
  it('equals the unfused model bit for bit (logits and every parameter gradient), reference and wasm', async () => {
    const wasm = available.find((b) => b.name === 'wasm');
    for (const backend of [backends[0], ...(wasm ? [wasm] : [])]) {
      const model = resnetV2({
        blockUnits: [1, 1, 1, 1],
        widthFactor: 1,
        baseWidth: 4,
        gnGroups: 2,
        numClasses: 3,
        seed: 5,
        backend,
      });
      const input = randomData(2 * 3 * 16 * 16, 11);
      const pass = () => {
        const r = F.tidy(() => {
          const y = model.forward(F.fromTyped(input, [2, 3, 16, 16], { backend }));
          y.square().sum().backward();
          return y.detach();
        });
        const grads = model.parameters().map((p) => Array.from(p.grad!.dataSync()));
        model.zeroGrad();
        const logits = Array.from(r.dataSync());
        r.dispose();
        return { logits, grads };
      };
      const got = pass();
      const proto = GroupNorm.prototype;
      const fusedRelu = proto.forwardRelu;
      proto.forwardRelu = function (this: GroupNorm, x: Tensor) {
        return this.forward(x).relu();
      };
      try {
        const want = pass();
        expect(got.logits, backend.name).toEqual(want.logits);
        for (const [i, g] of got.grads.entries()) expect(g, `${backend.name} param ${i}`).toEqual(want.grads[i]);
      } finally {
        proto.forwardRelu = fusedRelu;
      }
      model.dispose();
    }
  });
});
