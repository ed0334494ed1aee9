/**
 * `bit-ts validate -c CONFIG.yaml --data_dir DIR --ckpt_path FILE [--json]`: evaluate a checkpoint on the
 * config's validation set and print Top_1_Accuracy, Top_5_Accuracy (fractions, as MindCV's validate.py) and the
 * mean cross-entropy loss. Without -c, a bit-ts training checkpoint supplies its own config; any weight file
 * (npz / safetensors / ckpt) works with a config that names the model.
 *
 * `--data_dir DIR` (an ImageFolder directory or tar) with no -c and no split flag scores EVERY image in it, not
 * the stored training config's split; the data's class folders must equal the checkpoint's class names (a
 * ConfigError lists the differences).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Dataset, ImageFolder } from '../data/index.js';
import { ConfigError } from '../errors.js';
import { setupBackend } from '../train/backend-setup.js';
import { isTrainingCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import {
  applyConfig,
  defaultConfig,
  loadConfig,
  readConfigFile,
  type TrainConfig,
  validateConfig,
} from '../train/config.js';
import { evalLoader, resolveDataset, setupData, transformsOf } from '../train/data-setup.js';
import { evaluate, nonFiniteWarning } from '../train/evaluate.js';
import { buildModel, loadForPrediction, type ModelSpec, modelSpecOf } from '../train/model-setup.js';
import { type Args, take } from './args.js';

/** The config a command uses for a checkpoint: -c FILE, else the one stored in the checkpoint; flags on top. */
export function configForCheckpoint(
  flagsIn: Record<string, string>,
  needData = false,
): {
  cfg: TrainConfig;
  spec: ModelSpec;
  classes: string[] | null;
  ckpt: string;
  training: boolean;
} {
  const flags = { ...flagsIn };
  delete flags.json;
  delete flags.allow_random_head;
  const file = take(flags, 'config') ?? null;
  const ckpt = take(flags, 'ckpt_path');
  if (!ckpt) throw new ConfigError('--ckpt_path FILE is required');
  const training = isTrainingCheckpoint(ckpt);
  let cfg: TrainConfig;
  let spec: ModelSpec;
  let classes: string[] | null = null;
  if (training) {
    const meta = loadCheckpoint(ckpt).meta;
    const stored = applyConfig(defaultConfig(), meta.config, `${ckpt} (stored config)`);
    cfg = file ? loadConfig(file, flags) : applyConfig(stored, flags, 'command line');
    spec = meta.spec;
    classes = meta.classes;
    refuseOtherModel(ckpt, spec, cfg, flags, file);
  } else {
    if (!file && !flags.model)
      throw new ConfigError(`${ckpt} is not a bit-ts training checkpoint: give -c CONFIG or --model`);
    cfg = loadConfig(file, flags);
    spec = modelSpecOf(cfg);
  }
  validateConfig(cfg);
  if (needData) {
    // the data source must be chosen, never the default embedded MNIST by accident
    const chosen = (o: Record<string, unknown>) => o.data_dir !== undefined || o.dataset !== undefined;
    const fromStored = training && !file;
    if (!fromStored && !chosen(flags) && !(file && chosen(readConfigFile(file)))) {
      throw new ConfigError(
        `validate: no data source: give --data_dir DIR (or --dataset mnist for the built-in MNIST test set)` +
          (file ? `; ${file} names neither data_dir nor dataset` : ''),
      );
    }
  }
  return { cfg, spec, classes, ckpt, training };
}

/**
 * A training checkpoint brings its own model: a --model / --num_classes (or a -c file's model) naming another
 * one would be silently ignored, so it is an error.
 * @throws ConfigError naming what was asked and what the checkpoint holds.
 */
function refuseOtherModel(
  ckpt: string,
  spec: ModelSpec,
  cfg: TrainConfig,
  flags: Record<string, string>,
  file: string | null,
): void {
  const asked: string[] = [];
  if ((flags.model !== undefined || file) && cfg.model !== spec.model) asked.push(`model ${cfg.model}`);
  if (flags.num_classes !== undefined && cfg.num_classes !== spec.numClasses)
    asked.push(`num_classes ${cfg.num_classes}`);
  if (asked.length === 0) return;
  throw new ConfigError(
    `${ckpt} is a bit-ts training checkpoint of ${spec.model} with ${spec.numClasses} classes, which it always ` +
      `uses; ${asked.join(' and ')} ${file && flags.model === undefined ? `(from ${file}) ` : ''}would be ignored: ` +
      `drop it (or convert the file to plain weights with bit-ts convert to use another model)`,
  );
}

/** Flags that choose a split; without any of them (and without -c), --data_dir is scored image by image. */
const SPLIT_FLAGS = ['val_split', 'val_limit', 'train_split'] as const;

/**
 * Every image of an ImageFolder directory or tar (`<class>/<image>`; a single top folder such as `val/` or
 * `train/` holding the class folders is descended into when the model has more than one class).
 */
