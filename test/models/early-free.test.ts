// ResNetV2's inference forward frees each intermediate activation once its consumers are issued
// (src/models/early-free.ts): under noGrad a bit-tiny forward's logits equal the grad-mode forward's bit for bit, the
// caller's input survives, nothing but the output outlives the forward (the standardized-kernel cache is off here,
// budget 0), and the live buffers sampled at every conv stay a few activations above the start instead of growing
// with every layer as in grad mode, where the backward needs them all; no higher with the residual add folded into
// conv3 than without.
import { describe, expect, it } from 'vitest';
import { createModel, setFusedResidualAdd } from '../../src/models/index.js';
import { setStdWeightCacheBudget } from '../../src/nn/index.js';
import { createReferenceBackend, noGrad, Rng, randn, tidy } from '../../src/tensor/index.js';

describe('ResNetV2 inference frees intermediates early', () => {
  it('bit-tiny under noGrad: same logits, input kept, peak a few activations', () => {
    const b = createReferenceBackend();
    const net = createModel('bit-tiny', { numClasses: 10, seed: 5, backend: b }).eval();
    const x = randn([2, 3, 32, 32], { backend: b, rng: new Rng(6) });
    const prev = setStdWeightCacheBudget(0);
    try {
      let most = 0;
      const conv = b.conv2d.bind(b);
      b.conv2d = (...a: Parameters<typeof conv>) => {
        most = Math.max(most, b.liveBuffers());
        return conv(...a);
      };
      // conv3 with the unit's residual add folded in (BIT_FUSE_RESADD): sampled as well
      const convAdd = b.conv2dAdd.bind(b);
      b.conv2dAdd = (...a: Parameters<typeof convAdd>) => {
        most = Math.max(most, b.liveBuffers());
        return convAdd(...a);
      };
      const before = b.liveBuffers();
      const inferred = noGrad(() => {
        const y = net.forward(x);
        const v = Array.from(y.dataSync());
        y.dispose();
        return v;
      });
      const inferPeak = most - before;
      expect(b.liveBuffers()).toBe(before);
      expect(x.isDisposed).toBe(false);
      most = 0;
      const graded = tidy(() => Array.from(net.forward(x).dataSync()));
      const gradPeak = most - before;
      expect(inferred).toEqual(graded);
      expect(new Set(inferred).size).toBe(20);
      // measured: 5 live at the worst conv under noGrad (block input, shortcut, the conv's input, its kernel...),
      // 116 in grad mode (every activation, kernel and statistic of the graph)
      expect(inferPeak).toBeLessThanOrEqual(6);
      expect(gradPeak).toBeGreaterThan(10 * inferPeak);
      // the unfused unit end (conv3, then add) frees no earlier: the same logits, a peak no lower
      const fused = setFusedResidualAdd(false);
      most = 0;
      const unfused = noGrad(() => {
        const y = net.forward(x);
        const v = Array.from(y.dataSync());
        y.dispose();
        return v;
      });
      setFusedResidualAdd(fused);
      expect(unfused).toEqual(inferred);
      expect(b.liveBuffers()).toBe(before);
      expect(inferPeak).toBeLessThanOrEqual(most - before);
    } finally {
      setStdWeightCacheBudget(prev);
    }
    x.dispose();
    net.dispose();
  });
});
