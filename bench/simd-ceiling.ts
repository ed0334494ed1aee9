/**
 * The ceiling of 128-bit WebAssembly SIMD on this machine: a kernel that does nothing but independent
 * f32x4 multiply-adds in registers (12 accumulators, relaxed_madd when the engine validates it, else mul+add),
 * timed on 1 thread and on every core at once (one worker per core, each its own module instance). No GEMM or
 * conv of the wasm backend can beat this number; bench/profile.ts compares each conv's GFLOP/s against it.
 *
 * Usage: npx tsx bench/simd-ceiling.ts [--ms 400] [--json FILE]
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  F32,
  I32,
  type ModuleBuilder as MB,
  ModuleBuilder,
  Simd,
  V128,
} from '../src/tensor/backends/wasm/module-builder.js';
import { WA } from '../src/tensor/backends/wasm/wasm-api.js';

const ACC = 12;

/** peak(iters, out): ACC accumulators, iters rounds of ACC multiply-adds, results stored at out. */
function build(relaxed: boolean): Uint8Array {
  const m: MB = new ModuleBuilder();
  m.kernel('peak', { iters: I32, out: I32 }, (f, { iters, out }) => {
    const acc = f.localArray(V128, ACC);
    const a = f.local(V128);
    const b = f.local(V128);
    const s = f.local(F32);
    f.f32(1.0000001).set(s);
    f.get(s).simd(Simd.f32x4Splat).set(a);
    f.f32(0.9999999).set(s);
    f.get(s).simd(Simd.f32x4Splat).set(b);
    for (let i = 0; i < ACC; i++) f.f32(i).simd(Simd.f32x4Splat).set(acc[i]!);
    f.loop((top) => {
      for (let i = 0; i < ACC; i++) {
        if (relaxed) f.get(a).get(b).get(acc[i]!).simd(Simd.f32x4RelaxedMadd).set(acc[i]!);
        else f.get(acc[i]!).get(a).get(b).simd(Simd.f32x4Mul).simd(Simd.f32x4Add).set(acc[i]!);
      }
      f.get(iters).i32(1).op(0x6b).tee(iters).brIf(top); // i32.sub
    });
    for (let i = 0; i < ACC; i++)
      f.get(out)
        .get(acc[i]!)
        .vstore(i * 16);
  });
  return m.build(1, 1, false);
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.relaxed) require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
const inst = new WebAssembly.Instance(new WebAssembly.Module(workerData.bytes), { env: { mem } });
parentPort.on('message', (iters) => {
  const t = performance.now();
  inst.exports.peak(iters, 0);
  parentPort.postMessage(performance.now() - t);
});
`;

async function timeOn(threads: number, bytes: Uint8Array, relaxed: boolean, iters: number): Promise<number> {
  const ws = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { bytes, relaxed } }));
  const run = () =>
    Promise.all(
      ws.map(
        (w) =>
          new Promise<number>((res) => {
            w.once('message', res);
            w.postMessage(iters);
          }),
      ),
    );
  await run(); // compile + tier up
  const best: number[] = [];
  for (let r = 0; r < 5; r++) best.push(Math.max(...(await run())));
  await Promise.all(ws.map((w) => w.terminate()));
  const ms = Math.min(...best);
  return (threads * iters * ACC * 4 * 2) / (ms * 1e6); // GFLOP/s
}

async function main() {
  const args = process.argv.slice(2);
  const json = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  const cores = os.availableParallelism();
  let relaxed = true;
  let bytes: Uint8Array;
  try {
    (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
    bytes = build(true);
    if (!WA.validate(bytes)) throw new Error('relaxed SIMD not valid here');
  } catch {
    relaxed = false;
    bytes = build(false);
  }
  const iters = 20_000_000;
  const one = await timeOn(1, bytes, relaxed, iters);
  const all = await timeOn(cores, bytes, relaxed, iters);
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const load = os
    .loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');
  console.log(`${cpu}, ${cores} cores, Node ${process.version}, load ${load}`);
  console.log(
    `f32x4 ${relaxed ? 'relaxed_madd' : 'mul+add'} x ${ACC} accumulators: ${one.toFixed(1)} GFLOP/s on 1 thread, ${all.toFixed(1)} on ${cores}`,
  );
  if (json)
    fs.writeFileSync(
      json,
      `${JSON.stringify({ cpu, cores, node: process.version, load, relaxed, oneThread: one, allThreads: all }, null, 1)}\n`,
    );
}

void main();
