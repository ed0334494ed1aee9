/**
 * The contract between bit-ts and its PyTorch side (interop/torch, `bit_torch`): three JSON documents that an
 * export folder holds next to the timm-named weights.
 *   plan.json   the network as data (from `resnetV2Plan`): every conv (cin, cout, k, stride, pad) and norm of
 *               every unit in parameter order, the stem pool, GN groups and eps, WS on/off and eps, the head,
 *               and the full parameter list (names and shapes) the other side must reproduce exactly.
 *   recipe.json how to train it: global batch, steps, SGD (momentum, nesterov, weight decay and the no-decay
 *               rule), the LR schedule (HyperRule boundaries, or the per-step table of any other scheduler) with
 *               bit-ts-computed samples the other side checks, loss and label smoothing, MixUp alpha, the
 *               train/eval transform specs, the HyperRule's choices and why, the seed, and the config.
 *   data.json   the exact images of each split after bit-ts's seeded selections (validation split,
 *               train_limit, few-shot draw): ImageFolder member names or CIFAR record indices, with labels.
 * Invariant: nothing on the Python side is inferred from a model or dataset name; both sides read these.
 */

import * as path from 'node:path';
import type { Dataset, SourceDescriptor } from '../data/dataset.js';
import type { TransformSpec } from '../data/transforms.js';
import { ConfigError } from '../errors.js';
import { type ResNetV2, resnetV2Plan } from '../models/index.js';
import type { TrainConfig } from '../train/config.js';
import type { ModelSpec } from '../train/model-setup.js';
import type { Schedule } from '../train/schedule.js';

export const PLAN_FORMAT = 'bit-ts-plan-v1';
export const RECIPE_FORMAT = 'bit-ts-recipe-v1';
export const DATA_FORMAT = 'bit-ts-data-v1';

type Layer = { kind: 'conv'; name: string; cin: number; cout: number; k: number; stride: number; pad: number };
type NormLayer = { kind: 'norm'; name: string; c: number };

/** plan.json: the network, layer by layer. */
export interface PlanJson {
  format: typeof PLAN_FORMAT;
  model: string;
  spec: ModelSpec;
  num_classes: number;
  norm:
    | { kind: 'gn'; groups: number; eps: number }
    | { kind: 'bn'; eps: number; momentum: number; ghost_batch: number };
  ws: { enabled: boolean; eps: number };
  stem: Layer;
  stem_pool: { pad: number; k: number; stride: number; pad_value: 0 };
  units: { prefix: string; stage: number; stride: number; layers: (Layer | NormLayer)[] }[];
  final_norm: { name: string; c: number };
  head: { name: 'head.fc'; cin: number; cout: number; bias: true } | null;
  /** [name, shape] of every parameter in registration order (the state-dict names, timm's). */
  parameters: [string, number[]][];
  forward: string;
}

/** The plan of a built model (its config with bit-ts's defaults made explicit). */
export function planJson(model: ResNetV2, spec: ModelSpec): PlanJson {
  const c = model.config;
  const plan = resnetV2Plan(c);
  const conv = (l: { name: string; cin: number; cout: number; k: number; stride: number; pad: number }): Layer => ({
    kind: 'conv',
    name: l.name,
    cin: l.cin,
    cout: l.cout,
    k: l.k,
    stride: l.stride,
    pad: l.pad,
  });
  const f = plan.widths.features;
  return {
    format: PLAN_FORMAT,
    model: spec.model,
    spec,
    num_classes: c.numClasses,
    norm:
      (c.norm ?? 'gn') === 'gn'
        ? { kind: 'gn', groups: plan.widths.gnGroups, eps: 1e-5 }
        : { kind: 'bn', eps: 1e-5, momentum: 0.1, ghost_batch: c.bnGhostBatch ?? 0 },
    ws: { enabled: c.ws ?? true, eps: c.wsEps ?? 1e-10 },
    stem: conv(plan.stem),
    stem_pool: { ...plan.stemPool, pad_value: 0 },
    units: plan.units.map((u) => ({
      prefix: u.prefix,
      stage: u.stage,
      stride: u.stride,
      layers: u.layers.map((l) => (l.kind === 'conv' ? conv(l) : { kind: 'norm' as const, name: l.name, c: l.c })),
    })),
    final_norm: { name: plan.norm.name, c: plan.norm.c },
    head: c.numClasses > 0 ? { name: 'head.fc', cin: f, cout: c.numClasses, bias: true } : null,
    parameters: model.namedParameters().map(([n, t]): [string, number[]] => [n, [...t.shape]]),
    forward:
      'stem.conv -> zero pad 1 -> max pool 3x3/2; per unit: p = relu(norm1(x)); shortcut = downsample.conv(p) | x; ' +
      'h = conv1(p); h = conv2(relu(norm2(h))); h = conv3(relu(norm3(h))); out = h + shortcut; ' +
      'then relu(norm(x)) -> global average pool -> head.fc (1x1 conv with bias) -> flatten',
  };
}

