/**
 * The `bit-ts` command: dispatches to one file per command (train, finetune, fewshot, validate, infer, models,
 * convert, backends, demo). Errors of ours print as `error: <Name>: <message>` (ConfigError exits 2, others 1);
 * every path disposes the backends so Node exits.
 */

import { BitError, ConfigError } from '../errors.js';
import { releaseBackends } from '../train/backend-setup.js';
import { type Args, parseArgs } from './args.js';
import { backendsCommand } from './backends.js';
import { CONVERT_HELP, convertCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { EXPORT_TORCH_HELP, exportTorchCommand } from './export-torch.js';
import { fewshotCommand } from './fewshot.js';
import { FINETUNE_HELP, finetuneCommand } from './finetune.js';
import { checkFlags } from './flags.js';
import { BACKENDS_HELP, DEMO_HELP, FEWSHOT_HELP, INFER_HELP, MODELS_HELP, VALIDATE_HELP, WORKER_HELP } from './help.js';
import { inferCommand } from './infer.js';
import { modelsCommand } from './models.js';
import { ensureRuntimeDir } from './runtime-env.js';
import { TRAIN_HELP, trainCommand } from './train.js';
import { validateCommand } from './validate.js';

const COMMANDS: Record<string, { run: (a: Args) => Promise<number>; help: string }> = {
  train: { run: trainCommand, help: TRAIN_HELP },
  finetune: { run: finetuneCommand, help: FINETUNE_HELP },
  fewshot: { run: fewshotCommand, help: FEWSHOT_HELP },
  validate: { run: validateCommand, help: VALIDATE_HELP },
  infer: { run: inferCommand, help: INFER_HELP },
  models: { run: modelsCommand, help: MODELS_HELP },
  convert: { run: convertCommand, help: CONVERT_HELP },
  'export-torch': { run: exportTorchCommand, help: EXPORT_TORCH_HELP },
  backends: { run: backendsCommand, help: BACKENDS_HELP },
  demo: { run: demoCommand, help: DEMO_HELP },
  reproduce: {
    // experiments/ is loaded on demand: it is the paper-reproduction harness, not part of the library
    run: async (a) => (await import('../../experiments/reproduce.js')).reproduceCommand(a),
    help: 'bit-ts reproduce <all|upstream|grid|fewshot|full|head|schedule|table4|publish|report|estimate|hyperrule|cache|status|collect> [--quick] [--out DIR] [--work DIR] [--data DIR] [--speed IMG_PER_S] [--threads N] [--queue redis://HOST:PORT/DB --store DIR]\n  small-scale reproductions of the paper (docs/reproductions.md), resumable; run from the repository root;\n  with --queue the runs go to a BullMQ queue for `bit-ts worker`s (README "Many machines")',
  },
  worker: {
    // the queue worker of the reproductions (experiments/queue), loaded on demand like reproduce
    run: async (a) => (await import('../../experiments/queue/command.js')).workerCommand(a),
    help: WORKER_HELP,
  },
};

function usage(): string {
  return `usage: bit-ts <command> [options]\n\n${Object.values(COMMANDS)
    .map((c) => c.help.split('\n')[0])
    .join('\n')}\n\nbit-ts <command> --help for details`;
}

/** Run argv (without node and script); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  ensureRuntimeDir(); // before any backend loads native code (see runtime-env.ts)
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  try {
    if (!cmd) throw new ConfigError(`unknown command '${name}'\n${usage()}`);
    const args = parseArgs(rest, [
      'quick',
      'allow_partial',
      'allow_config_change',
      'overwrite',
      'allow_random_head',
      'allow_nonfinite',
    ]);
    if (args.flags.help) {
      console.log(cmd.help);
      return 0;
    }
    checkFlags(name, args.flags); // an unknown option is an error, never ignored (flags.ts)
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
