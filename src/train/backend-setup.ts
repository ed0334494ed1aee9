/**
 * Backend choice for a run: the config/flag value, else BIT_BACKEND, else `defaultBackendName()` (wasm on CPU
 * machines); `threads` > 0 asks for a wasm backend with that many threads. Instances come from the registry's
 * one cache (src/tensor/backends/registry.ts); `releaseBackends` disposes them (worker threads) so Node can exit.
 */

import { defaultBackendName, disposeBackends, useBackend } from '../tensor/backends/registry.js';

/**
 * Make the chosen backend the default.
 * @returns its name (with the thread count when set).
 * @throws ConfigError for an unknown name; BackendError when it cannot run here.
 */
export async function setupBackend(name = '', threads = 0): Promise<string> {
  const n = name || process.env.BIT_BACKEND || (await defaultBackendName());
  const sized = n === 'wasm' && threads > 0;
  await useBackend(n, sized ? { threads } : {});
  return sized ? `wasm (${threads} threads)` : n;
}

/** Dispose every backend created by this process. */
export function releaseBackends(): void {
  disposeBackends();
}