/** recipe.json: how to train the plan's model. */
export interface RecipeJson {
  format: typeof RECIPE_FORMAT;
  seed: number;
  /** Global batch (split evenly over data-parallel ranks). */
  batch_size: number;
  /** Steps to run (stop_after_steps or the schedule's end). */
  steps: number;
  total_steps: number;
  shuffle: boolean;
  drop_last: boolean;
  optimizer: {
    name: 'sgd';
    momentum: number;
    nesterov: boolean;
    dampening: 0;
    weight_decay: number;
    filter_bias_and_bn: boolean;
    no_decay_rule: string;
  };
  schedule:
    | { kind: 'hyperrule'; base_lr: number; boundaries: number[]; describe: string; lr_samples: [number, number][] }
    | { kind: 'table'; lr: number[]; describe: string; lr_samples: [number, number][] };
  loss: { name: 'softmax_cross_entropy'; label_smoothing: number };
  mixup: { alpha: number; rule: string };
  augment: { train: TransformSpec; eval: TransformSpec };
  eval_batch_size: number;
  hyperrule: { lines: string[] } | null;
  /** The bit-ts config this recipe came from (a run brought back records it in its checkpoints). */
  config: TrainConfig;
  /** What a bit-ts training checkpoint's metadata needs besides step/epoch/optimizer (filled in by bit_torch). */
  checkpoint_meta: { config: TrainConfig; spec: ModelSpec; classes: string[]; rng: number[]; loader: object };
}

/** Steps at which the schedule is sampled for the other side's self-check. */
function sampleSteps(total: number, b: readonly number[]): number[] {
  const s = new Set<number>([0, 1, total - 1]);
  for (const v of b) for (const d of [-1, 0, 1]) if (v + d >= 0 && v + d < total) s.add(v + d);
  for (let i = 0; i < 8; i++) s.add(Math.floor((i * total) / 8));
  return [...s].filter((x) => x >= 0).sort((a, b) => a - b);
}

/** Inputs of `recipeJson` beyond the config. */
export interface RecipeInputs {
  cfg: TrainConfig;
  schedule: Schedule;
  /** HyperRule boundaries when the scheduler is 'hyperrule'. */
  boundaries: number[] | null;
  stopAt: number;
  trainSpec: TransformSpec;
  evalSpec: TransformSpec;
  spec: ModelSpec;
  classes: string[];
  rng: number[];
  hyperRuleLines: string[] | null;
}

