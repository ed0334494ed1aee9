/**
 * One protocol run executed and recorded: `recordRun` trains it (RunDef.exec through src/train's `train()`),
 * then writes `<results>/<id>.json` atomically (temp file + rename). The local driver (experiments/reproduce.ts)
 * and the queue worker (experiments/queue/worker.ts) both call it, so a result JSON has the same fields
 * wherever it was computed. `collectReport` is the end of a protocol (hyperrule.json, tables, plots, summary).
 * Invariants: a result's science (config, seed, data, accuracy, losses) is a function of the run's settings
 * only; the fields that describe the machine (backend, threads, worker, wallS, finishedAt, images/s) are listed
 * in MACHINE_FIELDS so comparisons can drop exactly those.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Context, RunDef } from './protocol.js';
import { hyperRuleReport, writeReport } from './report.js';
import type { Settings } from './settings.js';

/** Write JSON to `file` through a temp file and a rename (readers never see half a file). */
export function writeJsonAtomic(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(v, null, 1)}\n`);
  fs.renameSync(tmp, file);
}

/** Top-level result fields that say where and how fast a run was computed (not what it computed). */
export const MACHINE_FIELDS = ['wallS', 'finishedAt', 'worker', 'backend', 'threads'] as const;
/** Fields of `result.train` that are timings. */
export const MACHINE_TRAIN_FIELDS = ['imagesPerS', 'wallS'] as const;

/**
 * Run `r` (its prerequisites must already have results) and write its result JSON.
 * @returns the result object written.
 * @throws RunInterrupted when the context's stop request (or Ctrl-C) interrupted it; whatever the run threw.
 */
export async function recordRun(ctx: Context, r: RunDef, worker = ''): Promise<Record<string, unknown>> {
  ctx.log(`[${r.id}] start`);
  const t = performance.now();
  const out = await r.exec(ctx);
  const wallS = (performance.now() - t) / 1000;
  const result = {
    id: r.id,
    experiment: r.experiment,
    quick: ctx.s.quick,
    backend: ctx.backend,
    // wasm worker threads (the calling one included) of the backend that computed it; see docs/architecture.md
    // "Queue layer" on when thread counts can change numbers
    threads: ctx.threads ?? 1,
    ...(worker ? { worker } : {}),
    wallS,
    finishedAt: new Date().toISOString(),
    ...out,
  };
  writeJsonAtomic(path.join(ctx.paths.results, `${r.id}.json`), result);
  const acc =
    typeof out.accuracy === 'number' ? `accuracy ${out.accuracy.toFixed(2)}% on ${out.evalCount} images` : 'skipped';
  ctx.log(`[${r.id}] ${acc}, ${wallS.toFixed(1)} s`);
  return result;
}

/** The end of a protocol: hyperrule.json, then the tables, plots and summary from the result JSONs. */
export async function collectReport(
  s: Settings,
  results: string,
  imgDir: string,
  log: (m: string) => void,
): Promise<void> {
  writeJsonAtomic(path.join(results, 'hyperrule.json'), hyperRuleReport(s).json);
  await writeReport(s, results, imgDir, log);
}

/**
 * What a result says about the science: the result without MACHINE_FIELDS and train timings, with the run
 * folders' root (which differs between a local work folder and a queue's store) written as `<runs>`.
 * Two runs of the same settings on equal thread counts give deep-equal projections.
 */
export function scienceOf(result: Record<string, unknown>, runsRoot: string): unknown {
  const copy = JSON.parse(JSON.stringify(result).split(JSON.stringify(runsRoot).slice(1, -1)).join('<runs>'));
  for (const k of MACHINE_FIELDS) delete copy[k];
  if (copy.train) for (const k of MACHINE_TRAIN_FIELDS) delete copy.train[k];
  return copy;
}