function wholeFolder(dir: string, numClasses: number): ImageFolder {
  const ds = ImageFolder.open(dir);
  if (ds.numClasses !== 1 || numClasses === 1) return ds;
  const top = ds.classes[0]!;
  ds.close();
  return isFile(dir) ? ImageFolder.open(dir, { prefix: `${top}/` }) : ImageFolder.open(path.join(dir, top));
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The data's class folders must be the checkpoint's classes (same names; both sorted, so same labels).
 * @throws ConfigError naming the folders missing on either side.
 */
export function checkClasses(source: string, data: readonly string[], ckpt: readonly string[] | null, n: number): void {
  if (ckpt === null) {
    if (data.length !== n)
      throw new ConfigError(`validate: ${source} has ${data.length} class folders, the model ${n} outputs`);
    return;
  }
  if (data.join('\n') === ckpt.join('\n')) return;
  // names equal up to Unicode normalization (a folder copied from macOS: 'cafe' + U+0301 vs U+00E9) are the
  // same class: accepted when they line up label by label
  const nfc = (a: readonly string[]) => a.map((x) => x.normalize('NFC'));
  if (nfc(data).join('\n') === nfc(ckpt).join('\n')) return;
  const d = new Set(nfc(data));
  const c = new Set(nfc(ckpt));
  const missing = ckpt.filter((x) => !d.has(x.normalize('NFC')));
  const extra = data.filter((x) => !c.has(x.normalize('NFC')));
  const shown = (x: string) => (/^[\x20-\x7e]*$/.test(x) ? x : `${x} (${escapeNonAscii(x)})`);
  const show = (a: string[]) => `${a.slice(0, 5).map(shown).join(', ')}${a.length > 5 ? `, ... (${a.length})` : ''}`;
  throw new ConfigError(
    `validate: the class folders of ${source} (${data.length}) are not the checkpoint's classes (${ckpt.length})` +
      (missing.length ? `; not in the data: ${show(missing)}` : '') +
      (extra.length ? `; not in the checkpoint: ${show(extra)}` : '') +
      (!missing.length && !extra.length ? '; same names in another order' : ''),
  );
}

/** `x` with every non-ASCII code point as \\u{...} (so names that look alike print differently). */
function escapeNonAscii(x: string): string {
  return [...x].map((ch) => (/^[\x20-\x7e]$/.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`)).join('');
}

/** What `validateCheckpoint` measured (accuracies in percent). */
export interface ValidateResult {
  top1: number;
  top5: number;
  loss: number;
  count: number;
  /** Images whose logits were not finite (counted wrong). */
  nonFinite: number;
  describe: string;
  /** What was loaded, the head included. */
  loaded: string[];
}

/** How validate and infer load weights: --allow_nonfinite (a config key) and --allow_random_head. */
export function predictionOptions(
  cfg: TrainConfig,
  flags: Record<string, string>,
): { allowNonfinite: boolean; allowRandomHead: boolean } {
  return { allowNonfinite: cfg.allow_nonfinite, allowRandomHead: flags.allow_random_head === 'true' };
}

/**
 * Evaluate a checkpoint as `bit-ts validate` does with these flags (`ckpt_path`, `data_dir`, ... as strings).
 * With --data_dir, no -c and no split flag (val_split, val_limit, train_split), an ImageFolder directory or tar
 * is scored on EVERY image in it; otherwise on the config's validation split.
 * @throws ConfigError for a missing data source, no validation set, or a class mismatch.
 */
export async function validateCheckpoint(flags: Record<string, string>): Promise<ValidateResult> {
  const { cfg, spec, ckpt, training, classes } = configForCheckpoint(flags, true);
  await setupBackend(cfg.backend, cfg.threads);
  const whole =
    flags.data_dir !== undefined &&
    flags.config === undefined &&
    !SPLIT_FLAGS.some((k) => flags[k] !== undefined) &&
    ['imagefolder', 'imagenet', 'cifar10'].includes(resolveDataset(cfg)) &&
    (isFile(cfg.data_dir) || !fs.existsSync(path.join(cfg.data_dir, 'data_batch_1.bin')));
  let val: Dataset;
  let describe: string;
  let evalSpec = transformsOf(cfg).evalSpec;
  if (whole) {
    val = wholeFolder(cfg.data_dir, spec.numClasses);
    describe = `${cfg.data_dir}: every image (${val.length}, ${val.numClasses} classes)`;
  } else {
    const data = setupData({ ...cfg, examples_per_class: 0, num_classes: spec.numClasses });
    if (!data.val) throw new ConfigError('no validation set: set val_split to a split name or a fraction in (0, 1)');
    val = data.val;
    describe = data.describe;
    evalSpec = data.evalSpec;
  }
  checkClasses(cfg.data_dir || cfg.dataset, val.classes, classes, spec.numClasses);
  const model = buildModel(spec);
  let loaded: string[];
  try {
    loaded = loadForPrediction(model, ckpt, training, predictionOptions(cfg, flags));
  } catch (e) {
    model.dispose();
    val.close?.();
    throw e;
  }
  const loader = evalLoader(cfg, val, evalSpec);
  try {
    const r = await evaluate(model, loader);
    return { ...r, describe, loaded };
  } finally {
    await loader.close();
    model.dispose();
    val.close?.();
  }
}

/** Run the command; returns the exit code. */
export async function validateCommand(args: Args): Promise<number> {
  const r = await validateCheckpoint(args.flags);
  const ckpt = args.flags.ckpt_path;
  const out = {
    Top_1_Accuracy: r.top1 / 100,
    Top_5_Accuracy: r.top5 / 100,
    loss: r.loss,
    count: r.count,
    non_finite: r.nonFinite,
  };
  for (const l of r.loaded) console.error(l);
  if (args.flags.json) console.log(JSON.stringify({ ...out, loss: Number.isFinite(r.loss) ? r.loss : String(r.loss) }));
  else {
    console.log(`validated ${ckpt} on ${r.count} images (${r.describe})`);
    console.log(`Top_1_Accuracy: ${out.Top_1_Accuracy.toFixed(4)}`);
    console.log(`Top_5_Accuracy: ${out.Top_5_Accuracy.toFixed(4)}`);
    console.log(`loss: ${out.loss.toFixed(4)}`);
  }
  const bad = nonFiniteWarning(r);
  if (bad) {
    console.error(`error: ${bad} (exit 3)`);
    return 3;
  }
  return 0;
}
