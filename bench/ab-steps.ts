/**
 * A/B of training steps between two checkouts of bit-ts (e.g. a base commit in a git worktree and the working
 * tree): alternating rounds base, cur, base, cur, ... each a fresh process timing `--steps` steady steps of every
 * (model, batch) after one first step; prints the median per side and the ratio. The machine is noisy, so only
 * rounds run back to back are compared.
 *
 *   npx tsx bench/ab-steps.ts --base /path/to/base/checkout [--rounds 5] [--steps 7]
 *     [--cases bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128,BiT-R50x1:8:128] [--save FILE]
 * A case is model:batch[:px] (px 32 by default).
 * --base-env / --cur-env K=V[,K=V] set environment variables for one side's processes, so one checkout can be
 * A/B'd against itself with a switch, e.g. `--base-env BIT_WINOGRAD=0 --cur-env BIT_WINOGRAD=auto`.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { abCheckouts, opt } from './cli-args.js';

const { base, cur, sideEnv } = abCheckouts();
const rounds = Number(opt('rounds', '5'));
const steps = Number(opt('steps', '7'));
const cases = opt('cases', 'bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128').split(',');

// one child process: times the steps of every case in the checkout at `root`, prints JSON
const CHILD = `
const root = process.argv[2]; const steps = Number(process.argv[3]); const cases = process.argv[4].split(',');
const { useBackend } = await import(root + '/src/tensor/backends/registry.ts');
const { makeTrainStep } = await import(root + '/bench/step.ts');
const b = await useBackend('wasm'); await b.ready;
const out = {};
for (const c of cases) {
  const [model, batch, px] = c.split(':');
  const { step, dispose } = makeTrainStep(model, Number(batch), Number(px ?? 32));
  let t = performance.now(); await step(); const first = performance.now() - t;
  const ms = [];
  for (let i = 0; i < steps; i++) { t = performance.now(); await step(); ms.push(performance.now() - t); }
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

function runOnce(root: string, side: 'base' | 'cur'): Record<string, { first: number; median: number }> {
  const tsx = path.join(cur, 'node_modules/.bin/tsx');
  const res = execFileSync(tsx, [childFile, root, String(steps), cases.join(',')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...sideEnv[side] },
  });
  return JSON.parse(res.trim().split('\n').pop()!);
}

const rows: { side: string; round: number; load: string; res: Record<string, { first: number; median: number }> }[] =
  [];
for (let r = 0; r < rounds; r++) {
  for (const [side, root] of [
    ['base', base],
    ['cur', cur],
  ] as const) {
    const res = runOnce(root, side);
    rows.push({
      side,
      round: r,
      load: os
        .loadavg()
        .map((v) => v.toFixed(1))
        .join(' '),
      res,
    });
    const sync = (res as unknown as { sync?: { calls: number; takenOver: number } }).sync;
    const taken = sync ? ` (shares taken over by the calling thread: ${sync.takenOver}/${sync.calls})` : '';
    console.log(`${side} round ${r + 1}: ${cases.map((c) => `${c} ${res[c]!.median.toFixed(1)}`).join(', ')}${taken}`);
  }
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
console.log('\ncase               base ms   cur ms   cur/base time');
for (const c of cases) {
  const b = med(rows.filter((x) => x.side === 'base').map((x) => x.res[c]!.median));
  const u = med(rows.filter((x) => x.side === 'cur').map((x) => x.res[c]!.median));
  console.log(`${c.padEnd(18)} ${b.toFixed(1).padStart(8)} ${u.toFixed(1).padStart(8)}   ${(u / b).toFixed(2)}`);
}
const save = opt('save', '');
if (save)
  writeFileSync(save, `${JSON.stringify({ base, cur, rounds, steps, cpu: os.cpus()[0]?.model, rows }, null, 1)}\n`);
