/**
 * Training configuration: a schema whose keys mirror MindCV's `config.py` (model, batch_size, epoch_size, lr,
 * scheduler, ...) plus ours (backend, gradient_accumulation_steps, max_steps, threads, ...). A config is built
 * from defaults <- YAML file <- CLI flags, in that order.
 *
 * Invariants: every key of the result is a schema key with a value of the schema's type; an unknown key (in the
 * file or as a flag) is a ConfigError naming it and the closest valid key by edit distance; MindCV keys we accept
 * but do not act on (distribute, amp_level, loss_scale, ...) are listed in `IGNORED_KEYS` and reported, never
 * silently dropped. `serializeConfig` writes a YAML that `loadConfig` reads back to an equal config.
 */

import * as fs from 'node:fs';
import YAML from 'yaml';
import { ConfigError } from '../errors.js';
import { KEY_ALIASES as ALIASES, editDistance } from './config-suggest.js';

export { editDistance, KEY_ALIASES };

/** The TypeScript type of each schema kind: a key's value type in `TrainConfig` follows from its kind. */
interface KindType {
  int: number;
  number: number;
  bool: boolean;
  string: string;
  numbers: number[];
  value: string | number;
}
type Kind = keyof KindType;

interface KeyDef<K extends Kind = Kind> {
  kind: K;
  def: KindType[K];
  doc: string;
}

const k = <K extends Kind>(kind: K, def: KindType[K], doc: string): KeyDef<K> => ({ kind, def, doc });

/** A key whose value is one of `choices` (typed as their union in TrainConfig; matched case-insensitively). */
interface EnumDef<C extends string = string> {
  kind: 'enum';
  choices: readonly C[];
  def: C;
  doc: string;
}

const e = <const C extends string>(choices: readonly C[], def: NoInfer<C>, doc: string): EnumDef<C> => ({
  kind: 'enum',
  choices,
  def,
  doc,
});

/** The value type of a schema entry. */
type ValueOf<D> = D extends EnumDef<infer C> ? C : D extends KeyDef<infer K> ? KindType[K] : never;

