/**
 * Strict flags: every command's own options, checked before it runs, so a typo (`reproduce --quik`, `fewshot
 * --shot 5`, `models --foo`) is an error instead of being ignored or starting the wrong work. Commands that take a
 * training config (train, finetune, fewshot, validate, infer) also accept every config key as --KEY VALUE.
 *
 * Invariants: `COMMAND_FLAGS` lists exactly what each command reads (test/cli/strict-flags.test.ts scans the
 * sources); the suggestion comes from the command's own flags first, then (where accepted) the config keys with
 * their aliases, and only when it is close (the one option it begins, or edit distance at most a third of the
 * name, at least 1).
 */

import { ConfigError } from '../errors.js';
import { SCHEMA } from '../train/config.js';
import { editDistance, KEY_ALIASES } from '../train/config-suggest.js';

/** A command's own options and whether it also takes config keys. */
export interface CommandFlags {
  own: readonly string[];
  configKeys: boolean;
}

const FINETUNE = ['config', 'weights', 'seed', 'scale', 'crop', 'variant', 'lr', 'overwrite'];
const PREDICT = ['config', 'ckpt_path', 'json', 'allow_random_head', 'model', 'num_classes', 'allow_nonfinite'];

/** Options of `bit-ts reproduce` (also checked when experiments/reproduce.ts runs directly). */
export const REPRODUCE_FLAGS: readonly string[] = [
  'quick',
  'out',
  'work',
  'data',
  'speed',
  'ft_speed',
  't4_speed',
  't4_bn_speed',
  'steps',
  'models',
  'batch',
  'checkpoints',
  'threads',
  'settings',
  'queue',
  'store',
];

/** Options of `bit-ts worker` (experiments/queue/command.ts). */
export const WORKER_FLAGS: readonly string[] = [
  'queue',
  'store',
  'concurrency',
  'threads',
  'quick',
  'settings',
  'data',
  'out',
  'work',
  'lock_ms',
  'idle_exit_ms',
];

/** Every command's options (help is always accepted). */
export const COMMAND_FLAGS: Readonly<Record<string, CommandFlags>> = {
  train: { own: ['config', 'resume', 'allow_config_change', 'overwrite'], configKeys: true },
  finetune: { own: FINETUNE, configKeys: true },
  fewshot: { own: [...FINETUNE, 'shots', 'seeds', 'ckpt_save_dir', 'progress'], configKeys: true },
  validate: { own: PREDICT, configKeys: true },
  infer: { own: PREDICT, configKeys: true },
  models: { own: ['json'], configKeys: false },
  backends: { own: ['json', 'stats', 'backend', 'model', 'batch', 'px', 'steps'], configKeys: false },
  convert: { own: ['allow_partial'], configKeys: false },
  demo: { own: ['out', 'backend', 'progress'], configKeys: false },
  reproduce: { own: REPRODUCE_FLAGS, configKeys: false },
  worker: { own: WORKER_FLAGS, configKeys: false },
  'export-torch': { own: [...FINETUNE, 'out', 'nproc', 'fixed_batches'], configKeys: true },
};

function closest(name: string, among: readonly string[]): string | null {
  const prefixed = among.filter((c) => name.length >= 3 && c.startsWith(name));
  if (prefixed.length === 1) return prefixed[0]!; // --ckpt -> --ckpt_path
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const c of among) {
    const d = editDistance(name, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/**
 * Refuse flags that `command` does not read.
 * @throws ConfigError naming the flag, the closest one of this command (if any is close) and where the list is.
 */
export function checkFlags(command: string, flags: Record<string, string>, spec = COMMAND_FLAGS[command]): void {
  if (!spec) return;
  for (const name of Object.keys(flags)) {
    if (name === 'help' || spec.own.includes(name) || (spec.configKeys && Object.hasOwn(SCHEMA, name))) continue;
    const key = name.toLowerCase();
    const alias = spec.configKeys ? (KEY_ALIASES as Record<string, string>)[key] : undefined;
    const hint =
      closest(key, spec.own) ?? alias ?? (spec.configKeys ? closest(key, Object.keys(SCHEMA)) : null) ?? null;
    throw new ConfigError(
      `${command}: unknown option --${name}` +
        (hint ? `; did you mean --${hint}?` : '') +
        ` (bit-ts ${command} --help lists its options${spec.configKeys ? ' and the config keys it takes' : ''})`,
    );
  }
}
