/**
 * `bit-ts reproduce <name> [--quick] [--out DIR] [--work DIR] [--data DIR]`: small-scale reproductions of the
 * BiT paper's claims (issue 16; docs/reproductions.md), every run trained through src/train. Names: all |
 * upstream | grid | fewshot | full | head | schedule | table4 (run those experiments; a run's prerequisites
 * run first when missing), publish (copy the checkpoints behind the tables to experiments/checkpoints/ and
 * write the table of `bit-ts validate` lines, each checked), report (tables + plots from the result JSONs),
 * estimate (the protocol's wall time from measured speeds: --speed, --ft_speed, --t4_speed, --t4_bn_speed), speed (measure candidate
 * upstream models' training speed on the real pipeline: --steps N, --models SUBSTRING, --batch B), hyperrule (print the rule's choices),
 * cache (decode the data once), status / collect (the queue's state; the report from a store's results).
 * With `--queue redis://HOST:PORT/DB --store DIR` the runs go to a BullMQ queue for `bit-ts worker`s on any
 * number of machines instead of running here (experiments/queue; README "Many machines"). `--threads N` sizes
 * the wasm backend (recorded in each result); `--settings FILE.json` overrides protocol numbers.
 *
 * Each finished run writes `<out>/<id>.json` at once; runs whose JSON exists are skipped, and an interrupted
 * run (Ctrl-C) resumes from its periodic checkpoint, so the protocol runs in as many sittings as needed.
 * Defaults: full protocol -> out experiments/results/v2, work (caches, run folders) runs/repro2; --quick ->
 * runs/repro2-quick/{results,work}. Exit codes: 0 done, 2 bad usage, 3 shared data absent, 130 interrupted.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkFlags, REPRODUCE_FLAGS } from '../src/cli/flags.js';
import { disposeBackends, useBackend } from '../src/tensor/backends/registry.js';
import { estimate, MEASURED } from './lib/estimate.js';
import { missingData, protocolPaths } from './lib/paths.js';
import {
  type Context,
  EXPERIMENTS,
  type Paths,
  prepare,
  type RunDef,
  RunInterrupted,
  readResult,
} from './lib/protocol.js';
import { publish } from './lib/publish.js';
import { collectReport, recordRun } from './lib/record.js';
import { hyperRuleReport, writeReport } from './lib/report.js';
import { protocolRuns } from './lib/runs.js';
import { loadSettings } from './lib/settings-file.js';
import { candidates, measureSpeed } from './lib/speed.js';
import { queueCommand } from './queue/command.js';

const NAMES = [
  'all',
  ...EXPERIMENTS,
  'publish',
  'report',
  'estimate',
  'speed',
  'hyperrule',
  'cache',
  'status',
  'collect',
];

/** argv -> name and flags; an option reproduce does not read is a ConfigError (src/cli/flags.ts). */
function parse(argv: string[]) {
  const flags: Record<string, string | boolean> = {};
  const pos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') flags.quick = true;
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else flags[a.slice(2)] = argv[++i] ?? '';
    } else pos.push(a);
  }
  checkFlags('reproduce', Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, String(v)])), {
    own: REPRODUCE_FLAGS,
    configKeys: false,
  });
  return { name: pos[0] ?? '', flags };
}

/**
 * Ctrl-C for the whole command: the first one lets the current run write its checkpoint (train() handles it)
 * and stops before the next run, whatever point the protocol is at (a request that arrives during a run's last
 * step, its evaluation or between runs is never lost); a second one exits at once (130).
 */
export function interruptGuard(log: (m: string) => void): { requested: () => boolean; release: () => void } {
  let n = 0;
  const on = () => {
    n++;
    if (n === 1) log('interrupt: stopping after the current run step (Ctrl-C again exits at once)');
    else process.exit(130);
  };
  process.on('SIGINT', on);
  return { requested: () => n > 0, release: () => process.removeListener('SIGINT', on) };
}

