/**
 * Backward runs each closure inside a tidy scope, so no backward allocates anything that outlives it: with the
 * graph retained, ten backward passes through one graph that uses every kind of autograd op leave the live
 * buffer count exactly where the first left it (gradients are replaced, not accumulated into new buffers each
 * time). And one training step inside tidy returns the backend to its starting count. On every backend.
 */

import { afterAll, describe, expect, it } from 'vitest';
import * as ops from '../../src/autograd/ops/index.js';
import type { Backend } from '../../src/tensor/backend.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import * as F from '../../src/tensor/index.js';
import { availableBackends } from '../conformance/harness.js';

const backends: Backend[] = [
  F.createReferenceBackend(),
  ...(await availableBackends()).flatMap((b) => (b.backend ? [b.backend] : [])),
];
afterAll(() => disposeBackends());

/** A scalar through every kind of op: conv, WS, GroupNorm, pools, matmul, reductions, movement, table ops. */
function graph(x: F.Tensor, w: F.Tensor, g: F.Tensor, m: F.Tensor): F.Tensor {
  const h = ops.conv2d(x, ops.weightStandardize(w), null, { padding: 1 });
  const n = ops.groupNorm(h, 2, g, ops.mul(g, 0.5));
  const p = ops.maxPool2d(ops.relu(n), 2, 2, 0);
  const a = ops.avgPool2d(ops.pad(ops.softplus(p), [0, 1, 0, 1]), 2);
  const f = ops.reshape(a, [2, -1]);
  const z = ops.matmul(f, m);
  const s = ops.concat([ops.softmax(z, 1), ops.logSoftmax(z, 1), ops.slice(z, 1, 0, 2)], 1);
  const t = ops.where(ops.compare('gt', s, 0), ops.sigmoid(s), ops.pow(ops.abs(s), 2));
  const r = ops.add(ops.maxReduce(t, 1), ops.logsumexp(ops.maximum(t, ops.tanh(s)), 1));
  return ops.add(
    ops.mean(ops.div(r, ops.add(ops.exp(ops.neg(r)), 2))),
    ops.variance(ops.sqrt(ops.square(t)), 1, true, false).sum(),
  );
}

for (const b of backends) {
  describe(`backward on ${b.name}`, () => {
    it('retained-graph backward passes allocate nothing that outlives them', async () => {
      const o = { backend: b, requiresGrad: true };
      const x = F.randn([2, 3, 6, 6], { ...o, rng: new F.Rng(1) });
      const w = F.randn([4, 3, 3, 3], { ...o, rng: new F.Rng(2) });
      const g = F.rand([4], { ...o, low: 0.5, high: 1.5, rng: new F.Rng(3) });
      const m = F.randn([16, 5], { ...o, rng: new F.Rng(4) });
      const y = graph(x, w, g, m);
      const counts: number[] = [];
      for (let i = 0; i < 10; i++) {
        for (const t of [x, w, g, m]) t.zeroGrad();
        y.backward(undefined, { retainGraph: true });
        counts.push(b.liveBuffers());
      }
      expect(new Set(counts).size).toBe(1);
      for (const t of [x, w, g, m]) expect((await t.grad!.data()).every(Number.isFinite)).toBe(true);
    });

    it('a forward + backward inside tidy returns to the starting live-buffer count', () => {
      const o = { backend: b, requiresGrad: true };
      const params = [
        F.randn([2, 3, 6, 6], { ...o, rng: new F.Rng(5) }),
        F.randn([4, 3, 3, 3], { ...o, rng: new F.Rng(6) }),
        F.rand([4], { ...o, low: 0.5, high: 1.5, rng: new F.Rng(7) }),
        F.randn([16, 5], { ...o, rng: new F.Rng(8) }),
      ] as const;
      const before = b.liveBuffers();
      F.tidy(() => graph(...params).backward());
      expect(b.liveBuffers()).toBe(before + params.length); // one .grad per leaf, kept out of the scope
      for (const p of params) p.dispose();
    });
  });
}
