/**
 * One backend cache: the registry keys instances by name and wasm thread count; setupBackend (train) goes
 * through it, so a run's backend is the registry's instance and disposeBackends / releaseBackends free it.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { disposeBackends, getBackend } from '../../src/tensor/backends/registry.js';
import { getDefaultBackend } from '../../src/tensor/engine.js';
import { releaseBackends, setupBackend } from '../../src/train/backend-setup.js';

afterAll(() => releaseBackends());

describe('backend cache', () => {
  it('one instance per (name, threads); setupBackend uses the registry instance', async () => {
    const w1 = await getBackend('wasm', { threads: 1 });
    expect(await getBackend('wasm', { threads: 1 })).toBe(w1);
    expect((w1 as unknown as { threads: number }).threads).toBe(1);
    const wd = await getBackend('wasm');
    expect(wd).not.toBe(w1);
    expect(await setupBackend('wasm', 1)).toBe('wasm (1 threads)');
    expect(getDefaultBackend()).toBe(w1);
    expect(await setupBackend('wasm')).toBe('wasm');
    expect(getDefaultBackend()).toBe(wd);
    disposeBackends();
    const again = await getBackend('wasm', { threads: 1 });
    expect(again).not.toBe(w1);
  });
});
