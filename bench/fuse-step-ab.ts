/**
 * Training-step A/B of this round's small-op levers in ONE process, the two variants alternating step by step,
 * several rounds; the report gives each side's median and the median of the paired ratios (old / new: > 1 means
 * the new step is faster), in wall time and in the process's CPU time (user + system, all threads: on a loaded
 * machine the CPU time of a 1-thread run is the steadier measure of the work). Models and batches as the issue's
 * rows (32 px).
 * - `--lever gn` (default): GroupNorm.forwardRelu fused (new) vs the unfused composite forward(x).relu() (old),
 *   on one wasm backend;
 * - `--lever pool`: the four-plane max-pool (new) vs the scalar one (old: a second wasm backend created with
 *   BIT_WASM_POOL4=0), each with its own copy of the model (same seed) and batch.
 *
 *   npx tsx bench/fuse-step-ab.ts [--lever gn|pool] [--threads 1] [--rounds 7] [--rows bit-tiny:32,...] [--json FILE]
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { GroupNorm } from '../src/nn/norm.js';
import type { Backend } from '../src/tensor/backend.js';
import { createWasmBackend } from '../src/tensor/backends/wasm/index.js';
import { setDefaultBackend } from '../src/tensor/engine.js';
import type { Tensor } from '../src/tensor/index.js';
import { opt } from './cli-args.js';
import { makeTrainStep } from './step.js';

const lever = opt('lever', 'gn');
const threads = Number(opt('threads', '1'));
const rounds = Number(opt('rounds', '7'));
const rows = opt('rows', 'bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128').split(',');
const json = opt('json', '');

const newBackend = createWasmBackend({ threads });
let oldBackend: Backend = newBackend;
if (lever === 'pool') {
  process.env.BIT_WASM_POOL4 = '0';
  oldBackend = createWasmBackend({ threads });
  delete process.env.BIT_WASM_POOL4;
}
await Promise.all([newBackend.ready, (oldBackend as typeof newBackend).ready]);
const proto = GroupNorm.prototype;
const fused = proto.forwardRelu;
const unfused = function (this: GroupNorm, x: Tensor) {
  return this.forward(x).relu();
};
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const out = [];
for (const row of rows) {
  const [model, batch] = [row.split(':')[0]!, Number(row.split(':')[1])];
  setDefaultBackend(newBackend);
  const sNew = makeTrainStep(model, batch, 32);
  setDefaultBackend(oldBackend);
  const sOld = lever === 'pool' ? makeTrainStep(model, batch, 32) : sNew;
  const timed = async (isNew: boolean) => {
    setDefaultBackend(isNew ? newBackend : oldBackend);
    if (lever === 'gn') proto.forwardRelu = isNew ? fused : unfused;
    const t = performance.now();
    const c = process.cpuUsage();
    await (isNew ? sNew : sOld).step();
    const cpu = process.cpuUsage(c);
    return { wall: performance.now() - t, cpu: (cpu.user + cpu.system) / 1000 };
  };
  await timed(true);
  await timed(false);
  const a: { wall: number; cpu: number }[] = [];
  const b: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(await timed(true));
      b.push(await timed(false));
    } else {
      b.push(await timed(false));
      a.push(await timed(true));
    }
  }
  proto.forwardRelu = fused;
  sNew.dispose();
  if (sOld !== sNew) sOld.dispose();
  const side = (k: 'wall' | 'cpu') => ({
    newMs: med(a.map((x) => x[k])),
    oldMs: med(b.map((x) => x[k])),
    ratio: med(a.map((x, i) => b[i]![k] / x[k])),
  });
  const r = { model, batch, wall: side('wall'), cpu: side('cpu') };
  out.push(r);
  const fmt = (x: ReturnType<typeof side>) =>
    `new ${x.newMs.toFixed(1)} ms, old ${x.oldMs.toFixed(1)} ms, old/new ${x.ratio.toFixed(3)}x`;
  console.log(`${model} b${batch}: wall ${fmt(r.wall)}; cpu ${fmt(r.cpu)}`);
}
const load = os.loadavg().map((l) => l.toFixed(1));
console.log(
  `lever ${lever}, wasm, ${threads} thread(s), ${rounds} rounds, load ${load.join(' ')}, ${os.cpus()[0]?.model}`,
);
if (json)
  writeFileSync(json, JSON.stringify({ lever, threads, rounds, load, cpu: os.cpus()[0]?.model, rows: out }, null, 1));
newBackend.dispose();
if (oldBackend !== newBackend) oldBackend.dispose();
