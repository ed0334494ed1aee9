/**
 * A/B of training steps between two checkouts of bit-ts (e.g. a base commit in a git worktree and the working
 * tree). Rounds alternate fresh processes, the order flipping each round (base, cur; cur, base; ...); each process
 * times `--steps` steady steps of every (model, batch) after one first step and reports the median. The summary per
 * case is the median per side and the median over rounds of the paired ratio cur/base (< 1: cur is faster), with
 * its min..max: the machine is noisy, so only rounds run back to back are compared.
 *
 *   npx tsx bench/ab-steps.ts --base /path/to/base/checkout [--cur .] [--rounds 5] [--steps 7] [--cpu]
 *     [--cases bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128,BiT-R50x1:8:128] [--save FILE]
 * A case is model:batch[:px] (px 32 by default).
 * --cpu: one wasm thread, each step timed as process CPU time instead of wall time. On a machine other jobs load
 *   (wall-clock steps there swing 2-3x between rounds) the CPU time of a single-threaded step still tracks the work
 *   it does; it measures work, not thread scaling or synchronisation, so pair it with a wall-time run when quiet.
 * --base-env / --cur-env K=V[,K=V] set environment variables for one side's processes, so one checkout can be
 *   A/B'd against itself with a switch, e.g. `--base-env BIT_WINOGRAD=0 --cur-env BIT_WINOGRAD=auto`.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { abCheckouts, flag, opt } from './cli-args.js';

const { base, cur, sideEnv } = abCheckouts();
const rounds = Number(opt('rounds', '5'));
const steps = Number(opt('steps', '7'));
const cpu = flag('cpu');
const cases = opt('cases', 'bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128').split(',');

type CaseResult = { first: number; median: number };
type ChildResult = Record<string, CaseResult> & { threads?: number; sync?: { calls: number; takenOver: number } };

// one child process: times the steps of every case in the checkout at `root`, prints JSON
const CHILD = `
const root = process.argv[2]; const steps = Number(process.argv[3]); const cases = process.argv[4].split(',');
const cpu = process.argv[5] === 'cpu';
const { useBackend } = await import(root + '/src/tensor/backends/registry.ts');
const { makeTrainStep } = await import(root + '/bench/step.ts');
const b = await useBackend('wasm', cpu ? { threads: 1 } : {}); await b.ready;
async function timed(f) {
  if (cpu) { const c0 = process.cpuUsage(); await f(); const u = process.cpuUsage(c0); return (u.user + u.system) / 1000; }
  const t = performance.now(); await f(); return performance.now() - t;
}
const out = {};
for (const c of cases) {
  const [model, batch, px] = c.split(':');
  const { step, dispose } = makeTrainStep(model, Number(batch), Number(px ?? 32));
  const first = await timed(step);
  const ms = [];
  for (let i = 0; i < steps; i++) ms.push(await timed(step));
  dispose();
  ms.sort((a, b) => a - b);
  out[c] = { first, median: ms[Math.floor(ms.length / 2)] };
}
console.log(JSON.stringify({ ...out, threads: b.threads, sync: b.syncStats?.() }));
process.exit(0);
`;

// the child runs from a file, not `-e` with --input-type=module: before commit a05d598 the wasm pool's eval'd
// workers died under an ESM parent and every share ran on the calling thread
const childFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'bit-ts-ab-')), 'child.mts');
writeFileSync(childFile, CHILD);

function runOnce(root: string, side: 'base' | 'cur'): ChildResult {
  const tsx = path.join(cur, 'node_modules/.bin/tsx');
  const res = execFileSync(tsx, [childFile, root, String(steps), cases.join(','), cpu ? 'cpu' : 'wall'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...sideEnv[side] },
  });
  return JSON.parse(res.trim().split('\n').pop()!);
}

const rows: { side: string; round: number; load: string; res: ChildResult }[] = [];
const bySide: Record<'base' | 'cur', ChildResult[]> = { base: [], cur: [] };
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? (['base', 'cur'] as const) : (['cur', 'base'] as const);
  for (const side of order) {
    const res = runOnce(side === 'base' ? base : cur, side);
    bySide[side].push(res);
    const load = os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ');
    rows.push({ side, round: r, load, res });
    const taken = res.sync ? ` (shares taken over by the calling thread: ${res.sync.takenOver}/${res.sync.calls})` : '';
    console.log(
      `${side} round ${r + 1}: ${cases.map((c) => `${c} ${res[c]!.median.toFixed(1)}`).join(', ')}${taken}, load ${load}`,
    );
  }
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const unit = cpu ? '1 thread, CPU ms per step' : 'wall ms per step';
console.log(`\n${unit} (median of ${steps} steps per process), ${rounds} rounds`);
console.log('case               base ms   cur ms   cur/base (median of paired ratios, min..max)');
const summary: Record<string, { base: number; cur: number; ratio: number; min: number; max: number }> = {};
for (const c of cases) {
  const ratios = bySide.cur.map((o, i) => o[c]!.median / bySide.base[i]![c]!.median);
  const b = med(bySide.base.map((o) => o[c]!.median));
  const u = med(bySide.cur.map((o) => o[c]!.median));
  summary[c] = { base: b, cur: u, ratio: med(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
  console.log(
    `${c.padEnd(18)} ${b.toFixed(1).padStart(8)} ${u.toFixed(1).padStart(8)}   ${med(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)})`,
  );
}
const save = opt('save', '');
if (save)
  writeFileSync(
    save,
    `${JSON.stringify({ base, cur, rounds, steps, timing: cpu ? 'cpu-1-thread' : 'wall', cpu: os.cpus()[0]?.model, summary, rows }, null, 1)}\n`,
  );
