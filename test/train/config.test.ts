// Config schema: unknown keys name the closest valid key, flags override files, every shipped config loads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { closestKey, loadConfig, serializeConfig } from '../../src/train/config.js';
import { tmpRun } from './helpers.js';

describe('config', () => {
  it('rejects an unknown key with the closest valid one', () => {
    const dir = tmpRun('cfg');
    const f = path.join(dir, 'c.yaml');
    fs.writeFileSync(f, 'batchsize: 8\n');
    expect(() => loadConfig(f)).toThrow(ConfigError);
    expect(() => loadConfig(f)).toThrow(/unknown key 'batchsize'; did you mean 'batch_size'/);
    expect(() => loadConfig(null, { epochs_size: 3 })).toThrow(/did you mean 'epoch_size'/);
    expect(closestKey('warmup_epoch')).toBe('warmup_epochs');
  });

  it('applies flags over the file and round-trips the effective config', () => {
    const dir = tmpRun('cfg');
    const f = path.join(dir, 'c.yaml');
    fs.writeFileSync(f, 'lr: 0.5\nbatch_size: 8\nmulti_step_decay_milestones: [1, 2]\n');
    const c = loadConfig(f, { lr: '0.25', hflip: '0' });
    expect(c.lr).toBe(0.25);
    expect(c.batch_size).toBe(8);
    expect(c.multi_step_decay_milestones).toEqual([1, 2]);
    fs.writeFileSync(f, serializeConfig(c));
    expect(loadConfig(f)).toEqual(c);
    expect(() => loadConfig(null, { batch_size: 'x' })).toThrow(/batch_size/);
  });

  it('loads every shipped config; the MindCV recipe keeps its values', () => {
    const dir = path.join(import.meta.dirname, '../../configs');
    for (const f of fs.readdirSync(dir)) loadConfig(path.join(dir, f));
    const m = loadConfig(path.join(dir, 'bit50-imagenet-mindcv.yaml'));
    expect([m.lr, m.decay_rate, m.epoch_size, m.batch_size, m.label_smoothing]).toEqual([0.06, 0.5, 90, 32, 0.1]);
    expect(m.multi_step_decay_milestones).toEqual([30, 40, 50, 60, 70, 80, 85]);
  });
});
