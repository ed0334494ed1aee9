/**
 * A/B of the inference forward (js-peers' `ours-infer` work: model in eval mode, `noGrad(tidy(forward))`, logits read
 * back) between two checkouts or two environments of one checkout: alternating rounds base, cur, base, cur, ... each
 * a fresh process that times `--reps` steady forwards after one warm-up; prints every round, each side's median over
 * rounds and the median of the per-round paired ratios cur/base (< 1: cur faster), with the load average. The
 * logits of both sides must agree exactly unless --allow-diff (a change that must not move a bit). Each round also
 * reports the process's CPU time per forward (all threads: on one thread a measure of work that a busy machine
 * disturbs less than wall time; with a pool it includes the workers' spinning).
 *
 *   npx tsx bench/ab-infer.ts --base /path/to/base/checkout [--cur .] [--rounds 5] [--reps 5]
 *     [--model BiT-R50x1] [--batch 8] [--px 128] [--threads N] [--base-env K=V,...] [--cur-env K=V,...] [--save FILE]
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { abCheckouts, args, opt } from './cli-args.js';

const { base, cur, sideEnv } = abCheckouts();
const rounds = Number(opt('rounds', '5'));
const reps = Number(opt('reps', '5'));
const model = opt('model', 'BiT-R50x1');
const batch = opt('batch', '8');
const px = opt('px', '128');
const threads = opt('threads', '');

// the same deterministic input as bench/js-peers.ts
const CHILD = `
const [root, reps, model, batch, px, threads] = process.argv.slice(2);
const { useBackend } = await import(root + '/src/tensor/backends/registry.ts');
const { createModel } = await import(root + '/src/models/index.ts');
const F = await import(root + '/src/tensor/index.ts');
const b = await useBackend('wasm', threads ? { threads: Number(threads) } : {}); await b.ready;
const n = Number(batch), p = Number(px);
const v = new Float32Array(n * 3 * p * p);
for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.7311) * 1.5;
const net = createModel(model, { numClasses: 10, seed: 0 }).eval();
const x = F.fromTyped(v, [n, 3, p, p]);
const call = async () => { const y = F.noGrad(() => F.tidy(() => net.forward(x))); const d = await y.data(); y.dispose(); return d; };
let t = performance.now(); const logits = Array.from((await call()).slice(0, 20)); const first = performance.now() - t;
const ms = [], cpu = [];
for (let i = 0; i < Number(reps); i++) {
  const c0 = process.cpuUsage(); t = performance.now(); await call(); ms.push(performance.now() - t);
  const c = process.cpuUsage(c0); cpu.push((c.user + c.system) / 1000);
}
const mid = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(JSON.stringify({ first, median: mid(ms), min: Math.min(...ms), cpu: mid(cpu), logits, threads: b.threads }));
process.exit(0);
`;
const childFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'bit-ts-ab-infer-')), 'child.mts');
writeFileSync(childFile, CHILD);

interface Res {
  first: number;
  median: number;
  min: number;
  /** Median CPU ms (user + system, every thread of the process) per forward. */
  cpu: number;
  logits: number[];
  threads: number;
}

function runOnce(root: string, side: 'base' | 'cur'): Res {
  const tsx = path.join(cur, 'node_modules/.bin/tsx');
  const out = execFileSync(tsx, [childFile, root, String(reps), model, batch, px, threads], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...sideEnv[side] },
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

const load = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');
const rows: { round: number; load: string; base: Res; cur: Res }[] = [];
for (let r = 0; r < rounds; r++) {
  const l = load();
  const b = runOnce(base, 'base');
  const c = runOnce(cur, 'cur');
  const diff = Math.max(...b.logits.map((v, i) => Math.abs(v - c.logits[i]!)));
  if (diff !== 0 && !args.includes('--allow-diff')) {
    throw new Error(`ab-infer: logits differ by up to ${diff} between base and cur (pass --allow-diff if expected)`);
  }
  rows.push({ round: r, load: l, base: b, cur: c });
  console.log(
    `round ${r + 1} (load ${l}): base ${b.median.toFixed(1)} ms (cpu ${b.cpu.toFixed(0)}), cur ${c.median.toFixed(1)} ms ` +
      `(cpu ${c.cpu.toFixed(0)}), cur/base ${(c.median / b.median).toFixed(3)} (cpu ${(c.cpu / b.cpu).toFixed(3)})`,
  );
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const ratios = rows.map((r) => r.cur.median / r.base.median);
const cpuRatios = rows.map((r) => r.cur.cpu / r.base.cpu);
console.log(
  `\n${model} b${batch} ${px}px, ${rows[0]?.base.threads} thread(s), ${rounds} rounds x ${reps} reps: base ${med(rows.map((r) => r.base.median)).toFixed(1)} ms, ` +
    `cur ${med(rows.map((r) => r.cur.median)).toFixed(1)} ms; cur/base time: median ${med(ratios).toFixed(3)} ` +
    `(min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}); cpu time cur/base median ` +
    `${med(cpuRatios).toFixed(3)}; load at end ${load()}`,
);
const save = opt('save', '');
if (save) writeFileSync(save, `${JSON.stringify({ base, cur, model, batch, px, reps, rows }, null, 1)}\n`);
