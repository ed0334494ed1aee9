/**
 * `--settings FILE.json`: a user's own protocol (more seeds, longer upstreams, another sweep) as a JSON object
 * deep-merged over FULL or QUICK (objects merge key by key; arrays and numbers replace). The queue hashes the
 * merged settings into its job ids, so workers started with another file refuse the jobs.
 */

import * as fs from 'node:fs';
import { ConfigError } from '../../src/errors.js';
import { FULL, QUICK, type Settings } from './settings.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: unknown, over: unknown, where: string): unknown {
  if (!isObject(over)) return over;
  if (!isObject(base)) throw new ConfigError(`${where}: an object where the protocol has ${JSON.stringify(base)}`);
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (!(k in base))
      throw new ConfigError(`${where}.${k}: no such protocol setting (see experiments/lib/settings.ts)`);
    out[k] = merge(base[k], v, `${where}.${k}`);
  }
  return out;
}

/** The protocol of an invocation: QUICK or FULL, with `file`'s overrides when given. */
export function loadSettings(quick: boolean, file?: string): Settings {
  const base = quick ? QUICK : FULL;
  if (!file) return base;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`--settings ${file}: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new ConfigError(`--settings ${file}: expected a JSON object`);
  return merge(base, json, file) as Settings;
}
