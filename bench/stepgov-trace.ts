/**
 * Trace of the wasm step governor (src/tensor/backends/wasm/step-governor.ts) over a run of training steps: per
 * block of steps, the median step ms and the governor's counters, so its decisions under the load of the moment can
 * be read next to the step times. Not a timing comparison (use bench/contention.ts or bench/ab-steps.ts for that).
 *
 *   npx tsx bench/stepgov-trace.ts [model:batch[:px]] [steps] [block]
 */

import { createWasmBackend } from '../src/tensor/backends/wasm/index.js';
import { setDefaultBackend } from '../src/tensor/engine.js';
import { makeTrainStep } from './step.js';

const [model, batch, px] = (process.argv[2] ?? 'bit-tiny:32').split(':');
const steps = Number(process.argv[3] ?? '200');
const block = Number(process.argv[4] ?? '20');
const b = createWasmBackend({});
await b.ready;
setDefaultBackend(b);
const { step } = makeTrainStep(model!, Number(batch), Number(px ?? 32));
const med = (v: number[]) => (v.length ? [...v].sort((x, y) => x - y)[v.length >> 1]!.toFixed(1) : '-');
let thr: number[] = [];
let solo: number[] = [];
let modes = '';
for (let i = 1; i <= steps; i++) {
  const before = b.syncStats().soloSteps;
  const t = performance.now();
  await step();
  const ms = performance.now() - t;
  const wasSolo = b.syncStats().soloSteps > before;
  (wasSolo ? solo : thr).push(ms);
  modes += wasSolo ? 's' : 't';
  if (i % block === 0) {
    const s = b.syncStats();
    console.log(
      `steps ${i}: threaded ${med(thr)} ms (${thr.length}), solo ${med(solo)} ms (${solo.length}) ${modes}; ` +
        `measured ${s.steps} cold ${s.coldSteps} probes ${s.stepProbes} flips ${s.stepFlips}`,
    );
    thr = [];
    solo = [];
    modes = '';
  }
}
process.exit(0);
