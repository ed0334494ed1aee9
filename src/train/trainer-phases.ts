/**
 * The Node layer of a training run: `Trainer.setup` wires config -> data (worker DataLoader) -> model, SGD and LR
 * schedule -> the run folder store (./node-store.ts: checkpoints, metrics.jsonl) -> the platform-free core Trainer
 * (./core/trainer.ts), which owns the step (lr, MixUp, accumulation, the non-finite-loss guard), evaluation and
 * the end-of-epoch work. This class adds only what is Node's: resume from a checkpoint or pretrained weights, the
 * checkpoint meta (loader position, Rng, config, best record) and closing the loaders. `train()` (trainer.ts)
 * runs the core's loop; a reproduction can drive the phases itself.
 *
 * Invariants: the LR is a pure function of `step`; a checkpoint's meta holds everything exact resume needs
 * (weights, momentum, optimizer step, loader position, MixUp Rng, best record); a non-finite loss never reaches
 * the update (gradients are dropped and the step is not counted); an epoch end is saved once.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DataLoader, type LoaderBatch, Rng } from '../data/index.js';
import { ConfigError } from '../errors.js';
import type { ResNetV2 } from '../models/index.js';
import { noDecayGroups, SGD } from '../nn/index.js';
import { getDefaultBackend } from '../tensor/engine.js';
import { CHECKPOINT_FORMAT, type CheckpointMeta, loadCheckpoint } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { EvalResult } from './core/evaluate.js';
import { prepareHeapForConfig } from './core/heap-estimate.js';
import type { Schedule } from './core/schedule.js';
import { buildSchedule } from './core/schedule.js';
import { Trainer as CoreTrainer, type StepOutcome } from './core/trainer.js';
import { type DataSetup, evalLoader, setupData, trainLoader } from './data-setup.js';
import { nonFiniteWarning } from './evaluate.js';
import type { MetricsLog } from './metrics.js';
import {
  buildModel,
  checkFiniteWeights,
  loadPretrained,
  type ModelSpec,
  modelSpecOf,
  specConfig,
} from './model-setup.js';
import { RunFolderStore } from './node-store.js';

export type { StepOutcome, StepReport } from './core/trainer.js';

const MIXUP_STREAM = 0x313;

/** What `Trainer.setup` builds, handed to the constructor as one object. */
interface TrainerParts {
  cfg: TrainConfig;
  runDir: string;
  data: DataSetup;
  loader: DataLoader;
  vLoader: DataLoader | null;
  spec: ModelSpec;
  model: ResNetV2;
  opt: SGD;
  sched: Schedule;
  log: (m: string) => void;
}

/** A training run's state and phases. Create with `Trainer.setup`. */
export class Trainer {
  readonly cfg: TrainConfig;
  readonly runDir: string;
  readonly data: DataSetup;
  readonly loader: DataLoader;
  readonly vLoader: DataLoader | null;
  readonly spec: ModelSpec;
  readonly model: ResNetV2;
  readonly opt: SGD;
  readonly sched: Schedule;
  /** The platform-free core that runs the steps, evaluations and saves. */
  readonly core: CoreTrainer;
  readonly store: RunFolderStore;

  private constructor(p: TrainerParts) {
    ({
      cfg: this.cfg,
      runDir: this.runDir,
      data: this.data,
      loader: this.loader,
      vLoader: this.vLoader,
      spec: this.spec,
      model: this.model,
      opt: this.opt,
      sched: this.sched,
    } = p);
    const { cfg } = p;
    this.store = new RunFolderStore(
      p.runDir,
      { model: p.model, opt: p.opt, meta: (reason) => this.meta(reason) },
      { model: cfg.model, keep: cfg.keep_checkpoint_max, policy: cfg.ckpt_save_policy },
    );
    this.core = new CoreTrainer({
      model: p.model,
      optimizer: p.opt,
      schedule: p.sched,
      source: p.loader,
      evalSource: p.vLoader,
      store: this.store,
      rng: Rng.derive(cfg.seed, MIXUP_STREAM),
      mixup: cfg.mixup,
      accum: cfg.gradient_accumulation_steps,
      labelSmoothing: cfg.label_smoothing,
      stopAfter: cfg.stop_after_steps,
      evalEveryEpochs: cfg.val_while_train ? cfg.val_interval : 0,
      saveEveryEpochs: cfg.ckpt_save_interval,
      maxBadImages: Math.max(1, Math.floor(0.01 * p.data.train.length)),
      maxBadImagesWhy: `1% of ${p.data.train.length}`,
      log: p.log,
      clock: Date.now,
      // the backend maps the first step's estimated heap while weights and the loader start (src/train/core/heap-estimate.ts)
      inputShape: [cfg.batch_size, 3, cfg.image_resize, cfg.image_resize],
    });
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.core.step;
  }
  /** The MixUp stream (the core's; its state is part of a checkpoint). */
  get rng(): Rng {
    return this.core.rng;
  }
  /** Where evaluation lines go (train() routes them through the progress bar). */
  get log(): (m: string) => void {
    return this.core.log;
  }
  set log(f: (m: string) => void) {
    this.core.log = f;
  }
  get metrics(): MetricsLog {
    return this.store.metrics;
  }
  /** Path of the latest checkpoint written (or found in the run folder). */
  get latest(): string | null {
    return this.store.latest;
  }
  get bestTop1(): number | null {
    return this.core.bestTop1;
  }
  get lastEval(): EvalResult | null {
    return this.core.lastEval;
  }
  get lastEvalStep(): number {
    return this.core.lastEvalStep;
  }
  /** Steps per epoch. */
  get stepsPerEpoch(): number {
    return this.core.stepsPerEpoch;
  }
  /** Length of the schedule in steps. */
  get total(): number {
    return this.core.total;
  }
  /** The step this run stops after (stop_after_steps, else the schedule's end). */
  get stopAt(): number {
    return this.core.stopAt;
  }

