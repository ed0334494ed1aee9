/**
 * The reproduction protocol's building blocks: data preparation (decode-once caches as in-memory datasets,
 * seeded splits) and `trainRun`, which trains and evaluates one run through src/train's `train()` (the same
 * Trainer, step, evaluation, schedules and checkpoints as `bit-ts train/finetune/validate`) on those datasets.
 * `runs.ts` lists the runs built from them; each finished run writes one result JSON and is then skipped.
 *
 * Data (docs/reproductions.md): Tiny ImageNet train.tar for the main upstream, scored on every image of its
 * val.tar; Imagenette train split 90/10 (seeded, stratified) for the weaker upstream; CIFAR-10 train split
 * 80/20, evaluation on a fixed stratified subset of the 20% (cifarEvalCount), few-shot draws and the grids'
 * pilot images from the 80%. The index arithmetic is src/train/data-setup.ts's (split with `seed`, val cap
 * with seed + 2, few-shot with fewshot_seed), so `bit-ts validate --val_split 0.2 --val_limit 2000 --seed 1`
 * on a saved CIFAR checkpoint evaluates the same images.
 * Invariants: every run is a pure function of its config (seeded init, order, augmentation); a run folder's
 * latest.safetensors (periodic and final) makes an interrupted run resume exactly where it stopped.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArrayDataset, type Dataset, fewShot, Subset, stratifiedSplit } from '../../src/data/index.js';
import { applyConfig, defaultConfig, type TrainConfig, validateConfig } from '../../src/train/config.js';
import { type DataSetup, transformsOf } from '../../src/train/data-setup.js';
import { readMetrics } from '../../src/train/metrics.js';
import { train } from '../../src/train/trainer.js';
import { buildCaches, type ImageCache } from './cache.js';
import type { Settings, Variant } from './settings.js';

/** Paths of a protocol invocation. */
export interface Paths {
  cifarTar: string;
  imagenetteTar: string;
  tinyTrainTar: string;
  tinyValTar: string;
  /** Result JSONs. */
  results: string;
  /** Caches and run folders. */
  work: string;
  /** Run folders (checkpoints, metrics) when not `<work>/runs`: the shared store of queue workers. */
  runs?: string;
}

/** Experiment names (`bit-ts reproduce <name>`). */
export const EXPERIMENTS = ['upstream', 'grid', 'fewshot', 'full', 'head', 'schedule', 'table4'] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

/** One run of the protocol. */
export interface RunDef {
  id: string;
  experiment: Experiment;
  tier: number;
  /** Runs whose results (and artifacts) this run reads; the driver runs them first when missing. */
  deps: string[];
  /** A file this run leaves that dependants read (its final checkpoint). */
  artifact?: (ctx: Context) => string;
  exec: (ctx: Context) => Promise<Record<string, unknown>>;
}

/** What runs share: settings, datasets, splits, paths, the backend name, a logger. */
export interface Context {
  s: Settings;
  paths: Paths;
  backend: string;
  /** Threads of the backend computing the runs (recorded in each result). */
  threads?: number;
  /** Checked after every training step: true checkpoints the run and raises RunInterrupted (queue workers). */
  shouldStop?: () => boolean;
  log: (m: string) => void;
  cifar: Dataset;
  /** Imagenette at precrop size (training) and at crop size (evaluation); same members. */
  inettePre: Dataset;
  inette: Dataset;
  tiny: Dataset;
  tinyVal: Dataset;
  /** CIFAR indices: few-shot pool (train part), the evaluation subset, the grids' pilot subset. */
  cifarTrain: Int32Array;
  cifarEval: Int32Array;
  cifarPilot: Int32Array;
  inetteTrain: Int32Array;
  inetteVal: Int32Array;
}

export const take = (base: Int32Array, pos: ArrayLike<number>) => Int32Array.from(pos, (p) => base[p]!);
export const pick = (labels: Int32Array, idx: Int32Array) => Int32Array.from(idx, (i) => labels[i]!);

/** A decode-once cache as a dataset the trainer's loader reads (uint8 HWC in memory, nothing decoded). */
export function cacheDataset(c: ImageCache, source: string): ArrayDataset {
  return new ArrayDataset({
    pixels: c.data,
    labels: c.labels,
    height: c.size,
    width: c.size,
    channels: 3,
    classes: c.classes,
    toRgb: false,
    source,
  });
}

