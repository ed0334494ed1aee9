/**
 * Same-process A/B of ResNetV2's residual add folded into conv3 (`setFusedResidualAdd`, the in-process form of
 * BIT_FUSE_RESADD): one model, one backend, rounds alternating unfused / fused (order flipped every round), each
 * side timing `--reps` steady inference forwards (`--mode infer`, bench/step.ts makeInferStep) or training steps
 * (`--mode train`, makeTrainStep). Prints each side's median and the median over rounds of the paired ratios
 * fused/unfused (< 1: fused faster), with the load average. Pairs run back to back in one process, so a busy
 * machine disturbs both sides of a pair alike (more than it does fresh processes' start-up).
 *
 *   npx tsx bench/resadd-model-ab.ts [--mode infer] [--model BiT-R50x1] [--batch 8] [--px 128] [--rounds 11]
 *     [--reps 3] [--threads N]
 */

import os from 'node:os';
import { setFusedResidualAdd } from '../src/models/index.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import { opt } from './cli-args.js';
import { makeInferStep, makeTrainStep } from './step.js';

const mode = opt('mode', 'infer');
const model = opt('model', mode === 'infer' ? 'BiT-R50x1' : 'bit-small');
const batch = Number(opt('batch', mode === 'infer' ? '8' : '128'));
const px = Number(opt('px', mode === 'infer' ? '128' : '32'));
const rounds = Number(opt('rounds', '11'));
const reps = Number(opt('reps', '3'));
const threads = opt('threads', '');

const b = await useBackend('wasm', threads ? { threads: Number(threads) } : {});
await (b as { ready?: Promise<unknown> }).ready;
const { step, dispose } = (mode === 'infer' ? makeInferStep : makeTrainStep)(model, batch, px);
const time = async (fused: boolean) => {
  setFusedResidualAdd(fused);
  await step(); // the first step after a switch is not timed
  const t = performance.now();
  for (let i = 0; i < reps; i++) await step();
  return (performance.now() - t) / reps;
};
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
const off: number[] = [];
const on: number[] = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    off.push(await time(false));
    on.push(await time(true));
  } else {
    on.push(await time(true));
    off.push(await time(false));
  }
  console.log(
    `round ${r + 1}: unfused ${off[r]!.toFixed(1)} ms, fused ${on[r]!.toFixed(1)} ms, ratio ${(on[r]! / off[r]!).toFixed(3)}`,
  );
}
const ratios = on.map((v, i) => v / off[i]!);
console.log(
  `${model} ${mode} b${batch} ${px}px: unfused ${median(off).toFixed(1)} ms, fused ${median(on).toFixed(1)} ms; ` +
    `fused/unfused median of ${rounds} paired ratios ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, ` +
    `max ${Math.max(...ratios).toFixed(3)}); load ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
);
dispose();
b.dispose();
process.exit(0);
