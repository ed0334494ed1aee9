/**
 * Training-step A/B of the fused GroupNorm + ReLU (GroupNorm.forwardRelu) against the unfused composite
 * (forward then relu) in ONE process on one wasm backend: the two variants alternate step by step, several rounds,
 * and the report gives each side's median and the median of the paired ratios (unfused / fused: > 1 means the
 * fused step is faster). Models and batches as the rows (32 px).
 *
 *   npx tsx bench/fuse-step-ab.ts [--threads 1] [--rounds 7] [--rows bit-tiny:32,bit-tiny:128,...] [--json FILE]
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { GroupNorm } from '../src/nn/norm.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import type { Tensor } from '../src/tensor/index.js';
import { makeTrainStep } from './step.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const threads = Number(opt('threads', '1'));
const rounds = Number(opt('rounds', '7'));
const rows = opt('rows', 'bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128').split(',');
const json = opt('json', '');

await useBackend('wasm', { threads });
const proto = GroupNorm.prototype;
const fused = proto.forwardRelu;
const unfused = function (this: GroupNorm, x: Tensor) {
  return this.forward(x).relu();
};
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const out = [];
for (const row of rows) {
  const [model, batch] = [row.split(':')[0]!, Number(row.split(':')[1])];
  const { step, dispose } = makeTrainStep(model, batch, 32);
  const timed = async (f: typeof fused) => {
    proto.forwardRelu = f;
    const t = performance.now();
    await step();
    return performance.now() - t;
  };
  await timed(fused);
  await timed(unfused);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(await timed(fused));
      b.push(await timed(unfused));
    } else {
      b.push(await timed(unfused));
      a.push(await timed(fused));
    }
  }
  proto.forwardRelu = fused;
  dispose();
  const r = { model, batch, fusedMs: med(a), unfusedMs: med(b), ratio: med(a.map((x, i) => b[i]! / x)) };
  out.push(r);
  console.log(
    `${model} b${batch}: fused ${r.fusedMs.toFixed(1)} ms, unfused ${r.unfusedMs.toFixed(1)} ms, unfused/fused ${r.ratio.toFixed(3)}x`,
  );
}
const load = os.loadavg().map((l) => l.toFixed(1));
console.log(`wasm, ${threads} thread(s), ${rounds} rounds, load ${load.join(' ')}, ${os.cpus()[0]?.model}`);
if (json) writeFileSync(json, JSON.stringify({ threads, rounds, load, rows: out }, null, 1));
