/**
 * `bit-ts export-torch`: hand a recipe to PyTorch DDP (interop/torch). Three ways to say what to export:
 *   bit-ts export-torch train -c CONFIG.yaml [--KEY VALUE ...] --out DIR      a training config
 *   bit-ts export-torch finetune --model M --weights F --data_dir D ... --out DIR   a finetune/fewshot line
 *   bit-ts export-torch run RUN_DIR --out DIR                                   a run folder (its config and
 *                                                                               latest weights)
 * The folder gets plan.json, model.safetensors, recipe.json, data.json, README.md (the torchrun command) and a
 * copy of the Python package; see src/interop/export-torch.ts.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { exportTorch } from '../interop/export-torch.js';
import { setupBackend } from '../train/backend-setup.js';
import { loadConfig, type TrainConfig } from '../train/config.js';
import { type Args, intFlag, take } from './args.js';
import { finetuneFromFlags } from './finetune.js';

export const EXPORT_TORCH_HELP = `bit-ts export-torch (train -c CONFIG.yaml | finetune FINETUNE_OPTIONS | run RUN_DIR) --out DIR [--nproc N] [--fixed_batches N]
  Write a folder for PyTorch DistributedDataParallel (interop/torch): plan.json (the network), model.safetensors
  (the starting weights, timm names), recipe.json (optimizer, schedule, batch, MixUp, augmentation, the
  HyperRule's choices, seed), data.json (the exact images of each split), README.md with the torchrun command.
  train -c FILE        a training config (any --KEY VALUE of bit-ts train)
  finetune ...         the options of bit-ts finetune / fewshot (--model, --weights, --data_dir, --examples_per_class, ...)
  run RUN_DIR          a bit-ts run folder: its config.yaml and latest.safetensors (the trained head is kept)
  --out DIR            the export folder (required)
  --nproc N            ranks per node in the README's torchrun line (default 2)
  --fixed_batches N    also run bit-ts's first N steps and write their exact batches (batches.safetensors)
                       and the weights after them (bit-ts-final.safetensors), for bit_torch.train --fixed`;

/** The config of an export-torch command line (and the HyperRule's lines when it chose the recipe). */
export function exportConfig(args: Args): { cfg: TrainConfig; lines: string[] | null } {
  const flags = { ...args.flags };
  for (const k of ['out', 'nproc', 'fixed_batches']) delete flags[k];
  const [mode, runDir] = args.positional;
  if (mode === 'train') return { cfg: loadConfig(take(flags, 'config') ?? null, flags), lines: null };
  if (mode === 'finetune' || mode === 'fewshot') {
    const { cfg, lines } = finetuneFromFlags(flags);
    return { cfg, lines };
  }
  if (mode === 'run') {
    if (!runDir)
      throw new ConfigError('export-torch run: give the run folder (bit-ts export-torch run RUN_DIR --out DIR)');
    const file = path.join(runDir, 'config.yaml');
    const latest = path.join(runDir, 'latest.safetensors');
    for (const f of [file, latest])
      if (!fs.existsSync(f))
        throw new ConfigError(`export-torch run: ${f} not found (is ${runDir} a bit-ts run folder?)`);
    const cfg = loadConfig(file, { ...flags, ckpt_path: latest, pretrained: 'true', zero_head: 'false' });
    return { cfg, lines: null };
  }
  throw new ConfigError(
    `export-torch: say what to export: train -c FILE, finetune ..., or run RUN_DIR\n${EXPORT_TORCH_HELP}`,
  );
}

/** Run the command; returns the exit code. */
export async function exportTorchCommand(args: Args): Promise<number> {
  const out = args.flags.out;
  if (!out || out === 'true') throw new ConfigError('export-torch: --out DIR is required');
  const nproc = intFlag(args.flags.nproc, 'nproc', 2);
  const fixed = intFlag(args.flags.fixed_batches, 'fixed_batches', 0);
  const { cfg, lines } = exportConfig(args);
  for (const l of lines ?? []) console.log(l);
  await setupBackend(cfg.backend, cfg.threads);
  const r = await exportTorch(cfg, out, {
    hyperRuleLines: lines ?? undefined,
    fixedBatches: fixed,
    nproc,
    log: console.log,
  });
  console.log(`wrote ${r.files.join(', ')} to ${out}`);
  if (r.losses.length)
    console.log(`bit-ts losses of the ${r.losses.length} fixed steps: ${r.losses.map((l) => l.toFixed(6)).join(', ')}`);
  console.log(`on the cluster, in ${out}: ${r.torchrun}`);
  return 0;
}
