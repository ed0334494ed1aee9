// Issue 15 case 7 (and the config messages of case 9): a config file is size-checked before parsing, deep
// nesting is a ConfigError (not a stack overflow or OOM), and key suggestions / value errors are helpful.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadConfig, MAX_CONFIG_BYTES } from '../../src/train/config.js';
import { tmpRun } from './helpers.js';

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('config file limits', () => {
  it('a 50 MB YAML list is refused from its size, before it is read', () => {
    const f = path.join(tmpRun('cfg-big'), 'big.yaml');
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, 'batch_size: 8\nlist:\n');
    const line = Buffer.from('  - 1\n'.repeat(100_000));
    for (let i = 0; i < 84; i++) fs.writeSync(fd, line); // ~50 MB
    fs.closeSync(fd);
    const t0 = performance.now();
    const rss0 = process.memoryUsage().rss;
    const e = errorOf(() => loadConfig(f));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toContain('big.yaml');
    expect(e.message).toContain(`over the ${MAX_CONFIG_BYTES}-byte limit`);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(20e6);
  });

  it('deeply nested flow and block YAML are ConfigErrors naming the file', () => {
    const dir = tmpRun('cfg-deep');
    const texts = [
      `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
      `a: ${'{b: '.repeat(20_000)}1${'}'.repeat(20_000)}\n`,
      `a:\n  ${'- '.repeat(20_000)}1\n`,
    ];
    for (const [i, t] of texts.entries()) {
      expect(t.length).toBeLessThanOrEqual(MAX_CONFIG_BYTES);
      const f = path.join(dir, `deep${i}.yaml`);
      fs.writeFileSync(f, t);
      const e = errorOf(() => loadConfig(f));
      expect(e, `deep${i}`).toBeInstanceOf(ConfigError);
      expect(e.message).toContain(`deep${i}.yaml`);
    }
  });

  it('a missing config file and a directory are ConfigErrors', () => {
    const dir = tmpRun('cfg-missing');
    expect(() => loadConfig(path.join(dir, 'none.yaml'))).toThrow(/none\.yaml: cannot read config/);
    expect(() => loadConfig(dir)).toThrow(ConfigError);
  });
});

describe('config messages (issue 15 case 9)', () => {
  it('common aliases suggest the real key', () => {
    const cases: [string, string][] = [
      ['learning_rate', 'lr'],
      ['epochs', 'epoch_size'],
      ['lr_scheduler', 'scheduler'],
      ['optimizer', 'opt'],
      ['num_workers', 'num_parallel_workers'],
      ['img_size', 'image_resize'],
    ];
    for (const [alias, key] of cases) {
      const e = errorOf(() => loadConfig(null, { [alias]: 1 }));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toContain(`unknown key '${alias}'; did you mean '${key}'?`);
    }
  });

  it('.nan and .inf in YAML are reported by name, not as null', () => {
    const dir = tmpRun('cfg-nan');
    for (const [text, shown] of [
      ['lr: .nan\n', 'got NaN'],
      ['lr: .inf\n', 'got Infinity'],
      ['momentum: -.inf\n', 'got -Infinity'],
    ] as const) {
      const f = path.join(dir, 'c.yaml');
      fs.writeFileSync(f, text);
      const e = errorOf(() => loadConfig(f));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toContain(shown);
      expect(e.message).not.toContain('null');
    }
  });
});
