/**
 * Backend choice for a run: the config/flag value, else BIT_BACKEND, else `defaultBackendName()` (wasm on CPU
 * machines); `threads` > 0 builds a wasm backend with that many threads. `releaseBackends` disposes every
 * backend created (worker threads) so Node can exit.
 */

import { defaultBackendName, disposeBackends, useBackend } from '../tensor/backends/registry.js';
import { createWasmBackend } from '../tensor/backends/wasm/index.js';
import type { Backend } from '../tensor/index.js';
import { setDefaultBackend } from '../tensor/index.js';

const own: Backend[] = [];
const sized = new Map<number, Backend>();

/**
 * Make the chosen backend the default.
 * @returns its name (with the thread count when set).
 * @throws ConfigError for an unknown name; BackendError when it cannot run here.
 */
export async function setupBackend(name = '', threads = 0): Promise<string> {
  const n = name || process.env.BIT_BACKEND || (await defaultBackendName());
  if (n === 'wasm' && threads > 0) {
    let b = sized.get(threads);
    if (!b) {
      b = createWasmBackend({ threads });
      sized.set(threads, b);
      own.push(b);
    }
    setDefaultBackend(b);
    return `wasm (${threads} threads)`;
  }
  await useBackend(n);
  return n;
}

/** Dispose every backend created by this process. */
export function releaseBackends(): void {
  disposeBackends();
  for (const b of own) b.dispose();
  own.length = 0;
  sized.clear();
}
