// StdConv2d's inference cache of standardized kernels (src/nn/std-weight-cache.ts): in eval mode under noGrad the
// kernel is standardized once per weight version and reused; cached forwards equal uncached ones bit for bit; an SGD
// step, a state-dict load or a manual in-place write changes the next forward; the shared byte budget holds; repeated
// forwards leak nothing; train() and dispose() free the kernels; on wasm the Winograd weight transforms of the cached
// kernels survive between forwards.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  clearStdWeightCache,
  SGD,
  StdConv2d,
  setStdWeightCacheBudget,
  stdWeightCacheStats,
} from '../../src/nn/index.js';
import type { Backend } from '../../src/tensor/backend.js';
import { getBackend } from '../../src/tensor/backends/registry.js';
import type { WasmBackend } from '../../src/tensor/backends/wasm/index.js';
import { createReferenceBackend, noGrad, Rng, randn, type Tensor, tidy } from '../../src/tensor/index.js';

const BIG = 256 * 2 ** 20;
let prevBudget = BIG;
beforeEach(() => {
  prevBudget = setStdWeightCacheBudget(BIG);
});
afterEach(() => {
  clearStdWeightCache();
  setStdWeightCacheBudget(prevBudget);
});

/** Count the backend's weightStandardize calls (the cache's misses). */
function countStandardize(b: Backend): { calls: number } {
  const n = { calls: 0 };
  const ws = b.weightStandardize.bind(b);
  b.weightStandardize = (...a: Parameters<typeof ws>) => {
    n.calls++;
    return ws(...a);
  };
  return n;
}

const infer = (conv: StdConv2d, x: Tensor) => noGrad(() => tidy(() => Array.from(conv.forward(x).dataSync())));

