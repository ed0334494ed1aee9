// StdConv2d under noGrad frees its standardized kernel as soon as the conv is issued (src/nn/conv.ts) unless the
// eval-mode kernel cache keeps it within its byte budget (src/nn/std-weight-cache.ts), so an inference forward inside
// one tidy scope holds the budget plus one standardized kernel at a time, never a copy of every weight (BiT-R152x4:
// 3.75 GB). Checked by live buffers on the reference and wasm backends (synchronous issue) in train mode (no cache),
// and for a whole BiT in eval mode with the cache off (budget 0: one kernel at a time) and with a budget that holds
// every kernel (the second forward standardizes nothing); the output equals the grad-mode forward exactly, and with
// grad on the kernel stays alive for the backward.
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/models/index.js';
import { StdConv2d, setStdWeightCacheBudget, stdWeightCacheStats } from '../../src/nn/index.js';
import { getBackend } from '../../src/tensor/backends/registry.js';
import { createReferenceBackend, noGrad, Rng, randn, tidy } from '../../src/tensor/index.js';

describe('StdConv2d inference memory', () => {
  for (const name of ['reference', 'wasm']) {
    it(`${name}: under noGrad a forward adds only its output; values equal the grad-mode forward`, async () => {
      const b = name === 'reference' ? createReferenceBackend() : await getBackend('wasm');
      const conv = new StdConv2d(6, 8, 3, { padding: 1, rng: new Rng(1), backend: b });
      const x = randn([2, 6, 5, 5], { backend: b, rng: new Rng(2) });
      const before = b.liveBuffers();
      const [liveInside, inferred] = noGrad(() =>
        tidy(() => {
          const y = conv.forward(x);
          return [b.liveBuffers(), Array.from(y.dataSync())] as const;
        }),
      );
      expect(liveInside - before).toBe(1);
      expect(b.liveBuffers()).toBe(before);
      const graded = tidy(() => {
        const y = conv.forward(x);
        // grad mode keeps the standardized kernel (and its statistics) for the backward
        expect(b.liveBuffers() - before).toBeGreaterThan(1);
        return Array.from(y.dataSync());
      });
      expect(inferred).toEqual(graded);
      expect(new Set(inferred).size).toBeGreaterThan(10);
      x.dispose();
      conv.dispose();
    });
  }

  it('a whole BiT forward under noGrad on the reference backend: one standardized kernel at a time without the cache, each kernel once with it', () => {
    const b = createReferenceBackend();
    const net = createModel('bit-tiny', { numClasses: 10, seed: 3, backend: b });
    net.eval();
    const x = randn([1, 3, 32, 32], { backend: b, rng: new Rng(9) });
    // standardized kernels made by the backend and not yet freed, sampled at every conv
    const standardized = new Set<unknown>();
    let most = 0;
    let convs = 0;
    let made = 0;
    const ws = b.weightStandardize.bind(b);
    const conv = b.conv2d.bind(b);
    const free = b.free.bind(b);
    b.weightStandardize = (...a: Parameters<typeof ws>) => {
      const r = ws(...a);
      made++;
      standardized.add(r.y);
      return r;
    };
    b.conv2d = (...a: Parameters<typeof conv>) => {
      convs++;
      most = Math.max(most, standardized.size);
      return conv(...a);
    };
    // each unit's conv3 with its residual add (ResNetV2 folds the add into it unless BIT_FUSE_RESADD=0)
    const convAdd = b.conv2dAdd.bind(b);
    b.conv2dAdd = (...a: Parameters<typeof convAdd>) => {
      convs++;
      most = Math.max(most, standardized.size);
      return convAdd(...a);
    };
    b.free = (buf) => {
      standardized.delete(buf);
      free(buf);
    };
    const stdConvs = net.namedModules().filter(([, m]) => m instanceof StdConv2d).length;
    const forward = () => noGrad(() => tidy(() => Array.from(net.forward(x).dataSync())));
    const prev = setStdWeightCacheBudget(0);
    try {
      const logits = forward();
      expect(logits.length).toBe(10);
      expect(convs).toBe(stdConvs + 1);
      expect(most).toBe(1);
      expect(made).toBe(stdConvs);
      // with a budget that fits: the first forward keeps every kernel, the second makes none
      setStdWeightCacheBudget(256 * 2 ** 20);
      [convs, most, made] = [0, 0, 0];
      expect(forward()).toEqual(logits);
      expect(made).toBe(stdConvs);
      expect(most).toBe(stdConvs);
      expect(stdWeightCacheStats().kernels).toBe(stdConvs);
      made = 0;
      expect(forward()).toEqual(logits);
      expect(made).toBe(0);
      net.dispose();
      expect(standardized.size).toBe(0);
      expect(stdWeightCacheStats().kernels).toBe(0);
    } finally {
      setStdWeightCacheBudget(prev);
    }
    x.dispose();
  });
});
