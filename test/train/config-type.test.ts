/**
 * TrainConfig's type is derived from SCHEMA: every schema key is present with its kind's type, and a key outside
 * the schema is a compile error (checked by `tsc --noEmit`, which covers test files, through @ts-expect-error)
 * and a ConfigError at run time. Enum keys (scheduler, augment, progress, ...) are typed as their choices' union.
 */

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { applyConfig, type ConfigKey, defaultConfig, SCHEMA, type TrainConfig } from '../../src/train/config.js';

describe('TrainConfig derived from SCHEMA', () => {
  it('has every schema key with a value of its kind', () => {
    const c: TrainConfig = defaultConfig();
    const kinds: Record<string, (v: unknown) => boolean> = {
      int: (v) => Number.isInteger(v),
      number: (v) => typeof v === 'number',
      bool: (v) => typeof v === 'boolean',
      string: (v) => typeof v === 'string',
      numbers: (v) => Array.isArray(v) && v.every((x) => typeof x === 'number'),
      value: (v) => typeof v === 'string' || typeof v === 'number',
      enum: (v) => typeof v === 'string',
    };
    for (const key of Object.keys(SCHEMA) as ConfigKey[]) {
      expect(kinds[SCHEMA[key].kind](c[key]), key).toBe(true);
    }
    expect(Object.keys(c).sort()).toEqual(Object.keys(SCHEMA).sort());
  });

  it('refuses a mistyped key at compile time and at run time', () => {
    const c = defaultConfig();
    const lr: number = c.lr;
    // @ts-expect-error 'learning_rate' is not a schema key
    const typo = c.learning_rate;
    expect(typo).toBeUndefined();
    expect(lr).toBe(SCHEMA.lr.def);
    expect(() => applyConfig(c, { learning_rate: 0.1 }, 'test')).toThrow(ConfigError);
  });

  it('types enum keys as the union of their choices and checks them at run time', () => {
    const c = defaultConfig();
    const s: 'constant' | 'multi_step_decay' | 'cosine_decay' | 'step_decay' | 'hyperrule' = c.scheduler;
    // @ts-expect-error 'linear' is not a scheduler
    const wrong: TrainConfig['scheduler'] = 'linear';
    expect([s, wrong]).toEqual(['constant', 'linear']);
    expect(SCHEMA.progress.choices).toEqual(['auto', 'bar', 'plain', 'none']);
    // the canonical spelling whatever the case the user wrote
    expect(applyConfig(c, { opt: 'Momentum', scheduler: 'HyperRule' }, 'test')).toMatchObject({
      opt: 'momentum',
      scheduler: 'hyperrule',
    });
    expect(() => applyConfig(c, { scheduler: 'linear' }, 'test.yaml')).toThrow(
      'test.yaml: \'scheduler\' must be one of constant, multi_step_decay, cosine_decay, step_decay, hyperrule, got "linear"',
    );
    expect(() => applyConfig(c, { model_norm: 'ln' }, 'test')).toThrow(/'model_norm' must be gn or bn/);
  });
});
