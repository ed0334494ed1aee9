// The README's library example, run as written except for a smaller model and input (so it stays fast):
// one training step on the wasm backend through the public entry points.
import { describe, expect, it } from 'vitest';
import { disposeBackends, randn, tidy, useBackend } from '../src/index.js';
import { createModel } from '../src/models/index.js';
import { crossEntropy, SGD } from '../src/nn/index.js';

describe('README library example', () => {
  it('runs one SGD step and returns a finite loss near log(10)', async () => {
    await useBackend('wasm');
    const net = createModel('bit-tiny', { numClasses: 10, zeroHead: true });
    const opt = new SGD(net.parameters(), { lr: 0.003, momentum: 0.9 });
    const x = randn([8, 3, 32, 32]);
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = crossEntropy(net.forward(x), [0, 1, 2, 3, 4, 5, 6, 7]);
      l.backward();
      opt.step();
      return l.item();
    });
    // a zero head gives uniform logits: the first loss is exactly log(10) up to float32 rounding
    expect(loss).toBeCloseTo(Math.log(10), 5);
    disposeBackends();
  });
});
