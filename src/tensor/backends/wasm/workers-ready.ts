/**
 * When the wasm backend's `ready` resolves: once every pool worker has instantiated the kernel module. Node starts
 * workers while the calling thread runs (the pool's own `ready` resolves at once there), so without this wait the
 * first ops after creation also pay the workers' start-up: the calling thread takes over their shares while they
 * boot, on a 2-core machine beside them. Awaiting `ready` moves that cost to creation, where the caller waits for
 * it once (bench/side-by-side.ts and the registry await it before the first step).
 *
 * Bounded: it resolves when a worker is known dead or after `timeoutMs` anyway (the first threaded op then reports
 * the dead worker, as before). Switch: env BIT_WASM_READY_WAIT=0 resolves at once (the previous behaviour), for an A/B.
 */

import { envOn } from '../../../env.js';

/** The pool counter this needs (ThreadPool.stats). */
interface PoolStats {
  stats(): { workersRunning: number };
}

/**
 * Resolves when `workers` workers run, when `stopped()` (the backend was disposed, a worker died) or after
 * `timeoutMs`; polls every millisecond or so (never blocks).
 */
export function workersReady(
  pool: PoolStats,
  workers: number,
  stopped: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  if (workers <= 0 || !envOn('BIT_WASM_READY_WAIT')) return Promise.resolve();
  const t0 = Date.now();
  return new Promise((resolve) => {
    const poll = () => {
      if (stopped() || pool.stats().workersRunning >= workers || Date.now() - t0 > timeoutMs) resolve();
      else setTimeout(poll, 1);
    };
    poll();
  });
}
