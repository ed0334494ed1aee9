/**
 * Learning-rate schedule of a training config, per optimizer step: MindCV's constant / multi_step_decay /
 * cosine_decay / step_decay with linear warmup from 0 over `warmup_epochs`, and the BiT-HyperRule schedule
 * with every boundary multiplied by `hyperrule_scale` (our knob for CPU-sized runs).
 *
 * Invariants: `lr(step)` is a pure function of the step (so a resumed run continues on the same curve);
 * `totalSteps` is where training ends (max_steps only truncates, it never reshapes the curve).
 */

import { ConfigError } from '../errors.js';
import { cosineLr, hyperRuleSchedule, mindcvMultiStepLr, stepLr } from '../nn/index.js';
import type { TrainConfig } from './config.js';

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
  const spe = Math.max(1, stepsPerEpoch);
  const epochs = cfg.epoch_size;
  const total = epochs * spe;
  const warm = Math.min(cfg.warmup_epochs, epochs);
  const warmSteps = Math.round(warm * spe);
  const lr = cfg.lr;
  switch (cfg.scheduler) {
    case 'hyperrule': {
      const n = cfg.hyperrule_dataset_size > 0 ? cfg.hyperrule_dataset_size : datasetSize;
      const b = scaledHyperRule(n, cfg.hyperrule_scale);
      return {
        lr: (s) => hyperRuleLrAt(s, b, lr),
        totalSteps: b[4],
        describe: `hyperrule N=${n} x${cfg.hyperrule_scale}: warmup ${b[0]}, lr/10 after ${b[1]}, ${b[2]}, ${b[3]}, stop at ${b[4]}`,
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
