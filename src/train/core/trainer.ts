/**
 * The Trainer, platform-free: one options object in; `trainStep` (lr from the schedule, MixUp on the host, the
 * batch split into `accum` micro-batches, the non-finite-loss guard BEFORE the update, metrics), `evaluate` (the
 * one Top-1 rule of ./evaluate.ts; a new best is saved), `endOfEpoch` (evaluation and ONE save at their
 * intervals) and `run` (the loop over a BatchSource with its stops). Every front end drives this class: `train()`
 * (Node: ../trainer.ts with ../node-store.ts), the study page (web/lib/study.ts), the benches.
 *
 * Stops of `run`: the schedule's end or `stopAfter` ('completed'); an unreadable image (a DataError from the
 * source, or more `skipped` images than `maxBadImages`) saves and stops ('data'); `shouldStop()` after a step
 * saves and stops ('interrupted'); a non-finite loss stops before the update, gradients dropped, the step not
 * counted ('nan').
 *
 * Invariants: the LR is a pure function of `step`; all randomness of a step comes from `rng` (the MixUp stream,
 * whose state a checkpoint stores); nothing here imports a platform module (test/train/core-platform.test.ts).
 */

import { mixupParams } from '../../data/mixup.js';
import type { Rng } from '../../data/rng.js';
import { DataError } from '../../errors.js';
import type { Module } from '../../nn/index.js';
import type { SGD } from '../../nn/optim/sgd.js';
import type { BatchSource, RunStore, SaveKind, SourceBatch } from './boundary.js';
import { MemoryStore } from './boundary.js';
import { type EvalResult, evaluateBatches, type PredictionHook } from './evaluate.js';
import { prepareHeap } from './heap-estimate.js';
import type { Schedule } from './schedule.js';
import { forwardBackward, type HostBatch } from './step.js';

/** Options of a Trainer. */
export interface TrainerOptions {
  model: Module;
  optimizer: SGD;
  /** lr(step) and the schedule's length. */
  schedule: Pick<Schedule, 'lr' | 'totalSteps'>;
  /** Training batches (one epoch per iteration). */
  source: BatchSource;
  /** Held-out batches for `evaluate` (null: no evaluation). */
  evalSource?: AsyncIterable<HostBatch> | Iterable<HostBatch> | null;
  /** Records and checkpoints (default: in memory, no checkpoints). */
  store?: RunStore;
  /** The MixUp stream (its state is part of a checkpoint). */
  rng: Rng;
  /** MixUp alpha (0: off). */
  mixup?: number;
  /** Micro-batches per update (same update as the full batch for GroupNorm models). */
  accum?: number;
  labelSmoothing?: number;
  /** Stop after this many steps without reshaping the schedule (0: at the schedule's end). */
  stopAfter?: number;
  /** Evaluate every this many epochs at an epoch end (0: never there). */
  evalEveryEpochs?: number;
  /** Save every this many epochs at an epoch end (0: never there). */
  saveEveryEpochs?: number;
  /** Most skipped (unreadable) images tolerated before the run stops (default: none). */
  maxBadImages?: number;
  /** Why that cap (said in the stop message, e.g. '1% of 5000'). */
  maxBadImagesWhy?: string;
  /** Step to start from (a resumed run). */
  step?: number;
  /** Milliseconds now (default performance.now / Date.now). */
  clock?: () => number;
  /** Where evaluation lines go. */
  log?: (m: string) => void;
  /**
   * Shape [N, C, H, W] of a training batch, when known before the first step: the model's backend then maps the
   * step's estimated heap ahead (./heap-estimate.ts; `heapReady`), on a thread of its own where it can, so the
   * first step does not pay its page faults. A hint: results never depend on it. Env BIT_TRAIN_PREFAULT=0: off.
   */
  inputShape?: readonly number[];
}

/** What one completed step reports. */
export interface StepReport {
  step: number;
  epoch: number;
  /** Batch position within its epoch (steps per epoch - 1 is the last). */
  position: number;
  loss: number;
  lr: number;
  imagesPerS: number;
}

/** Outcome of `trainStep`: the report, or the non-finite loss that stopped it before the update. */
export type StepOutcome = { ok: true; report: StepReport } | { ok: false; loss: number; epoch: number };

/** How `run` ended. */
export interface RunOutcome {
  status: 'completed' | 'interrupted' | 'nan' | 'data';
  /** Why it stopped ('' when completed). */
  message: string;
  /** Loss of every step run in this call, by step index (0-based). */
  losses: Map<number, number>;
  /** Distinct skipped images. */
  skipped: number;
}

