/**
 * Threads under contention: the default wasm pool against one thread on the same training steps while the bench's
 * own competitors load the machine. Scenarios (--scenarios, comma-separated): `quiet` (no competitor), `busy:N`
 * (N single-thread busy loops), `bitts:N` (N other bit-ts trainings with the default pool each: every process
 * forks and joins its own workers ~180 times a step, the case that collapsed the pool), `bittsplain:N` (the same
 * with the governor off in the competitors: the pools as they were before it), `bitts1:N` (N other trainings on one
 * thread). Each scenario alternates fresh processes: one thread, the default pool with the governor off (`plain`),
 * the default pool (`default`), for --rounds rounds; a row gives each side's median ms and the median of the paired
 * ratios side / one thread (> 1: slower than one thread) with its min-max.
 *
 *   npx tsx bench/contention.ts [--scenarios quiet,busy:2,bitts:1,bitts:2] [--cases bit-tiny:32,bit-small:32]
 *     [--rounds 3] [--steps 5] [--save bench/results/FILE.json]
 * Loaded machines are noisy: read the ratio, not the ms, and the load printed beside each scenario.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const root = path.resolve(import.meta.dirname, '..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const child = path.join(root, 'bench/contention-child.ts');
const scenarios = opt('scenarios', 'quiet,busy:2,bitts:1,bitts:2').split(',');
const cases = opt('cases', 'bit-tiny:32,bit-small:32').split(',');
const rounds = Number(opt('rounds', '3'));
const steps = Number(opt('steps', '5'));

type Res = Record<string, { first: number; median: number; min: number; max: number }>;
interface Run {
  scenario: string;
  round: number;
  side: Side;
  threads: number;
  load: number[];
  res: Res;
  sync: unknown;
}

/** Start the competitors of `scenario`; returns them (killed by pid after the scenario). */
function startCompetitors(scenario: string): ChildProcess[] {
  const [kind, nStr] = scenario.split(':');
  const n = Number(nStr ?? '0');
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    if (kind === 'busy') procs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    else if (kind === 'bitts' || kind === 'bittsplain' || kind === 'bitts1') {
      const a = [child, kind === 'bitts1' ? '1' : '0', '3', 'bit-tiny:32', '--forever'];
      if (kind === 'bittsplain') a.push('--plain');
      // node itself with tsx's loader, not the tsx wrapper: killing the wrapper would leave its node child running
      procs.push(spawn(process.execPath, ['--import', 'tsx', ...a], { cwd: root, stdio: 'ignore' }));
    }
  }
  return procs;
}

type Side = 'one' | 'plain' | 'default';
const SIDES: readonly Side[] = ['one', 'plain', 'default'];

function timeOnce(side: Side): { res: Res; sync: unknown; threads: number } {
  const a = [child, side === 'one' ? '1' : '0', String(steps), cases.join(',')];
  if (side === 'plain') a.push('--plain');
  const out = execFileSync(tsx, a, {
    cwd: root,
    encoding: 'utf8',
  });
  const j = JSON.parse(out.trim().split('\n').pop()!) as { cases: Res; sync: unknown; threads: number };
  return { res: j.cases, sync: j.sync, threads: j.threads };
}

const runs: Run[] = [];
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
let defaultThreads = 0;
console.log(`cpu: ${os.cpus()[0]?.model} x${os.cpus().length}`);
for (const scenario of scenarios) {
  const procs = startCompetitors(scenario);
  try {
    if (procs.length > 0) execFileSync('sleep', ['4']); // let the competitors reach their steady loop
    for (let r = 0; r < rounds; r++) {
      for (const side of SIDES) {
        const t = timeOnce(side);
        if (side === 'default') defaultThreads = t.threads;
        runs.push({ scenario, round: r, side, threads: t.threads, load: os.loadavg(), res: t.res, sync: t.sync });
      }
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
  const load = runs.filter((x) => x.scenario === scenario).map((x) => x.load[0]!);
  console.log(`\n${scenario} (load ${Math.min(...load).toFixed(1)}-${Math.max(...load).toFixed(1)})`);
  console.log('case            1 thread ms   plain ms  plain/1 (min-max)   default ms  default/1 (min-max)');
  const of = (side: Side, c: string) =>
    runs.filter((x) => x.scenario === scenario && x.side === side).map((x) => x.res[c]!.median);
  for (const c of cases) {
    const one = of('one', c);
    const cols = (['plain', 'default'] as const).map((side) => {
      const ms = of(side, c);
      const ratios = one.map((o, i) => ms[i]! / o);
      const spread = `(${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;
      return `${med(ms).toFixed(1).padStart(10)}  ${med(ratios).toFixed(2)} ${spread.padEnd(12)}`;
    });
    console.log(`${c.padEnd(15)} ${med(one).toFixed(1).padStart(11)} ${cols.join('   ')}`);
  }
}
const save = opt('save', '');
if (save) {
  const info = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, defaultThreads, rounds, steps, cases };
  writeFileSync(save, `${JSON.stringify({ ...info, runs }, null, 1)}\n`);
}
