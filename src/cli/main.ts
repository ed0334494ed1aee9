/**
 * The `bit-ts` command: dispatches to one file per command (train, finetune, fewshot, validate, infer, models,
 * convert, backends, demo). Errors of ours print as `error: <Name>: <message>` (ConfigError exits 2, others 1);
 * every path disposes the backends so Node exits.
 */

import { BitError, ConfigError } from '../errors.js';
import { releaseBackends } from '../train/backend-setup.js';
import { type Args, parseArgs } from './args.js';
import { backendsCommand } from './backends.js';
import { convertCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { fewshotCommand } from './fewshot.js';
import { FINETUNE_HELP, finetuneCommand } from './finetune.js';
import { inferCommand } from './infer.js';
import { modelsCommand } from './models.js';
import { TRAIN_HELP, trainCommand } from './train.js';
import { validateCommand } from './validate.js';

const COMMANDS: Record<string, { run: (a: Args) => Promise<number>; help: string }> = {
  train: { run: trainCommand, help: TRAIN_HELP },
  finetune: { run: finetuneCommand, help: FINETUNE_HELP },
  fewshot: { run: fewshotCommand, help: `bit-ts fewshot [finetune options] --shots 1,5,10 --seeds 5` },
  validate: {
    run: validateCommand,
    help: 'bit-ts validate [-c CONFIG.yaml] [--data_dir DIR] --ckpt_path FILE [--json]',
  },
  infer: { run: inferCommand, help: 'bit-ts infer --ckpt_path FILE [-c CONFIG.yaml] IMAGE... [--json]' },
  models: { run: modelsCommand, help: 'bit-ts models [--json]: names, parameters, GFLOPs per image' },
  convert: { run: convertCommand, help: 'bit-ts convert IN OUT: npz / safetensors / ckpt (by OUT extension)' },
  backends: { run: backendsCommand, help: 'bit-ts backends [--json]: what is available here and why not' },
  demo: { run: demoCommand, help: 'bit-ts demo: BiT transfer vs scratch on embedded MNIST (npm start)' },
  reproduce: {
    // experiments/ is loaded on demand: it is the paper-reproduction harness, not part of the library
    run: async (a) => (await import('../../experiments/reproduce.js')).reproduceCommand(a),
    help: 'bit-ts reproduce <all|upstream|pilot|fewshot|head|table4|long|hyperrule|report|cache> [--quick] [--out DIR] [--work DIR] [--data DIR]\n  small-scale reproductions of the paper (docs/reproductions.md); run from the repository root',
  },
};

function usage(): string {
  return `usage: bit-ts <command> [options]\n\n${Object.values(COMMANDS)
    .map((c) => c.help.split('\n')[0])
    .join('\n')}\n\nbit-ts <command> --help for details`;
}

/** Run argv (without node and script); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new ConfigError(`unknown command '${name}'\n${usage()}`);
    const args = parseArgs(rest, ['quick', 'allow_partial', 'allow_config_change']);
    if (args.flags.help) {
      console.log(cmd.help);
      return 0;
    }
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof BitError) {
      console.error(`error: ${e.name}: ${e.message}`);
      return e instanceof ConfigError ? 2 : 1;
    }
    throw e;
  } finally {
    releaseBackends();
  }
}

const isEntry = process.argv[1] && /main\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(e);
      releaseBackends();
      process.exitCode = 1;
    },
  );
}
