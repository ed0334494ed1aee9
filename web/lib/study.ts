/**
 * The study the page runs, as plain async functions shared by the page's worker and the Node test (same code,
 * same seeds, so losses can be compared across runtimes): a small GN+WS ResNetV2 (bit-tiny) trained on MNIST
 * digits 0-4 ("upstream"), then BiT transfer with the (scaled) BiT-HyperRule and a zero head to k-shot digits 5-9,
 * next to the same model trained from scratch on the same images and schedule, like `npm start`.
 *
 * Every run is driven by the platform-free training core (src/train/core: the same Trainer, step, NaN guard,
 * MixUp, accumulation and Top-1 rule as `bit-ts train`); this file only supplies in-memory batch sources and turns
 * the trainer's reports into page events.
 *
 * Invariants: every random choice comes from Rng streams derived from `cfg.seed`; readback is asynchronous only
 * (`await t.data()`), so WebGPU works; each step's temporaries are freed by tidy, and the trainer yields to the
 * event loop after every step (the page stays responsive and can stop a run between steps).
 */

import { collateBatch } from '../../src/data/collate.js';
import type { Dataset } from '../../src/data/dataset.js';
import { Rng } from '../../src/data/rng.js';
import { fewShot } from '../../src/data/sampling.js';
import { bitResolution, type TransformSpec } from '../../src/data/transforms.js';
import { createModel, type ResNetV2 } from '../../src/models/index.js';
import { SGD } from '../../src/nn/index.js';
import { cosineLr } from '../../src/nn/optim/index.js';
import {
  type BatchSource,
  evaluateBatches,
  type HostBatch,
  hyperRuleLrAt,
  type PredictionHook,
  type SourceBatch,
  scaledHyperRule,
  Trainer,
  topK,
} from '../../src/train/core/index.js';
import { DOWN_CLASSES, type RunName, type StudyConfig, UP_CLASSES } from './config.js';
import { type MnistPack, splitDataset } from './mnist-pack.js';

export { DOWN_CLASSES, FULL_STUDY, QUICK_STUDY, type RunName, type StudyConfig, UP_CLASSES } from './config.js';

/** Held-out images whose predictions the page shows. */
export const PREDICTION_GRID = 20;
/** MixUp stream of the study's trainers (per run: derived with the run's index). */
const MIXUP_STREAM = 0x313;

/** What a run reports. */
export type StudyEvent =
  | { kind: 'run'; run: RunName; total: number; trainImages: number; heldOut: number; classes: string[] }
  | { kind: 'step'; run: RunName; step: number; total: number; loss: number; lr: number; ms: number }
  | { kind: 'eval'; run: RunName; step: number; top1: number; count: number }
  | { kind: 'nan'; run: RunName; step: number; loss: number }
  | { kind: 'hyperrule'; lines: string[]; schedule: number[] }
  | { kind: 'kshot'; pixels: Uint8Array; labels: number[]; classes: string[] }
  | {
      kind: 'predictions';
      run: RunName;
      pixels: Uint8Array;
      labels: number[];
      /** Highest logit (ties: the lower class). */
      predicted: number[];
      /** Counted right by the Top-1 rule (rank 0: a tie is not a hit). */
      right: boolean[];
      classes: string[];
    }
  | { kind: 'model'; run: RunName; model: ResNetV2 };

function trainSpec(cfg: StudyConfig): TransformSpec {
  return { kind: 'bit-train', precrop: Math.round((cfg.crop * 160) / 128), crop: cfg.crop, hflip: false };
}

/** The first `n` images of `ds` as evaluation batches of 50 (center crop at `crop`). */
export function heldOutBatches(ds: Dataset, n: number, crop: number): HostBatch[] {
  const spec: TransformSpec = { kind: 'bit-eval', crop };
  const total = Math.min(n, ds.length);
  const out: HostBatch[] = [];
  for (let a = 0; a < total; a += 50) {
    const idx = Array.from({ length: Math.min(50, total - a) }, (_, i) => a + i);
    out.push(collateBatch(ds, spec, idx, 0, 0, a));
  }
  return out;
}

