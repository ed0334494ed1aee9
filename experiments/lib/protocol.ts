/**
 * The reproduction protocol's building blocks: data preparation (decode-once caches, seeded splits), upstream
 * training, scaled BiT-HyperRule fine-tuning, checkpoints and result lookup; `runs.ts` lists the runs built
 * from them. Each finished run writes one result JSON; a run whose JSON exists is skipped.
 *
 * Data (see docs/reproductions.md): Imagenette train split 90/10 (seeded, stratified) for upstream; CIFAR-10
 * train split 80/20, evaluation on a fixed stratified subset of the 20% (cifarEvalCount), few-shot draws from
 * the 80%. The index arithmetic mirrors src/train/data-setup.ts (split with `seed`, val cap with seed + 2,
 * few-shot with fewshot_seed) so `bit-ts validate` on a saved checkpoint evaluates the same images.
 * Invariant: every run is a pure function of settings and seed (seeded init, order, augmentation).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fewShot, stratifiedSplit } from '../../src/data/index.js';
import { createModel, type ResNetV2 } from '../../src/models/index.js';
import { hyperRuleSchedule } from '../../src/nn/index.js';
import { noGrad } from '../../src/tensor/index.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { applyConfig, defaultConfig } from '../../src/train/config.js';
import { modelSpecOfModel } from '../../src/train/model-setup.js';
import { hyperRuleLrAt, scaledHyperRule } from '../../src/train/schedule.js';
import { buildCaches, type ImageCache } from './cache.js';
import { evaluatePool, type Pool, subsetPool, trainModel } from './loop.js';
import { type Settings, variantOptions } from './settings.js';

/** Paths of a protocol invocation. */
export interface Paths {
  cifarTar: string;
  imagenetteTar: string;
  /** Result JSONs. */
  results: string;
  /** Caches and checkpoints. */
  work: string;
}

/** One run of the protocol. */
export interface RunDef {
  id: string;
  experiment: 'upstream' | 'pilot' | 'fewshot' | 'head' | 'table4' | 'long';
  tier: number;
  exec: (ctx: Context) => Promise<Record<string, unknown>>;
}

/** What runs share: settings, caches, splits, paths, the backend name, a logger. */
export interface Context {
  s: Settings;
  paths: Paths;
  backend: string;
  log: (m: string) => void;
  cifar: ImageCache;
  inette32: ImageCache;
  inette40: ImageCache;
  /** CIFAR: base indices of the few-shot pool (train part), the evaluation subset and the pilot subset. */
  cifarTrain: Int32Array;
  cifarEval: Int32Array;
  cifarPilot: Int32Array;
  inetteTrain: Int32Array;
  inetteVal: Int32Array;
}

export const take = (base: Int32Array, pos: ArrayLike<number>) => Int32Array.from(pos, (p) => base[p]!);
export const pick = (labels: Int32Array, idx: Int32Array) => Int32Array.from(idx, (i) => labels[i]!);

/** Decode (once) and split the data. */
export function prepare(s: Settings, paths: Paths, backend: string, log: (m: string) => void): Context {
  const cdir = path.join(paths.work, 'cache');
  const sfx = s.quick ? '-quick' : '';
  const c = buildCaches(paths.cifarTar, 'train/', [32], cdir, `cifar10${sfx}`, {
    limitPerClass: s.cacheLimit.cifar,
    log,
  });
  const i = buildCaches(paths.imagenetteTar, 'train/', [32, s.precrop], cdir, `imagenette${sfx}`, {
    limitPerClass: s.cacheLimit.imagenette,
    log,
  });
  const cifar = c.get(32)!;
  const split = stratifiedSplit(cifar.labels, s.cifarValFraction, s.splitSeed);
  const valLabels = pick(cifar.labels, split.val);
  const frac = Math.min(0.999, s.cifarEvalCount / split.val.length);
  const cifarEval = take(split.val, stratifiedSplit(valLabels, frac, s.splitSeed + 2).val);
  // Pilot (lr choice) images: from the training part, never the evaluation subset.
  const trainLabels = pick(cifar.labels, split.train);
  const pf = Math.min(0.999, s.finetune.pilotEval / split.train.length);
  const cifarPilot = take(split.train, stratifiedSplit(trainLabels, pf, s.splitSeed + 3).val);
  const inette32 = i.get(32)!;
  const isplit = stratifiedSplit(inette32.labels, s.imagenetteValFraction, s.splitSeed);
  return {
    s,
    paths,
    backend,
    log,
    cifar,
    inette32,
    inette40: i.get(s.precrop)!,
    cifarTrain: split.train,
    cifarEval,
    cifarPilot,
    inetteTrain: isplit.train,
    inetteVal: isplit.val,
  };
}

