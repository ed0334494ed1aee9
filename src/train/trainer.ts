/**
 * The training loop: config -> data, model, SGD, LR schedule -> steps (each in tidy scopes, memory flat) with
 * periodic evaluation, best/latest/epoch checkpoints, JSON-lines metrics, plots and a summary at the end.
 *
 * Exact resume: a checkpoint holds the weights, momentum buffers and optimizer step, the step counter (the LR
 * is a pure function of it), the loader's (epoch, position) (batch content depends only on seed, epoch and
 * position) and the MixUp Rng state. Resuming from step s therefore replays steps s.. bit for bit as an
 * uninterrupted run would.
 *
 * One writer per run folder: the run holds `runDir/.bit-ts.lock` from start to end (run-lock.ts). Resuming
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
import { type LoaderBatch, mixupParams, Rng } from '../data/index.js';
import { DataError } from '../errors.js';
import type { ResNetV2 } from '../models/index.js';
import { noDecayGroups, SGD } from '../nn/index.js';
import {
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  epochCheckpointName,
  loadCheckpoint,
  rotateCheckpoints,
  saveCheckpoint,
} from './checkpoint.js';
import { ignoredSettings, serializeConfig, type TrainConfig } from './config.js';
import { evalLoader, setupData, trainLoader } from './data-setup.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { MetricsLog, readMetrics, summarize } from './metrics.js';
import { buildModel, loadPretrained, modelSpecOf } from './model-setup.js';
import { writePlots } from './plots.js';
import { Progress } from './progress.js';
import { checkResumeConfig } from './resume.js';
import { acquireRunLock } from './run-lock.js';
import { buildSchedule } from './schedule.js';
import { forwardBackward } from './step.js';

const MIXUP_STREAM = 0x313;

/** Options of `train`. */
export interface TrainOptions {
  /** Checked after every step: true requests an interrupt (as Ctrl-C does). */
  shouldStop?: (step: number) => boolean;
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
  const lock = acquireRunLock(runDir);
  try {
    for (const l of [...lock.notices, ...resumeLines]) log(l);
    return await trainLocked(cfg, opts, log, runDir, ck);
  } finally {
    lock.release();
  }
}

