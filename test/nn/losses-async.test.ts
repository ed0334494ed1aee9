// Losses on a backend that reads back only asynchronously (gpu.js cpu kernels with Promise-held buffers, the
// same buffer path as webgpu): soft targets and sigmoid targets stay on the device and give the reference's
// values; integer labels as a device Tensor get a BackendError that says what to pass instead.
import { describe, expect, it } from 'vitest';
import { BackendError } from '../../src/errors.js';
import { crossEntropy, mixupCrossEntropy, sigmoidCrossEntropy } from '../../src/nn/index.js';
import { createGpujsBackend } from '../../src/tensor/backends/gpujs/index.js';
import { createReferenceBackend, fromTyped } from '../../src/tensor/index.js';
import { TOL } from '../tolerances.js';

const logits = [0.5, -1, 2, 0.25, 0, -0.5];
const soft = [0.2, 0.3, 0.5, 1, 0, 0];

describe('losses with asynchronous readback', () => {
  it('soft-target CE, MixUp CE with soft targets and sigmoid CE match the reference without readSync', async () => {
    const gb = await createGpujsBackend('cpu', { asyncBuffers: true });
    const ref = createReferenceBackend();
    const values = async (b: typeof ref) => {
      const x = fromTyped(logits, [2, 3], { backend: b });
      const t = fromTyped(soft, [2, 3], { backend: b });
      const out = [
        crossEntropy(x, t, { labelSmoothing: 0.1 }),
        mixupCrossEntropy(x, t, [2, 0], 0.7),
        sigmoidCrossEntropy(x, t),
      ];
      const vs: number[] = [];
      for (const o of out) vs.push((await o.data())[0]!);
      return vs;
    };
    const want = await values(ref);
    const got = await values(gb);
    for (let i = 0; i < want.length; i++)
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(TOL.linear.atol + TOL.linear.rtol * Math.abs(want[i]!));
    const x = fromTyped(logits, [2, 3], { backend: gb });
    expect(() => crossEntropy(x, fromTyped([2, 0], [2], { backend: gb }))).toThrow(BackendError);
    expect(() => crossEntropy(x, fromTyped([2, 0], [2], { backend: gb }))).toThrow(/Int32Array/);
    gb.dispose();
  });
});