/** Sum of the measured wall time (s) of the result JSONs in `dir`, and how many there are. */
function measuredWall(dir: string): { s: number; n: number } {
  let s = 0;
  let n = 0;
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!f.endsWith('.json')) continue;
    try {
      const j = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { wallS?: unknown };
      if (typeof j.wallS === 'number') {
        s += j.wallS;
        n++;
      }
    } catch {
      // not a result file
    }
  }
  return { s, n };
}

/** Runs `r` after its missing prerequisites (a result JSON absent, or its artifact gone); counts runs done. */
async function ensure(ctx: Context, r: RunDef, byId: Map<string, RunDef>, done: { n: number }): Promise<void> {
  const dir = ctx.paths.results;
  for (const d of r.deps) {
    const dep = byId.get(d)!;
    const missing = !readResult(dir, d) || (dep.artifact && !fs.existsSync(dep.artifact(ctx)));
    if (missing) await execute(ctx, dep, byId, done);
  }
}

async function execute(ctx: Context, r: RunDef, byId: Map<string, RunDef>, done: { n: number }): Promise<void> {
  await ensure(ctx, r, byId, done);
  await recordRun(ctx, r);
  done.n++;
}

/** Run the command; returns the exit code. */
export async function reproduce(argv: string[], log: (m: string) => void = console.log): Promise<number> {
  const { name, flags } = parse(argv);
  if (!NAMES.includes(name)) {
    log(`usage: ${REPRODUCE_HELP}`);
    return 2;
  }
  const s = loadSettings(Boolean(flags.quick), flags.settings ? String(flags.settings) : undefined);
  const paths: Paths = protocolPaths(flags, s.quick);
  const imgDir = flags.quick ? paths.results : path.resolve('docs', 'img');
  if (flags.queue || name === 'status' || name === 'collect')
    return queueCommand(name, flags, s, paths, imgDir, protocolRuns(s), log);
  if (name === 'hyperrule') {
    log(hyperRuleReport(s).text);
    return 0;
  }
  if (name === 'estimate') {
    const sp = (k: string, d: number) => Number(flags[k] || d);
    const speeds = {
      up: sp('speed', MEASURED.up),
      ft: sp('ft_speed', MEASURED.ft),
      t4: sp('t4_speed', MEASURED.t4),
      t4bn: sp('t4_bn_speed', MEASURED.t4bn),
    };
    log(estimate(s, protocolRuns(s), speeds).text);
    const m = measuredWall(paths.results);
    if (m.n > 0)
      log(
        `\nmeasured: the ${m.n} runs in ${paths.results} took ${(m.s / 60).toFixed(0)} min of training and evaluation ` +
          `(their wallS; data decoding not included): the README's figure. The estimate above assumes the speeds ` +
          `given (defaults measured under load 5-6); pass --speed etc. measured on a quiet machine to compare`,
      );
    return 0;
  }
  if (name === 'report') {
    await writeReport(s, paths.results, imgDir, log);
    return 0;
  }
  if (name === 'all' || (EXPERIMENTS as readonly string[]).includes(name)) {
    const runs = protocolRuns(s).filter((r) => name === 'all' || r.experiment === name);
    if (runs.every((r) => readResult(paths.results, r.id))) {
      // a fresh clone: every result is committed; rewriting the tracked report and plots would change nothing
      log(
        `all ${runs.length} runs of '${name}' already have results in ${paths.results}: nothing to run, nothing ` +
          `rewritten. To run them again from scratch: bit-ts reproduce ${name}${flags.quick ? ' --quick' : ''} ` +
          `--out DIR [--work DIR] (bit-ts reproduce report rewrites the tables and plots from the results)`,
      );
      return 0;
    }
  }
  const absent = missingData(paths);
  if (absent) {
    log(`skipped: ${absent} is absent (the shared data lives in ../shared/data; see docs/reproductions.md)`);
    return 3;
  }
  const threads = Number(flags.threads || 0);
  const backend = await useBackend('wasm', threads > 0 ? { threads } : {});
  const t0 = performance.now();
  const ctx: Context = prepare(s, paths, 'wasm', log);
  ctx.threads = 'threads' in backend ? Number(backend.threads) : 1;
  log(
    `data ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: Tiny ImageNet ${ctx.tiny.length} / val ${ctx.tinyVal.length}, CIFAR-10 ${ctx.cifarTrain.length} train / ${ctx.cifarEval.length} eval / ${ctx.cifarPilot.length} pilot, Imagenette ${ctx.inetteTrain.length} train / ${ctx.inetteVal.length} val`,
  );
  if (name === 'cache') return 0;
  if (name === 'speed') {
    log(
      await measureSpeed(
        ctx,
        candidates(String(flags.models || '')),
        Number(flags.steps || (s.quick ? 2 : 20)),
        Number(flags.batch || s.upstreams.tiny.batch),
      ),
    );
    return 0;
  }
  const checkpoints = flags.checkpoints
    ? path.resolve(String(flags.checkpoints))
    : path.resolve('experiments', 'checkpoints');
  if (name === 'publish')
    return (await publish(ctx, flags.quick ? path.join(paths.results, 'checkpoints') : checkpoints)) ? 0 : 1;
  const all = protocolRuns(s);
  const byId = new Map(all.map((r) => [r.id, r]));
  const runs = all.filter((r) => name === 'all' || r.experiment === name);
  const done = { n: 0 };
  const todo = runs.filter((r) => !readResult(paths.results, r.id));
  const guard = interruptGuard(log);
  try {
    for (const r of todo) {
      if (guard.requested()) throw new RunInterrupted(r.id, `interrupted before run ${r.id}`);
      if (readResult(paths.results, r.id)) continue; // written as another run's prerequisite
      await execute(ctx, r, byId, done);
    }
    if (guard.requested()) throw new RunInterrupted('', 'interrupted after the last run');
  } catch (e) {
    if (!(e instanceof RunInterrupted)) throw e;
    log(`${e.message}\nstopped: ${done.n} runs finished in this sitting; rerun the same command to continue`);
    return 130;
  } finally {
    guard.release();
  }
  log(
    `${done.n} runs finished, ${runs.length - done.n} were already done; total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  await collectReport(s, paths.results, imgDir, log);
  const pubDir = flags.quick ? path.join(paths.results, 'checkpoints') : checkpoints;
  if (name === 'all' && (done.n > 0 || !fs.existsSync(path.join(pubDir, 'checkpoints.md')))) {
    if (!(await publish(ctx, pubDir))) return 1;
  }
  return 0;
}

/**
 * Adapter for the `bit-ts` CLI (src/cli/main.ts COMMANDS): `bit-ts reproduce <name> [--quick] [--out DIR]`.
 * Takes src/cli/args.ts's parsed `{positional, flags}` (pass 'quick' among its booleans).
 */
export function reproduceCommand(a: { positional: string[]; flags: Record<string, string> }): Promise<number> {
  const argv = [...a.positional];
  for (const [k, v] of Object.entries(a.flags))
    argv.push(...(k === 'quick' ? (v === 'false' ? [] : ['--quick']) : [`--${k}`, v]));
  return reproduce(argv);
}

export const REPRODUCE_HELP = `bit-ts reproduce <${NAMES.join('|')}> [--quick] [--out DIR] [--work DIR] [--data DIR] [--speed IMG_PER_S] [--threads N] [--settings FILE.json] [--queue redis://HOST:PORT/DB --store DIR]`;

const isEntry = process.argv[1] && /reproduce\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  reproduce(process.argv.slice(2)).then(
    (code) => {
      disposeBackends();
      process.exitCode = code;
    },
    (e) => {
      console.error(e);
      disposeBackends();
      process.exitCode = 1;
    },
  );
}