/** Every accepted key, its type, default and meaning. */
export const SCHEMA = {
  // system
  mode: k('int', 0, 'MindSpore graph/pynative mode (ignored)'),
  distribute: k('bool', false, 'multi-device training (ignored: one process)'),
  num_parallel_workers: k('int', 0, 'loader worker threads (0: decode in-process)'),
  val_while_train: k('bool', true, 'evaluate during training'),
  val_interval: k('int', 1, 'evaluate every this many epochs'),
  log_interval: k('int', 10, 'steps between plain log lines (non-TTY)'),
  seed: k('int', 1, 'seed of init, data order, augmentation and MixUp'),
  ema: k('bool', false, 'EMA of weights (not supported; must be false)'),
  // dataset
  dataset: k(
    'string',
    '',
    'mnist | cifar10 | imagefolder | imagenet (imagefolder layout); empty: detected from data_dir (none: embedded MNIST)',
  ),
  data_dir: k('string', '', 'dataset root: a directory or a .tar (empty: embedded MNIST)'),
  shuffle: k('bool', true, 'shuffle the training set each epoch'),
  dataset_download: k('bool', false, 'download the dataset (ignored: never downloads)'),
  batch_size: k('int', 32, 'images per optimizer update'),
  drop_remainder: k('bool', true, 'drop the last incomplete training batch'),
  train_split: k('string', 'train', 'training split folder / tar prefix'),
  val_split: k('value', 0.1, "validation split: a folder name ('val') or a held-out fraction of train"),
  // augmentation
  augment: e(
    ['mindcv', 'bit', 'plain'],
    'mindcv',
    'mindcv (RandomResizedCrop/jitter) | bit (resize + crop + flip) | plain',
  ),
  image_resize: k('int', 224, 'training / evaluation crop side'),
  scale: k('numbers', [0.08, 1.0], 'RandomResizedCrop scale range'),
  ratio: k('numbers', [0.75, 1.333], 'RandomResizedCrop aspect range'),
  hflip: k('number', 0.5, 'horizontal flip probability (0 or 0.5)'),
  vflip: k('number', 0, 'vertical flip probability (not supported; must be 0)'),
  color_jitter: k('number', 0.4, 'brightness/contrast/saturation jitter'),
  interpolation: e(['bilinear'], 'bilinear', 'resize interpolation (bilinear only)'),
  crop_pct: k('number', 0.875, 'evaluation: resize to image_resize/crop_pct then center crop'),
  precrop: k('int', 0, 'bit augment: square resize side before the random crop (0: image_resize*1.25)'),
  mixup: k('number', 0, 'MixUp alpha (0: off)'),
  auto_augment: k('string', '', 'AutoAugment policy (not supported; must be empty)'),
  re_prob: k('number', 0, 'random erasing probability (not supported; must be 0)'),
  // model
  model: k('string', 'bit-tiny', 'model name (bit-ts models)'),
  num_classes: k('int', 10, 'classes of the head'),
  in_channels: k('int', 3, 'input channels (3)'),
  pretrained: k('bool', false, 'load ckpt_path as pretrained weights (head dropped if classes differ)'),
  ckpt_path: k('string', '', 'weights to start from (npz / safetensors / ckpt)'),
  keep_checkpoint_max: k('int', 10, 'epoch checkpoints kept (best and latest always kept)'),
  ckpt_save_dir: k('string', './ckpt', 'run directory: checkpoints, metrics, plots, effective config'),
  ckpt_save_interval: k('int', 1, 'save a checkpoint every this many epochs'),
  ckpt_save_policy: e(['latest_k', 'top_k'], 'latest_k', 'latest_k | top_k (best by Top-1 kept)'),
  epoch_size: k('int', 90, 'training epochs'),
  dataset_sink_mode: k('bool', true, 'MindSpore data sinking (ignored)'),
  amp_level: k('string', 'O0', 'mixed precision (ignored: float32)'),
  drop_rate: k('number', 0, 'dropout before the head (not supported; must be 0)'),
  drop_path_rate: k('number', 0, 'stochastic depth (not supported; must be 0)'),
  zero_head: k('bool', false, 'zero-initialize the head (BiT fine-tuning)'),
  model_base_width: k('int', 0, 'override the base width of the model (0: the model default)'),
  model_gn_groups: k('int', 0, 'override the GroupNorm groups (0: the model default)'),
  model_norm: e(['gn', 'bn'], 'gn', 'normalization: gn (BiT) | bn (the GN/BN x WS ablation)'),
  model_ws: k('bool', true, 'weight-standardized convs (BiT); false for the ablation'),
  bn_ghost_batch: k('int', 0, 'bn: statistics per micro-batch of this many images (simulated devices; 0: batch)'),
  // loss
  loss: e(['CE'], 'CE', 'CE (softmax cross-entropy)'),
  label_smoothing: k('number', 0, 'label smoothing eps'),
  // lr scheduler
  scheduler: e(
    ['constant', 'multi_step_decay', 'cosine_decay', 'step_decay', 'hyperrule'],
    'constant',
    'constant | multi_step_decay | cosine_decay | step_decay | hyperrule',
  ),
  lr: k('number', 0.01, 'base learning rate'),
  min_lr: k('number', 0, 'cosine_decay floor'),
  decay_rate: k('number', 0.1, 'multi_step_decay / step_decay factor'),
  decay_epochs: k('int', 30, 'step_decay period (epochs)'),
  warmup_epochs: k('number', 3, 'linear warmup from 0 (epochs; MindCV per-step)'),
  warmup_factor: k('number', 0, 'warmup start factor (0 only)'),
  multi_step_decay_milestones: k('numbers', [30, 60, 90], 'epochs after warmup at which lr *= decay_rate'),
  lr_epoch_stair: k('bool', false, 'per-epoch staircase lr (false: per step)'),
  hyperrule_dataset_size: k('int', 0, 'hyperrule: N for the schedule (0: the training set size)'),
  hyperrule_scale: k('number', 1, 'hyperrule: multiply every schedule boundary (CPU runs: 0.1)'),
  // optimizer
  opt: e(['sgd', 'momentum'], 'sgd', 'sgd | momentum (both: SGD with momentum)'),
  momentum: k('number', 0.9, 'SGD momentum'),
  weight_decay: k('number', 1e-4, 'L2 weight decay'),
  use_nesterov: k('bool', false, 'Nesterov momentum'),
  filter_bias_and_bn: k('bool', true, 'no weight decay on biases and norm parameters'),
  loss_scale: k('number', 1, 'static loss scale (ignored: float32 needs none)'),
  // ours
  backend: k('string', '', 'reference | wasm | gpujs-* (empty: BIT_BACKEND or the machine default)'),
  threads: k('int', 0, 'wasm backend threads (0: all cores)'),
  gradient_accumulation_steps: k('int', 1, 'split each batch into this many micro-batches (same update)'),
  max_steps: k('int', 0, 'length of the run in optimizer steps: the lr schedule is fitted to it (0: epochs)'),
  stop_after_steps: k('int', 0, 'stop early after this many steps; the schedule is unchanged (0: no stop)'),
  skip_bad_images: k('bool', false, 'skip images that fail to decode (logged; at most 1% of the set)'),
  allow_nonfinite: k('bool', false, 'load weights holding NaN/Inf (with a warning) instead of refusing them'),
  resume: k('string', '', 'checkpoint to continue exactly (model, optimizer, step, data order, RNG)'),
  examples_per_class: k('int', 0, 'few-shot: train on k examples per class (0: all)'),
  fewshot_seed: k('int', 0, 'seed of the few-shot draw'),
  mnist_digits: k('numbers', [], 'mnist: keep these digits, relabelled 0..n-1 (empty: all ten)'),
  train_limit: k('int', 0, 'use at most this many training images (0: all; stratified)'),
  val_limit: k('int', 0, 'use at most this many validation images (0: all)'),
  eval_batch_size: k('int', 0, 'evaluation batch (0: batch_size)'),
  progress: e(['auto', 'bar', 'plain', 'none'], 'auto', 'auto (bar on a TTY) | bar | plain | none'),
  plots: k('bool', true, 'write loss/accuracy/lr plots (SVG + PNG) at the end'),
} satisfies Record<string, KeyDef | EnumDef>;

