// Issue order on gpujs-webgpu (issue 20, the inference memory peak): ops issue their launches in program order
// (GpujsOptions.issueOrder 'program', the default), so a bit-tiny inference forward holds one standardized kernel
// at a time, as reference and wasm do (test/nn/std-conv-inference.test.ts). Under 'dataflow' each weight
// standardization ran as soon as its raw weight was uploaded, ahead of the activation chain, and every standardized
// kernel was live at once (BiT-R152x4: 8.4 GiB device peak for 3.5 GiB of weights); that variant is run too, so
// the test shows the measure can tell the two apart. Device memory is counted on Dawn's buffers (./dawn-memory.ts).
// Also: logits are identical under both orders, and a bad BIT_GPU_ISSUE value is a named BackendError. The forward
// runs with StdConv2d's inference kernel cache off (budget 0): this measures the per-call kernels' lifetimes; the
// cache's own, budgeted memory is tested in test/nn/std-weight-cache.test.ts.
// Skipped (with the reason) where no adapter exists, unless BIT_REQUIRE_WEBGPU=1.
import { afterAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import { createModel } from '../../../../src/models/index.js';
import { StdConv2d, setStdWeightCacheBudget } from '../../../../src/nn/index.js';
import { createGpujsBackend, type GpujsOptions } from '../../../../src/tensor/backends/gpujs/index.js';
import { noGrad, Rng, randn, setDefaultBackend, tidy } from '../../../../src/tensor/index.js';
import { webgpuRequired, webgpuUnavailableReason } from '../../../webgpu-required.js';
import { type DawnMemory, installDawnMemory } from './dawn-memory.js';

const reason = await webgpuUnavailableReason();
if (reason && webgpuRequired()) throw new Error(`BIT_REQUIRE_WEBGPU=1 but WebGPU is unavailable: ${reason}`);
if (reason) console.log(`skipping webgpu issue-order tests: ${reason}`);

let dawn: DawnMemory | null = null;
afterAll(() => dawn?.uninstall());

/** bit-tiny's logits at 1 x 3 x 32 x 32 under `order`, the device bytes its forward added at the peak, and sizes. */
async function forward(order: GpujsOptions['issueOrder']) {
  dawn ??= await installDawnMemory();
  const b = await createGpujsBackend('webgpu', { issueOrder: order });
  const budget = setStdWeightCacheBudget(0);
  try {
    setDefaultBackend(b);
    const net = createModel('bit-tiny', { numClasses: 10, seed: 3, backend: b });
    net.eval();
    let stdBytes = 0;
    let largest = 0;
    for (const [, m] of net.namedModules()) {
      if (!(m instanceof StdConv2d)) continue;
      const n = m.weight.shape.reduce((p, s) => p * s, 1) * 4;
      stdBytes += n;
      largest = Math.max(largest, n);
    }
    const x = randn([1, 3, 32, 32], { backend: b, rng: new Rng(9) });
    await x.data();
    dawn.resetPeak();
    const base = dawn.live();
    const y = noGrad(() => tidy(() => net.forward(x)));
    const logits = Array.from(await y.data());
    const added = dawn.peak() - base;
    y.dispose();
    x.dispose();
    net.dispose();
    return { logits, added, stdBytes, largest };
  } finally {
    setStdWeightCacheBudget(budget);
    b.dispose();
  }
}

describe.skipIf(reason !== null)('gpujs-webgpu issues launches in program order', () => {
  it('an inference forward holds one standardized kernel at a time (dataflow order held them all)', async () => {
    const p = await forward('program');
    const d = await forward('dataflow');
    expect(new Set(p.logits).size).toBeGreaterThan(1);
    expect(p.logits).toEqual(d.logits);
    // bit-tiny: 1.91 MB of StdConv2d weights, the largest 0.56 MB; program order added 0.59 MB, dataflow 2.2 MB.
    // Bound: the largest kernel + a quarter of the others' (activations at 32 px are tens of KB).
    const bound = p.largest + 0.25 * p.stdBytes;
    expect(p.added, 'program order: device bytes added by the forward').toBeLessThan(bound);
    expect(d.added, 'dataflow order: every standardized kernel live at once').toBeGreaterThan(p.stdBytes);
  }, 120_000);

  it('a bad BIT_GPU_ISSUE is a BackendError naming the variable', async () => {
    const old = process.env.BIT_GPU_ISSUE;
    process.env.BIT_GPU_ISSUE = 'eager';
    try {
      await expect(createGpujsBackend('webgpu')).rejects.toThrow(BackendError);
      await expect(createGpujsBackend('cpu')).rejects.toThrow(/issueOrder 'eager' \(BIT_GPU_ISSUE\)/);
    } finally {
      if (old === undefined) delete process.env.BIT_GPU_ISSUE;
      else process.env.BIT_GPU_ISSUE = old;
    }
    // The failed creations released their hold on the shared device: a good one still works.
    const b = await createGpujsBackend('webgpu');
    b.dispose();
  });
});