/** Held-out Top-1 (%) of `model` on the first `n` images of `ds`, by the core's rule. */
export async function evaluate(model: ResNetV2, ds: Dataset, n: number, crop: number): Promise<number> {
  return (await evaluateBatches(model, heldOutBatches(ds, n, crop))).top1;
}

/** `steps` batches of `batch` images drawn with replacement from `pool` (one epoch; the study's data order). */
function poolSource(
  cfg: StudyConfig,
  ds: Dataset,
  pool: readonly number[],
  steps: number,
  stream: number,
): BatchSource {
  const spec = trainSpec(cfg);
  return {
    numBatches: () => steps,
    async *[Symbol.asyncIterator]() {
      const rng = Rng.derive(cfg.seed, 0xb17, stream);
      for (let t = 0; t < steps; t++) {
        const idx = Array.from({ length: cfg.batch }, () => pool[rng.int(pool.length)]!);
        const b = collateBatch(ds, spec, idx, cfg.seed, t, 0);
        yield { ...b, epoch: 0, position: t } satisfies SourceBatch;
      }
    },
  };
}

interface RunSpec {
  run: RunName;
  index: number;
  model: ResNetV2;
  opt: SGD;
  train: Dataset;
  pool: readonly number[];
  test: Dataset;
  steps: number;
  lrAt: (t: number) => number;
}

/** Pixels (28x28 each) and labels of dataset images `idx` (for the page's image grids). */
function pixelsOf(data: MnistPack, split: keyof MnistPack, idx: readonly number[]) {
  const px = new Uint8Array(idx.length * 784);
  idx.forEach((j, i) => {
    px.set(data[split].pixels.subarray(j * 784, (j + 1) * 784), i * 784);
  });
  return { pixels: px, labels: idx.map((j) => data[split].labels[j]!) };
}

/** One run on the core Trainer; false when it stopped early (NaN or stop()). */
async function runOne(
  cfg: StudyConfig,
  r: RunSpec,
  emit: (e: StudyEvent) => void,
  stop: () => boolean,
  onPrediction?: (run: RunName) => PredictionHook,
): Promise<boolean> {
  const heldOut = heldOutBatches(r.test, cfg.evalImages, cfg.crop);
  const trainer = new Trainer({
    model: r.model,
    optimizer: r.opt,
    schedule: { lr: r.lrAt, totalSteps: r.steps },
    source: poolSource(cfg, r.train, r.pool, r.steps, r.index === 0 ? 0 : 1),
    evalSource: heldOut,
    rng: Rng.derive(cfg.seed, MIXUP_STREAM, r.index),
    mixup: cfg.mixup,
    accum: cfg.accum,
  });
  const count = heldOut.reduce((s, b) => s + b.labels.length, 0);
  emit({
    kind: 'run',
    run: r.run,
    total: r.steps,
    trainImages: r.pool.length,
    heldOut: count,
    classes: r.test.classes,
  });
  let t0 = performance.now();
  const out = await trainer.run({
    onStep: async (rep) => {
      emit({
        kind: 'step',
        run: r.run,
        step: rep.step,
        total: r.steps,
        loss: rep.loss,
        lr: rep.lr,
        ms: performance.now() - t0,
      });
      const last = rep.step === r.steps;
      if (last || (cfg.evalEvery > 0 && rep.step % cfg.evalEvery === 0)) {
        const ev = await trainer.evaluate(0, last ? onPrediction?.(r.run) : undefined);
        emit({ kind: 'eval', run: r.run, step: rep.step, top1: ev!.top1, count: ev!.count });
      }
      t0 = performance.now();
    },
    shouldStop: stop,
  });
  if (out.status === 'nan') {
    emit({ kind: 'nan', run: r.run, step: trainer.step + 1, loss: Number.NaN });
    return false;
  }
  return out.status === 'completed' && !stop();
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
    `MixUp alpha ${n < 20_000 ? 0 : 0.1} by the rule (${n < 20_000 ? 'N < 20k' : 'N >= 20k'}; this run: ${cfg.mixup}); ` +
      `SGD momentum 0.9, lr ${cfg.lr} at batch ${cfg.batch}${cfg.accum > 1 ? ` (${cfg.accum} micro-batches)` : ''}, no weight decay, zero head`,
  ];
  return { lines, schedule: [...b] };
}