export type ConfigKey = keyof typeof SCHEMA;

/** Key aliases of other trainers; typed here so that an alias naming no schema key is a compile error. */
const KEY_ALIASES: Readonly<Record<string, ConfigKey>> = ALIASES;

/**
 * A resolved configuration: every schema key, typed by its kind. Derived from SCHEMA, so a key that is not in
 * the schema (a typo) does not compile, and adding a key to the schema adds it here.
 */
export type TrainConfig = { [K in ConfigKey]: ValueOf<(typeof SCHEMA)[K]> };

/** MindCV keys accepted for compatibility that bit-ts does not act on. */
export const IGNORED_KEYS: readonly ConfigKey[] = [
  'mode',
  'distribute',
  'dataset_download',
  'dataset_sink_mode',
  'amp_level',
  'loss_scale',
  'interpolation',
];

/** The valid key closest to `key`: a known alias, else by edit distance (ties: the first in schema order). */
export function closestKey(key: string): string {
  const alias = KEY_ALIASES[key.toLowerCase().replace(/-/g, '_')];
  if (alias) return alias;
  let best = '';
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of Object.keys(SCHEMA)) {
    const d = editDistance(key.toLowerCase(), c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

function isKey(key: string): key is ConfigKey {
  return Object.hasOwn(SCHEMA, key);
}

/** A value as a user wrote it: NaN and infinities by name (JSON would print null). */
function show(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  return JSON.stringify(v) ?? String(v);
}

/** 'a or b' / 'one of a, b, c'. */
const choiceList = (c: readonly string[]) => (c.length <= 2 ? c.join(' or ') : `one of ${c.join(', ')}`);

function coerce(key: ConfigKey, value: unknown, where: string): unknown {
  const def: KeyDef | EnumDef = SCHEMA[key];
  const bad = (want: string) =>
    new ConfigError(`${where}: '${key}' must be ${want}, got ${show(value)} (${SCHEMA[key].doc})`);
  if (def.kind === 'enum') {
    const v = typeof value === 'string' ? value.toLowerCase() : null;
    const hit = def.choices.find((c) => c.toLowerCase() === v);
    if (hit === undefined) throw bad(choiceList(def.choices));
    return hit;
  }
  const { kind } = def;
  const num = (v: unknown): number => {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw bad('a number');
    return n;
  };
  switch (kind) {
    case 'int': {
      const n = num(value);
      if (!Number.isInteger(n)) throw bad('an integer');
      return n;
    }
    case 'number':
      return num(value);
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'True' || value === '1' || value === 1) return true;
      if (value === 'false' || value === 'False' || value === '0' || value === 0) return false;
      throw bad('true or false');
    case 'string':
      if (value === null || value === undefined) return '';
      if (typeof value === 'string' || typeof value === 'number') return String(value);
      throw bad('a string');
    case 'numbers': {
      let v = value;
      if (typeof v === 'string') {
        const s = v.trim().replace(/^\[|\]$/g, '');
        v = s === '' ? [] : s.split(',').map((x) => x.trim());
      }
      if (typeof v === 'number') v = [v];
      if (!Array.isArray(v)) throw bad('a list of numbers');
      return v.map(num);
    }
    case 'value': {
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
      return value;
    }
  }
}

/** The default configuration. */
export function defaultConfig(): TrainConfig {
  const out: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(SCHEMA)) out[key] = structuredClone(d.def);
  return out as TrainConfig;
}

