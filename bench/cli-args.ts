/**
 * Command-line options shared by the bench scripts: `opt('name', default)` reads `--name VALUE` from the
 * process arguments, `flag('name')` a bare `--name` switch; `abCheckouts()` reads the A/B benches' two checkouts (`--base DIR`, `--cur DIR`, both
 * default the working directory) and their per-side environment (`--base-env K=V[,K=V]`, `--cur-env ...`).
 * Invariant: reading never mutates `args`; an option given twice takes its first value.
 */

import path from 'node:path';

/** The process arguments after the script name. */
export const args = process.argv.slice(2);

/** The value after `--name` in the arguments, else `d`. */
export function opt(name: string, d: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : d;
}

/** Whether the bare switch `--name` is among the arguments. */
export function flag(name: string): boolean {
  return args.includes(`--${name}`);
}

/** `K=V[,K=V]` as an object (empty string: no variables). */
export function envOf(v: string): Record<string, string> {
  return Object.fromEntries(v ? v.split(',').map((kv) => kv.split('=') as [string, string]) : []);
}

/** The A/B benches' two checkouts (absolute paths) and the environment each side's processes get. */
export function abCheckouts() {
  return {
    base: path.resolve(opt('base', '.')),
    cur: path.resolve(opt('cur', '.')),
    sideEnv: { base: envOf(opt('base-env', '')), cur: envOf(opt('cur-env', '')) },
  };
}
