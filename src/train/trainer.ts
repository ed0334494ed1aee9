/**
 * `train(cfg)`: wires config -> data -> run folder store -> the platform-free training core (src/train/core, the
 * same Trainer the study page and the benches run), then the final evaluation and checkpoint, plots and a summary.
 * Setup and resume are the Node layer's `Trainer` (trainer-phases.ts); the loop (steps, evaluation, one save per
 * epoch end, stops) is the core's `run`; here: the progress bar, the caller's per-step hooks (`onStep`), Ctrl-C.
 *
 * Exact resume: a checkpoint holds the weights, momentum buffers and optimizer step, the step counter (the LR
 * is a pure function of it), the loader's (epoch, position) (batch content depends only on seed, epoch and
 * position) and the MixUp Rng state. Resuming from step s therefore replays steps s.. bit for bit as an
 * uninterrupted run would.
 *
 * One writer per run folder: the run holds `runDir/.bit-ts.lock` from start to end (run-lock.ts). A folder that
 * already holds a run (a checkpoint or metrics) is refused unless the run resumes or `overwrite` is set, and
 * nothing (config.yaml included) is written before data, model and weights are set up. Resuming
 * checks the config against the checkpoint's stored one (resume.ts), and the checkpoint records which step
 * wrote best.safetensors, so a best file left by an abandoned continuation is set aside, never mixed in.
 *
 * Stops: the schedule's end ('completed'; max_steps sets the schedule's length), stop_after_steps (early,
 * 'completed', schedule unchanged); an unreadable image (DataError; with skip_bad_images such images are
 * logged and left out up to 1% of the training set) writes a checkpoint and stops ('data', exit 1); an interrupt request (first Ctrl-C, or `shouldStop`)
 * finishes the current step, writes a checkpoint ('interrupted', exit 130; a second Ctrl-C kills at once:
 * the SIGINT listener is gone by then); a non-finite loss stops BEFORE the update, naming the step, and keeps
 * the last good checkpoint ('nan', exit 3).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import type { ResNetV2 } from '../models/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { ignoredSettings, serializeConfig, type TrainConfig } from './config.js';
import type { DataSetup } from './data-setup.js';
import type { EvalResult } from './evaluate.js';
import { readMetrics, summarize } from './metrics.js';
import { writePlots } from './plots.js';
import { Progress } from './progress.js';
import { checkResumeConfig } from './resume.js';
import { acquireRunLock } from './run-lock.js';
import { type StepReport, Trainer } from './trainer-phases.js';

export { type StepOutcome, type StepReport, Trainer } from './trainer-phases.js';

/** Called after every completed step (in order, awaited) with its report and the trainer. */
export type StepHook = (report: StepReport, trainer: Trainer) => void | Promise<void>;

/** Options of `train`. */
export interface TrainOptions {
  /** Checked after every step: true requests an interrupt (as Ctrl-C does). */
  shouldStop?: (step: number) => boolean;
  /** Per-step hooks, run after each update (after metrics and progress, before epoch-end work). */
  onStep?: StepHook | readonly StepHook[];
  /** Install the SIGINT handler (the CLI does; library callers usually not). */
  handleSignals?: boolean;
  /** Where messages go (default console.log); progress follows cfg.progress. */
  log?: (msg: string) => void;
  /** Label of the progress bar / log lines. */
  label?: string;
  /** Keep the model alive in the result (the caller disposes it). */
  keepModel?: boolean;
  /** Resume even when settings that break exact continuation differ from the checkpoint's. */
  allowConfigChange?: boolean;
  /** Start a new run in a folder that holds one (its checkpoints and metrics are replaced). */
  overwrite?: boolean;
  /**
   * Datasets to train and evaluate on instead of the ones `cfg` names (e.g. decode-once in-memory caches of the
   * reproductions); the config still sets transforms, batches, model and schedule. Its class count must match.
   */
  data?: DataSetup;
}

/** Outcome of `train`. */
export interface TrainResult {
  status: 'completed' | 'interrupted' | 'nan' | 'data';
  exitCode: number;
  runDir: string;
  steps: number;
  /** Loss of every step run in THIS call, by step. */
  losses: Map<number, number>;
  final: EvalResult | null;
  bestTop1: number | null;
  latestCheckpoint: string | null;
  plots: string[];
  summary: string;
  message: string;
  model: ResNetV2 | null;
}

/**
 * Train as `cfg` says. See the file comment for stops and resume.
 * @throws ConfigError when another live run holds the folder, or a resume changes breaking settings.
 */
