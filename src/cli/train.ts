/**
 * `bit-ts train -c CONFIG.yaml [--data_dir DIR] [--key value ...]`: MindCV-style training. Flags override the
 * file; unknown keys are a ConfigError with the closest valid key; the effective config is saved as
 * `<ckpt_save_dir>/config.yaml`. `--resume FILE` alone continues with the checkpoint's stored config; flags
 * given with it are diffed (resume.ts). Exit codes: 0 done, 130 interrupted (checkpoint written), 3 non-finite
 * loss, 1 an unreadable image (checkpoint written) or another error, 2 a config error.
 */

import { setupBackend } from '../train/backend-setup.js';
import { loadConfig, SCHEMA } from '../train/config.js';
import { resumeConfig } from '../train/resume.js';
import { train } from '../train/trainer.js';
import { type Args, take } from './args.js';

/** Every config key with its default and meaning, for --help. */
export function configKeysHelp(): string {
  return Object.entries(SCHEMA)
    .map(([key, d]) => `  --${key.padEnd(28)} ${d.doc} [default: ${JSON.stringify(d.def)}]`)
    .join('\n');
}

export const TRAIN_HELP = `bit-ts train [-c CONFIG.yaml] [--data_dir DIR] [--KEY VALUE ...]
  Keys mirror MindCV's config.py; a YAML file and --KEY VALUE flags set them (flags win). See configs/.
  Ctrl-C: finish the step, write a checkpoint, exit 130 (twice: at once).
  --resume FILE           continue exactly with the checkpoint's stored config (-c and flags are diffed
                          against it: harmless changes such as progress or eval cadence are applied,
                          changes that break exact continuation are refused with the list)
  --allow_config_change   with --resume: accept such changes (the continuation is then not exact)
  One run per ckpt_save_dir: a second run into a folder in use fails at once (the lock of a dead run is
  taken over with a notice).
  --overwrite             start a new run in a ckpt_save_dir that holds one (refused otherwise: a folder with
                          a checkpoint or metrics is continued with --resume, never replaced by accident)

Config keys:
${configKeysHelp()}`;

/** Run the command; returns the exit code. */
export async function trainCommand(args: Args): Promise<number> {
  const flags = { ...args.flags };
  const file = take(flags, 'config') ?? null;
  const allowConfigChange = take(flags, 'allow_config_change') === 'true';
  const overwrite = take(flags, 'overwrite') === 'true';
  const resume = take(flags, 'resume');
  const cfg = resume ? resumeConfig(resume, file, flags, allowConfigChange) : loadConfig(file, flags);
  const backend = await setupBackend(cfg.backend, cfg.threads);
  console.log(`backend: ${backend}; run directory: ${cfg.ckpt_save_dir}`);
  const r = await train(cfg, { handleSignals: true, allowConfigChange, overwrite });
  if (r.status === 'nan' || r.status === 'data') console.error(`error: ${r.message}`);
  else console.log(r.message);
  console.log(`\n${r.summary}`);
  if (r.plots.length) console.log(`plots: ${r.plots.filter((p) => p.endsWith('.png')).join(', ')} (and .svg)`);
  console.log(`metrics: ${r.runDir}/metrics.jsonl; effective config: ${r.runDir}/config.yaml`);
  return r.exitCode;
}
