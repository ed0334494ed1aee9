/**
 * Resuming from a checkpoint's own config. `resumeConfig` starts from the config stored in the checkpoint;
 * a -c file and flags given with `--resume` are diffed against it. Changes that break exact continuation
 * (model, data, schedule, optimizer, augmentation, seed, ...) are refused with the list of differences unless
 * `allowConfigChange`; harmless ones (progress, logging, evaluation cadence, checkpoint rotation, stop_after_steps)
 * are applied and reported. The trainer repeats the check (`checkResumeConfig`) for library callers.
 *
 * Invariant: without allowConfigChange, a resumed run uses exactly the stored values of every key that
 * influences the numbers.
 */

import { ConfigError } from '../errors.js';
import { type CheckpointMeta, loadCheckpoint } from './checkpoint.js';
import { applyConfig, type ConfigKey, defaultConfig, loadConfig, type TrainConfig, validateConfig } from './config.js';

/** Keys whose change cannot alter the trained numbers. */
export const HARMLESS_KEYS: ReadonlySet<string> = new Set<ConfigKey>([
  'progress',
  'log_interval',
  'plots',
  'val_while_train',
  'val_interval',
  'val_limit',
  'eval_batch_size',
  'threads',
  'num_parallel_workers',
  'keep_checkpoint_max',
  'ckpt_save_policy',
  'ckpt_save_interval',
  'ckpt_save_dir',
  'stop_after_steps',
  // only acts where the run would otherwise stop with an unreadable image, so it cannot change a step that
  // an exact continuation could have reproduced
  'skip_bad_images',
  // a load-time check only: it lets a damaged file load, it changes no value of a file that passes
  'allow_nonfinite',
  'mode',
  'distribute',
  'dataset_download',
  'dataset_sink_mode',
  'amp_level',
  'loss_scale',
]);

/** One difference between the stored and the requested config. */
export interface ConfigChange {
  key: string;
  from: unknown;
  to: unknown;
  harmless: boolean;
}

/** Differences between two configs (the `resume` key itself excluded). */
export function diffConfigs(stored: TrainConfig, requested: TrainConfig): ConfigChange[] {
  const out: ConfigChange[] = [];
  for (const key of Object.keys(requested) as ConfigKey[]) {
    if (key === 'resume') continue;
    const a = stored[key];
    const b = requested[key];
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ key, from: a, to: b, harmless: HARMLESS_KEYS.has(key) });
  }
  return out;
}

const fmt = (c: ConfigChange) => `${c.key}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`;

/** The stored config of a checkpoint, on today's defaults. */
export function storedConfig(meta: CheckpointMeta, file: string): TrainConfig {
  return applyConfig(defaultConfig(), meta.config, `${file} (stored config)`);
}

/**
 * Check `cfg` against the config stored in its resume checkpoint.
 * @returns lines describing the harmless changes (and accepted breaking ones when allowed).
 * @throws ConfigError listing every breaking difference when `allowConfigChange` is false.
 */
export function checkResumeConfig(cfg: TrainConfig, meta: CheckpointMeta, allowConfigChange: boolean): string[] {
  const changes = diffConfigs(storedConfig(meta, cfg.resume), cfg);
  const breaking = changes.filter((c) => !c.harmless);
  const lines: string[] = [];
  const harmless = changes.filter((c) => c.harmless);
  if (harmless.length) lines.push(`resume: applying harmless config changes: ${harmless.map(fmt).join('; ')}`);
  if (breaking.length && !allowConfigChange) {
    throw new ConfigError(
      `--resume ${cfg.resume}: these settings differ from the checkpoint's and would break exact continuation:\n  ` +
        `${breaking.map(fmt).join('\n  ')}\n` +
        `drop them to continue with the stored config, or pass --allow_config_change to accept them`,
    );
  }
  if (breaking.length) {
    lines.push(
      `resume: --allow_config_change: continuing with changed settings (NOT an exact continuation): ` +
        breaking.map(fmt).join('; '),
    );
  }
  return lines;
}

/**
 * The config of `train --resume FILE [-c CONFIG] [--key value ...]`: the checkpoint's stored config (less its
 * `stop_after_steps`, which belonged to the invocation that stopped), or the -c file when given, with the flags
 * on top; `resume` set to FILE. Checked at once against the stored config (the trainer checks again).
 * @throws ConfigError listing breaking differences unless `allowConfigChange`.
 */
export function resumeConfig(
  resume: string,
  file: string | null,
  flags: Record<string, string>,
  allowConfigChange = false,
): TrainConfig {
  const meta = loadCheckpoint(resume).meta;
  const over = { ...flags, resume };
  let cfg: TrainConfig;
  if (file) cfg = loadConfig(file, over);
  else {
    cfg = applyConfig({ ...storedConfig(meta, resume), stop_after_steps: 0 }, over, 'command line');
    validateConfig(cfg);
  }
  checkResumeConfig(cfg, meta, allowConfigChange);
  return cfg;
}