async function trainLocked(
  cfg: TrainConfig,
  opts: TrainOptions,
  log: (m: string) => void,
  runDir: string,
  ck: ReturnType<typeof loadCheckpoint> | null,
): Promise<TrainResult> {
  fs.writeFileSync(path.join(runDir, 'config.yaml'), serializeConfig(cfg));
  for (const k of ignoredSettings(cfg)) log(`note: '${k}' is accepted for MindCV compatibility and ignored`);

  const data = setupData(cfg);
  log(data.describe);
  const loader = trainLoader(cfg, data);
  const vLoader = data.val ? evalLoader(cfg, data.val, data.evalSpec) : null;
  const spec = modelSpecOf(cfg);
  const model = buildModel(spec, { seed: cfg.seed, zeroHead: cfg.zero_head });
  const named = model.namedParameters();
  const groups = cfg.filter_bias_and_bn
    ? noDecayGroups(named, cfg.weight_decay)
    : [{ params: named, weightDecay: cfg.weight_decay }];
  const opt = new SGD(groups, { lr: cfg.lr, momentum: cfg.momentum, nesterov: cfg.use_nesterov });
  const spe = loader.numBatches();
  const sched = buildSchedule(cfg, spe, data.train.length);
  const total = sched.totalSteps;
  const stopAt = cfg.stop_after_steps > 0 ? Math.min(cfg.stop_after_steps, total) : total;
  log(
    `model ${cfg.model} (${model.numParameters().toLocaleString('en-US')} parameters), ${spe} steps/epoch, ${total} steps; lr ${sched.describe}` +
      (stopAt < total ? `; stopping after step ${stopAt} (stop_after_steps)` : ''),
  );

  let step = 0;
  let rng = Rng.derive(cfg.seed, MIXUP_STREAM);
  let bestTop1: number | null = null;
  let best: CheckpointMeta['best'] = null;
  const metrics = new MetricsLog(path.join(runDir, 'metrics.jsonl'));
  if (ck) {
    model.loadStateDict(ck.weights);
    opt.loadStateDict({ step: ck.meta.optimizerStep, momentumBuffers: ck.momentum });
    step = ck.meta.step;
    loader.setState(ck.meta.loader);
    rng = Rng.fromState(ck.meta.rng);
    bestTop1 = ck.meta.bestTop1;
    best = ck.meta.best ?? null;
    const l = setAsideForeignBest(runDir, ck.meta);
    if (l) log(l);
    metrics.truncateAfter(step);
    log(`resumed from ${cfg.resume} at step ${step} (epoch ${ck.meta.epoch})`);
  } else {
    metrics.truncateAfter(-1);
    if (cfg.ckpt_path) for (const l of loadPretrained(model, cfg.ckpt_path, cfg.zero_head).lines) log(l);
  }

  const scores = new Map<string, number>();
  let latest: string | null = fs.existsSync(path.join(runDir, 'latest.safetensors'))
    ? path.join(runDir, 'latest.safetensors')
    : null;
  const meta = (reason: string): CheckpointMeta => ({
    format: CHECKPOINT_FORMAT,
    step,
    epoch: loader.state().position >= spe ? loader.state().epoch + 1 : loader.state().epoch,
    optimizerStep: opt.stepCount,
    config: { ...cfg, resume: '' },
    spec,
    classes: data.classes,
    rng: rng.state(),
    loader: loader.state(),
    bestTop1,
    best,
    reason,
  });
  const saveLatest = async (reason: string) => {
    latest = path.join(runDir, 'latest.safetensors');
    await saveCheckpoint(latest, model, opt, meta(reason));
  };
  const runEval = async (epoch: number): Promise<EvalResult | null> => {
    if (!vLoader) return null;
    const r = await evaluate(model, vLoader);
    metrics.append({ type: 'eval', step, epoch, top1: r.top1, top5: r.top5, loss: r.loss });
    progress.log(
      `eval step ${step}: Top_1_Accuracy ${r.top1.toFixed(2)} Top_5_Accuracy ${r.top5.toFixed(2)} loss ${r.loss.toFixed(4)}`,
    );
    if (bestTop1 === null || r.top1 > bestTop1) {
      bestTop1 = r.top1;
      best = { step, top1: r.top1 };
      await saveCheckpoint(path.join(runDir, 'best.safetensors'), model, opt, meta('best'));
    }
    return r;
  };

  let stopRequested = false;
  const onSigint = () => {
    stopRequested = true;
    progress.log('interrupt: finishing the current step and writing a checkpoint (Ctrl-C again exits at once)');
  };
  if (opts.handleSignals) process.once('SIGINT', onSigint);

  const progress = new Progress(cfg.progress as 'auto', total, cfg.log_interval, opts.label ?? 'train');
  const losses = new Map<number, number>();
  let status: TrainResult['status'] = 'completed';
  let message = '';
  let lastEval: EvalResult | null = null;
  let lastEvalStep = -1;
  const t0 = Date.now();
  let it: AsyncIterator<LoaderBatch> | null = null;
  const badImages = new Set<string>();
  const maxBad = Math.max(1, Math.floor(0.01 * data.train.length));
  progress.start(step);
  try {
    while (step < stopAt) {
      if (!it) it = loader[Symbol.asyncIterator]();
      let r: IteratorResult<LoaderBatch>;
      try {
        r = await it.next();
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        it = null;
        status = 'data';
        await saveLatest('data-error');
        message =
          `${e.message}\nstopped before step ${step + 1}; checkpoint ${latest} written (resume with --resume ${latest}` +
          ` after fixing or removing the file, or set skip_bad_images: true to skip unreadable images)`;
        break;
      }
      if (r.done) {
        it = null;
        continue;
      }
      const b = r.value;
      for (const m of b.skipped ?? []) {
        if (!badImages.has(m)) progress.log(`skipped unreadable image (${badImages.size + 1}): ${m}`);
        badImages.add(m);
        metrics.append({ type: 'skip', step, epoch: b.epoch, message: m });
      }
      if (badImages.size > maxBad) {
        status = 'data';
        await saveLatest('data-error');
        message =
          `${badImages.size} unreadable images, over the skip_bad_images cap of ${maxBad} (1% of ${data.train.length}); ` +
          `checkpoint ${latest} written. The dataset looks damaged`;
        break;
      }
      if (b.labels.length === 0) continue; // every image of this batch was unreadable and skipped
      const lr = sched.lr(step);
      opt.setLr(lr);
      const mix = cfg.mixup > 0 ? mixupParams(b.labels.length, cfg.mixup, rng) : null;
      const ts = Date.now();
      const loss = await forwardBackward(model, b, {
        accum: cfg.gradient_accumulation_steps,
        labelSmoothing: cfg.label_smoothing,
        mix,
      });
      if (!Number.isFinite(loss)) {
        opt.zeroGrad();
        status = 'nan';
        message =
          `non-finite loss (${loss}) at step ${step} (epoch ${b.epoch}); stopped before the update. ` +
          `Last good checkpoint: ${latest ?? 'none written yet'}`;
        break;
      }
      opt.step();
      opt.zeroGrad();
      losses.set(step, loss);
      step++;
      const ips = (b.labels.length * 1000) / Math.max(1, Date.now() - ts);
      metrics.append({
        type: 'train',
        step,
        epoch: b.epoch,
        loss,
        lr,
        images_per_s: ips,
        time_s: (Date.now() - t0) / 1000,
      });
      progress.update({ step, epoch: b.epoch, loss, lr, imagesPerS: ips });
      if (b.position === spe - 1) {
        const done = b.epoch + 1;
        if (cfg.val_while_train && done % cfg.val_interval === 0 && step < total) {
          lastEval = await runEval(done);
          lastEvalStep = step;
        }
        if (done % cfg.ckpt_save_interval === 0 && step < total) {
          const f = epochCheckpointName(cfg.model, done, step);
          await saveCheckpoint(path.join(runDir, f), model, opt, meta('epoch'));
          if (lastEvalStep === step && lastEval) scores.set(f, lastEval.top1);
          rotateCheckpoints(runDir, cfg.model, cfg.keep_checkpoint_max, cfg.ckpt_save_policy, scores);
          await saveLatest('epoch');
        }
      }
      // Let signal handlers and timers run between steps (loader promises alone are microtasks).
      await new Promise((res) => setImmediate(res));
      if (stopRequested || opts.shouldStop?.(step)) {
        if (step < stopAt) {
          status = 'interrupted';
          await saveLatest('interrupt');
          message = `interrupted after step ${step}; checkpoint ${latest} (resume with --resume ${latest})`;
        }
        break;
      }
    }
  } finally {
    progress.stop();
    if (opts.handleSignals) process.removeListener('SIGINT', onSigint);
    await it?.return?.();
  }

  let plots: string[] = [];
  if (status === 'completed') {
    if (vLoader && lastEvalStep !== step) lastEval = await runEval(loader.state().epoch);
    await saveLatest('final');
    message =
      step < total
        ? `stopped after ${step} of ${total} steps (stop_after_steps); checkpoint ${latest}`
        : `finished ${step} steps; checkpoint ${latest}`;
  }
  await loader.close();
  await vLoader?.close();
  const records = readMetrics(metrics.file);
  if (badImages.size) log(`skipped ${badImages.size} unreadable image(s) (listed in metrics.jsonl as type 'skip')`);
  if (cfg.plots && status !== 'nan') plots = await writePlots(runDir, records, opts.label ?? cfg.model);
  const summary = summarize(records);
  if (!opts.keepModel) {
    model.dispose();
  }
  opt.dispose();
  return {
    status,
    exitCode: status === 'completed' ? 0 : status === 'interrupted' ? 130 : status === 'nan' ? 3 : 1,
    runDir,
    steps: step,
    losses,
    final: lastEval,
    bestTop1,
    latestCheckpoint: latest,
    plots,
    summary,
    message,
    model: opts.keepModel ? model : null,
  };
}

/**
 * On resume: a best.safetensors written after the checkpoint's step (by the continuation that was abandoned)
 * is renamed to best-abandoned.safetensors so the resumed run cannot report or keep it. Checkpoints from
 * before the best record existed (no `best` field) are left alone. Returns a notice or null.
 */
function setAsideForeignBest(runDir: string, meta: CheckpointMeta): string | null {
  const file = path.join(runDir, 'best.safetensors');
  if (meta.best === undefined || !fs.existsSync(file)) return null;
  let bestStep: number | null = null;
  try {
    bestStep = loadCheckpoint(file).meta.step;
  } catch {
    bestStep = null; // unreadable: not ours either
  }
  if (meta.best !== null && bestStep === meta.best.step) return null;
  const aside = path.join(runDir, 'best-abandoned.safetensors');
  fs.renameSync(file, aside);
  return `note: ${file} (step ${bestStep ?? '?'}) is not the best of the resumed run (${
    meta.best ? `step ${meta.best.step}` : 'none yet'
  }): moved to ${aside}`;
}
