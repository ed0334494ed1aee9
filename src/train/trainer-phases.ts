/**
 * The phases of a training run, as one object: `Trainer.setup` (data, model, SGD, LR schedule, resume or
 * pretrained weights), `step` (one optimizer update from a batch: lr, MixUp, forward/backward in tidy scopes,
 * the non-finite-loss guard, metrics), `evaluate` (validation, best checkpoint), `checkpoint` (latest, epoch
 * files with rotation) and `finish` (final evaluation and checkpoint, plots, summary). `train()` (trainer.ts)
 * drives them and calls per-step hooks; a reproduction can drive them itself.
 *
 * Invariants: the LR is a pure function of `step`; a checkpoint's meta holds everything exact resume needs
 * (weights, momentum, optimizer step, loader position, MixUp Rng, best record); a non-finite loss never reaches
 * the update (gradients are dropped and the step is not counted).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DataLoader, type LoaderBatch, mixupParams, Rng } from '../data/index.js';
import { ConfigError } from '../errors.js';
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
import type { TrainConfig } from './config.js';
import { type DataSetup, evalLoader, setupData, trainLoader } from './data-setup.js';
import { type EvalResult, evaluate, nonFiniteWarning } from './evaluate.js';
import { MetricsLog } from './metrics.js';
import { buildModel, checkFiniteWeights, loadPretrained, type ModelSpec, modelSpecOf } from './model-setup.js';
import { buildSchedule, type Schedule } from './schedule.js';
import { forwardBackward } from './step.js';

const MIXUP_STREAM = 0x313;

/** What one completed step reports (to the progress bar, metrics and per-step hooks). */
export interface StepReport {
  step: number;
  epoch: number;
  /** Batch position within its epoch (steps per epoch - 1 is the last). */
  position: number;
  loss: number;
  lr: number;
  imagesPerS: number;
}

/** Outcome of `Trainer.step`: the report, or the non-finite loss that stopped it before the update. */
export type StepOutcome = { ok: true; report: StepReport } | { ok: false; loss: number; epoch: number };

/** A training run's state and phases. Create with `Trainer.setup`. */
export class Trainer {
  step = 0;
  rng: Rng;
  bestTop1: number | null = null;
  best: CheckpointMeta['best'] = null;
  /** Path of the latest checkpoint written (or found in the run folder). */
  latest: string | null;
  lastEval: EvalResult | null = null;
  lastEvalStep = -1;
  /** Where evaluation lines go (train() routes them through the progress bar). */
  log: (m: string) => void;
  private readonly scores = new Map<string, number>();
  private t0 = Date.now();

  private constructor(
    readonly cfg: TrainConfig,
    readonly runDir: string,
    readonly data: DataSetup,
    readonly loader: DataLoader,
    readonly vLoader: DataLoader | null,
    readonly spec: ModelSpec,
    readonly model: ResNetV2,
    readonly opt: SGD,
    readonly sched: Schedule,
    readonly metrics: MetricsLog,
    log: (m: string) => void,
  ) {
    this.rng = Rng.derive(cfg.seed, MIXUP_STREAM);
    this.log = log;
    const latest = path.join(runDir, 'latest.safetensors');
    this.latest = fs.existsSync(latest) ? latest : null;
  }

  /** Start the run's clock (metrics' time_s counts from here). */
  startClock(): void {
    this.t0 = Date.now();
  }

  /** Steps per epoch. */
  get stepsPerEpoch(): number {
    return this.loader.numBatches();
  }
  /** Length of the schedule in steps. */
  get total(): number {
    return this.sched.totalSteps;
  }
  /** The step this run stops after (stop_after_steps, else the schedule's end). */
  get stopAt(): number {
    return this.cfg.stop_after_steps > 0 ? Math.min(this.cfg.stop_after_steps, this.total) : this.total;
  }

  /**
   * Setup phase: data (the config's, or `given` datasets), model, optimizer, schedule; then the checkpoint's
   * state (resume) or pretrained weights.
   */
  static setup(
    cfg: TrainConfig,
    runDir: string,
    ck: ReturnType<typeof loadCheckpoint> | null,
    log: (m: string) => void,
    given?: DataSetup,
  ): Trainer {
    const data = given ?? setupData(cfg);
    if (given && given.train.numClasses !== cfg.num_classes)
      throw new ConfigError(
        `num_classes is ${cfg.num_classes} but the given training set has ${given.train.numClasses} classes`,
      );
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
    const sched = buildSchedule(cfg, loader.numBatches(), data.train.length);
    const metrics = new MetricsLog(path.join(runDir, 'metrics.jsonl'));
    const t = new Trainer(cfg, runDir, data, loader, vLoader, spec, model, opt, sched, metrics, log);
    log(
      `model ${cfg.model} (${model.numParameters().toLocaleString('en-US')} parameters), ${t.stepsPerEpoch} steps/epoch, ${t.total} steps; lr ${sched.describe}` +
        (t.stopAt < t.total ? `; stopping after step ${t.stopAt} (stop_after_steps)` : ''),
    );
    if (ck) t.restore(ck);
    else {
      if (cfg.ckpt_path) {
        const opts = { allowNonfinite: cfg.allow_nonfinite };
        for (const l of loadPretrained(model, cfg.ckpt_path, cfg.zero_head, opts).lines) log(l);
      }
      metrics.truncateAfter(-1); // only once the weights loaded: a failed start writes nothing
    }
    return t;
  }