/** Downstream runs are cut at maxSteps (the upstream run has its own count). */
const cap = (cfg: StudyConfig, n: number) => (cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, n) : n);

/**
 * Upstream, then transfer and scratch. Models are created on the engine's default backend (set it first) and
 * handed to `emit` as {kind: 'model'} (the caller owns and disposes them). `stop()` ends the study between steps;
 * `after(run, model)` is awaited when a run completes. A non-finite loss ends the study with a 'nan' event.
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
  /** The last evaluation's predictions on the first PREDICTION_GRID held-out images of a run. */
  const grid = (run: RunName): PredictionHook => {
    const predicted: number[] = [];
    const right: boolean[] = [];
    return (logits, _label, rank) => {
      if (predicted.length >= PREDICTION_GRID) return;
      predicted.push(topK(logits, logits.length, 0, 1)[0]!);
      right.push(rank === 0);
      if (predicted.length === Math.min(PREDICTION_GRID, cfg.evalImages)) {
        const split = run === 'upstream' ? 'upTest' : 'downTest';
        const { pixels, labels } = pixelsOf(
          data,
          split,
          predicted.map((_, i) => i),
        );
        const classes = [...(run === 'upstream' ? UP_CLASSES : DOWN_CLASSES)];
        emit({ kind: 'predictions', run, pixels, labels, predicted: [...predicted], right: [...right], classes });
      }
    };
  };

  const up = createModel(cfg.model, { numClasses: 5, seed: cfg.seed });
  emit({ kind: 'model', run: 'upstream', model: up });
  const upOpt = new SGD(up, { lr: cfg.upstreamLr, momentum: 0.9, weightDecay: 1e-4 });
  const upSteps = cfg.upstreamSteps;
  const cos = cosineLr({ lr: cfg.upstreamLr, totalSteps: upSteps });
  const all = Array.from({ length: upTrain.length }, (_, i) => i);
  const upRun = { run: 'upstream' as const, index: 0, model: up, opt: upOpt, train: upTrain, pool: all, test: upTest };
  if (!(await runOne(cfg, { ...upRun, steps: upSteps, lrAt: (t) => cos(t) ?? 0 }, emit, stop, grid))) return;
  await after('upstream', up);

  const pool = Array.from(fewShot(downTrain.labels(), cfg.shots, cfg.seed, 5));
  emit({ kind: 'kshot', ...pixelsOf(data, 'downTrain', pool), classes: [...DOWN_CLASSES] });
  const { lines, schedule } = hyperRuleLines(cfg, pool.length, 28, 28);
  emit({ kind: 'hyperrule', lines, schedule });
  const steps = cap(cfg, schedule[4]!);
  const upState = await up.stateDictData();
  for (const [i, run] of (['transfer', 'scratch'] as const).entries()) {
    const m = createModel(cfg.model, { numClasses: 5, seed: cfg.seed, zeroHead: run === 'transfer' });
    if (run === 'transfer') {
      m.loadStateDict(new Map([...upState].filter(([k]) => !k.startsWith('head.'))), { strict: false });
    }
    emit({ kind: 'model', run, model: m });
    const opt = new SGD(m, { lr: cfg.lr, momentum: 0.9, weightDecay: 0 });
    const lrAt = (t: number) => hyperRuleLrAt(t, schedule, cfg.lr);
    const spec = { run, index: 1 + i, model: m, opt, train: downTrain, pool, test: downTest, steps, lrAt };
    if (!(await runOne(cfg, spec, emit, stop, grid))) return;
    await after(run, m);
  }
}
