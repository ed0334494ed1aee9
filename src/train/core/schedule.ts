/**
 * Learning-rate schedule of a training config, per optimizer step: MindCV's constant / multi_step_decay /
 * cosine_decay / step_decay with linear warmup from 0 over `warmup_epochs`, and the BiT-HyperRule schedule
 * with every boundary multiplied by `hyperrule_scale` (our knob for CPU-sized runs).
 *
 * `max_steps` (> 0) defines the schedule's length: the whole curve (warm-up, decays, cosine) is fitted to it,
 * HyperRule boundaries exactly (scaled and rounded), the epoch-based schedulers by time-rescaling the step.
 * `stop_after_steps` (trainer) stops early without reshaping anything.
 * Platform-free (part of src/train/core; TrainConfig is a type-only import).
 * Invariants: `lr(step)` is a pure function of the step (so a resumed run continues on the same curve);
 * `totalSteps` is where training ends.
 */

import { ConfigError } from '../../errors.js';
import { cosineLr, hyperRuleSchedule, mindcvMultiStepLr, stepLr } from '../../nn/index.js';
import type { TrainConfig } from '../config.js';

/** A resolved schedule. */
export interface Schedule {
  lr: (step: number) => number;
  /** Optimizer steps of the full schedule. */
  totalSteps: number;
  describe: string;
}

/**
 * BiT-HyperRule boundaries [warmup, d1, d2, d3, total] for `n` examples, scaled by `scale` (rounded, each
 * at least one step after the previous).
 */
export function scaledHyperRule(n: number, scale: number): [number, number, number, number, number] {
  const b = hyperRuleSchedule(n);
  const out: number[] = [];
  for (const v of b) out.push(Math.max(Math.round(v * scale), (out[out.length - 1] ?? 0) + 1));
  return out as [number, number, number, number, number];
}

/**
 * HyperRule boundaries for `n` examples at `scale`; with `maxSteps` > 0 they are rescaled so the schedule
 * ends at exactly `maxSteps` (each boundary at least one step after the previous while room allows).
 */
export function hyperRuleBoundaries(n: number, scale: number, maxSteps = 0): [number, number, number, number, number] {
  const b = scaledHyperRule(n, scale);
  if (maxSteps <= 0 || maxSteps === b[4]) return b;
  const f = maxSteps / b[4];
  const out = b.map((v) => Math.max(1, Math.round(v * f))) as [number, number, number, number, number];
  out[4] = maxSteps;
  for (let i = 3; i >= 0; i--) out[i] = Math.min(out[i]!, Math.max(1, out[i + 1]! - 1));
  return out;
}

/** HyperRule lr with explicit boundaries (same rule as the official code: strict `d < step`). */
export function hyperRuleLrAt(step: number, b: readonly number[], base: number): number {
  const [w, d1, d2, d3] = b as [number, number, number, number];
  if (step < w) return (base * step) / w;
  let k = 0;
  for (const d of [d1, d2, d3]) if (d < step) k++;
  return base / 10 ** k;
}

/**
 * The schedule of `cfg` for a loader of `stepsPerEpoch` batches over `datasetSize` training images.
 * @throws ConfigError for an unknown scheduler.
 */
export function buildSchedule(cfg: TrainConfig, stepsPerEpoch: number, datasetSize: number): Schedule {
  const natural = naturalSchedule(cfg, stepsPerEpoch, datasetSize);
  const m = cfg.max_steps;
  if (m <= 0 || m === natural.totalSteps || cfg.scheduler === 'hyperrule') return natural;
  const f = natural.totalSteps / m;
  const warm = Math.round(Math.round(Math.min(cfg.warmup_epochs, cfg.epoch_size) * Math.max(1, stepsPerEpoch)) / f);
  return {
    lr: (s) => natural.lr(Math.floor(s * f)),
    totalSteps: m,
    describe:
      `${natural.describe}; fitted to max_steps ${m} (its natural length: ${natural.totalSteps} steps)` +
      (warm > 0 ? `, warm-up ${warm} steps` : ''),
  };
}

/** The schedule over its natural length (epochs x steps per epoch, or the HyperRule's own end). */
function naturalSchedule(cfg: TrainConfig, stepsPerEpoch: number, datasetSize: number): Schedule {
  const spe = Math.max(1, stepsPerEpoch);
  const epochs = cfg.epoch_size;
  const total = epochs * spe;
  const warm = Math.min(cfg.warmup_epochs, epochs);
  const warmSteps = Math.round(warm * spe);
  const lr = cfg.lr;
  switch (cfg.scheduler) {
    case 'hyperrule': {
      const n = cfg.hyperrule_dataset_size > 0 ? cfg.hyperrule_dataset_size : datasetSize;
      const b = hyperRuleBoundaries(n, cfg.hyperrule_scale, cfg.max_steps);
      return {
        lr: (s) => hyperRuleLrAt(s, b, lr),
        totalSteps: b[4],
        describe:
          `hyperrule N=${n} x${cfg.hyperrule_scale}: warmup ${b[0]}, lr/10 after ${b[1]}, ${b[2]}, ${b[3]}, stop at ${b[4]}` +
          (cfg.max_steps > 0 ? ` (fitted to max_steps ${cfg.max_steps})` : ''),
      };
    }
    case 'multi_step_decay': {
      const f = mindcvMultiStepLr({
        lr,
        stepsPerEpoch: spe,
        epochs,
        warmupEpochs: warm,
        milestones: cfg.multi_step_decay_milestones,
        decayRate: cfg.decay_rate,
      });
      return {
        lr: (s) => f(s) ?? 0,
        totalSteps: total,
        describe: `multi_step_decay lr ${lr} x${cfg.decay_rate} at [${cfg.multi_step_decay_milestones}] (after ${warm} warmup epochs)`,
      };
    }
    case 'cosine_decay': {
      const f = cosineLr({ lr, totalSteps: Math.max(total, warmSteps + 1), warmupSteps: warmSteps, minLr: cfg.min_lr });
      return { lr: (s) => f(s) ?? cfg.min_lr, totalSteps: total, describe: `cosine_decay ${lr} -> ${cfg.min_lr}` };
    }
    case 'step_decay': {
      const f = stepLr({ lr, stepSize: cfg.decay_epochs * spe, gamma: cfg.decay_rate, warmupSteps: warmSteps });
      return {
        lr: (s) => f(s) ?? 0,
        totalSteps: total,
        describe: `step_decay x${cfg.decay_rate} every ${cfg.decay_epochs} epochs`,
      };
    }
    case 'constant':
      return {
        lr: (s) => (s < warmSteps ? (lr * s) / warmSteps : lr),
        totalSteps: total,
        describe: `constant ${lr}${warmSteps ? ` after ${warmSteps} warmup steps` : ''}`,
      };
    default:
      throw new ConfigError(`unknown scheduler '${cfg.scheduler}'`);
  }
}
