/**
 * One process of the contention bench (bench/contention.ts): times training steps on the wasm backend with a given
 * thread count and prints one JSON line, or (with --forever) trains without end as a competitor: another bit-ts
 * process with its own pool, the case that collapsed the default pool before the pool learned to back off.
 *
 *   tsx bench/contention-child.ts THREADS STEPS CASES [--forever] [--plain]
 * THREADS 0 is the default thread count; CASES as in bench/ab-steps.ts (model:batch[:px], comma-separated);
 * --plain turns the pool's governor off (adaptiveThreads: false: always hand out shares).
 */

import { createWasmBackend } from '../src/tensor/backends/wasm/index.js';
import { setDefaultBackend } from '../src/tensor/engine.js';
import { makeTrainStep, timeFirstAndSteady } from './step.js';

const [threadsArg, stepsArg, casesArg] = process.argv.slice(2);
const forever = process.argv.includes('--forever');
const threads = Number(threadsArg ?? '0');
const steps = Number(stepsArg ?? '5');
const cases = (casesArg ?? 'bit-tiny:32').split(',');

const b = createWasmBackend({
  ...(threads > 0 ? { threads } : {}),
  adaptiveThreads: !process.argv.includes('--plain'),
});
await b.ready;
setDefaultBackend(b);
const out: Record<string, { first: number; median: number; min: number; max: number }> = {};
do {
  for (const c of cases) {
    const [model, batch, px] = c.split(':');
    const { step, dispose } = makeTrainStep(model!, Number(batch), Number(px ?? 32));
    const { first, median, min, max } = await timeFirstAndSteady(step, steps);
    dispose();
    out[c] = { first, median, min, max };
  }
} while (forever);
console.log(JSON.stringify({ cases: out, threads: b.threads, sync: b.syncStats() }));
process.exit(0);