/** The recipe of a training config as bit-ts would run it. */
export function recipeJson(r: RecipeInputs): RecipeJson {
  const { cfg, schedule } = r;
  const total = schedule.totalSteps;
  const samples = sampleSteps(total, r.boundaries ?? []).map((s): [number, number] => [s, schedule.lr(s)]);
  const sched: RecipeJson['schedule'] =
    cfg.scheduler === 'hyperrule' && r.boundaries
      ? {
          kind: 'hyperrule',
          base_lr: cfg.lr,
          boundaries: r.boundaries,
          describe: schedule.describe,
          lr_samples: samples,
        }
      : {
          kind: 'table',
          lr: Array.from({ length: Math.max(1, r.stopAt) }, (_, s) => schedule.lr(s)),
          describe: schedule.describe,
          lr_samples: samples.filter(([s]) => s < r.stopAt),
        };
  return {
    format: RECIPE_FORMAT,
    seed: cfg.seed,
    batch_size: cfg.batch_size,
    steps: r.stopAt,
    total_steps: total,
    shuffle: cfg.shuffle,
    drop_last: cfg.drop_remainder,
    optimizer: {
      name: 'sgd',
      momentum: cfg.momentum,
      nesterov: cfg.use_nesterov,
      dampening: 0,
      weight_decay: cfg.weight_decay,
      filter_bias_and_bn: cfg.filter_bias_and_bn,
      no_decay_rule: "filter_bias_and_bn: parameters with ndim <= 1 or a name ending in '.bias' get no weight decay",
    },
    schedule: sched,
    loss: { name: 'softmax_cross_entropy', label_smoothing: cfg.label_smoothing },
    mixup: {
      alpha: cfg.mixup,
      rule: 'one lambda ~ Beta(alpha, alpha) per step; partner: a random permutation of the (per-rank) batch; loss lam*CE(y_a) + (1-lam)*CE(y_b)',
    },
    augment: { train: r.trainSpec, eval: r.evalSpec },
    eval_batch_size: cfg.eval_batch_size > 0 ? cfg.eval_batch_size : Math.max(cfg.batch_size, 64),
    hyperrule: r.hyperRuleLines ? { lines: r.hyperRuleLines } : null,
    config: cfg,
    checkpoint_meta: {
      config: { ...cfg, resume: '' },
      spec: r.spec,
      classes: r.classes,
      rng: r.rng,
      loader: { epoch: 0, position: 0 },
    },
  };
}

/** One split of data.json. */
export type DataSplitJson =
  | { kind: 'image-folder'; root: string; root_rel: string | null; tar: boolean; members: string[]; labels: number[] }
  | {
      kind: 'cifar';
      root: string;
      root_rel: string | null;
      files: string[];
      record: number;
      label_offset: number;
      indices: number[];
      labels: number[];
    };

/** data.json: the exact images of each split. */
export interface DataJson {
  format: typeof DATA_FORMAT;
  data_dir: string;
  classes: string[];
  train: DataSplitJson;
  val: DataSplitJson | null;
}

/** A descriptor as its base dataset and the base indices of its members (subsets composed). */
function flatten(d: SourceDescriptor): { base: Exclude<SourceDescriptor, { kind: 'subset' }>; idx: number[] | null } {
  if (d.kind !== 'subset') return { base: d, idx: null };
  const inner = flatten(d.base);
  const own = [...d.indices];
  return { base: inner.base, idx: inner.idx ? own.map((i) => inner.idx![i]!) : own };
}

function rel(dataDir: string, p: string): string | null {
  const r = path.relative(dataDir, p);
  return r.startsWith('..') || path.isAbsolute(r) ? null : r;
}

/**
 * One dataset as a data.json split.
 * @throws ConfigError for sources the PyTorch side does not read (embedded MNIST, IDX files).
 */
export function dataSplitJson(ds: Dataset, dataDir: string): DataSplitJson {
  const { base, idx } = flatten(ds.descriptor());
  const all = idx ?? Array.from({ length: ds.length }, (_, i) => i);
  const labels = Array.from(ds.labels());
  const dir = path.resolve(dataDir);
  if (base.kind === 'image-folder') {
    const root = path.resolve(base.root);
    return {
      kind: 'image-folder',
      root,
      root_rel: rel(dir, root),
      tar: base.tar,
      members: all.map((i) => base.names[i]!),
      labels,
    };
  }
  const m = /\((cifar10|cifar100) (train|test)\)$/.exec(base.source);
  if (!m) {
    throw new ConfigError(
      `export-torch: the PyTorch side reads ImageFolder folders and tars and CIFAR binaries; '${base.source}' is neither (export MNIST as an ImageFolder)`,
    );
  }
  const c10 = m[1] === 'cifar10';
  const files = c10
    ? m[2] === 'train'
      ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`)
      : ['test_batch.bin']
    : [m[2] === 'train' ? 'train.bin' : 'test.bin'];
  return {
    kind: 'cifar',
    root: dir,
    root_rel: '',
    files,
    record: c10 ? 3073 : 3074,
    label_offset: 0,
    indices: all,
    labels,
  };
}
