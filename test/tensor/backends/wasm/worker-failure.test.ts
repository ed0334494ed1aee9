/**
 * A worker that is not running must be an error, never a silent one-thread pool: (1) a pool whose host reports a
 * dead worker throws a BackendError naming it at the next dispatch; (2) the real failure that hid this: a parent
 * started with `--input-type=module` (ESM `node -e`) used to make the eval'd CommonJS worker source ESM, every
 * worker died at `require`, and the calling thread took over every share. Now workers run there (a child process
 * checks that its worker came up and ran shares: by the worker's own counter, not by how many the calling thread
 * happened to take over, which on a loaded machine can be all of a few dozen).
 */

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import type { WasmHost } from '../../../../src/tensor/backends/wasm/host.js';
import { host as nodeHost } from '../../../../src/tensor/backends/wasm/host-node.js';
import { buildKernelModule } from '../../../../src/tensor/backends/wasm/kernels.js';
import { ThreadPool } from '../../../../src/tensor/backends/wasm/threads.js';
import { WA } from '../../../../src/tensor/backends/wasm/wasm-api.js';

describe('wasm thread pool: dead workers', () => {
  it('throws a BackendError naming the worker instead of running every share on the calling thread', () => {
    const memory = new WA.Memory({ initial: 256, maximum: 1024, shared: true });
    const { module, names } = buildKernelModule(false, 256, 1024, true);
    const instance = new WA.Instance(module, { env: { mem: memory } });
    const deadHost: WasmHost = {
      ...nodeHost,
      startWorker: () => ({ takeError: () => null, failure: () => 'failed: boom', terminate() {} }),
    };
    let next = 1 << 20;
    const alloc = (bytes: number): [number, () => void] => {
      const p = next;
      next += Math.ceil(bytes / 16) * 16;
      return [p, () => {}];
    };
    const pool = new ThreadPool(2, module, memory, instance.exports, names, false, alloc, deadHost);
    const relu = (lo: number, hi: number) => ({ fn: 'relu', args: [2 << 20, 3 << 20, lo, hi] });
    expect(() => pool.run([[relu(0, 8)], [relu(8, 16)]])).toThrow(BackendError);
    expect(() => pool.run([[relu(0, 8)], [relu(8, 16)]])).toThrow(
      /worker thread 1 of 2 is not running \(failed: boom\)/,
    );
  });

  it('runs its workers when the parent process is ESM `node -e` (--input-type=module)', () => {
    const root = path.resolve(__dirname, '../../../..');
    // Behaviour, not a schedule: the worker must come up (module instantiated, not dead) and run shares. A loaded
    // machine may let the calling thread take over any one share, so the child dispatches until a worker has run
    // one (its own counter in the control block) or 40 s pass; the governor is off so every dispatch offers one.
    const code = `
      const { createWasmBackend } = await import(${JSON.stringify(`${root}/src/tensor/backends/wasm/index.ts`)});
      const b = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
      await b.ready;
      const x = b.upload(new Float32Array(1 << 16).fill(-1), 'float32');
      const until = Date.now() + 40000;
      while (Date.now() < until) {
        b.free(b.unary('relu', x));
        const s = b.syncStats();
        if (s.workersRunning === 1 && s.workerShares > 0) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      console.log(JSON.stringify(b.syncStats()));
      b.dispose();
      process.exit(0);`;
    const tsx = path.join(root, 'node_modules/.bin/tsx');
    const out = execFileSync(tsx, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
    const stats = JSON.parse(out.trim().split('\n').pop()!) as {
      calls: number;
      takenOver: number;
      workersRunning: number;
      workerShares: number;
    };
    // with dead workers the first dispatch throws (the child fails) and no worker reports its module instantiated
    expect(stats.workersRunning).toBe(1);
    expect(stats.workerShares).toBeGreaterThan(0);
    // every offered share is run exactly once: by the worker or taken over by the calling thread
    expect(stats.workerShares + stats.takenOver).toBe(stats.calls);
  }, 90_000);
});