/**
 * Apply `values` (from YAML or flags) onto `base`, validating each key.
 * @throws ConfigError for an unknown key (naming the closest valid one) or a value of the wrong type.
 */
export function applyConfig(base: TrainConfig, values: Record<string, unknown>, where: string): TrainConfig {
  const out = { ...base };
  for (const [rawKey, v] of Object.entries(values)) {
    const key = rawKey.replace(/-/g, '_');
    if (!isKey(key)) {
      throw new ConfigError(`${where}: unknown key '${rawKey}'; did you mean '${closestKey(key)}'?`);
    }
    (out as Record<string, unknown>)[key] = coerce(key, v, where);
  }
  return out;
}

/** Largest config file read (a full MindCV recipe is ~3 KB): bigger files are refused before parsing. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Read and parse a YAML config file into its raw mapping (keys as written), size-checked before reading.
 * @throws ConfigError when the file is missing, too large, not YAML, nested too deeply or not a mapping.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError(`${file}: config is ${size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${file}: cannot read config: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { maxAliasCount: 100 }) ?? {};
  } catch (e) {
    if (e instanceof RangeError) throw new ConfigError(`${file}: YAML nested too deeply to parse`);
    throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${file}: expected a YAML mapping`);
  }
  return doc as Record<string, unknown>;
}

/**
 * Read a YAML config file onto the defaults, then apply flag overrides.
 * @throws ConfigError when the file is unreadable, not a YAML mapping, or has an unknown key / bad value.
 */
export function loadConfig(file: string | null, overrides: Record<string, unknown> = {}): TrainConfig {
  let cfg = defaultConfig();
  if (file) cfg = applyConfig(cfg, readConfigFile(file), file);
  cfg = applyConfig(cfg, overrides, 'command line');
  validateConfig(cfg);
  return cfg;
}

