/**
 * Threads under contention (issue 24): the default wasm pool against one thread on the same training steps while
 * the bench's own competitors load the machine. Target: on every step row and every competitor set the default
 * thread count is at most 10% slower than one thread (ratio default / one <= 1.10).
 *
 * Competitor sets (--scenarios, comma-separated): `quiet`; `busy:N` (N single-thread busy loops); `bitts:N` (N other
 * bit-ts trainings with the default pool each: every process forks and joins its own workers ~180 times a step,
 * the case that collapsed the plain pool); `bittsplain:N` (the same with the governor off in the competitors: the
 * pools as they were before it); `bitts1:N` (N other trainings on one thread); `loader:N` (N worker threads inside
 * the timed process, busy 5 ms / idle 5 ms, standing in for a data loader's decode workers beside the pool). The
 * competitors start first and run for the whole scenario (killed by pid afterwards).
 *
 * Statistics: per scenario, --procs fresh processes (bench/contention-child.ts); each holds one backend per side
 * (`one`, `default`, `plain`, optionally `percall` / `window`: --sides) with the same training step on each, warms
 * every side up (excluded), then runs --rounds rounds; a round times a block of steps per side (~250 ms of work,
 * the block's median kept) after a settle pause, the side order rotating per round. A cell is the median over
 * rounds (and processes) of the paired ratio side / one (> 1: slower than one thread) with its min-max.
 *
 *   npx tsx bench/contention.ts [--scenarios quiet,busy:1,busy:2,bitts:1,bitts:2,loader:2]
 *     [--cases bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128 | all] [--sides one,default,plain]
 *     [--rounds 7] [--procs 1] [--save bench/results/FILE.json]
 * `--cases all` adds the R50x1 rows (32 px b32, 128 px b8: minutes per scenario under load).
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
const child = path.join(root, 'bench/contention-child.ts');
const SMALL = 'bit-tiny:32,bit-tiny:128,bit-small:32,bit-small:128';
const scenarios = opt('scenarios', 'quiet,busy:1,busy:2,bitts:1,bitts:2,loader:2').split(',');
const casesOpt = opt('cases', SMALL);
const cases = (casesOpt === 'all' ? `${SMALL},BiT-R50x1:32:32,BiT-R50x1:8:128` : casesOpt).split(',');
const sides = opt('sides', 'one,default,plain').split(',');
if (sides[0] !== 'one') throw new Error('contention: --sides must start with one (the baseline)');
const rounds = Number(opt('rounds', '7'));
const procs = Number(opt('procs', '1'));

/** Start the competitors of `scenario` (node itself with tsx's loader, so a kill by pid stops the process). */
function startCompetitors(scenario: string): ChildProcess[] {
  const [kind, nStr] = scenario.split(':');
  const n = Number(nStr ?? '0');
  const out: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    if (kind === 'busy') out.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    else if (kind === 'bitts' || kind === 'bittsplain' || kind === 'bitts1') {
      const a = [child, '--forever', kind === 'bitts1' ? '1' : '0'];
      if (kind === 'bittsplain') a.push('--plain');
      out.push(spawn(process.execPath, ['--import', 'tsx', ...a], { cwd: root, stdio: 'ignore' }));
    } else if (kind !== 'quiet' && kind !== 'loader') throw new Error(`contention: unknown scenario ${scenario}`);
  }
  return out;
}

interface ChildOut {
  cases: Record<string, Record<string, { rounds: number[]; per: number }>>;
  sync: Record<string, unknown>;
}

const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const results: { scenario: string; load: number[]; out: ChildOut }[] = [];
/** ratios[scenario][case][side] = paired ratios side / one over every round of every process. */
const ratios = new Map<string, Map<string, Map<string, number[]>>>();
console.log(`cpu: ${os.cpus()[0]?.model} x${os.cpus().length}; rounds ${rounds} x procs ${procs}; sides ${sides}`);
for (const scenario of scenarios) {
  const comp = startCompetitors(scenario);
  const perCase = new Map<string, Map<string, number[]>>();
  ratios.set(scenario, perCase);
  try {
    if (comp.length > 0) execFileSync('sleep', ['4']); // let the competitors reach their steady loop
    for (let p = 0; p < procs; p++) {
      const load0 = os.loadavg()[0]!;
      const txt = execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          child,
          cases.join(','),
          String(rounds),
          '--sides',
          sides.join(','),
          ...(scenario.startsWith('loader:') ? ['--loader', scenario.split(':')[1]!] : []),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      const out = JSON.parse(txt.trim().split('\n').pop()!) as ChildOut;
      results.push({ scenario, load: [load0, os.loadavg()[0]!], out });
      for (const c of cases) {
        const one = out.cases[c]!.one!.rounds;
        const m = perCase.get(c) ?? new Map<string, number[]>();
        perCase.set(c, m);
        for (const s of sides.slice(1)) {
          const v = out.cases[c]![s]!.rounds;
          m.set(s, [...(m.get(s) ?? []), ...v.map((x, i) => x / one[i]!)]);
        }
      }
    }
  } finally {
    for (const p of comp) p.kill('SIGKILL');
  }
  const loads = results.filter((r) => r.scenario === scenario).flatMap((r) => r.load);
  console.log(`${scenario}: load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`);
}

const cell = (v: number[] | undefined) =>
  v && v.length > 0 ? `${med(v).toFixed(2)} (${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})` : '-';
for (const s of sides.slice(1)) {
  console.log(`\nratio ${s} / one thread, median of paired rounds (min-max); <= 1.10 is the target for default`);
  console.log(`| case | ${scenarios.join(' | ')} |`);
  console.log(`|---|${scenarios.map(() => '---|').join('')}`);
  for (const c of cases) {
    console.log(`| ${c} | ${scenarios.map((sc) => cell(ratios.get(sc)?.get(c)?.get(s))).join(' | ')} |`);
  }
}
const oneMs = (sc: string, c: string) =>
  med(results.filter((r) => r.scenario === sc).flatMap((r) => r.out.cases[c]!.one!.rounds));
console.log('\none thread ms (median), for scale');
for (const c of cases) console.log(`${c.padEnd(18)} ${scenarios.map((sc) => oneMs(sc, c).toFixed(1)).join('  ')}`);

const save = opt('save', '');
if (save) {
  const info = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, rounds, procs, cases, sides, scenarios };
  writeFileSync(save, `${JSON.stringify({ ...info, date: new Date().toISOString(), results }, null, 1)}\n`);
}
