/**
 * `npx tsx experiments/reproduce.ts <name> [--quick] [--out DIR] [--work DIR] [--data DIR]`: small-scale
 * reproductions of the BiT paper's claims (issue 8; docs/reproductions.md). Names: all | upstream | pilot |
 * fewshot | head | table4 | long (run those experiments; a run's prerequisites run when missing), hyperrule (print the
 * HyperRule's choices), report (tables + plots from the result JSONs), cache (decode the data once).
 *
 * Each finished run writes `<out>/<id>.json` at once (config, seed, accuracy, wall time, images/s, backend);
 * runs whose JSON exists are skipped, so a long protocol runs in pieces. Defaults: full protocol -> out
 * experiments/results, work (caches, checkpoints) runs/repro; --quick -> runs/repro-quick/{results,work}.
 * Exit codes: 0 done, 2 bad usage, 3 shared data absent (skipped, with the reason printed).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { disposeBackends, useBackend } from '../src/tensor/backends/registry.js';
import { type Context, type Paths, prepare, readResult } from './lib/protocol.js';
import { hyperRuleReport, writeReport } from './lib/report.js';
import { protocolRuns } from './lib/runs.js';
import { FULL, QUICK } from './lib/settings.js';

const NAMES = ['all', 'upstream', 'pilot', 'fewshot', 'head', 'table4', 'long', 'hyperrule', 'report', 'cache'];

function parse(argv: string[]) {
  const flags: Record<string, string | boolean> = {};
  const pos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') flags.quick = true;
    else if (a.startsWith('--')) flags[a.slice(2)] = argv[++i] ?? '';
    else pos.push(a);
  }
  return { name: pos[0] ?? '', flags };
}

function writeJsonAtomic(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(v, null, 1)}\n`);
  fs.renameSync(tmp, file);
}

/** Run the command; returns the exit code. */
export async function reproduce(argv: string[], log: (m: string) => void = console.log): Promise<number> {
  const { name, flags } = parse(argv);
  if (!NAMES.includes(name)) {
    log(`usage: reproduce.ts <${NAMES.join('|')}> [--quick] [--out DIR] [--work DIR] [--data DIR]`);
    return 2;
  }
  const s = flags.quick ? QUICK : FULL;
  const def = flags.quick ? 'runs/repro-quick' : 'runs/repro';
  const data = String(flags.data || path.resolve('..', 'shared', 'data'));
  const paths: Paths = {
    cifarTar: path.resolve(data, 'cifar10', 'train.tar'),
    imagenetteTar: path.resolve(data, 'imagenette', 'train.tar'),
    results: path.resolve(String(flags.out || (flags.quick ? `${def}/results` : 'experiments/results'))),
    work: path.resolve(String(flags.work || (flags.quick ? `${def}/work` : def))),
  };
  if (name === 'hyperrule') {
    const h = hyperRuleReport(s);
    log(h.text);
    writeJsonAtomic(path.join(paths.results, 'hyperrule.json'), h.json);
    return 0;
  }
  if (name === 'report') {
    await writeReport(s, paths.results, flags.quick ? paths.results : path.resolve('docs', 'img'), log);
    return 0;
  }
  for (const f of [paths.cifarTar, paths.imagenetteTar]) {
    if (!fs.existsSync(f)) {
      log(`skipped: ${f} is absent (the shared data lives in ../shared/data; see docs/reproductions.md)`);
      return 3;
    }
  }
  await useBackend('wasm');
  const backend = 'wasm';
  const t0 = performance.now();
  const ctx: Context = prepare(s, paths, backend, log);
  log(
    `data ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: CIFAR-10 ${ctx.cifarTrain.length} train / ${ctx.cifarEval.length} eval, Imagenette ${ctx.inetteTrain.length} train / ${ctx.inetteVal.length} val`,
  );
  if (name === 'cache') return 0;
  const runs = protocolRuns(s).filter(
    (r) => name === 'all' || r.experiment === name || r.experiment === 'upstream' || r.experiment === 'pilot',
  );
  let done = 0;
  for (const r of runs) {
    if (readResult(paths.results, r.id)) continue;
    log(`[${r.id}] start`);
    const t = performance.now();
    const out = await r.exec(ctx);
    const wallS = (performance.now() - t) / 1000;
    const result = {
      id: r.id,
      experiment: r.experiment,
      quick: s.quick,
      backend,
      threads: 'all cores',
      wallS,
      finishedAt: new Date().toISOString(),
      ...out,
    };
    writeJsonAtomic(path.join(paths.results, `${r.id}.json`), result);
    log(`[${r.id}] accuracy ${(out.accuracy as number).toFixed(2)}% on ${out.evalCount} images, ${wallS.toFixed(1)} s`);
    done++;
  }
  log(
    `${done} runs finished, ${runs.length - done} were already done; total ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  writeJsonAtomic(path.join(paths.results, 'hyperrule.json'), hyperRuleReport(s).json);
  await writeReport(s, paths.results, flags.quick ? paths.results : path.resolve('docs', 'img'), log);
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

export const REPRODUCE_HELP =
  'bit-ts reproduce <all|upstream|pilot|fewshot|head|table4|long|hyperrule|report|cache> [--quick] [--out DIR] [--work DIR] [--data DIR]';

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
