/**
 * Whole-step benchmark: one BiT-R50x1 training step (the core's: forward, cross-entropy, backward, SGD momentum 0.9) at
 * batch 8 x 128 px and batch 32 x 32 px, 10 classes, on a given backend; plus images/s of the small CPU
 * variant. first_ms includes every kernel build of the step.
 */

import { createModel, modelConfig } from '../src/models/index.js';
import { SGD } from '../src/nn/index.js';
import type { BackendName } from '../src/tensor/backends/registry.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import * as F from '../src/tensor/index.js';
import { prepareHeapForConfig } from '../src/train/core/heap-estimate.js';
import { Trainer } from '../src/train/core/index.js';

export interface StepRow {
  bench: string;
  backend: string;
  shape: string;
  first_ms: number;
  ms: number;
  gflops: number | null;
}

/**
 * One training step of `model` (10 classes, SGD momentum 0.9, fixed seeded batch) on the default backend, through
 * the training core's `Trainer.trainStep` (src/train/core: upload, forward, cross-entropy, backward, the NaN guard,
 * the update), so the bench times the step every front end runs. `step()` resolves to the loss (read back
 * asynchronously: every backend); `dispose()` frees the model and optimizer; `params` counts the weights.
 */
export function makeTrainStep(model: string, batch: number, px: number) {
  // as the CLI (src/train/trainer-phases.ts): map the weights and the first step's estimated heap on a background
  // thread before building the model, which then initializes while the pages are touched (BIT_TRAIN_PREFAULT=0: off)
  void prepareHeapForConfig(F.getDefaultBackend(), modelConfig(model, { numClasses: 10 }), [batch, 3, px, px], 1);
  const net = createModel(model, { numClasses: 10, seed: 0 });
  const opt = new SGD(net.parameters(), { lr: 0.003, momentum: 0.9 });
  const images = F.randn([batch, 3, px, px], { rng: new F.Rng(1) });
  const b = {
    images: images.dataSync() as Float32Array,
    shape: [batch, 3, px, px],
    labels: Int32Array.from({ length: batch }, (_, i) => i % 10),
    epoch: 0,
    position: 0,
  };
  images.dispose();
  const source = { numBatches: () => 1, async *[Symbol.asyncIterator]() {} };
  const schedule = { lr: () => 0.003, totalSteps: Number.MAX_SAFE_INTEGER };
  // inputShape: the trainer's own request (here already covered by the one above)
  const trainer = new Trainer({ model: net, optimizer: opt, schedule, source, rng: new F.Rng(0), inputShape: b.shape });
  const step = async () => {
    const out = await trainer.trainStep(b);
    if (!out.ok) throw new Error(`${model}: non-finite loss ${out.loss} in the bench step`);
    return out.report.loss;
  };
  const dispose = () => {
    opt.dispose();
    net.dispose();
  };
  return { step, dispose, params: net.parameters().reduce((n, p) => n + p.size, 0) };
}

/**
 * One inference call as `bench/js-peers.ts` times it: the model in eval mode, a forward under noGrad (tidy), the
 * logits read back. Same seeds as makeTrainStep.
 */
export function makeInferStep(model: string, batch: number, px: number) {
  const net = createModel(model, { numClasses: 10, seed: 0 }).eval();
  const x = F.randn([batch, 3, px, px], { rng: new F.Rng(1) });
  const step = async () => {
    const y = F.noGrad(() => F.tidy(() => net.forward(x)));
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v[0]!;
  };
  const dispose = () => {
    x.dispose();
    net.dispose();
  };
  return { step, dispose, params: net.parameters().reduce((n, p) => n + p.size, 0) };
}

/**
 * Time `call` once (the first call: warm-up, kernel builds) and then `reps` steady calls; returns the first call's
 * ms and result, and the median, min and max of the steady calls.
 */
export async function timeFirstAndSteady<T>(call: () => Promise<T>, reps: number) {
  let t = performance.now();
  const result = await call();
  const first = performance.now() - t;
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    t = performance.now();
    await call();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return { first, result, median: ts[Math.floor(ts.length / 2)]!, min: ts[0]!, max: ts[ts.length - 1]! };
}

/** Time training steps; each step ends when its loss is read back (asynchronously: every backend). */
async function timeSteps(model: string, batch: number, px: number, reps: number) {
  const { step, dispose } = makeTrainStep(model, batch, px);
  const r = await timeFirstAndSteady(step, reps);
  dispose();
  return { first: r.first, ms: r.median };
}

/** Steps to time: [model, batch, px]. The gpu.js backends run ~1 GFLOP/s on a CPU: a small step there. */
export function stepConfigs(name: BackendName, quick: boolean): [string, number, number][] {
  if (name === 'gpujs-webgpu' && process.env.BIT_GPU_FULL === '1') {
    // a hardware adapter: the same steps as wasm, incl. the batch 8 x 128 px step the device limits must fit
    return [
      ['BiT-R50x1', 8, 128],
      ['BiT-R50x1', 32, 32],
    ];
  }
  if (name.startsWith('gpujs')) return [['BiT-R50x1', 2, 32]];
  return quick
    ? [['BiT-R50x1', 32, 32]]
    : [
        ['BiT-R50x1', 8, 128],
        ['BiT-R50x1', 32, 32],
      ];
}

export async function runStepBench(name: BackendName, quick: boolean): Promise<StepRow[]> {
  await useBackend(name);
  const rows: StepRow[] = [];
  const cfgs = stepConfigs(name, quick);
  for (const [model, batch, px] of cfgs) {
    const { first, ms } = await timeSteps(model, batch, px, quick || name.startsWith('gpujs') ? 1 : 3);
    rows.push({
      bench: 'train_step',
      backend: name,
      shape: `${batch}x${px} ${model}`,
      first_ms: first,
      ms,
      gflops: null,
    });
  }
  return rows;
}
