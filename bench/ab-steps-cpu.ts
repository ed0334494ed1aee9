/**
 * A/B of training steps between two checkouts on ONE wasm thread, timed as process CPU time: on a machine that
 * other jobs load (wall-clock step times there swing 2-3x between rounds), the CPU time a single-threaded step
 * uses still tracks the work it does. Rounds alternate fresh processes base, cur, base, ...; each process times
 * `--steps` steady steps per case after one first step and reports the median; the summary is the median over
 * rounds of the paired ratio cur/base (< 1: cur does the step in less CPU time). It measures work, not thread
 * scaling or synchronisation: pair it with bench/ab-steps.ts on a quiet machine.
 *
 *   npx tsx bench/ab-steps-cpu.ts --base /path/to/base/checkout [--cur .] [--rounds 5] [--steps 5]
 *     [--cases bit-tiny:128,bit-small:128] [--base-env K=V,...] [--cur-env K=V,...]
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { abCheckouts, opt } from './cli-args.js';

const { base, cur, sideEnv } = abCheckouts();
const rounds = Number(opt('rounds', '5'));
const steps = Number(opt('steps', '5'));
const cases = opt('cases', 'bit-tiny:128,bit-small:128').split(',');

const CHILD = `
const root = process.argv[2]; const steps = Number(process.argv[3]); const cases = process.argv[4].split(',');
const { useBackend } = await import(root + '/src/tensor/backends/registry.ts');
const { makeTrainStep } = await import(root + '/bench/step.ts');
const b = await useBackend('wasm', { threads: 1 }); await b.ready;
const out = {};
for (const c of cases) {
  const [model, batch, px] = c.split(':');
  const { step, dispose } = makeTrainStep(model, Number(batch), Number(px ?? 32));
  await step();
  const ms = [];
  for (let i = 0; i < steps; i++) {
    const c0 = process.cpuUsage(); await step(); const u = process.cpuUsage(c0);
    ms.push((u.user + u.system) / 1000);
  }
  dispose();
  ms.sort((a, b) => a - b);
  out[c] = ms[Math.floor(ms.length / 2)];
}
console.log(JSON.stringify(out));
process.exit(0);
`;
const childFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'bit-ts-abcpu-')), 'child.mts');
writeFileSync(childFile, CHILD);

function runOnce(root: string, side: 'base' | 'cur'): Record<string, number> {
  const tsx = path.join(cur, 'node_modules/.bin/tsx');
  const res = execFileSync(tsx, [childFile, root, String(steps), cases.join(',')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...sideEnv[side] },
  });
  return JSON.parse(res.trim().split('\n').pop()!);
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const res: Record<'base' | 'cur', Record<string, number>[]> = { base: [], cur: [] };
const loads: string[] = [];
for (let r = 0; r < rounds; r++) {
  for (const side of r % 2 === 0 ? (['base', 'cur'] as const) : (['cur', 'base'] as const)) {
    res[side].push(runOnce(side === 'base' ? base : cur, side));
  }
  loads.push(os.loadavg()[0]!.toFixed(1));
  console.log(`round ${r + 1}: base ${JSON.stringify(res.base[r])} cur ${JSON.stringify(res.cur[r])}`);
}
console.log(`\n1 thread, CPU ms per step (median of ${steps} steps), ${rounds} rounds, load ${loads.join(' ')}`);
console.log('case               base ms   cur ms   cur/base (median of paired ratios, min..max)');
for (const c of cases) {
  const ratios = res.cur.map((o, i) => o[c]! / res.base[i]![c]!);
  const b = med(res.base.map((o) => o[c]!));
  const k = med(res.cur.map((o) => o[c]!));
  console.log(
    `${c.padEnd(18)} ${b.toFixed(1).padStart(8)} ${k.toFixed(1).padStart(8)}   ${med(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)})`,
  );
}
