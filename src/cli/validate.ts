/**
 * `bit-ts validate -c CONFIG.yaml --data_dir DIR --ckpt_path FILE [--json]`: evaluate a checkpoint on the
 * config's validation set and print Top_1_Accuracy, Top_5_Accuracy (fractions, as MindCV's validate.py) and the
 * mean cross-entropy loss. Without -c, a bit-ts training checkpoint supplies its own config; any weight file
 * (npz / safetensors / ckpt) works with a config that names the model.
 */

import { ConfigError } from '../errors.js';
import { setupBackend } from '../train/backend-setup.js';
import { isTrainingCheckpoint, loadCheckpoint } from '../train/checkpoint.js';
import {
  applyConfig,
  defaultConfig,
  loadConfig,
  readConfigFile,
  type TrainConfig,
  validateConfig,
} from '../train/config.js';
import { evalLoader, setupData } from '../train/data-setup.js';
import { evaluate } from '../train/evaluate.js';
import { buildModel, loadPretrained, type ModelSpec, modelSpecOf } from '../train/model-setup.js';
import { type Args, take } from './args.js';

/** The config a command uses for a checkpoint: -c FILE, else the one stored in the checkpoint; flags on top. */
export function configForCheckpoint(
  flagsIn: Record<string, string>,
  needData = false,
): {
  cfg: TrainConfig;
  spec: ModelSpec;
  classes: string[] | null;
  ckpt: string;
  training: boolean;
} {
  const flags = { ...flagsIn };
  delete flags.json;
  const file = take(flags, 'config') ?? null;
  const ckpt = take(flags, 'ckpt_path');
  if (!ckpt) throw new ConfigError('--ckpt_path FILE is required');
  const training = isTrainingCheckpoint(ckpt);
  let cfg: TrainConfig;
  let spec: ModelSpec;
  let classes: string[] | null = null;
  if (training) {
    const meta = loadCheckpoint(ckpt).meta;
    const stored = applyConfig(defaultConfig(), meta.config, `${ckpt} (stored config)`);
    cfg = file ? loadConfig(file, flags) : applyConfig(stored, flags, 'command line');
    spec = meta.spec;
    classes = meta.classes;
  } else {
    if (!file && !flags.model)
      throw new ConfigError(`${ckpt} is not a bit-ts training checkpoint: give -c CONFIG or --model`);
    cfg = loadConfig(file, flags);
    spec = modelSpecOf(cfg);
  }
  validateConfig(cfg);
  if (needData) {
    // the data source must be chosen, never the default embedded MNIST by accident
    const chosen = (o: Record<string, unknown>) => o.data_dir !== undefined || o.dataset !== undefined;
    const fromStored = training && !file;
    if (!fromStored && !chosen(flags) && !(file && chosen(readConfigFile(file)))) {
      throw new ConfigError(
        `validate: no data source: give --data_dir DIR (or --dataset mnist for the built-in MNIST test set)` +
          (file ? `; ${file} names neither data_dir nor dataset` : ''),
      );
    }
  }
  return { cfg, spec, classes, ckpt, training };
}

/** Run the command; returns the exit code. */
export async function validateCommand(args: Args): Promise<number> {
  const { cfg, spec, ckpt, training } = configForCheckpoint(args.flags, true);
  await setupBackend(cfg.backend, cfg.threads);
  const data = setupData({ ...cfg, examples_per_class: 0, num_classes: spec.numClasses });
  if (!data.val) throw new ConfigError('no validation set: set val_split to a split name or a fraction in (0, 1)');
  const model = buildModel(spec);
  if (training) model.loadStateDict(loadCheckpoint(ckpt).weights);
  else loadPretrained(model, ckpt, false);
  const loader = evalLoader(cfg, data.val, data.evalSpec);
  const r = await evaluate(model, loader);
  await loader.close();
  model.dispose();
  const out = { Top_1_Accuracy: r.top1 / 100, Top_5_Accuracy: r.top5 / 100, loss: r.loss, count: r.count };
  if (args.flags.json) console.log(JSON.stringify(out));
  else {
    console.log(`validated ${ckpt} on ${r.count} images (${data.describe})`);
    console.log(`Top_1_Accuracy: ${out.Top_1_Accuracy.toFixed(4)}`);
    console.log(`Top_5_Accuracy: ${out.Top_5_Accuracy.toFixed(4)}`);
    console.log(`loss: ${out.loss.toFixed(4)}`);
  }
  return 0;
}
