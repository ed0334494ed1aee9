// Issue 15 case 9 (--help): every command's --help lists every option its source reads (scanned from
// `take(flags, 'x')` / `flags.x` in src/cli/<command>.ts) and, for train, every config key.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { SCHEMA } from '../../src/train/config.js';

let out: string[] = [];
beforeEach(() => {
  out = [];
  vi.spyOn(console, 'log').mockImplementation((m: unknown) => void out.push(String(m)));
});
afterEach(() => vi.restoreAllMocks());

async function help(cmd: string): Promise<string> {
  out = [];
  expect(await main([cmd, '--help'])).toBe(0);
  return out.join('\n');
}

/** Options a command's source file reads. */
function optionsRead(cmd: string): string[] {
  const src = fs.readFileSync(path.join(import.meta.dirname, '../../src/cli', `${cmd}.ts`), 'utf8');
  const found = new Set<string>();
  for (const m of src.matchAll(/take\(flags, '([a-z_]+)'\)|(?:args\.)?flags(?:In)?\.([a-z_]+)/g))
    found.add(m[1] ?? m[2]!);
  found.delete('help');
  return [...found];
}

describe('--help lists every option (case 9)', () => {
  for (const cmd of ['train', 'finetune', 'fewshot', 'validate', 'infer', 'convert', 'models', 'backends', 'demo']) {
    it(cmd, async () => {
      const h = await help(cmd);
      expect(h.split('\n').length, `${cmd} help is more than a usage line`).toBeGreaterThan(2);
      const read = optionsRead(cmd);
      for (const o of read)
        expect(h, `${cmd} --help mentions --${o}`).toMatch(o === 'config' ? /-c CONFIG/ : new RegExp(`--${o}\\b`));
    });
  }

  it('train --help lists every config key with its default', async () => {
    const h = await help('train');
    for (const key of Object.keys(SCHEMA)) expect(h).toMatch(new RegExp(`--${key}\\b.*\\[default: `));
  });
});