/** Decode (once, cached on disk) and split the data. */
export function prepare(s: Settings, paths: Paths, backend: string, log: (m: string) => void): Context {
  const cdir = path.join(paths.work, 'cache');
  const sfx = s.quick ? '-quick' : '';
  const L = s.cacheLimit;
  const cache = (tar: string, prefix: string, sizes: number[], name: string, limitPerClass: number) =>
    buildCaches(tar, prefix, sizes, cdir, `${name}${sfx}`, { limitPerClass, log });
  const c = cache(paths.cifarTar, 'train/', [s.crop], 'cifar10', L.cifar).get(s.crop)!;
  const i = cache(paths.imagenetteTar, 'train/', [s.crop, s.precrop], 'imagenette', L.imagenette);
  const t = cache(paths.tinyTrainTar, 'train/', [s.crop], 'tiny-imagenet-train', L.tiny).get(s.crop)!;
  const tv = cache(paths.tinyValTar, 'val/', [s.crop], 'tiny-imagenet-val', L.tinyVal).get(s.crop)!;
  if (t.classes.join() !== tv.classes.join())
    throw new Error(`${paths.tinyValTar}: class folders differ from ${paths.tinyTrainTar}'s`);
  const split = stratifiedSplit(c.labels, s.cifarValFraction, s.splitSeed);
  const valLabels = pick(c.labels, split.val);
  const frac = Math.min(0.999, s.cifarEvalCount / split.val.length);
  const cifarEval = take(split.val, stratifiedSplit(valLabels, frac, s.splitSeed + 2).val);
  // Pilot (grid scoring) images: from the training part, never the evaluation subset.
  const trainLabels = pick(c.labels, split.train);
  const pf = Math.min(0.999, s.pilotEvalCount / split.train.length);
  const cifarPilot = take(split.train, stratifiedSplit(trainLabels, pf, s.splitSeed + 3).val);
  const i32 = i.get(s.crop)!;
  const isplit = stratifiedSplit(i32.labels, s.imagenetteValFraction, s.splitSeed);
  return {
    s,
    paths,
    backend,
    log,
    cifar: cacheDataset(c, 'cifar10 cache'),
    inettePre: cacheDataset(i.get(s.precrop)!, 'imagenette cache'),
    inette: cacheDataset(i32, 'imagenette cache'),
    tiny: cacheDataset(t, 'tiny-imagenet train cache'),
    tinyVal: cacheDataset(tv, 'tiny-imagenet val cache'),
    cifarTrain: split.train,
    cifarEval,
    cifarPilot,
    inetteTrain: isplit.train,
    inetteVal: isplit.val,
  };
}

/** The run folder of a run id (config.yaml, metrics.jsonl, latest.safetensors). */
export function runDir(ctx: Context, id: string): string {
  return path.join(ctx.paths.runs ?? path.join(ctx.paths.work, 'runs'), id);
}

/** Final checkpoint of a run (what transfers read and what gets published). */
export function finalCheckpoint(ctx: Context, id: string): string {
  return path.join(runDir(ctx, id), 'latest.safetensors');
}

/** Model keys of a variant. */
export function variantConfig(v: Variant): Record<string, unknown> {
  return { model_norm: v.norm, model_ws: v.ws, bn_ghost_batch: v.norm === 'bn' ? v.ghostBatch : 0 };
}

/** Datasets of a run. */
export interface RunData {
  train: Dataset;
  val: Dataset;
  describe: string;
}

/** Raised when a run is interrupted (Ctrl-C): its checkpoint is written, no result is. */
export class RunInterrupted extends Error {
  constructor(
    readonly id: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunInterrupted';
  }
}

/** The config of a run: protocol defaults <- `values`; the run folder is the run's own. */
export function runConfig(ctx: Context, id: string, values: Record<string, unknown>): TrainConfig {
  const s = ctx.s;
  const dir = runDir(ctx, id);
  const latest = finalCheckpoint(ctx, id);
  const cfg = applyConfig(
    defaultConfig(),
    {
      model: s.model,
      seed: 0,
      augment: 'bit',
      image_resize: s.crop,
      precrop: s.precrop,
      hflip: 0.5,
      momentum: 0.9,
      weight_decay: 0,
      backend: ctx.backend,
      val_while_train: false,
      ckpt_save_interval: 1_000_000,
      keep_checkpoint_max: 1,
      plots: false,
      progress: s.logEvery > 0 ? 'plain' : 'none',
      log_interval: Math.max(1, s.logEvery),
      num_parallel_workers: 0,
      eval_batch_size: s.evalBatch,
      ...values,
      ckpt_save_dir: dir,
      resume: fs.existsSync(latest) ? latest : '',
    },
    `reproduce ${id}`,
  );
  validateConfig(cfg);
  return cfg;
}