export function ckptDir(ctx: Context): string {
  return path.join(ctx.paths.work, 'ckpt');
}

/** A training checkpoint `bit-ts validate --ckpt_path FILE` can evaluate (its spec records norm and ws). */
export async function save(
  ctx: Context,
  file: string,
  model: ResNetV2,
  cfg: Record<string, unknown>,
  classes: string[],
  step: number,
): Promise<void> {
  const config = applyConfig(
    defaultConfig(),
    {
      model: ctx.s.model,
      num_classes: model.numClasses,
      seed: ctx.s.splitSeed,
      augment: 'bit',
      image_resize: ctx.s.crop,
      precrop: ctx.s.precrop,
      backend: 'wasm',
      ...cfg,
    },
    'reproduce',
  );
  await saveCheckpoint(file, model, null, {
    format: CHECKPOINT_FORMAT,
    step,
    epoch: 0,
    optimizerStep: step,
    config: config as unknown as Record<string, unknown>,
    spec: modelSpecOfModel(ctx.s.model, model),
    classes,
    rng: [0, 0, 0, 0],
    loader: { epoch: 0, position: 0 },
    bestTop1: null,
    reason: 'final',
  });
}

function upstreamLr(s: Settings): (step: number) => number {
  const u = s.upstream;
  const warm = Math.max(1, Math.round(u.warmupFrac * u.steps));
  return (step) => {
    if (step < warm) return (u.lr * step) / warm;
    const k = u.decayFracs.filter((f) => step >= f * u.steps).length;
    return u.lr * 0.1 ** k;
  };
}

/** Upstream (from scratch, upstream recipe) training of a variant on a pool; returns model and stats. */
export async function upstreamTrain(
  ctx: Context,
  pool: Pool,
  evalPool: Pool,
  variant: string,
  seed: number,
  steps: number,
) {
  const s = ctx.s;
  const model = createModel(s.model, { numClasses: 10, seed, ...variantOptions(variant) });
  const plan = { ...s.upstream, steps };
  const tr = await trainModel(model, pool, {
    steps,
    batch: plan.batch,
    lr: upstreamLr({ ...s, upstream: plan }),
    momentum: 0.9,
    weightDecay: plan.weightDecay,
    mixupAlpha: 0,
    crop: s.crop,
    seed,
    log: ctx.log,
    logEvery: s.logEvery,
  });
  const ev = await evaluatePool(model, evalPool, s.evalBatch);
  return { model, tr, ev };
}

export const UPSTREAM_FILE = 'upstream-imagenette-gn-ws.safetensors';

export async function runUpstream(ctx: Context): Promise<Record<string, unknown>> {
  const s = ctx.s;
  const pool = subsetPool(ctx.inette40, ctx.inetteTrain, s.precrop);
  const evalPool = subsetPool(ctx.inette32, ctx.inetteVal, s.crop);
  const { model, tr, ev } = await upstreamTrain(ctx, pool, evalPool, 'gn-ws', 0, s.upstream.steps);
  const file = path.join(ckptDir(ctx), UPSTREAM_FILE);
  await save(
    ctx,
    file,
    model,
    {
      dataset: 'imagefolder',
      data_dir: ctx.paths.imagenetteTar,
      val_split: s.imagenetteValFraction,
      batch_size: s.upstream.batch,
      lr: s.upstream.lr,
    },
    ctx.inette32.classes,
    s.upstream.steps,
  );
  model.dispose();
  return {
    config: {
      model: s.model,
      norm: 'gn',
      ws: true,
      data: 'imagenette train 90%',
      trainImages: pool.n,
      ...s.upstream,
      crop: s.crop,
      precrop: s.precrop,
    },
    seed: 0,
    accuracy: ev.top1,
    evalCount: ev.count,
    evalLoss: ev.loss,
    train: tr,
    evalWallS: ev.wallS,
    checkpoint: file,
  };
}

