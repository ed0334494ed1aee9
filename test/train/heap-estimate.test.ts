/**
 * The trainer's heap hint (src/train/core/heap-estimate.ts): the estimate of a ResNetV2 training step's bytes stays
 * below what the wasm allocator's high-water mark really grows by in the first step (so mapping it ahead never
 * maps memory the step does not use) and covers most of it; 0 for a model without a plan. A Trainer given
 * `inputShape` maps that much on the model's wasm backend (`heapReady`); BIT_TRAIN_PREFAULT=0 turns it off.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { createModel, modelConfig } from '../../src/models/index.js';
import { Linear, SGD } from '../../src/nn/index.js';
import { useBackend } from '../../src/tensor/backends/registry.js';
import { createWasmBackend, type WasmBackend } from '../../src/tensor/backends/wasm/index.js';
import { clearDefaultBackend, setDefaultBackend } from '../../src/tensor/engine.js';
import { estimateStepBytes, prepareHeapForConfig } from '../../src/train/core/heap-estimate.js';
import { Trainer } from '../../src/train/core/index.js';

/** A fresh one-thread wasm backend as the default (no free lists left by other models). */
function fresh(): WasmBackend {
  const be = createWasmBackend({ threads: 1 });
  setDefaultBackend(be);
  return be;
}
function release(be: WasmBackend) {
  clearDefaultBackend(be);
  be.dispose();
}

const source = { numBatches: () => 1, async *[Symbol.asyncIterator]() {} };
const schedule = { lr: () => 0.01, totalSteps: 10 };

function trainer(model: ReturnType<typeof createModel>, inputShape?: number[]) {
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return { t: new Trainer({ model, optimizer, schedule, source, rng: new Rng(1), inputShape }), optimizer };
}

describe('heap estimate of a training step', () => {
  const env = process.env.BIT_TRAIN_PREFAULT;
  afterAll(() => {
    if (env === undefined) delete process.env.BIT_TRAIN_PREFAULT;
    else process.env.BIT_TRAIN_PREFAULT = env;
  });

  it('is 0 for a model without a ResNetV2 plan, and grows with the batch', async () => {
    await useBackend('wasm');
    expect(estimateStepBytes(new Linear(4, 2, { rng: new Rng(1) }), [8, 4])).toBe(0);
    const m = createModel('bit-tiny', { numClasses: 10, seed: 0 });
    const e8 = estimateStepBytes(m, [8, 3, 32, 32]);
    const e32 = estimateStepBytes(m, [32, 3, 32, 32]);
    expect(e8).toBeGreaterThan(0);
    expect(e32).toBeGreaterThan(e8);
    m.dispose();
  });

  it('stays under the first step\u2019s real heap growth on wasm and covers most of it', async () => {
    process.env.BIT_TRAIN_PREFAULT = '0'; // measure the plain growth
    for (const batch of [8, 32]) {
      const be = fresh();
      const model = createModel('bit-tiny', { numClasses: 10, seed: 0 });
      const shape = [batch, 3, 32, 32];
      const { t, optimizer } = trainer(model, shape);
      const before = be.heapStats();
      const rng = new Rng(2);
      const images = Float32Array.from({ length: batch * 3 * 32 * 32 }, () => rng.uniform() - 0.5);
      const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
      const out = await t.trainStep({ images, shape, labels, epoch: 0, position: 0 });
      expect(out.ok).toBe(true);
      const after = be.heapStats();
      const grown = after.highWater - before.highWater; // a fresh backend: no free lists from earlier models
      const est = estimateStepBytes(model, shape);
      expect(est).toBeLessThanOrEqual(grown);
      expect(est).toBeGreaterThan(0.6 * grown);
      optimizer.dispose();
      model.dispose();
      release(be);
    }
  });

  it('a Trainer given inputShape maps the estimate on the wasm backend; BIT_TRAIN_PREFAULT=0 does not', async () => {
    const be = fresh();
    const model = createModel('bit-tiny', { numClasses: 10, seed: 0 });
    process.env.BIT_TRAIN_PREFAULT = '0';
    const off = trainer(model, [16, 3, 32, 32]);
    expect(await off.t.heapReady).toBe(0);
    off.optimizer.dispose();
    delete process.env.BIT_TRAIN_PREFAULT;
    const none = trainer(model);
    expect(await none.t.heapReady).toBe(0);
    none.optimizer.dispose();
    const big = [128, 3, 32, 32]; // an estimate over the backend's PREFAULT_MIN_BYTES
    const on = trainer(model, big);
    const mapped = await on.t.heapReady;
    expect(mapped).toBeGreaterThan(0);
    expect(mapped).toBeLessThanOrEqual(estimateStepBytes(model, big));
    on.optimizer.dispose();
    model.dispose();
    release(be);
  });

  it('a front end that knows its config maps weights and step before the model exists; the Trainer adds nothing', async () => {
    const be = fresh();
    const cfg = modelConfig('bit-tiny', { numClasses: 10 });
    const shape = [128, 3, 32, 32];
    const early = await prepareHeapForConfig(be, cfg, shape, 1);
    const model = createModel('bit-tiny', { numClasses: 10, seed: 0 });
    expect(early).toBeGreaterThan(estimateStepBytes(model, shape)); // the weights come on top
    const { t, optimizer } = trainer(model, shape);
    expect(await t.heapReady).toBe(0); // already handed to a toucher
    expect(await prepareHeapForConfig(null, cfg, shape, 2)).toBe(0); // no backend, no request
    optimizer.dispose();
    model.dispose();
    release(be);
  });
});
