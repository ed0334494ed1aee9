/**
 * BiT-HyperRule fine-tuning as a training config: resolution from the original image size (< 96x96 px:
 * resize 160 / crop 128, else 512/480, paper variant 448/384), schedule length and MixUp (alpha 0.1 from 20k
 * examples) from the training set size, zero head, SGD momentum 0.9, NO weight decay, base lr 0.003 at batch
 * 512 (scaled linearly for other batches unless lr is given).
 *
 * CPU knobs (ours, documented in `finetune --help`): `scale` multiplies every schedule boundary (0.1: 500 ->
 * 50 steps), `crop` overrides the crop side (the resize side stays crop * 160/128), `max_steps` fits the schedule to that many
 * steps, `stop_after_steps` stops early without changing it.
 * Invariant: `describe` lists exactly what was chosen, so runs are reproducible from their log.
 */

import { bitResolution } from '../data/index.js';
import { ConfigError } from '../errors.js';
import { applyConfig, type TrainConfig, validateConfig } from './config.js';
import { setupData } from './data-setup.js';
import { hyperRuleBoundaries } from './schedule.js';

/** Knobs of a HyperRule run beyond plain config keys. */
export interface FinetuneKnobs {
  /** Schedule multiplier (1: the official rule). */
  scale?: number;
  /** Crop side override (the resize side follows the rule's 160/128 or 512/480 ratio). */
  crop?: number;
  variant?: 'official' | 'paper';
  /** Explicit lr; default 0.003 * batch / 512. */
  lr?: number;
}

/**
 * Turn a base config (dataset, model, weights, batch, ...) into the HyperRule config for its dataset.
 * @returns the config and the lines describing the choice.
 */
export function hyperRuleConfig(base: TrainConfig, k: FinetuneKnobs = {}): { cfg: TrainConfig; lines: string[] } {
  const probe = setupData({ ...base, val_split: 0, val_limit: 0 }, { checkClasses: false });
  const n = probe.train.length;
  const classes = probe.train.numClasses;
  const [h, w] = probe.imageSize;
  probe.train.close?.();
  const res = bitResolution(h, w, k.variant ?? 'official');
  const scale = k.scale ?? 1;
  if (!(scale > 0)) throw new ConfigError(`--scale must be > 0, got ${scale}`);
  const crop = k.crop ?? res.crop;
  const precrop = k.crop ? Math.round((k.crop * res.precrop) / res.crop) : res.precrop;
  const mixup = n < 20_000 ? 0 : 0.1;
  const lr = k.lr ?? (0.003 * base.batch_size) / 512;
  const cfg = applyConfig(
    base,
    {
      num_classes: classes,
      scheduler: 'hyperrule',
      hyperrule_scale: scale,
      hyperrule_dataset_size: n,
      epoch_size: 1_000_000,
      augment: 'bit',
      image_resize: crop,
      precrop,
      mixup,
      zero_head: true,
      pretrained: true,
      weight_decay: 0,
      momentum: 0.9,
      opt: 'sgd',
      lr,
      label_smoothing: 0,
    },
    'hyperrule',
  );
  validateConfig(cfg);
  const b = hyperRuleBoundaries(n, scale, cfg.max_steps);
  const lines = [
    `BiT-HyperRule for N=${n} training images (${classes} classes, original ${h}x${w} px):`,
    `  resolution: resize ${res.precrop} crop ${res.crop} (${h * w < 96 * 96 ? 'H*W < 96*96' : 'large images'}, ${k.variant ?? 'official'})` +
      (k.crop ? `; --crop ${crop} -> resize ${precrop} crop ${crop}` : ''),
    `  schedule: warmup ${b[0]}, lr/10 after ${b[1]}, ${b[2]}, ${b[3]}, stop at ${b[4]} steps` +
      (scale !== 1 ? ` (official x${scale})` : '') +
      (cfg.max_steps > 0 ? ` (fitted to max_steps ${cfg.max_steps})` : ''),
    `  MixUp alpha ${mixup} (${n < 20_000 ? 'N < 20k' : 'N >= 20k'}); SGD momentum 0.9, lr ${lr} at batch ${base.batch_size}, no weight decay, zero head`,
  ];
  if (cfg.stop_after_steps > 0 && cfg.stop_after_steps < b[4]) {
    lines.push(`  stopping early after ${cfg.stop_after_steps} steps (stop_after_steps; schedule unchanged)`);
  }
  return { cfg, lines };
}
