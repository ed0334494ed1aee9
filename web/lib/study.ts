/**
 * The study the page runs, as plain async functions shared by the page's worker and the Node test (same code,
 * same seeds, so losses can be compared across runtimes): a small GN+WS ResNetV2 (bit-tiny) trained on MNIST
 * digits 0-4 ("upstream"), then BiT transfer with the (scaled) BiT-HyperRule and a zero head to k-shot digits 5-9,
 * next to the same model trained from scratch on the same images and schedule, like `npm start`.
 *
 * Invariants: every random choice comes from Rng streams derived from `cfg.seed`; readback is asynchronous only
 * (`await t.data()`), so WebGPU works; each step's temporaries are freed by tidy, and `run` yields to the event
 * loop after every step (the page stays responsive and can stop a run between steps).
 */

import { collateBatch } from '../../src/data/collate.js';
import type { Dataset } from '../../src/data/dataset.js';
import { Rng } from '../../src/data/rng.js';
import { fewShot } from '../../src/data/sampling.js';
import { bitResolution, type TransformSpec } from '../../src/data/transforms.js';
import { createModel, type ResNetV2 } from '../../src/models/index.js';
import { crossEntropy, SGD } from '../../src/nn/index.js';
import { cosineLr } from '../../src/nn/optim/index.js';
import { fromTyped, noGrad, type Tensor, tidy } from '../../src/tensor/index.js';
import { hyperRuleLrAt, scaledHyperRule } from '../../src/train/schedule.js';
import { DOWN_CLASSES, type RunName, type StudyConfig, UP_CLASSES } from './config.js';
import { type MnistPack, splitDataset } from './mnist-pack.js';

export { DOWN_CLASSES, FULL_STUDY, QUICK_STUDY, type RunName, type StudyConfig, UP_CLASSES } from './config.js';

/** What a run reports. */
export type StudyEvent =
  | { kind: 'step'; run: RunName; step: number; total: number; loss: number; lr: number; ms: number }
  | { kind: 'eval'; run: RunName; step: number; top1: number }
  | { kind: 'hyperrule'; lines: string[]; schedule: number[] }
  | { kind: 'model'; run: RunName; model: ResNetV2 };

function trainSpec(cfg: StudyConfig): TransformSpec {
  return { kind: 'bit-train', precrop: Math.round((cfg.crop * 160) / 128), crop: cfg.crop, hflip: false };
}

/** Held-out Top-1 (%) of `model` on the first `n` images of `ds`. */
export async function evaluate(model: ResNetV2, ds: Dataset, n: number, crop: number): Promise<number> {
  const spec: TransformSpec = { kind: 'bit-eval', crop };
  const total = Math.min(n, ds.length);
  let right = 0;
  model.eval();
  try {
    for (let a = 0; a < total; a += 50) {
      const idx = Array.from({ length: Math.min(50, total - a) }, (_, i) => a + i);
      const b = collateBatch(ds, spec, idx, 0, 0, a);
      const logits = noGrad(() => tidy(() => model.forward(fromTyped(b.images, b.shape))));
      const v = await logits.data();
      logits.dispose();
      const c = logits.shape[1]!;
      for (let i = 0; i < idx.length; i++) {
        let best = 0;
        for (let j = 1; j < c; j++) if (v[i * c + j]! > v[i * c + best]!) best = j;
        if (best === b.labels[i]) right++;
      }
    }
  } finally {
    model.train();
  }
  return (100 * right) / total;
}

/** One SGD step on `indices` of `ds`; returns the batch loss (read back asynchronously). */
async function step(
  model: ResNetV2,
  opt: SGD,
  ds: Dataset,
  spec: TransformSpec,
  idx: number[],
  seed: number,
  t: number,
) {
  const b = collateBatch(ds, spec, idx, seed, t, 0);
  const loss: Tensor = tidy(() => {
    const l = crossEntropy(model.forward(fromTyped(b.images, b.shape)), b.labels);
    l.backward();
    return l.detach();
  });
  const v = (await loss.data())[0]!;
  loss.dispose();
  opt.step();
  model.zeroGrad();
  return v;
}

/** Yield to the event loop (the page paints, messages arrive). */
const yieldNow = () => new Promise<void>((r) => setTimeout(r, 0));

interface RunSpec {
  run: RunName;
  model: ResNetV2;
  opt: SGD;
  train: Dataset;
  pool: readonly number[];
  test: Dataset;
  steps: number;
  lrAt: (t: number) => number;
}