/**
 * Range and support checks across keys.
 * @throws ConfigError naming the key.
 */
export function validateConfig(c: TrainConfig): void {
  const need = (ok: boolean, key: ConfigKey, msg: string) => {
    if (!ok) throw new ConfigError(`config: '${key}' ${msg} (got ${show(c[key])})`);
  };
  need(c.batch_size >= 1, 'batch_size', 'must be >= 1');
  need(c.gradient_accumulation_steps >= 1, 'gradient_accumulation_steps', 'must be >= 1');
  need(
    c.batch_size % c.gradient_accumulation_steps === 0,
    'gradient_accumulation_steps',
    `must divide batch_size ${c.batch_size}`,
  );
  need(c.epoch_size >= 1, 'epoch_size', 'must be >= 1');
  need(c.max_steps >= 0, 'max_steps', 'must be >= 0');
  need(c.stop_after_steps >= 0, 'stop_after_steps', 'must be >= 0');
  need(c.lr >= 0, 'lr', 'must be >= 0');
  need(c.label_smoothing >= 0 && c.label_smoothing < 1, 'label_smoothing', 'must be in [0, 1)');
  need(c.mixup >= 0, 'mixup', 'must be >= 0');
  need(c.keep_checkpoint_max >= 1, 'keep_checkpoint_max', 'must be >= 1');
  need(c.val_interval >= 1, 'val_interval', 'must be >= 1');
  need(c.hflip === 0 || c.hflip === 0.5, 'hflip', 'must be 0 or 0.5');
  need(c.vflip === 0, 'vflip', 'is not supported (must be 0)');
  need(!c.ema, 'ema', 'is not supported (must be false)');
  need(c.auto_augment === '', 'auto_augment', 'is not supported (must be empty)');
  need(c.re_prob === 0, 're_prob', 'is not supported (must be 0)');
  need(c.drop_rate === 0 && c.drop_path_rate === 0, 'drop_rate', 'and drop_path_rate must be 0');
  need(c.warmup_factor === 0, 'warmup_factor', 'must be 0');
  need(c.in_channels === 3, 'in_channels', 'must be 3');
  for (const [key, d] of Object.entries(SCHEMA) as [ConfigKey, KeyDef | EnumDef][]) {
    if (d.kind === 'enum')
      need((d.choices as readonly unknown[]).includes(c[key]), key, `must be ${choiceList(d.choices)}`);
  }
  need(c.bn_ghost_batch >= 0, 'bn_ghost_batch', 'must be >= 0');
  need(c.bn_ghost_batch === 0 || c.model_norm === 'bn', 'bn_ghost_batch', "needs model_norm 'bn'");
  need(
    c.bn_ghost_batch === 0 || c.batch_size % (c.bn_ghost_batch * c.gradient_accumulation_steps) === 0,
    'bn_ghost_batch',
    'times gradient_accumulation_steps must divide batch_size',
  );
  need(c.hyperrule_scale > 0, 'hyperrule_scale', 'must be > 0');
  const vs = c.val_split;
  need(
    typeof vs === 'string' || (typeof vs === 'number' && vs >= 0 && vs < 1),
    'val_split',
    'must be a name or in [0,1)',
  );
}

/** YAML text of a config (only keys, in schema order), readable by `loadConfig`. */
export function serializeConfig(c: TrainConfig): string {
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(SCHEMA) as ConfigKey[]) ordered[key] = c[key];
  return `# effective bit-ts configuration (defaults <- file <- flags)\n${YAML.stringify(ordered)}`;
}

/** Keys set to a non-default value that bit-ts ignores (for a note at start-up). */
export function ignoredSettings(c: TrainConfig): string[] {
  return IGNORED_KEYS.filter((key) => JSON.stringify(c[key]) !== JSON.stringify(SCHEMA[key].def));
}
