/**
 * The study's time estimate per backend: one timed training step of the study's model at its batch and crop (after
 * one untimed step that compiles the kernels), through the same core Trainer the study uses, scaled by the study's
 * step count plus its evaluations (a forward over 50 images costs about a third of a training step over 50).
 * Shared by the page's worker and its Node test.
 */

import { collateBatch } from '../../src/data/collate.js';
import { Rng } from '../../src/data/rng.js';
import { createModel } from '../../src/models/index.js';
import { SGD } from '../../src/nn/index.js';
import { type SourceBatch, scaledHyperRule, Trainer } from '../../src/train/core/index.js';
import { type StudyConfig, UP_CLASSES } from './config.js';
import { type MnistPack, splitDataset } from './mnist-pack.js';

/** Steps and evaluations of a study. */
export function studySize(cfg: StudyConfig): { upstream: number; downstream: number; evals: number } {
  const full = scaledHyperRule(5 * cfg.shots, cfg.scale)[4];
  const downstream = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, full) : full;
  // every evalEvery steps and at the end
  const evalsOf = (n: number) => (cfg.evalEvery > 0 ? Math.floor(n / cfg.evalEvery) + (n % cfg.evalEvery ? 1 : 0) : 1);
  return {
    upstream: cfg.upstreamSteps,
    downstream,
    evals: evalsOf(cfg.upstreamSteps) + 2 * evalsOf(downstream),
  };
}

/** Seconds the study takes at `stepMs` per training step of `cfg.batch` images. */
export function estimateSeconds(cfg: StudyConfig, stepMs: number): number {
  const s = studySize(cfg);
  const steps = s.upstream + 2 * s.downstream;
  const evalMs = s.evals * (stepMs / 3) * (Math.min(cfg.evalImages, 500) / cfg.batch);
  return (steps * stepMs + evalMs) / 1000;
}

/** A one-step probe on the engine's current backend: the first (compiling) and the second step's ms. */
export async function probeStep(cfg: StudyConfig, data: MnistPack): Promise<{ firstMs: number; stepMs: number }> {
  const ds = splitDataset(data, 'upTrain', UP_CLASSES);
  const idx = Array.from({ length: cfg.batch }, (_, i) => i % ds.length);
  const spec = {
    kind: 'bit-train',
    precrop: Math.round((cfg.crop * 160) / 128),
    crop: cfg.crop,
    hflip: false,
  } as const;
  const b: SourceBatch = { ...collateBatch(ds, spec, idx, cfg.seed, 0, 0), epoch: 0, position: 0 };
  const model = createModel(cfg.model, { numClasses: 5, seed: cfg.seed });
  const optimizer = new SGD(model, { lr: 0, momentum: 0.9 });
  const source = { numBatches: () => 1, async *[Symbol.asyncIterator]() {} };
  const t = new Trainer({ model, optimizer, schedule: { lr: () => 0, totalSteps: 2 }, source, rng: new Rng(0) });
  try {
    const t0 = performance.now();
    await t.trainStep(b);
    const t1 = performance.now();
    await t.trainStep(b);
    return { firstMs: t1 - t0, stepMs: performance.now() - t1 };
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}