async function runOne(cfg: StudyConfig, r: RunSpec, emit: (e: StudyEvent) => void, stop: () => boolean) {
  const spec = trainSpec(cfg);
  const rng = Rng.derive(cfg.seed, 0xb17, r.run === 'upstream' ? 0 : 1);
  for (let t = 0; t < r.steps && !stop(); t++) {
    const lr = r.lrAt(t);
    r.opt.setLr(lr);
    const idx = Array.from({ length: cfg.batch }, () => r.pool[rng.int(r.pool.length)]!);
    const t0 = performance.now();
    const loss = await step(r.model, r.opt, r.train, spec, idx, cfg.seed, t);
    emit({ kind: 'step', run: r.run, step: t + 1, total: r.steps, loss, lr, ms: performance.now() - t0 });
    const last = t + 1 === r.steps;
    if (last || (cfg.evalEvery > 0 && (t + 1) % cfg.evalEvery === 0)) {
      emit({ kind: 'eval', run: r.run, step: t + 1, top1: await evaluate(r.model, r.test, cfg.evalImages, cfg.crop) });
    }
    await yieldNow();
  }
}

/** The HyperRule's choices for `n` images of `h`x`w` px, as the CLI prints them, and its boundaries. */
export function hyperRuleLines(cfg: StudyConfig, n: number, h: number, w: number) {
  const res = bitResolution(h, w, 'official');
  const b = scaledHyperRule(n, cfg.scale);
  const precrop = Math.round((cfg.crop * res.precrop) / res.crop);
  const lines = [
    `BiT-HyperRule for N=${n} training images (5 classes, original ${h}x${w} px):`,
    `resolution: resize ${res.precrop} crop ${res.crop} (H*W < 96*96); scaled for the browser: resize ${precrop} crop ${cfg.crop}`,
    `schedule: warmup ${b[0]}, lr/10 after ${b[1]}, ${b[2]}, ${b[3]}, stop at ${b[4]} steps (official x${cfg.scale})`,
    `MixUp alpha ${n < 20_000 ? 0 : 0.1} (${n < 20_000 ? 'N < 20k' : 'N >= 20k'}); SGD momentum 0.9, lr ${cfg.lr} at batch ${cfg.batch}, no weight decay, zero head`,
  ];
  return { lines, schedule: [...b] };
}

/** Downstream runs are cut at maxSteps (the upstream run has its own count). */
const cap = (cfg: StudyConfig, n: number) => (cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, n) : n);

/**
 * Upstream, then transfer and scratch. Models are created on the engine's default backend (set it first) and
 * handed to `emit` as {kind: 'model'} (the caller owns and disposes them). `stop()` ends the study between steps;
 * `after(run, model)` is awaited when a run completes.
 */
export async function runStudy(
  cfg: StudyConfig,
  data: MnistPack,
  emit: (e: StudyEvent) => void,
  stop = () => false,
  after: (run: RunName, model: ResNetV2) => Promise<void> = async () => {},
) {
  const upTrain = splitDataset(data, 'upTrain', UP_CLASSES);
  const upTest = splitDataset(data, 'upTest', UP_CLASSES);
  const downTrain = splitDataset(data, 'downTrain', DOWN_CLASSES);
  const downTest = splitDataset(data, 'downTest', DOWN_CLASSES);

  const up = createModel(cfg.model, { numClasses: 5, seed: cfg.seed });
  emit({ kind: 'model', run: 'upstream', model: up });
  const upOpt = new SGD(up, { lr: cfg.upstreamLr, momentum: 0.9, weightDecay: 1e-4 });
  const upSteps = cfg.upstreamSteps;
  const cos = cosineLr({ lr: cfg.upstreamLr, totalSteps: upSteps });
  const all = Array.from({ length: upTrain.length }, (_, i) => i);
  const upRun = { run: 'upstream' as const, model: up, opt: upOpt, train: upTrain, pool: all, test: upTest };
  await runOne(cfg, { ...upRun, steps: upSteps, lrAt: (t) => cos(t) ?? 0 }, emit, stop);
  if (stop()) return;
  await after('upstream', up);

  const pool = Array.from(fewShot(downTrain.labels(), cfg.shots, cfg.seed, 5));
  const { lines, schedule } = hyperRuleLines(cfg, pool.length, 28, 28);
  emit({ kind: 'hyperrule', lines, schedule });
  const steps = cap(cfg, schedule[4]!);
  const upState = await up.stateDictData();
  for (const run of ['transfer', 'scratch'] as const) {
    const m = createModel(cfg.model, { numClasses: 5, seed: cfg.seed, zeroHead: run === 'transfer' });
    if (run === 'transfer') {
      m.loadStateDict(new Map([...upState].filter(([k]) => !k.startsWith('head.'))), { strict: false });
    }
    emit({ kind: 'model', run, model: m });
    const opt = new SGD(m, { lr: cfg.lr, momentum: 0.9, weightDecay: 0 });
    const lrAt = (t: number) => hyperRuleLrAt(t, schedule, cfg.lr);
    await runOne(cfg, { run, model: m, opt, train: downTrain, pool, test: downTest, steps, lrAt }, emit, stop);
    if (stop()) return;
    await after(run, m);
  }
}
