/**
 * A parent started with a process-wide V8 flag (`node --always-sparkplug ...`, as one would to study JS warm-up)
 * still gets its pool: Node refuses such flags in a worker's execArgv (ERR_WORKER_INVALID_EXEC_ARGV), so the Node
 * host drops the flags Node names and starts the worker without them (V8 flags are per process: it inherits them).
 */

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('wasm pool workers under a parent V8 flag', () => {
  it('start and run shares when the parent runs with --always-sparkplug', () => {
    const root = path.resolve(__dirname, '../../../..');
    const code = `
      const { createWasmBackend } = await import(${JSON.stringify(`${root}/src/tensor/backends/wasm/index.ts`)});
      const b = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
      await b.ready;
      const x = b.upload(Float32Array.from({ length: 1 << 16 }, (_, i) => i - 100), 'float32');
      const until = Date.now() + 40000;
      let ok = true;
      while (Date.now() < until) {
        const y = b.readSync(b.unary('relu', x));
        ok &&= y[0] === 0 && y[200] === 100;
        const s = b.syncStats();
        if (s.workersRunning === 1 && s.workerShares > 0) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      console.log(JSON.stringify({ ok, ...b.syncStats() }));
      b.dispose();
      process.exit(0);`;
    const out = execFileSync(
      process.execPath,
      ['--always-sparkplug', '--import', 'tsx', '--input-type=module', '-e', code],
      { cwd: root, encoding: 'utf8' },
    );
    const stats = JSON.parse(out.trim().split('\n').pop()!) as {
      ok: boolean;
      workersRunning: number;
      workerShares: number;
    };
    expect(stats.ok).toBe(true);
    expect(stats.workersRunning).toBe(1);
    expect(stats.workerShares).toBeGreaterThan(0);
  }, 90_000);
});