export async function train(cfg: TrainConfig, opts: TrainOptions = {}): Promise<TrainResult> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const runDir = path.resolve(cfg.ckpt_save_dir);
  const ck = cfg.resume ? loadCheckpoint(cfg.resume) : null;
  const resumeLines = ck ? checkResumeConfig(cfg, ck.meta, opts.allowConfigChange ?? false) : [];
  if (!ck && !opts.overwrite) refuseExistingRun(runDir);
  const existed = fs.existsSync(runDir);
  const lock = acquireRunLock(runDir);
  let started = false;
  try {
    for (const l of [...lock.notices, ...resumeLines]) log(l);
    for (const k of ignoredSettings(cfg)) log(`note: '${k}' is accepted for MindCV compatibility and ignored`);
    const t = Trainer.setup(cfg, runDir, ck, log, opts.data);
    started = true;
    fs.writeFileSync(path.join(runDir, 'config.yaml'), serializeConfig(cfg));
    return await run(t, opts, log);
  } finally {
    lock.release();
    // a start that failed leaves no trace: the folder it created (now empty) goes too
    if (!started && !existed) removeIfEmpty(runDir);
  }
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir); // fails (and keeps it) when anything is inside
  } catch {
    // not empty or already gone
  }
}

/** Files whose presence means a folder holds a run. */
const RUN_FILES = ['latest.safetensors', 'best.safetensors', 'metrics.jsonl'];

/**
 * A new run must not replace the one in `runDir` by accident.
 * @throws ConfigError when the folder holds a checkpoint or non-empty metrics, naming --resume and --overwrite.
 */
export function refuseExistingRun(runDir: string): void {
  const found = RUN_FILES.filter((f) => {
    try {
      return fs.statSync(path.join(runDir, f)).size > 0;
    } catch {
      return false;
    }
  });
  if (found.length === 0) return;
  const latest = path.join(runDir, 'latest.safetensors');
  let at = '';
  try {
    at = ` (step ${loadCheckpoint(latest).meta.step})`;
  } catch {
    at = '';
  }
  throw new ConfigError(
    `${runDir} already holds a run (${found.join(', ')}${at}): continue it with --resume ${latest}, ` +
      `start over there with --overwrite (its checkpoints and metrics are replaced), or choose another ckpt_save_dir`,
  );
}

type Stop = { status: TrainResult['status']; message: string };

/** The loop is the core's (batches, steps, epoch ends, stops); here: progress, hooks, Ctrl-C, then the final phase. */
async function run(t: Trainer, opts: TrainOptions, log: (m: string) => void): Promise<TrainResult> {
  const { cfg } = t;
  const hooks = opts.onStep === undefined ? [] : Array.isArray(opts.onStep) ? opts.onStep : [opts.onStep];
  const progress = new Progress(cfg.progress, t.stopAt, cfg.log_interval, opts.label ?? 'train'); // counts to where this run stops
  t.log = (m) => progress.log(m);
  let stopRequested = false;
  const onSigint = () => {
    stopRequested = true;
    progress.log('interrupt: finishing the current step and writing a checkpoint (Ctrl-C again exits at once)');
  };
  if (opts.handleSignals) process.once('SIGINT', onSigint);
  progress.start(t.step);
  t.startClock();
  let out: Awaited<ReturnType<typeof t.core.run>>;
  try {
    out = await t.core.run({
      onStep: async (rep) => {
        progress.update(rep);
        for (const h of hooks) await h(rep, t);
      },
      shouldStop: (step) => stopRequested || (opts.shouldStop?.(step) ?? false),
      onSkip: (m, n) => progress.log(`skipped unreadable image (${n}): ${m}`),
    });
  } finally {
    progress.stop();
    if (opts.handleSignals) process.removeListener('SIGINT', onSigint);
  }
  const stop: Stop | null =
    out.status === 'completed'
      ? null
      : {
          status: out.status,
          message:
            out.status === 'nan'
              ? `${out.message}. Last good checkpoint: ${t.latest ?? 'none written yet'}`
              : out.message,
        };
  return finish(t, stop, out.losses, out.skipped, opts, log);
}

/** Final phase: last evaluation and checkpoint of a completed run, plots, summary, result. */
async function finish(
  t: Trainer,
  stop: Stop | null,
  losses: Map<number, number>,
  skipped: number,
  opts: TrainOptions,
  log: (m: string) => void,
): Promise<TrainResult> {
  const status = stop?.status ?? 'completed';
  let message = stop?.message ?? '';
  if (status === 'completed') {
    if (t.vLoader && t.lastEvalStep !== t.step) await t.evaluate(t.loader.state().epoch);
    const ckpt = await t.checkpoint('final');
    message =
      t.step < t.total
        ? `stopped after ${t.step} of ${t.total} steps (stop_after_steps); checkpoint ${ckpt}`
        : `finished ${t.step} steps; checkpoint ${ckpt}`;
  }
  await t.close(opts.keepModel ?? false);
  const records = readMetrics(t.metrics.file);
  if (skipped) log(`skipped ${skipped} unreadable image(s) (listed in metrics.jsonl as type 'skip')`);
  const plots = t.cfg.plots && status !== 'nan' ? await writePlots(t.runDir, records, opts.label ?? t.cfg.model) : [];
  return {
    status,
    exitCode: status === 'completed' ? 0 : status === 'interrupted' ? 130 : status === 'nan' ? 3 : 1,
    runDir: t.runDir,
    steps: t.step,
    losses,
    final: t.lastEval,
    bestTop1: t.bestTop1,
    latestCheckpoint: t.latest,
    plots,
    summary: summarize(records),
    message,
    model: opts.keepModel ? t.model : null,
  };
}
