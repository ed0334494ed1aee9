/**
 * Learning-rate schedules, evaluated per optimizer step (step 0 is the first update). A schedule is a function
 * step -> lr, or null once training should stop (BiT-HyperRule's end).
 *
 * BiT-HyperRule (official bit_hyperrule.py): resolution from the ORIGINAL image area (< 96*96 px: resize 160,
 * crop 128; else 512/480, or 448/384 in the paper's variant); MixUp alpha 0 below 20k examples else 0.1;
 * schedule [warmup, d1, d2, d3, total] = [100,200,300,400,500] (< 20k), [500,3000,6000,9000,10000] (< 500k),
 * else [500,6000,12000,18000,20000]; lr = base*step/warmup during warmup, then base / 10^k with k the number
 * of d in [d1,d2,d3] with d < step (strict), null from `total` on.
 *
 * MindCV (scheduler_factory with multi_step_decay, lr_epoch_stair false): linear warmup from 0 per step over
 * warmupEpochs (lr * (step/stepsPerEpoch)/warmupEpochs), then lr * decayRate^k with k = number of milestones
 * <= the epoch counted from the END of warmup (bisect_right); after the last epoch the last value holds.
 */

import { ConfigError } from '../../errors.js';

/** step -> lr (null: stop). */
export type LrSchedule = (step: number) => number | null;

export interface HyperRuleSettings {
  /** Square resize side before the random crop. */
  resize: number;
  /** Random-crop (and evaluation) side. */
  crop: number;
  /** MixUp Beta(a, a) parameter (0: no MixUp). */
  mixupAlpha: number;
  warmup: number;
  /** [d1, d2, d3]: lr /10 after each. */
  decaySteps: [number, number, number];
  totalSteps: number;
}

export interface HyperRuleOptions {
  /** 'official' (code: 512/480 for large images, default) or 'paper' (448/384). */
  variant?: 'official' | 'paper';
  /**
   * Original image size [H, W] (or one side of a square) that picks the resolution; images with H*W < 96*96
   * get 160/128. Default: a large image (the official code's else branch).
   */
  imageSize?: number | readonly [number, number];
}

/** Schedule boundaries [warmup, d1, d2, d3, total] for a dataset of `n` training examples. */
export function hyperRuleSchedule(n: number): [number, number, number, number, number] {
  if (!(n >= 0)) throw new ConfigError(`hyperRule: dataset size must be >= 0, got ${n}`);
  if (n < 20_000) return [100, 200, 300, 400, 500];
  if (n < 500_000) return [500, 3000, 6000, 9000, 10000];
  return [500, 6000, 12000, 18000, 20000];
}

/** BiT-HyperRule settings for a dataset of `datasetSize` training examples. */
export function hyperRule(datasetSize: number, opts: HyperRuleOptions = {}): HyperRuleSettings {
  const variant = opts.variant ?? 'official';
  if (variant !== 'official' && variant !== 'paper') throw new ConfigError(`hyperRule: unknown variant '${variant}'`);
  const sz = opts.imageSize;
  const area = sz === undefined ? Number.POSITIVE_INFINITY : typeof sz === 'number' ? sz * sz : sz[0] * sz[1];
  const small = area < 96 * 96;
  const [resize, crop] = small ? [160, 128] : variant === 'official' ? [512, 480] : [448, 384];
  const [warmup, d1, d2, d3, totalSteps] = hyperRuleSchedule(datasetSize);
  return {
    resize,
    crop,
    mixupAlpha: datasetSize < 20_000 ? 0 : 0.1,
    warmup,
    decaySteps: [d1, d2, d3],
    totalSteps,
  };
}

/** BiT-HyperRule lr at `step`; null at and after the total number of steps. */
export function hyperRuleLr(step: number, datasetSize: number, baseLr: number): number | null {
  const [warmup, d1, d2, d3, total] = hyperRuleSchedule(datasetSize);
  if (step < warmup) return (baseLr * step) / warmup;
  if (step >= total) return null;
  let k = 0;
  for (const d of [d1, d2, d3]) if (d < step) k++;
  return baseLr / 10 ** k;
}

export interface MindcvMultiStepOptions {
  lr: number;
  stepsPerEpoch: number;
  epochs: number;
  /** Linear warmup from 0 over this many epochs (MindCV default 3). */
  warmupEpochs?: number;
  /** Epochs, counted from the end of warmup, after which lr is multiplied by decayRate. */
  milestones: readonly number[];
  decayRate: number;
}

/** MindCV warmup + multi_step_decay, per step (BiT50_ascend: lr 0.06, rate 0.5, [30,40,50,60,70,80,85]). */
export function mindcvMultiStepLr(o: MindcvMultiStepOptions): LrSchedule {
  const warm = o.warmupEpochs ?? 3;
  if (!(o.stepsPerEpoch > 0) || !(o.epochs > 0) || warm < 0 || warm > o.epochs) {
    throw new ConfigError(
      `mindcvMultiStepLr: bad stepsPerEpoch ${o.stepsPerEpoch}, epochs ${o.epochs}, warmup ${warm}`,
    );
  }
  const ms = [...o.milestones].sort((a, b) => a - b);
  const warmSteps = warm * o.stepsPerEpoch;
  const total = o.epochs * o.stepsPerEpoch;
  return (step) => {
    const s = Math.min(Math.max(step, 0), total - 1);
    if (s < warmSteps) return (o.lr * (s / o.stepsPerEpoch)) / warm;
    const epoch = Math.floor((s - warmSteps) / o.stepsPerEpoch);
    const k = ms.filter((m) => m <= epoch).length;
    return o.lr * o.decayRate ** k;
  };
}

/** Linear warmup factor in [0, 1] for `step` over `warmupSteps` (1 when there is no warmup). */
function warmupFactor(step: number, warmupSteps: number): number {
  return warmupSteps > 0 && step < warmupSteps ? step / warmupSteps : 1;
}

/** lr * gamma^floor((step - warmup) / stepSize) after an optional linear warmup (PyTorch's StepLR per step). */
export function stepLr(o: { lr: number; stepSize: number; gamma?: number; warmupSteps?: number }): LrSchedule {
  if (!(o.stepSize > 0)) throw new ConfigError(`stepLr: stepSize must be > 0, got ${o.stepSize}`);
  const w = o.warmupSteps ?? 0;
  return (step) =>
    step < w ? o.lr * warmupFactor(step, w) : o.lr * (o.gamma ?? 0.1) ** Math.floor((step - w) / o.stepSize);
}

/**
 * Cosine decay from lr to minLr over [warmup, totalSteps) after a linear warmup from 0; null from totalSteps.
 */
export function cosineLr(o: { lr: number; totalSteps: number; warmupSteps?: number; minLr?: number }): LrSchedule {
  const w = o.warmupSteps ?? 0;
  const min = o.minLr ?? 0;
  if (!(o.totalSteps > w)) throw new ConfigError(`cosineLr: totalSteps ${o.totalSteps} must exceed warmup ${w}`);
  return (step) => {
    if (step >= o.totalSteps) return null;
    if (step < w) return o.lr * warmupFactor(step, w);
    const t = (step - w) / (o.totalSteps - w);
    return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * t));
  };
}

/** A constant lr (null from totalSteps when given). */
export function constantLr(lr: number, totalSteps?: number): LrSchedule {
  return (step) => (totalSteps !== undefined && step >= totalSteps ? null : lr);
}