  private restore(ck: ReturnType<typeof loadCheckpoint>): void {
    const note = checkFiniteWeights(ck.weights, this.cfg.resume, this.cfg.allow_nonfinite);
    if (note) this.log(note);
    this.model.loadStateDict(ck.weights);
    this.opt.loadStateDict({ step: ck.meta.optimizerStep, momentumBuffers: ck.momentum });
    this.step = ck.meta.step;
    this.loader.setState(ck.meta.loader);
    this.rng = Rng.fromState(ck.meta.rng);
    this.bestTop1 = ck.meta.bestTop1;
    this.best = ck.meta.best ?? null;
    const l = setAsideForeignBest(this.runDir, ck.meta);
    if (l) this.log(l);
    this.metrics.truncateAfter(this.step);
    this.log(`resumed from ${this.cfg.resume} at step ${this.step} (epoch ${ck.meta.epoch})`);
  }

  /** Step phase: one optimizer update from batch b (or the non-finite loss that stopped it). */
  async trainStep(b: LoaderBatch): Promise<StepOutcome> {
    const { cfg, opt } = this;
    const lr = this.sched.lr(this.step);
    opt.setLr(lr);
    const mix = cfg.mixup > 0 ? mixupParams(b.labels.length, cfg.mixup, this.rng) : null;
    const ts = Date.now();
    const loss = await forwardBackward(this.model, b, {
      accum: cfg.gradient_accumulation_steps,
      labelSmoothing: cfg.label_smoothing,
      mix,
    });
    if (!Number.isFinite(loss)) {
      opt.zeroGrad();
      return { ok: false, loss, epoch: b.epoch };
    }
    opt.step();
    opt.zeroGrad();
    this.step++;
    const imagesPerS = (b.labels.length * 1000) / Math.max(1, Date.now() - ts);
    const report = { step: this.step, epoch: b.epoch, position: b.position, loss, lr, imagesPerS };
    this.metrics.append({
      type: 'train',
      step: this.step,
      epoch: b.epoch,
      loss,
      lr,
      images_per_s: imagesPerS,
      time_s: (Date.now() - this.t0) / 1000,
    });
    return { ok: true, report };
  }

  /** Evaluate phase: validation metrics (null without a validation set); a new best writes best.safetensors. */
  async evaluate(epoch: number): Promise<EvalResult | null> {
    if (!this.vLoader) return null;
    const r = await evaluate(this.model, this.vLoader);
    this.metrics.append({ type: 'eval', step: this.step, epoch, top1: r.top1, top5: r.top5, loss: r.loss });
    this.log(
      `eval step ${this.step}: Top_1_Accuracy ${r.top1.toFixed(2)} Top_5_Accuracy ${r.top5.toFixed(2)} loss ${r.loss.toFixed(4)}`,
    );
    const bad = nonFiniteWarning(r);
    if (bad) this.log(`warning: eval step ${this.step}: ${bad}`);
    if (this.bestTop1 === null || r.top1 > this.bestTop1) {
      this.bestTop1 = r.top1;
      this.best = { step: this.step, top1: r.top1 };
      await saveCheckpoint(path.join(this.runDir, 'best.safetensors'), this.model, this.opt, this.meta('best'));
    }
    this.lastEval = r;
    this.lastEvalStep = this.step;
    return r;
  }

  /** Checkpoint phase: latest.safetensors, with the reason recorded in its meta. */
  async checkpoint(reason: string): Promise<string> {
    const latest = path.join(this.runDir, 'latest.safetensors');
    this.latest = latest;
    await saveCheckpoint(latest, this.model, this.opt, this.meta(reason));
    return latest;
  }

  /** After the last batch of an epoch: evaluation and the epoch checkpoint (with rotation) at their intervals. */
  async endOfEpoch(epoch: number): Promise<void> {
    const { cfg } = this;
    const done = epoch + 1;
    if (this.step >= this.total) return;
    if (cfg.val_while_train && done % cfg.val_interval === 0) await this.evaluate(done);
    if (done % cfg.ckpt_save_interval === 0) {
      const f = epochCheckpointName(cfg.model, done, this.step);
      await saveCheckpoint(path.join(this.runDir, f), this.model, this.opt, this.meta('epoch'));
      if (this.lastEvalStep === this.step && this.lastEval) this.scores.set(f, this.lastEval.top1);
      rotateCheckpoints(this.runDir, cfg.model, cfg.keep_checkpoint_max, cfg.ckpt_save_policy, this.scores);
      await this.checkpoint('epoch');
    }
  }

  /** Checkpoint metadata for the current state. */
  meta(reason: string): CheckpointMeta {
    const ls = this.loader.state();
    return {
      format: CHECKPOINT_FORMAT,
      step: this.step,
      epoch: ls.position >= this.stepsPerEpoch ? ls.epoch + 1 : ls.epoch,
      optimizerStep: this.opt.stepCount,
      config: { ...this.cfg, resume: '' },
      spec: this.spec,
      classes: this.data.classes,
      rng: this.rng.state(),
      loader: ls,
      bestTop1: this.bestTop1,
      best: this.best,
      reason,
    };
  }

  /** Close the loaders and free the optimizer state (and the model unless kept). */
  async close(keepModel: boolean): Promise<void> {
    await this.loader.close();
    await this.vLoader?.close();
    if (!keepModel) this.model.dispose();
    this.opt.dispose();
  }
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
