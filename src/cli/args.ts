/**
 * Command-line parsing shared by every command: `--key value`, `--key=value`, `-c FILE` (config), bare
 * `--flag` (true), and positionals. Keys keep their spelling (dashes become underscores, MindCV style).
 *
 * Invariant: a value is never taken from a token that starts with `--`; a bare flag is the string 'true'.
 */

import { ConfigError } from '../errors.js';

/** Parsed argv. */
export interface Args {
  positional: string[];
  flags: Record<string, string>;
}

const SHORT: Record<string, string> = { c: 'config', h: 'help' };

/** Parse argv (without node and script). `booleans` never take a value. */
export function parseArgs(argv: readonly string[], booleans: readonly string[] = []): Args {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  const bools = new Set(['help', 'json', ...booleans]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    let key: string | null = null;
    let value: string | null = null;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      key = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) value = a.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(a)) {
      key = SHORT[a[1]!] ?? null;
      if (!key) throw new ConfigError(`unknown option '${a}'`);
    } else {
      positional.push(a);
      continue;
    }
    key = key.replace(/-/g, '_');
    if (value === null) {
      const next = argv[i + 1];
      if (!bools.has(key) && next !== undefined && !next.startsWith('--')) {
        value = next;
        i++;
      } else value = 'true';
    }
    flags[key] = value;
  }
  return { positional, flags };
}

/** Remove and return flags[key] (undefined when absent). */
export function take(flags: Record<string, string>, key: string): string | undefined {
  const v = flags[key];
  delete flags[key];
  return v;
}

/** A flag as a positive integer, or the default. @throws ConfigError */
export function intFlag(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--${name} must be a non-negative integer, got '${v}'`);
  return n;
}

/** A flag as a number, or the default. @throws ConfigError */
export function numFlag(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(`--${name} must be a number, got '${v}'`);
  return n;
}
