/**
 * softplus, the worked example of adding an op (docs/architecture.md "How to add an op"): one op-table entry
 * (expression + gradient), one functional export, one public re-export. Checked on every available backend
 * (reference first, then the conformance harness's list) against an independent float64 form,
 * max(a, 0) + log1p(exp(-|a|)), forward and backward (d/da = sigmoid(a)), plus float64 gradcheck.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { assertGradcheck } from '../../src/autograd/gradcheck.js';
import type { Backend } from '../../src/tensor/backend.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import * as F from '../../src/tensor/index.js';
import { availableBackends } from '../conformance/harness.js';
import { leaf64 } from '../helpers.js';
import { expectClose, TOL } from '../tolerances.js';

const backends: Backend[] = [
  F.createReferenceBackend(),
  ...(await availableBackends()).flatMap((b) => (b.backend ? [b.backend] : [])),
];
afterAll(() => disposeBackends());

const X = [-120, -30, -20.5, -3, -0.25, 0, 1e-3, 0.75, 4, 19.5, 20.5, 60];
const softplus64 = (a: number) => Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a)));
const sigmoid64 = (a: number) => 1 / (1 + Math.exp(-a));

for (const b of backends) {
  describe(`softplus on ${b.name}`, () => {
    it('forward equals log(1 + e^a) and the gradient equals g * sigmoid(a)', async () => {
      const live = b.liveBuffers();
      const x = F.fromTyped(Float32Array.from(X), [3, 4], { backend: b, requiresGrad: true });
      const g = F.fromTyped(
        Float32Array.from(X, (_, i) => 0.5 + i / 8),
        [3, 4],
        { backend: b },
      );
      const xs = Float32Array.from(X);
      F.tidy(() => {
        const y = x.softplus();
        y.backward(g);
      });
      const y = F.softplus(x);
      expectClose(await y.data(), [...xs].map(softplus64), TOL.elementwise, `${b.name} softplus`);
      const gv = await g.data();
      const want = [...xs].map((a, i) => gv[i] * sigmoid64(a));
      expectClose(await x.grad!.data(), want, TOL.elementwise, `${b.name} softplus grad`);
      for (const t of [x, g, y]) t.dispose();
      expect(b.liveBuffers()).toBe(live);
    });
  });
}

describe('softplus float64', () => {
  it('passes gradcheck on the reference backend', () => {
    const x = leaf64([2, 5], 7);
    assertGradcheck((a) => F.softplus(a.mul(8)), [x], TOL.gradcheck);
  });
});
