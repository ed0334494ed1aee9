// The big BiT models' forwards on gpujs-webgpu (issue 20, point 2), run by .ci/run as their own step before the
// suite (`npm run test:big`; vitest.big.config.ts), not by `npm test`: on SwiftShader each takes 1.5-4 minutes
// because the forward is weight-bound (at 1 x 32 px stages 3-4 run on 2x2 and 1x1 maps, so weight
// standardization and streaming the weights are half the time and do not shrink with the input; docs/gpu.md
// "Whole models"). BiT-R50x3 and BiT-R152x2 are compared with wasm; BiT-R101x3 and BiT-R152x4 (1.4 / 3.5 GiB of
// weights, beyond what wasm32's 4 GiB heap holds beside activations and standardized copies) with the float32
// reference backend. The smaller models run in the suite (test/tensor/backends/gpujs/model-forwards.test.ts,
// test/train/webgpu-train). One model at a time: each model is disposed before the next is built.
// Same seeded weights and input on both sides; closeness in units of TOL.training (<= 0 passes).
import { afterAll, describe, expect, it } from 'vitest';
import { createModel } from '../../src/models/index.js';
import type { Backend } from '../../src/tensor/backend.js';
import { disposeBackends, getBackend } from '../../src/tensor/backends/registry.js';
import { noGrad, Rng, randn, setDefaultBackend, tidy } from '../../src/tensor/index.js';
import { closeness, TOL } from '../tolerances.js';
import { webgpuRequired, webgpuUnavailableReason } from '../webgpu-required.js';

const reason = await webgpuUnavailableReason();
if (reason && webgpuRequired()) throw new Error(`BIT_REQUIRE_WEBGPU=1 but WebGPU is unavailable: ${reason}`);
if (reason) console.log(`skipping the big webgpu model forwards: ${reason}`);

afterAll(() => disposeBackends());

/** Logits of `model` (10 classes, seed 3) at 1 x 3 x 32 x 32 (input seed 9) on `b`, and the seconds it took. */
async function forward(b: Backend, model: string): Promise<{ logits: number[]; s: number }> {
  setDefaultBackend(b);
  const t0 = performance.now();
  const net = createModel(model, { numClasses: 10, seed: 3, backend: b });
  net.eval();
  const x = randn([1, 3, 32, 32], { backend: b, rng: new Rng(9) });
  const y = noGrad(() => tidy(() => net.forward(x)));
  const logits = Array.from(await y.data());
  y.dispose();
  x.dispose();
  net.dispose();
  return { logits, s: (performance.now() - t0) / 1000 };
}

const CASES: { model: string; oracle: 'wasm' | 'reference' }[] = [
  { model: 'BiT-R50x3', oracle: 'wasm' },
  { model: 'BiT-R152x2', oracle: 'wasm' },
  { model: 'BiT-R101x3', oracle: 'reference' },
  { model: 'BiT-R152x4', oracle: 'reference' },
];

describe.skipIf(reason !== null)('big BiT models: webgpu forward equals the oracle', () => {
  for (const { model, oracle } of CASES) {
    it(`${model}: logits on gpujs-webgpu equal ${oracle}`, async () => {
      const g = await forward(await getBackend('gpujs-webgpu'), model);
      const o = await forward(await getBackend(oracle), model);
      const c = closeness(g.logits, o.logits, TOL.training);
      console.log(
        `${model}: webgpu ${g.s.toFixed(1)} s, ${oracle} ${o.s.toFixed(1)} s, closeness ${c.toExponential(2)}`,
      );
      expect(g.logits.length).toBe(10);
      expect(new Set(o.logits).size, `${model}: ${oracle} logits are not constant`).toBeGreaterThan(1);
      expect(c, model).toBeLessThanOrEqual(0);
    }, 900_000);
  }
});
