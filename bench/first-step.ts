/**
 * Where a training step's first-call overhead goes (issue 24: "first step <= 1.5x steady"). Runs rows in one
 * process in the order `npm run bench` runs them (a later row's first step follows warm JS from earlier rows) and
 * prints, per step of each row: wall ms, ms inside backend methods vs outside (autograd, tape, JS), minor page
 * faults, heap growth (memory.grow), GC ms, CPU ms of all threads (less load-sensitive than wall ms), pool-governor
 * solo calls / back-offs / void (warm-up) windows, pool calls / ms waited for workers / shares taken over, and the
 * time from backend creation to the end of the first step (what a user waits); then the call sites whose first
 * call cost most over their steady call.
 *
 *   npx tsx bench/first-step.ts [--rows bit-tiny:32:32,BiT-R50x1:8:128] [--steps 4] [--top 12] [--idle 100] [--threads N]
 *
 * bench/step.ts's makeTrainStep maps the row's heap before building the model, as the CLI does
 * (BIT_TRAIN_PREFAULT=0: off, for an A/B; with a pool its last worker touches the pages, BIT_WASM_POOL_TOUCH=0:
 * the toucher thread instead, small heaps only grown). BIT_POOL_WARMUP=0: the governor's first windows decide too.
 * Wall-clock numbers on a shared machine are noisy: the page-fault and heap columns are exact, the ms columns are not.
 */

import os from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import type { Backend } from '../src/tensor/backend.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import type { WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { callSite, timeBackendCalls } from './backend-timer.js';
import { opt } from './cli-args.js';
import { makeTrainStep } from './step.js';

const rows = opt('rows', 'bit-tiny:32:32')
  .split(',')
  .map((r) => {
    const [m, b, p] = r.split(':');
    return { model: m!, batch: Number(b), px: Number(p) };
  });
const steps = Number(opt('steps', '4'));
const top = Number(opt('top', '12'));
/** Idle ms between creating a row's model and trainer and its first step (side-by-side settles 100 ms there). */
const idle = Number(opt('idle', '100'));

/** Time every backend method; `cur` collects ms per call site for the current step. */
function instrument(b: Backend) {
  const cur = { total: 0, sites: new Map<string, number>() };
  timeBackendCalls(b, (key, a, dt) => {
    cur.total += dt;
    const k = callSite(key, a);
    cur.sites.set(k, (cur.sites.get(k) ?? 0) + dt);
  });
  return cur;
}

const gcs: { start: number; ms: number }[] = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
}).observe({ entryTypes: ['gc'] });
const gcMs = (t0: number, t1: number) => gcs.filter((g) => g.start >= t0 && g.start < t1).reduce((s, g) => s + g.ms, 0);

async function main() {
  const threads = Number(opt('threads', '0'));
  const tCreate = performance.now();
  const b = (await useBackend('wasm', threads > 0 ? { threads } : {})) as WasmBackend;
  await b.ready;
  const cur = instrument(b);
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
  for (const r of rows) {
    const { step, dispose } = makeTrainStep(r.model, r.batch, r.px);
    console.log(`\n${r.model} b${r.batch} ${r.px}px, ${b.threads} threads, load ${load()}`);
    console.log(
      '  step     ms  backend  outside  faults  heap MiB (+grown)  free MiB  gc ms  cpu ms (user+sys, all threads)  solo calls / backoffs / void windows (pool governor)  pool calls / wait ms / taken over',
    );
    await new Promise((res) => setTimeout(res, idle));
    const perStep: Map<string, number>[] = [];
    const wall: number[] = [];
    for (let i = 0; i <= steps; i++) {
      const h0 = b.heapStats();
      const s0 = b.syncStats();
      const f0 = process.resourceUsage().minorPageFault;
      cur.total = 0;
      cur.sites = new Map();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await step();
      const t1 = performance.now();
      const cpu = process.cpuUsage(c0);
      await new Promise((res) => setTimeout(res, 5)); // let GC entries arrive
      const f1 = process.resourceUsage().minorPageFault;
      const h1 = b.heapStats();
      const s1 = b.syncStats();
      const ms = t1 - t0;
      wall.push(ms);
      if (i === 0 && r === rows[0])
        console.log(`  backend creation to the end of this step: ${(t1 - tCreate).toFixed(1)} ms`);
      perStep.push(cur.sites);
      console.log(
        `  ${String(i).padStart(4)} ${ms.toFixed(1).padStart(7)} ${cur.total.toFixed(1).padStart(8)} ${(ms - cur.total).toFixed(1).padStart(8)} ` +
          `${String(f1 - f0).padStart(7)} ${(h1.heapBytes / 2 ** 20).toFixed(0).padStart(9)} (+${((h1.heapBytes - h0.heapBytes) / 2 ** 20).toFixed(0)}) ` +
          `${(h1.freeBytes / 2 ** 20).toFixed(0).padStart(9)} ${gcMs(t0, t1).toFixed(1).padStart(6)} ${((cpu.user + cpu.system) / 1000).toFixed(1).padStart(7)} ${s1.soloCalls - s0.soloCalls}/${s1.backoffs - s0.backoffs}/${s1.voidWindows - s0.voidWindows} ` +
          `${s1.calls - s0.calls}/${(s1.waitMs - s0.waitMs).toFixed(1)}/${s1.takenOver - s0.takenOver}`,
      );
    }
    // per-site excess of the first call over the median of the later ones
    const later = perStep.slice(1);
    const excess: [string, number, number][] = [];
    for (const [k, v] of perStep[0]!) {
      const xs = later.map((m) => m.get(k) ?? 0).sort((p, q) => p - q);
      const med = xs[Math.floor(xs.length / 2)] ?? 0;
      excess.push([k, v, med]);
    }
    excess.sort((p, q) => q[1] - q[2] - (p[1] - p[2]));
    const steadyMed = [...wall.slice(1)].sort((p, q) => p - q)[Math.floor(steps / 2)]!;
    console.log(
      `  first ${wall[0]!.toFixed(1)} ms vs steady median ${steadyMed.toFixed(1)} (${(wall[0]! / steadyMed).toFixed(2)}x); top first-call excess by site:`,
    );
    for (const [k, f, m] of excess.slice(0, top)) {
      console.log(`    ${k.padEnd(48)} first ${f.toFixed(2).padStart(8)} steady ${m.toFixed(2).padStart(8)}`);
    }
    dispose();
  }
  const h = b.heapStats();
  console.log(
    `\nheap ${(h.heapBytes / 2 ** 20).toFixed(0)} MiB, high water ${(h.highWater / 2 ** 20).toFixed(0)}, peak live ${(h.peakLive / 2 ** 20).toFixed(0)}`,
  );
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

await main();
process.exit(0);
