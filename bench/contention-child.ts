/**
 * One process of the contention bench (bench/contention.ts). Two modes:
 * - paired (default): one wasm backend per side in this process (`one`: threads 1; `default`: the default pool,
 *   governed; `plain`: the default thread count with the governor off; `percall`: the per-call governor, see
 *   src/tensor/backends/wasm/pool-governor.ts; `stepgov` / `nostepgov`: the default pool with the step governor
 *   on / off whatever BIT_STEP_GOVERNOR says, see step-governor.ts; `stepsolo`: the step governor forced solo
 *   after its first probe, what a solo step costs against `one`), the same training step built on each. Per case: two warm-up steps
 *   per side (excluded), then `rounds` rounds; each round times a block of steps on every side (~ROUND_MS of work,
 *   the same count on every side, the block's median kept) after a settle pause, in an order that rotates per round,
 *   so load drift hits every side alike. Prints one JSON line: per case, per side, the per-round medians.
 * - --forever: trains bit-tiny b32 without end as a competitor (another bit-ts process with its own pool, the case
 *   that collapsed the plain pool); THREADS 1 gives a one-thread competitor, --plain one with the governor off.
 *
 *   tsx bench/contention-child.ts CASES ROUNDS [--sides one,default,plain] [--loader N]   (paired)
 *   tsx bench/contention-child.ts --forever THREADS [--plain]                     (competitor)
 * CASES as in bench/ab-steps.ts (model:batch[:px], comma-separated); THREADS 0 is the default thread count.
 */

import { Worker } from 'node:worker_threads';
import type { Backend } from '../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { setDefaultBackend } from '../src/tensor/engine.js';
import { makeTrainStep } from './step.js';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1]! : d;
};
const ROUND_MS = Number(process.env.BIT_BENCH_ROUND_MS ?? 250);
const SETTLE_MS = Number(process.env.BIT_BENCH_SETTLE_MS ?? 50);
const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

/** The backend of one side. */
function sideBackend(side: string): WasmBackend {
  if (side === 'one') return createWasmBackend({ threads: 1 });
  if (side === 'default') return createWasmBackend({});
  if (side === 'plain') return createWasmBackend({ adaptiveThreads: false });
  if (side === 'percall') return createWasmBackend({ adaptiveThreads: { mode: 'per-call' } });
  if (side === 'window') return createWasmBackend({ adaptiveThreads: { mode: 'window' } });
  if (side === 'stepgov') return createWasmBackend({ stepGovernor: true });
  if (side === 'nostepgov') return createWasmBackend({ stepGovernor: false });
  // every step solo after the first probe (threads would have to save 200%): what a solo step costs against `one`
  if (side === 'stepsolo') return createWasmBackend({ stepGovernor: { enabled: true, minGain: 2 } });
  throw new Error(`contention-child: unknown side ${side}`);
}

if (argv[0] === '--forever') {
  const threads = Number(argv[1] ?? '0');
  const b = createWasmBackend({ ...(threads > 0 ? { threads } : {}), adaptiveThreads: !argv.includes('--plain') });
  await b.ready;
  setDefaultBackend(b);
  const { step } = makeTrainStep('bit-tiny', 32, 32);
  for (;;) await step();
}

// --loader N: N worker threads in this process, each busy 5 ms then idle 5 ms without end, standing in for a data
// loader's decode workers (prefetching until their queue is full) beside the step's own pool
const loaderN = Number(opt('loader', '0'));
for (let i = 0; i < loaderN; i++) {
  const body =
    'const w = new Int32Array(new SharedArrayBuffer(4)); let x = 0;' +
    'for (;;) { const t = performance.now(); while (performance.now() - t < 5) x += Math.sqrt(x + 1); Atomics.wait(w, 0, 0, 5); }';
  new Worker(body, { eval: true }).unref();
}

const cases = (argv[0] ?? 'bit-tiny:32').split(',');
const rounds = Number(argv[1] ?? '7');
const sides = opt('sides', 'one,default,plain').split(',');
const backends = new Map<string, WasmBackend>();
for (const s of sides) {
  const b = sideBackend(s);
  await b.ready;
  backends.set(s, b);
}
const out: Record<string, Record<string, { rounds: number[]; per: number }>> = {};
for (const c of cases) {
  const [model, batch, px] = c.split(':');
  const steps = new Map<string, { step: () => Promise<number>; dispose: () => void }>();
  for (const s of sides) {
    setDefaultBackend(backends.get(s)! as Backend);
    steps.set(s, makeTrainStep(model!, Number(batch), Number(px ?? 32)));
  }
  const timeStep = async (s: string) => {
    setDefaultBackend(backends.get(s)! as Backend);
    const t = performance.now();
    await steps.get(s)!.step();
    return performance.now() - t;
  };
  let warm = 0;
  for (const s of sides) {
    await timeStep(s);
    warm = Math.max(warm, await timeStep(s));
  }
  const per = Math.max(1, Math.min(8, Math.round(ROUND_MS / warm)));
  const res: Record<string, { rounds: number[]; per: number }> = {};
  for (const s of sides) res[s] = { rounds: [], per };
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const s = sides[(r + k) % sides.length]!;
      await sleep(SETTLE_MS);
      const ts: number[] = [];
      for (let i = 0; i < per; i++) ts.push(await timeStep(s));
      res[s]!.rounds.push(median(ts));
    }
  }
  for (const s of sides) steps.get(s)!.dispose();
  out[c] = res;
}
const sync: Record<string, unknown> = {};
for (const [s, b] of backends) sync[s] = { threads: b.threads, ...b.syncStats() };
console.log(JSON.stringify({ cases: out, sync }));
process.exit(0);