  /** Start the run's clock (metrics' time_s counts from here). */
  startClock(): void {
    this.core.startClock();
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
    // map the weights and the first step's estimated heap while the data, the model and the weights load
    // (src/train/core/heap-estimate.ts; the core Trainer's own request below then finds it mapped)
    const spec = modelSpecOf(cfg);
    const shape = [cfg.batch_size, 3, cfg.image_resize, cfg.image_resize];
    void prepareHeapForConfig(getDefaultBackend(), specConfig(spec), shape, cfg.gradient_accumulation_steps);
    const data = given ?? setupData(cfg);
    if (given && given.train.numClasses !== cfg.num_classes)
      throw new ConfigError(
        `num_classes is ${cfg.num_classes} but the given training set has ${given.train.numClasses} classes`,
      );
    log(data.describe);
    const loader = trainLoader(cfg, data);
    const vLoader = data.val ? evalLoader(cfg, data.val, data.evalSpec) : null;
    const model = buildModel(spec, { seed: cfg.seed, zeroHead: cfg.zero_head });
    const named = model.namedParameters();
    const groups = cfg.filter_bias_and_bn
      ? noDecayGroups(named, cfg.weight_decay)
      : [{ params: named, weightDecay: cfg.weight_decay }];
    const opt = new SGD(groups, { lr: cfg.lr, momentum: cfg.momentum, nesterov: cfg.use_nesterov });
    const sched = buildSchedule(cfg, loader.numBatches(), data.train.length);
    const t = new Trainer({ cfg, runDir, data, loader, vLoader, spec, model, opt, sched, log });
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
      t.metrics.truncateAfter(-1); // only once the weights loaded: a failed start writes nothing
    }
    return t;
  }

  private restore(ck: ReturnType<typeof loadCheckpoint>): void {
    const note = checkFiniteWeights(ck.weights, this.cfg.resume, this.cfg.allow_nonfinite);
    if (note) this.log(note);
    this.model.loadStateDict(ck.weights);
    this.opt.loadStateDict({ step: ck.meta.optimizerStep, momentumBuffers: ck.momentum });
    this.core.step = ck.meta.step;
    this.loader.setState(ck.meta.loader);
    this.core.rng = Rng.fromState(ck.meta.rng);
    this.core.bestTop1 = ck.meta.bestTop1;
    this.core.best = ck.meta.best ?? null;
    const l = setAsideForeignBest(this.runDir, ck.meta);
    if (l) this.log(l);
    this.metrics.truncateAfter(this.step);
    this.log(`resumed from ${this.cfg.resume} at step ${this.step} (epoch ${ck.meta.epoch})`);
  }

  /** Step phase: one optimizer update from batch b (or the non-finite loss that stopped it). */
  trainStep(b: LoaderBatch): Promise<StepOutcome> {
    return this.core.trainStep(b);
  }

  /** Evaluate phase: validation metrics (null without a validation set); a new best writes best.safetensors. */
  async evaluate(epoch: number): Promise<EvalResult | null> {
    const r = await this.core.evaluate(epoch);
    const bad = r ? nonFiniteWarning(r) : null;
    if (bad) this.log(`warning: eval step ${this.step}: ${bad}`);
    return r;
  }

  /** Checkpoint phase: latest.safetensors, with the reason recorded in its meta. */
  async checkpoint(reason: string): Promise<string> {
    return (await this.core.save('latest', reason, this.loader.state().epoch))!;
  }

  /** After the last batch of an epoch: evaluation and ONE epoch checkpoint (also the resume point). */
  endOfEpoch(epoch: number): Promise<void> {
    return this.core.endOfEpoch(epoch);
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
      rng: this.core.rng.state(),
      loader: ls,
      bestTop1: this.core.bestTop1,
      best: this.core.best,
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