/** Options of `run`. */
export interface RunOptions {
  /** Called after every completed step, awaited, in order. */
  onStep?: (report: StepReport) => void | Promise<void>;
  /** Checked after every step (and its hooks): true saves and stops ('interrupted'). */
  shouldStop?: (step: number) => boolean;
  /** Called with each newly skipped image's message. */
  onSkip?: (message: string, count: number) => void;
}

const now = () => (globalThis.performance ? globalThis.performance.now() : Date.now());
/**
 * Let timers, signal handlers and UI messages run between steps (loader promises alone are microtasks):
 * setImmediate where the host has it (Node: no 1 ms timer clamp per step), else a zero timeout (browsers).
 */
const yieldToHost = () =>
  new Promise<void>((r) => {
    const immediate = (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate;
    if (immediate) immediate(r);
    else setTimeout(r, 0);
  });

/** A training run's state and phases. */
export class Trainer {
  step: number;
  rng: Rng;
  bestTop1: number | null = null;
  best: { step: number; top1: number } | null = null;
  lastEval: EvalResult | null = null;
  lastEvalStep = -1;
  log: (m: string) => void;
  readonly model: Module;
  readonly opt: SGD;
  readonly store: RunStore;
  readonly source: BatchSource;
  private readonly o: TrainerOptions;
  private readonly clock: () => number;
  private t0: number;
  /** Epoch of the last batch seen (for saves made by a stop). */
  private epoch = 0;
  /** Resolves when the heap for the first step is mapped (TrainerOptions.inputShape), to the bytes mapped. */
  readonly heapReady: Promise<number>;

  constructor(o: TrainerOptions) {
    this.o = o;
    this.model = o.model;
    this.opt = o.optimizer;
    this.source = o.source;
    this.store = o.store ?? new MemoryStore();
    this.rng = o.rng;
    this.step = o.step ?? 0;
    this.clock = o.clock ?? now;
    this.t0 = this.clock();
    this.log = o.log ?? (() => {});
    this.heapReady = prepareHeap(o.model, o.inputShape, o.accum ?? 1);
  }

  /** Steps per epoch of the source. */
  get stepsPerEpoch(): number {
    return this.source.numBatches();
  }
  /** Length of the schedule in steps. */
  get total(): number {
    return this.o.schedule.totalSteps;
  }
  /** The step this run stops after (stopAfter, else the schedule's end). */
  get stopAt(): number {
    const s = this.o.stopAfter ?? 0;
    return s > 0 ? Math.min(s, this.total) : this.total;
  }
  /** Whether there is a held-out set to evaluate on. */
  get canEvaluate(): boolean {
    return this.o.evalSource != null;
  }

  /** Restart the run's clock (records' time_s counts from here). */
  startClock(): void {
    this.t0 = this.clock();
  }

  /** One optimizer update from batch `b` (or the non-finite loss that stopped it before the update). */
  async trainStep(b: SourceBatch): Promise<StepOutcome> {
    const { opt, o } = this;
    const lr = o.schedule.lr(this.step);
    opt.setLr(lr);
    const alpha = o.mixup ?? 0;
    const mix = alpha > 0 ? mixupParams(b.labels.length, alpha, this.rng) : null;
    const ts = this.clock();
    const loss = await forwardBackward(this.model, b, { accum: o.accum, labelSmoothing: o.labelSmoothing, mix });
    if (!Number.isFinite(loss)) {
      opt.zeroGrad();
      return { ok: false, loss, epoch: b.epoch };
    }
    opt.step();
    opt.zeroGrad();
    this.step++;
    const t = this.clock();
    const imagesPerS = (b.labels.length * 1000) / Math.max(1e-3, t - ts);
    const report = { step: this.step, epoch: b.epoch, position: b.position, loss, lr, imagesPerS };
    this.store.append({
      type: 'train',
      step: this.step,
      epoch: b.epoch,
      loss,
      lr,
      images_per_s: imagesPerS,
      time_s: (t - this.t0) / 1000,
    });
    return { ok: true, report };
  }

  /**
   * Evaluate on the held-out source (null without one); records the result, and a new best Top-1 is saved
   * ('best'). `onPrediction` sees every held-out image's logits.
   */
  async evaluate(epoch: number, onPrediction?: PredictionHook): Promise<EvalResult | null> {
    if (this.o.evalSource == null) return null;
    const r = await evaluateBatches(this.model, this.o.evalSource, onPrediction);
    this.store.append({ type: 'eval', step: this.step, epoch, top1: r.top1, top5: r.top5, loss: r.loss });
    this.log(
      `eval step ${this.step}: Top_1_Accuracy ${r.top1.toFixed(2)} Top_5_Accuracy ${r.top5.toFixed(2)} loss ${r.loss.toFixed(4)}` +
        (r.nonFinite ? ` (${r.nonFinite} images with non-finite logits)` : ''),
    );
    this.lastEval = r;
    this.lastEvalStep = this.step;
    if (this.bestTop1 === null || r.top1 > this.bestTop1) {
      this.bestTop1 = r.top1;
      this.best = { step: this.step, top1: r.top1 };
      await this.save('best', 'best', epoch);
    }
    return r;
  }

  /** Save through the store (the reason is recorded; `epoch`: the current or completed epoch). */
  save(kind: SaveKind, reason: string, epoch: number): Promise<string | null> {
    const top1 = this.lastEvalStep === this.step && this.lastEval ? this.lastEval.top1 : null;
    return this.store.save(kind, { reason, step: this.step, epoch, top1 });
  }

  /** After the last batch of epoch `epoch`: evaluation, then one save, each at its interval (not at the end). */
  async endOfEpoch(epoch: number): Promise<void> {
    const done = epoch + 1;
    if (this.step >= this.total) return;
    const ev = this.o.evalEveryEpochs ?? 0;
    const sv = this.o.saveEveryEpochs ?? 0;
    if (ev > 0 && done % ev === 0) await this.evaluate(done);
    if (sv > 0 && done % sv === 0) await this.save('epoch', 'epoch', done);
  }

  /** The loop: batches, steps, hooks, epoch ends, stops (see the file comment). Ends with no final save. */
  async run(ro: RunOptions = {}): Promise<RunOutcome> {
    const losses = new Map<number, number>();
    const bad = new Set<string>();
    const maxBad = this.o.maxBadImages ?? 0;
    let it: AsyncIterator<SourceBatch> | null = null;
    const stop = async (status: RunOutcome['status'], message: string, save: string | null) => {
      const where = save ? await this.save('latest', save, this.epoch) : null;
      return { status, message: message.replaceAll('{ckpt}', where ?? 'none'), losses, skipped: bad.size };
    };
    try {
      while (this.step < this.stopAt) {
        it ??= this.source[Symbol.asyncIterator]();
        let r: IteratorResult<SourceBatch>;
        try {
          r = await it.next();
        } catch (e) {
          if (!(e instanceof DataError)) throw e;
          it = null;
          return await stop(
            'data',
            `${e.message}\nstopped before step ${this.step + 1}; checkpoint {ckpt} written (resume with --resume {ckpt}` +
              ' after fixing or removing the file, or set skip_bad_images: true to skip unreadable images)',
            'data-error',
          );
        }
        if (r.done) {
          it = null;
          continue;
        }
        const b = r.value;
        this.epoch = b.epoch;
        for (const m of b.skipped ?? []) {
          if (!bad.has(m)) ro.onSkip?.(m, bad.size + 1);
          bad.add(m);
          this.store.append({ type: 'skip', step: this.step, epoch: b.epoch, message: m });
        }
        if (bad.size > maxBad) {
          return await stop(
            'data',
            `${bad.size} unreadable images, over the skip_bad_images cap of ${maxBad}` +
              `${this.o.maxBadImagesWhy ? ` (${this.o.maxBadImagesWhy})` : ''}; checkpoint {ckpt} written. ` +
              'The dataset looks damaged',
            'data-error',
          );
        }
        if (b.labels.length === 0) continue; // every image of this batch was unreadable and skipped
        const out = await this.trainStep(b);
        if (!out.ok) {
          // no save: the last good checkpoint stays the resume point
          return {
            status: 'nan',
            message: `non-finite loss (${out.loss}) at step ${this.step} (epoch ${out.epoch}); stopped before the update`,
            losses,
            skipped: bad.size,
          };
        }
        const rep = out.report;
        losses.set(rep.step - 1, rep.loss);
        await ro.onStep?.(rep);
        if (rep.position === this.stepsPerEpoch - 1) await this.endOfEpoch(rep.epoch);
        await yieldToHost();
        if (ro.shouldStop?.(this.step)) {
          if (this.step < this.stopAt)
            return await stop(
              'interrupted',
              `interrupted after step ${this.step}; checkpoint {ckpt} (resume with --resume {ckpt})`,
              'interrupt',
            );
          break;
        }
      }
    } finally {
      await it?.return?.();
    }
    return { status: 'completed', message: '', losses, skipped: bad.size };
  }
}
