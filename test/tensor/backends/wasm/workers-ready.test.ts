/**
 * The wasm backend's `ready` resolves once every pool worker runs (Node starts workers while the caller works, so
 * without this the first ops after creation pay the workers' start-up): after awaiting it the workers report their
 * module instantiated. `workersReady` itself resolves on the worker count, on disposal, and at once when told to.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { createWasmBackend, type WasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { workersReady } from '../../../../src/tensor/backends/wasm/workers-ready.js';

const made: WasmBackend[] = [];
afterAll(() => {
  for (const b of made) b.dispose();
});

describe('wasm backend ready', () => {
  it('resolves with every worker running', async () => {
    const b = createWasmBackend({ threads: 2 });
    made.push(b);
    await b.ready;
    expect(b.syncStats().workersRunning).toBe(1);
  });

  it('workersReady waits for the count, stops on disposal, and does not wait for zero workers', async () => {
    let running = 0;
    const pool = { stats: () => ({ workersRunning: running }) };
    let done = false;
    const p = workersReady(pool, 2, () => false).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false); // no worker yet: still waiting
    running = 2;
    await p;
    expect(done).toBe(true);
    let stopped = false;
    const q = workersReady({ stats: () => ({ workersRunning: 0 }) }, 1, () => stopped);
    stopped = true;
    await q; // resolves although no worker ever runs
    await workersReady({ stats: () => ({ workersRunning: 0 }) }, 0, () => false);
  });
});
