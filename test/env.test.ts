/**
 * src/env.ts: the one way BIT_* switches are read (live, per call; '0' turns a lever off; no environment -> unset).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { envOn, envVar } from '../src/env.js';

const NAME = 'BIT_ENV_TEST_SWITCH';
afterEach(() => {
  delete process.env[NAME];
});

describe('env switches', () => {
  it('reads the current value on every call', () => {
    expect([envVar(NAME), envOn(NAME)]).toEqual([undefined, true]);
    process.env[NAME] = '0';
    expect([envVar(NAME), envOn(NAME)]).toEqual(['0', false]);
    process.env[NAME] = 'f4';
    expect([envVar(NAME), envOn(NAME)]).toEqual(['f4', true]);
    process.env[NAME] = '';
    expect([envVar(NAME), envOn(NAME)]).toEqual(['', true]);
  });

  it('a runtime without process.env (a browser) sees every switch unset', () => {
    const saved = globalThis.process;
    process.env[NAME] = '0';
    try {
      Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });
      expect([envVar(NAME), envOn(NAME)]).toEqual([undefined, true]);
    } finally {
      Object.defineProperty(globalThis, 'process', { value: saved, configurable: true, writable: true });
    }
    expect(envOn(NAME)).toBe(false);
  });
});