/**
 * Train and evaluate one run through src/train's `train()` on the given datasets (resuming from the run
 * folder's latest checkpoint when there is one; a periodic checkpoint every `checkpointEvery` steps).
 * @returns the result fields: config, accuracy (top-1 % on `data.val`), top5, evalCount, evalLoss, train stats.
 * @throws RunInterrupted on Ctrl-C; Error for a non-finite loss or unreadable data.
 */
export async function trainRun(
  ctx: Context,
  id: string,
  values: Record<string, unknown>,
  data: RunData,
): Promise<Record<string, unknown>> {
  const cfg = runConfig(ctx, id, values);
  fs.mkdirSync(cfg.ckpt_save_dir, { recursive: true });
  const setup: DataSetup = {
    train: data.train,
    val: data.val,
    classes: data.train.classes,
    ...transformsOf(cfg),
    imageSize: [data.train.get(0).image.height, data.train.get(0).image.width],
    describe: data.describe,
  };
  const every = ctx.s.checkpointEvery;
  const r = await train(cfg, {
    data: setup,
    label: id,
    handleSignals: true,
    ...(ctx.shouldStop ? { shouldStop: ctx.shouldStop } : {}),
    overwrite: true, // the protocol resumes a run folder's checkpoint itself (runConfig); anything else is stale
    // resume notices always reach the log (they say a run continued rather than started over)
    log: (m) => {
      if (ctx.s.logEvery > 0 || /^(resumed|note)/.test(m)) ctx.log(`[${id}] ${m}`);
    },
    onStep: async (rep, t) => {
      if (every > 0 && rep.step % every === 0 && rep.step < t.stopAt) await t.checkpoint('periodic');
    },
  });
  if (r.status === 'interrupted') throw new RunInterrupted(id, r.message);
  if (r.status !== 'completed' || !r.final) throw new Error(`run ${id}: ${r.status}: ${r.message}`);
  const recs = readMetrics(path.join(cfg.ckpt_save_dir, 'metrics.jsonl')).filter((m) => m.type === 'train');
  const ips = recs.map((m) => Number(m.images_per_s)).filter(Number.isFinite);
  const loss = recs.map((m) => Number(m.loss));
  const tenth = Math.max(1, Math.floor(loss.length / 10));
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const { resume: _r, ckpt_save_dir: _d, ...config } = cfg;
  return {
    config,
    seed: cfg.seed,
    data: data.describe,
    trainImages: data.train.length,
    accuracy: r.final.top1,
    top5: r.final.top5,
    evalCount: r.final.count,
    evalLoss: r.final.loss,
    train: {
      steps: r.steps,
      batch: cfg.batch_size,
      // step compute only (images / s of forward + backward + update), median over the run's steps
      imagesPerS: ips.length ? [...ips].sort((a, b) => a - b)[Math.floor(ips.length / 2)]! : 0,
      wallS: recs.length ? Number(recs[recs.length - 1]!.time_s) : 0,
      firstLoss: mean(loss.slice(0, tenth)),
      lastLoss: mean(loss.slice(-tenth)),
    },
    checkpoint: r.latestCheckpoint,
  };
}

/** Result JSON of a run id, or null. */
export function readResult(dir: string, id: string): Record<string, unknown> | null {
  const f = path.join(dir, `${id}.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>) : null;
}

/** CIFAR-10 datasets: a k-shot draw (k = 0: the whole training part) and the evaluation subset (or pilot). */
export function cifarData(ctx: Context, k: number, seed: number, scoreOn: 'eval' | 'pilot' = 'eval'): RunData {
  const labels = pick(ctx.cifar.labels(), ctx.cifarTrain);
  const idx = k > 0 ? take(ctx.cifarTrain, fewShot(labels, k, seed, 10)) : ctx.cifarTrain;
  const val = scoreOn === 'eval' ? ctx.cifarEval : ctx.cifarPilot;
  return {
    train: new Subset(ctx.cifar, idx),
    val: new Subset(ctx.cifar, val),
    describe:
      `CIFAR-10 train.tar: ${k > 0 ? `${k}-shot draw (seed ${seed}) of` : 'all of'} the 80% split (${idx.length} images); ` +
      `scored on ${val.length} ${scoreOn === 'eval' ? 'held-out evaluation' : 'pilot (training-part)'} images`,
  };
}

/** The CIFAR data keys a checkpoint's stored config should carry (so `bit-ts validate` finds the same split). */
export function cifarKeys(ctx: Context, k: number, seed: number): Record<string, unknown> {
  const s = ctx.s;
  return {
    dataset: 'cifar10',
    data_dir: ctx.paths.cifarTar,
    num_classes: 10,
    val_split: s.cifarValFraction,
    val_limit: s.cifarEvalCount,
    examples_per_class: k,
    fewshot_seed: seed,
  };
}
