/**
 * Training conformance across backends: the same small ResNetV2 (GN + WS), same seeded init and data, trained
 * with SGD (momentum 0.9, nesterov off, weight decay) on every CPU backend gives the same losses and final
 * parameters as the reference backend within float32 tolerance; and 100 forward/backward/SGD steps keep each
 * backend's live-buffer count flat (no leaks in kernels, autograd or the optimizer).
 */

import { afterAll, describe, expect, it } from 'vitest';
import { resnetV2 } from '../../src/models/index.js';
import { Conv2d, crossEntropy, SGD } from '../../src/nn/index.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import type { Backend } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { closeness, TOL } from '../tolerances.js';
import { availableBackends } from './harness.js';

const backends = (await availableBackends()).filter((b) => b.backend);
afterAll(() => disposeBackends());

/** Train `steps` steps of a tiny ResNetV2 on fixed data; returns the losses and flat final parameters. */
async function train(backend: Backend, steps: number, px: number) {
  const net = resnetV2({
    blockUnits: [1, 1],
    widthFactor: 1,
    baseWidth: 4,
    gnGroups: 2,
    numClasses: 3,
    seed: 7,
    backend,
  });
  const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const rng = new F.Rng(3);
  const x = F.randn([4, 3, px, px], { backend, rng });
  const y = [0, 1, 2, 1];
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = F.tidy(() => {
      opt.zeroGrad();
      const l = crossEntropy(net.forward(x), y);
      l.backward();
      opt.step();
      return l.detach();
    });
    losses.push((await loss.data())[0]!);
    loss.dispose();
  }
  const params: number[] = [];
  for (const p of net.parameters()) params.push(...(await p.data()));
  x.dispose();
  opt.dispose();
  net.dispose();
  return { losses, params };
}

describe('training conformance', () => {
  for (const { name, backend } of backends) {
    const b = backend!;
    const gpujs = name.startsWith('gpujs');
    const steps = gpujs ? 3 : 20;
    it(`${name}: ${steps} SGD steps of a small ResNetV2 match the reference losses and parameters`, async () => {
      const want = await train(F.createReferenceBackend(), steps, 16);
      const got = await train(b, steps, 16);
      expect(want.losses[steps - 1]).toBeLessThan(want.losses[0]);
      expect(closeness(got.losses, want.losses, TOL.training)).toBeLessThanOrEqual(0);
      expect(closeness(got.params, want.params, TOL.training)).toBeLessThanOrEqual(0);
    });
    it(`${name}: 100 forward/backward/SGD steps of a small conv net keep live buffers flat`, () => {
      const conv = new Conv2d(3, 4, 3, { padding: 1, backend: b, rng: new F.Rng(1) });
      const opt = new SGD(conv.parameters(), { lr: 0.01, momentum: 0.9 });
      const x = F.randn([2, 3, 6, 6], { backend: b, rng: new F.Rng(2) });
      const counts: number[] = [];
      for (let s = 0; s < 100; s++) {
        F.tidy(() => {
          opt.zeroGrad();
          const out = F.groupNorm(conv.forward(x), 2, F.ones([4], { backend: b }), F.zeros([4], { backend: b }));
          out.relu().mean().backward();
          opt.step();
        });
        counts.push(b.liveBuffers());
      }
      expect(counts[99]).toBe(counts[1]);
      x.dispose();
      opt.dispose();
      conv.dispose();
    });
  }
});
