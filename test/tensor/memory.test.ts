/**
 * Memory: deterministic release. 100 training-like steps (forward, backward, SGD-like in-place update) inside
 * tidy scopes keep the live-buffer count flat; dispose is idempotent; views keep storage alive.
 */

import { describe, expect, it } from 'vitest';
import * as F from '../../src/tensor/index.js';

describe('memory', () => {
  it('100 training-like steps do not grow the live-buffer count', () => {
    const be = F.createReferenceBackend();
    const o = { backend: be, requiresGrad: true };
    const w1 = F.randn([4, 3, 3, 3], o);
    const g1 = F.ones([4], o);
    const b1 = F.zeros([4], o);
    const w2 = F.randn([2, 4], o);
    const params = [w1, g1, b1, w2];
    const counts: number[] = [];
    for (let step = 0; step < 100; step++) {
      F.tidy(() => {
        const x = F.randn([2, 3, 6, 6], { backend: be });
        const h = F.conv2d(x, F.weightStandardize(w1), null, { padding: 1 });
        const n = F.groupNorm(h, 2, g1, b1).relu();
        const p = F.maxPool2d(n.pad([1, 1, 1, 1]), 3, 2).mean([2, 3]);
        const loss = p.matmul(w2.T).logSoftmax(1).mean().neg();
        loss.backward();
        F.noGrad(() => {
          for (const q of params) {
            q.sub_(q.grad!.mul(0.01));
            q.zeroGrad();
          }
        });
      });
      counts.push(be.liveBuffers());
    }
    expect(counts[99]).toBe(counts[0]);
    expect(counts[0]).toBe(params.length);
  });
  it('views keep the storage alive; the buffer is freed with the last view', () => {
    const be = F.createReferenceBackend();
    const x = F.ones([2, 3], { backend: be });
    const v = x.transpose(0, 1);
    x.dispose();
    expect(be.liveBuffers()).toBe(1);
    expect(F.tidy(() => v.sum().item())).toBe(6);
    v.dispose();
    v.dispose();
    expect(be.liveBuffers()).toBe(0);
    expect(() => v.sum()).toThrow(/disposed/);
  });
  it('tidy returns its result (nested in objects) alive and disposes the rest', () => {
    const be = F.createReferenceBackend();
    const r = F.tidy(() => {
      const a = F.ones([3], { backend: be });
      const b = a.mul(2);
      a.add(1);
      return { out: [b] };
    });
    expect(be.liveBuffers()).toBe(1);
    expect(Array.from(r.out[0].dataSync())).toEqual([2, 2, 2]);
  });
});