describe('StdConv2d inference kernel cache', () => {
  for (const name of ['reference', 'wasm']) {
    it(`${name}: standardizes once per weight version; cached forwards equal the uncached ones bit for bit`, async () => {
      const b = name === 'reference' ? createReferenceBackend() : await getBackend('wasm');
      const n = countStandardize(b);
      const conv = new StdConv2d(6, 8, 3, { padding: 1, rng: new Rng(1), backend: b }).eval();
      const x = randn([2, 6, 7, 7], { backend: b, rng: new Rng(2) });
      const first = infer(conv, x);
      const second = infer(conv, x);
      expect(n.calls).toBe(1);
      expect(stdWeightCacheStats().kernels).toBe(1);
      expect(stdWeightCacheStats().bytes).toBe(8 * 6 * 9 * 4);
      setStdWeightCacheBudget(0);
      clearStdWeightCache();
      const uncached = infer(conv, x);
      expect(n.calls).toBe(2);
      expect(stdWeightCacheStats().kernels).toBe(0);
      const graded = tidy(() => Array.from(conv.forward(x).dataSync()));
      expect(second).toEqual(first);
      expect(uncached).toEqual(first);
      expect(graded).toEqual(first);
      expect(new Set(first).size).toBeGreaterThan(50);
      x.dispose();
      conv.dispose();
    });
  }

  it('an SGD step, a state-dict load and a manual in-place write each change the next cached forward', () => {
    const b = createReferenceBackend();
    const conv = new StdConv2d(4, 5, 3, { padding: 1, rng: new Rng(3), backend: b }).eval();
    const twin = new StdConv2d(4, 5, 3, { padding: 1, rng: new Rng(3), backend: b }).eval();
    const x = randn([1, 4, 6, 6], { backend: b, rng: new Rng(4) });
    const n = countStandardize(b);
    // the twin runs uncached (budget 0), after the same change to its own weight: the expected value
    const expected = () => {
      const prev = setStdWeightCacheBudget(0);
      try {
        return infer(twin, x);
      } finally {
        setStdWeightCacheBudget(prev);
      }
    };
    const outs: number[][] = [infer(conv, x)];
    expect(outs[0]).toEqual(expected());

    // SGD (the model stays in eval mode: only the version counter can tell the cache)
    const g = randn([5, 4, 3, 3], { backend: b, rng: new Rng(5) });
    for (const m of [conv, twin]) {
      const opt = new SGD([['w', m.weight]], { lr: 0.5, momentum: 0 });
      m.weight.setGrad(g.clone());
      opt.step();
      opt.dispose();
    }
    outs.push(infer(conv, x));
    expect(outs[1]).toEqual(expected());

    // state-dict load
    const other = new StdConv2d(4, 5, 3, { padding: 1, rng: new Rng(6), backend: b });
    conv.loadStateDict(other.stateDict());
    twin.loadStateDict(other.stateDict());
    outs.push(infer(conv, x));
    expect(outs[2]).toEqual(expected());

    // manual in-place write (an add: standardization undoes a scale)
    const d = randn([5, 4, 3, 3], { backend: b, rng: new Rng(7) });
    noGrad(() => {
      conv.weight.add_(d);
      twin.weight.add_(d);
    });
    outs.push(infer(conv, x));
    expect(outs[3]).toEqual(expected());

    for (let i = 1; i < outs.length; i++) expect(outs[i]).not.toEqual(outs[i - 1]);
    // conv: one miss per version (4 versions); twin: one per expected() call (4)
    expect(n.calls).toBe(8);
    for (const t of [x, g, d]) t.dispose();
    for (const m of [conv, twin, other]) m.dispose();
  });

  it('respects the shared budget: a kernel that does not fit runs per call and is freed', () => {
    const b = createReferenceBackend();
    const small = new StdConv2d(3, 4, 3, { rng: new Rng(8), backend: b }).eval();
    const large = new StdConv2d(3, 16, 3, { rng: new Rng(9), backend: b }).eval();
    const x = randn([1, 3, 5, 5], { backend: b, rng: new Rng(10) });
    const smallBytes = 4 * 3 * 9 * 4;
    setStdWeightCacheBudget(smallBytes + 10);
    const n = countStandardize(b);
    const before = b.liveBuffers();
    for (let i = 0; i < 3; i++) {
      infer(small, x);
      infer(large, x);
      expect(stdWeightCacheStats()).toEqual({ bytes: smallBytes, budgetBytes: smallBytes + 10, kernels: 1 });
    }
    expect(n.calls).toBe(1 + 3);
    expect(b.liveBuffers() - before).toBe(1);
    expect(() => setStdWeightCacheBudget(-1)).toThrow(ConfigError);
    expect(() => setStdWeightCacheBudget(Number.NaN)).toThrow(ConfigError);
    x.dispose();
    small.dispose();
    large.dispose();
  });

  it('leaks nothing over repeated forwards; train(), a grad-mode forward and dispose() free the kernel', () => {
    const b = createReferenceBackend();
    const conv = new StdConv2d(4, 6, 3, { padding: 1, rng: new Rng(11), backend: b }).eval();
    const x = randn([2, 4, 5, 5], { backend: b, rng: new Rng(12) });
    const before = b.liveBuffers();
    infer(conv, x);
    const counts = Array.from({ length: 4 }, () => {
      infer(conv, x);
      return b.liveBuffers() - before;
    });
    expect(counts).toEqual([1, 1, 1, 1]);
    conv.train();
    expect(stdWeightCacheStats().kernels).toBe(0);
    expect(b.liveBuffers()).toBe(before);
    // train mode under noGrad: per call, nothing kept
    infer(conv, x);
    expect(b.liveBuffers()).toBe(before);
    conv.eval();
    infer(conv, x);
    expect(b.liveBuffers() - before).toBe(1);
    tidy(() => {
      conv.forward(x);
    });
    expect(b.liveBuffers()).toBe(before);
    infer(conv, x);
    expect(stdWeightCacheStats().kernels).toBe(1);
    const params = conv.parameters().length;
    conv.dispose();
    expect(stdWeightCacheStats()).toMatchObject({ bytes: 0, kernels: 0 });
    expect(b.liveBuffers()).toBe(before - params);
    x.dispose();
  });

  it('wasm: the Winograd transform of a cached kernel survives between forwards', async () => {
    const b = (await getBackend('wasm')) as WasmBackend;
    // 64 channels at 16x16, batch 2: a 3x3/1 layer the cost rule sends to Winograd
    const conv = new StdConv2d(64, 64, 3, { padding: 1, rng: new Rng(13), backend: b }).eval();
    const x = randn([2, 64, 16, 16], { backend: b, rng: new Rng(14) });
    const base = b.winogradCacheStats().buffers;
    const first = infer(conv, x);
    expect(b.winogradCacheStats().buffers).toBe(base + 1);
    const second = infer(conv, x);
    expect(second).toEqual(first);
    expect(b.winogradCacheStats().buffers).toBe(base + 1);
    // without the kernel cache the standardized kernel dies with its forward, and its transform with it
    setStdWeightCacheBudget(0);
    clearStdWeightCache();
    expect(b.winogradCacheStats().buffers).toBe(base);
    expect(infer(conv, x)).toEqual(first);
    expect(b.winogradCacheStats().buffers).toBe(base);
    x.dispose();
    conv.dispose();
  });
});