export type Weights = Map<string, { shape: number[]; data: Float32Array }>;
const weightCache = new Map<string, Weights>();

/** Weights of an upstream checkpoint (trained first when missing, e.g. after runs/ was wiped). */
export async function upstreamWeights(ctx: Context, file: string, make: () => Promise<unknown>): Promise<Weights> {
  const hit = weightCache.get(file);
  if (hit) return hit;
  if (!fs.existsSync(file)) {
    ctx.log(`${file} missing: training it again`);
    await make();
  }
  const w = loadCheckpoint(file).weights;
  weightCache.set(file, w);
  return w;
}

/** Options of one HyperRule fine-tune. */
export interface Finetune {
  pool: Pool;
  evalPool: Pool;
  init: 'transfer' | 'scratch';
  weights: Weights | null;
  variant: string;
  zeroHead: boolean;
  seed: number;
  lr: number;
  /** Schedule multiplier (default finetune.scale). */
  scale?: number;
  saveAs?: { file: string; cfg: Record<string, unknown>; classes: string[] };
}

/** BiT-HyperRule fine-tuning, scaled: schedule x finetune.scale, batch finetune.batch, lr as given. */
export async function finetune(ctx: Context, f: Finetune): Promise<Record<string, unknown>> {
  const s = ctx.s;
  const n = f.pool.n;
  const scale = f.scale ?? s.finetune.scale;
  const b = scaledHyperRule(n, scale);
  const mixupAlpha = n < 20_000 ? 0 : 0.1;
  const model = createModel(s.model, {
    numClasses: 10,
    seed: 1000 + f.seed,
    zeroHead: f.zeroHead,
    ...variantOptions(f.variant),
  });
  if (f.weights) {
    const body = new Map([...f.weights].filter(([k]) => !k.startsWith('head.')));
    model.loadStateDict(body, { strict: false });
  }
  const tr = await trainModel(model, f.pool, {
    steps: b[4],
    batch: s.finetune.batch,
    lr: (step) => hyperRuleLrAt(step, b, f.lr),
    momentum: 0.9,
    weightDecay: 0,
    mixupAlpha,
    crop: s.crop,
    seed: f.seed,
  });
  const ev = await evaluatePool(model, f.evalPool, s.evalBatch);
  if (f.saveAs) await save(ctx, f.saveAs.file, model, f.saveAs.cfg, f.saveAs.classes, b[4]);
  noGrad(() => model.dispose());
  return {
    config: {
      model: s.model,
      variant: f.variant,
      init: f.init,
      zeroHead: f.zeroHead,
      trainImages: n,
      schedule: b,
      officialSchedule: hyperRuleSchedule(n),
      scheduleScale: scale,
      batch: s.finetune.batch,
      lr: f.lr,
      mixupAlpha,
      weightDecay: 0,
      crop: s.crop,
      precrop: s.precrop,
    },
    seed: f.seed,
    accuracy: ev.top1,
    evalCount: ev.count,
    evalLoss: ev.loss,
    train: tr,
    evalWallS: ev.wallS,
    ...(f.saveAs ? { checkpoint: f.saveAs.file } : {}),
  };
}

/** The lr chosen by the pilot (best pilot accuracy; ties: the smaller lr). */
export function chosenLr(ctx: Context): number {
  const s = ctx.s;
  let best = { lr: s.finetune.lrCandidates[0]!, acc: -1 };
  for (const lr of s.finetune.lrCandidates) {
    const r = readResult(ctx.paths.results, pilotId(lr));
    if (r && (r.accuracy as number) > best.acc) best = { lr, acc: r.accuracy as number };
  }
  return best.lr;
}

export const pilotId = (lr: number) => `pilot-lr${lr}`;

/** Result JSON of a run id, or null. */
export function readResult(dir: string, id: string): Record<string, unknown> | null {
  const f = path.join(dir, `${id}.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>) : null;
}

export function cifarFewShot(ctx: Context, k: number, seed: number): Pool {
  const labels = pick(ctx.cifar.labels, ctx.cifarTrain);
  return subsetPool(ctx.cifar, take(ctx.cifarTrain, fewShot(labels, k, seed, 10)), ctx.s.precrop);
}
