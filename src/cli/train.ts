/**
 * `bit-ts train -c CONFIG.yaml [--data_dir DIR] [--key value ...]`: MindCV-style training. Flags override the
 * file; unknown keys are a ConfigError with the closest valid key; the effective config is saved as
 * `<ckpt_save_dir>/config.yaml`. Exit codes: 0 done, 130 interrupted (checkpoint written), 3 non-finite loss.
 */

import { setupBackend } from '../train/backend-setup.js';
import { loadConfig } from '../train/config.js';
import { train } from '../train/trainer.js';
import { type Args, take } from './args.js';

export const TRAIN_HELP = `bit-ts train -c CONFIG.yaml [--data_dir DIR] [--KEY VALUE ...]
  Keys mirror MindCV (model, num_classes, batch_size, epoch_size, lr, scheduler, warmup_epochs,
  multi_step_decay_milestones, decay_rate, opt, momentum, weight_decay, label_smoothing, image_resize,
  crop_pct, hflip, color_jitter, mixup, val_while_train, val_interval, ckpt_save_dir, keep_checkpoint_max,
  ckpt_path, seed, dataset, val_split, ...) plus backend, threads, gradient_accumulation_steps, max_steps,
  resume. See configs/ for examples. Ctrl-C: finish the step, write a checkpoint, exit 130 (twice: at once).
  --resume FILE continues exactly from a checkpoint.`;

/** Run the command; returns the exit code. */
export async function trainCommand(args: Args): Promise<number> {
  const flags = { ...args.flags };
  const file = take(flags, 'config') ?? null;
  const cfg = loadConfig(file, flags);
  const backend = await setupBackend(cfg.backend, cfg.threads);
  console.log(`backend: ${backend}; run directory: ${cfg.ckpt_save_dir}`);
  const r = await train(cfg, { handleSignals: true });
  if (r.status === 'nan') console.error(`error: ${r.message}`);
  else console.log(r.message);
  console.log(`\n${r.summary}`);
  if (r.plots.length) console.log(`plots: ${r.plots.filter((p) => p.endsWith('.png')).join(', ')} (and .svg)`);
  console.log(`metrics: ${r.runDir}/metrics.jsonl; effective config: ${r.runDir}/config.yaml`);
  return r.exitCode;
}
