/**
 * The reproduction protocol as an ordered list of runs (upstream pre-training, lr pilot, few-shot transfer vs
 * scratch, head-init ablation, miniature Table 4), each writing one result JSON when it finishes; a run whose
 * JSON exists is skipped, so the protocol can be stopped and restarted at will and finishes in pieces.
 *
 * Data (see docs/reproductions.md): Imagenette train split 90/10 (seeded, stratified) for upstream; CIFAR-10
 * train split 80/20, evaluation on a fixed stratified subset of the 20% (cifarEvalCount), few-shot draws from
 * the 80%. The index arithmetic mirrors src/train/data-setup.ts (split with `seed`, val cap with seed + 2,
 * few-shot with fewshot_seed) so `bit-ts validate` on a saved checkpoint evaluates the same images.
 * Invariants: run order is tiered (first seeds of every experiment before the remaining seeds) so a cut-short
 * protocol still covers every experiment; every run is a pure function of settings and seed.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fewShot, stratifiedSplit } from '../../src/data/index.js';
import { createModel, type ResNetV2 } from '../../src/models/index.js';
import { hyperRuleSchedule } from '../../src/nn/index.js';
import { noGrad } from '../../src/tensor/index.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { applyConfig, defaultConfig } from '../../src/train/config.js';
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
  exec: (ctx: Context) => Record<string, unknown>;
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

const take = (base: Int32Array, pos: ArrayLike<number>) => Int32Array.from(pos, (p) => base[p]!);
const pick = (labels: Int32Array, idx: Int32Array) => Int32Array.from(idx, (i) => labels[i]!);

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

function ckptDir(ctx: Context): string {
  return path.join(ctx.paths.work, 'ckpt');
}

/** A training checkpoint `bit-ts validate --ckpt_path FILE` can evaluate (GN+WS models; see the docs). */
function save(
  ctx: Context,
  file: string,
  model: ResNetV2,
  cfg: Record<string, unknown>,
  classes: string[],
  step: number,
): void {
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
  saveCheckpoint(file, model, null, {
    format: CHECKPOINT_FORMAT,
    step,
    epoch: 0,
    optimizerStep: step,
    config: config as unknown as Record<string, unknown>,
    spec: { model: ctx.s.model, numClasses: model.numClasses },
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
function upstreamTrain(ctx: Context, pool: Pool, evalPool: Pool, variant: string, seed: number, steps: number) {
  const s = ctx.s;
  const model = createModel(s.model, { numClasses: 10, seed, ...variantOptions(variant) });
  const plan = { ...s.upstream, steps };
  const tr = trainModel(model, pool, {
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
  const ev = evaluatePool(model, evalPool, s.evalBatch);
  return { model, tr, ev };
}

const UPSTREAM_FILE = 'upstream-imagenette-gn-ws.safetensors';

function runUpstream(ctx: Context): Record<string, unknown> {
  const s = ctx.s;
  const pool = subsetPool(ctx.inette40, ctx.inetteTrain, s.precrop);
  const evalPool = subsetPool(ctx.inette32, ctx.inetteVal, s.crop);
  const { model, tr, ev } = upstreamTrain(ctx, pool, evalPool, 'gn-ws', 0, s.upstream.steps);
  const file = path.join(ckptDir(ctx), UPSTREAM_FILE);
  save(
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

type Weights = Map<string, { shape: number[]; data: Float32Array }>;
const weightCache = new Map<string, Weights>();

/** Weights of an upstream checkpoint (trained first when missing, e.g. after runs/ was wiped). */
function upstreamWeights(ctx: Context, file: string, make: () => void): Weights {
  const hit = weightCache.get(file);
  if (hit) return hit;
  if (!fs.existsSync(file)) {
    ctx.log(`${file} missing: training it again`);
    make();
  }
  const w = loadCheckpoint(file).weights;
  weightCache.set(file, w);
  return w;
}

/** Options of one HyperRule fine-tune. */
interface Finetune {
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
function finetune(ctx: Context, f: Finetune): Record<string, unknown> {
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
  const tr = trainModel(model, f.pool, {
    steps: b[4],
    batch: s.finetune.batch,
    lr: (step) => hyperRuleLrAt(step, b, f.lr),
    momentum: 0.9,
    weightDecay: 0,
    mixupAlpha,
    crop: s.crop,
    seed: f.seed,
  });
  const ev = evaluatePool(model, f.evalPool, s.evalBatch);
  if (f.saveAs) save(ctx, f.saveAs.file, model, f.saveAs.cfg, f.saveAs.classes, b[4]);
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

const pilotId = (lr: number) => `pilot-lr${lr}`;

/** Result JSON of a run id, or null. */
export function readResult(dir: string, id: string): Record<string, unknown> | null {
  const f = path.join(dir, `${id}.json`);
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>) : null;
}

function cifarFewShot(ctx: Context, k: number, seed: number): Pool {
  const labels = pick(ctx.cifar.labels, ctx.cifarTrain);
  return subsetPool(ctx.cifar, take(ctx.cifarTrain, fewShot(labels, k, seed, 10)), ctx.s.precrop);
}

/** Every run of the protocol, in execution order. */
export function protocolRuns(s: Settings): RunDef[] {
  const runs: RunDef[] = [];
  const upFile = (ctx: Context) => path.join(ckptDir(ctx), UPSTREAM_FILE);
  const upW = (ctx: Context) => upstreamWeights(ctx, upFile(ctx), () => runUpstream(ctx));
  const cifarEvalPool = (ctx: Context) => subsetPool(ctx.cifar, ctx.cifarEval, s.crop);
  runs.push({ id: 'upstream-gn-ws', experiment: 'upstream', tier: 0, exec: runUpstream });
  for (const lr of s.finetune.lrCandidates) {
    runs.push({
      id: pilotId(lr),
      experiment: 'pilot',
      tier: 0,
      exec: (ctx) => ({
        ...finetune(ctx, {
          pool: cifarFewShot(ctx, s.finetune.pilotShots, s.finetune.pilotSeed),
          evalPool: subsetPool(ctx.cifar, ctx.cifarPilot, s.crop),
          init: 'transfer',
          weights: upW(ctx),
          variant: 'gn-ws',
          zeroHead: true,
          seed: s.finetune.pilotSeed,
          lr,
        }),
        k: s.finetune.pilotShots,
      }),
    });
  }
  s.seeds.forEach((seed, si) => {
    const tier = si < s.firstSeeds ? 1 : 3;
    for (const k of s.shots) {
      for (const init of ['transfer', 'scratch'] as const) {
        runs.push({
          id: `fewshot-${init}-k${k}-s${seed}`,
          experiment: 'fewshot',
          tier,
          exec: (ctx) => {
            const saveAs =
              init === 'transfer' && si === 0
                ? {
                    file: path.join(ckptDir(ctx), `transfer-cifar10-k${k}-s${seed}.safetensors`),
                    cfg: {
                      dataset: 'cifar10',
                      data_dir: ctx.paths.cifarTar,
                      val_split: s.cifarValFraction,
                      val_limit: s.cifarEvalCount,
                      examples_per_class: k,
                      fewshot_seed: seed,
                      batch_size: s.finetune.batch,
                    },
                    classes: ctx.cifar.classes,
                  }
                : undefined;
            const r = finetune(ctx, {
              pool: cifarFewShot(ctx, k, seed),
              evalPool: cifarEvalPool(ctx),
              init,
              weights: init === 'transfer' ? upW(ctx) : null,
              variant: 'gn-ws',
              zeroHead: true,
              seed,
              lr: chosenLr(ctx),
              saveAs,
            });
            return { ...r, k };
          },
        });
      }
    }
    runs.push({
      id: `head-default-k${s.headShots}-s${seed}`,
      experiment: 'head',
      tier,
      exec: (ctx) => ({
        ...finetune(ctx, {
          pool: cifarFewShot(ctx, s.headShots, seed),
          evalPool: cifarEvalPool(ctx),
          init: 'transfer',
          weights: upW(ctx),
          variant: 'gn-ws',
          zeroHead: false,
          seed,
          lr: chosenLr(ctx),
        }),
        k: s.headShots,
      }),
    });
  });
  // Longer fine-tuning (the official 500-step small-task schedule, scale 1): is the gap an artefact of x0.2?
  for (const seed of s.long?.seeds ?? []) {
    for (const k of s.shots) {
      for (const init of ['transfer', 'scratch'] as const) {
        runs.push({
          id: `long-${init}-k${k}-s${seed}`,
          experiment: 'long',
          tier: 5,
          exec: (ctx) => ({
            ...finetune(ctx, {
              pool: cifarFewShot(ctx, k, seed),
              evalPool: cifarEvalPool(ctx),
              init,
              weights: init === 'transfer' ? upW(ctx) : null,
              variant: 'gn-ws',
              zeroHead: true,
              seed,
              lr: chosenLr(ctx),
              scale: s.long!.scale,
            }),
            k,
          }),
        });
      }
    }
  }
  const t4 = s.table4;
  // Seed 0 keeps the suffix-free names (its checkpoint feeds the transfers); extra seeds measure the spread.
  const sfx = (seed: number) => (seed === 0 ? '' : `-s${seed}`);
  const t4File = (ctx: Context, v: string, seed = 0) =>
    path.join(ckptDir(ctx), `table4-cifar10-${v}${sfx(seed)}.safetensors`);
  for (const v of t4.variants) {
    const scratchSeed = (seed: number) => (ctx: Context) => {
      const pool = subsetPool(ctx.cifar, ctx.cifarTrain, s.precrop);
      const { model, tr, ev } = upstreamTrain(ctx, pool, cifarEvalPool(ctx), v, seed, t4.steps);
      const cfg = {
        dataset: 'cifar10',
        data_dir: ctx.paths.cifarTar,
        val_split: s.cifarValFraction,
        val_limit: s.cifarEvalCount,
        batch_size: t4.batch,
      };
      save(ctx, t4File(ctx, v, seed), model, cfg, ctx.cifar.classes, t4.steps);
      model.dispose();
      const up = { ...s.upstream, steps: t4.steps, batch: t4.batch };
      return {
        config: {
          model: s.model,
          variant: v,
          ...variantOptions(v),
          data: 'cifar10 train 80%',
          trainImages: pool.n,
          ...up,
        },
        seed,
        accuracy: ev.top1,
        evalCount: ev.count,
        evalLoss: ev.loss,
        train: tr,
        evalWallS: ev.wallS,
        checkpoint: t4File(ctx, v, seed),
      };
    };
    const scratch = scratchSeed(0);
    for (const seed of t4.scratchSeeds.filter((x) => x !== 0)) {
      runs.push({ id: `table4-scratch-${v}${sfx(seed)}`, experiment: 'table4', tier: 4, exec: scratchSeed(seed) });
    }
    runs.push({ id: `table4-scratch-${v}`, experiment: 'table4', tier: 2, exec: scratch });
    t4.transferSeeds.forEach((seed, si) => {
      runs.push({
        id: `table4-transfer-${v}-k${t4.transferShots}-s${seed}`,
        experiment: 'table4',
        tier: si < 2 ? 2 : 3,
        exec: (ctx) => {
          const w = upstreamWeights(ctx, t4File(ctx, v), () => scratch(ctx));
          const labels = pick(ctx.inette40.labels, ctx.inetteTrain);
          const idx = take(ctx.inetteTrain, fewShot(labels, t4.transferShots, seed, 10));
          const r = finetune(ctx, {
            pool: subsetPool(ctx.inette40, idx, s.precrop),
            evalPool: subsetPool(ctx.inette32, ctx.inetteVal, s.crop),
            init: 'transfer',
            weights: w,
            variant: v,
            zeroHead: true,
            seed,
            lr: chosenLr(ctx),
          });
          return { ...r, k: t4.transferShots, downstream: 'imagenette' };
        },
      });
    });
  }
  return runs.sort((a, b) => a.tier - b.tier);
}
