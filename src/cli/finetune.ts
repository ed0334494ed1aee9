/**
 * `bit-ts finetune --model BiT-R50x1 --weights FILE --data_dir DIR [--examples_per_class K --seed S]`: BiT-HyperRule
 * transfer (see src/train/finetune-setup.ts); prints what the rule chose, then trains and evaluates.
 * CPU knobs: --scale (schedule x), --crop (resolution), --max_steps (schedule length), --stop_after_steps (early stop), --batch_size (lr scales with it).
 */

import { ConfigError } from '../errors.js';
import { setupBackend } from '../train/backend-setup.js';
import { loadConfig, type TrainConfig } from '../train/config.js';
import { type FinetuneKnobs, hyperRuleConfig } from '../train/finetune-setup.js';
import { train } from '../train/trainer.js';
import { type Args, intFlag, numFlag, take } from './args.js';

export const FINETUNE_HELP = `bit-ts finetune --model NAME --weights FILE [--data_dir DIR] [options]
  BiT-HyperRule: resolution (160/128 below 96x96 px, else 512/480), schedule (500 / 10k / 20k steps by N),
  MixUp 0.1 from 20k images, zero head, SGD momentum 0.9, no weight decay, lr 0.003 x batch/512.
  --model NAME         BiT model (bit-ts models)
  --weights FILE       upstream weights (.npz / .safetensors / .ckpt; same as --ckpt_path FILE)
  --data_dir DIR       downstream data (a directory or .tar of class folders)
  --dataset NAME       mnist | cifar10 | imagefolder (default: imagefolder with --data_dir, else embedded mnist)
  --val_split S        held-out fraction or split folder name (default 0.1)
  --examples_per_class K   few-shot subset (seeded)
  --seed S             seed of init, data order and the few-shot draw (sets --seed and --fewshot_seed)
  --scale F            multiply every schedule boundary (CPU: 0.1 -> 50 steps for a small task)
  --crop C             crop side (resize side keeps the rule's ratio), e.g. 32 for MNIST/CIFAR on CPU
  --max_steps N        fit the schedule (warm-up, decays) to N steps
  --stop_after_steps N stop early after N steps, schedule unchanged
  --batch_size B       default 512; --lr X (default 0.003*B/512)
  --variant paper      448/384 instead of 512/480 (default official)
  --ckpt_save_dir DIR  run folder (default runs/finetune)
  --overwrite          start over in a run folder that holds a run (refused otherwise)
  -c CONFIG.yaml       a config as the base; any train config key as --KEY VALUE (bit-ts train --help)`;

/** Split finetune-specific flags from config overrides and build the HyperRule config. */
export function finetuneFromFlags(flagsIn: Record<string, string>): {
  cfg: TrainConfig;
  lines: string[];
  knobs: FinetuneKnobs;
} {
  const flags = { ...flagsIn };
  delete flags.overwrite; // a run option (finetuneCommand), not a config key
  const file = take(flags, 'config') ?? null;
  const weights = take(flags, 'weights');
  if (weights) flags.ckpt_path = weights;
  const seed = take(flags, 'seed');
  if (seed !== undefined) {
    flags.seed = seed;
    flags.fewshot_seed = seed;
  }
  const knobs: FinetuneKnobs = {
    scale: numFlag(take(flags, 'scale'), 'scale', 1),
    crop: take(flags, 'crop') ? intFlag(flagsIn.crop, 'crop', 0) : undefined,
    variant: (take(flags, 'variant') as 'official' | 'paper' | undefined) ?? 'official',
    lr: flags.lr !== undefined ? numFlag(take(flags, 'lr'), 'lr', 0) : undefined,
  };
  if (knobs.variant !== 'official' && knobs.variant !== 'paper')
    throw new ConfigError(`--variant must be official or paper`);
  if (!flags.dataset && !file) flags.dataset = flags.data_dir ? 'imagefolder' : 'mnist';
  if (!flags.batch_size && !file) flags.batch_size = '512';
  if (!flags.ckpt_save_dir && !file) flags.ckpt_save_dir = 'runs/finetune';
  if (!flags.val_split && !file) flags.val_split = '0.1';
  const base = loadConfig(file, { ckpt_save_interval: 1_000_000, val_while_train: false, ...flags });
  const { cfg, lines } = hyperRuleConfig(base, knobs);
  return { cfg, lines, knobs };
}

/** Run the command; returns the exit code. */
export async function finetuneCommand(args: Args): Promise<number> {
  const { cfg, lines } = finetuneFromFlags(args.flags);
  if (!cfg.ckpt_path)
    console.log('note: no --weights given: the model starts from random init (a from-scratch baseline)');
  for (const l of lines) console.log(l);
  const backend = await setupBackend(cfg.backend, cfg.threads);
  console.log(`backend: ${backend}`);
  const r = await train(cfg, { handleSignals: true, label: 'finetune', overwrite: args.flags.overwrite === 'true' });
  console.log(r.message);
  console.log(`\n${r.summary}`);
  if (r.plots.length) console.log(`plots: ${r.plots.filter((p) => p.endsWith('.png')).join(', ')} (and .svg)`);
  return r.exitCode;
}
