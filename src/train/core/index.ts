/**
 * The platform-free training core: the Trainer (one options object), the step, evaluation (one NaN-aware Top-1
 * rule), LR schedules, and the BatchSource / RunStore interfaces at its boundary. Bundles for browsers (checked by
 * test/web/browser-bundle.test.ts); imports no Node module (test/train/core-platform.test.ts).
 */

export {
  type BatchSource,
  type EvalRecord,
  MemoryStore,
  type MetricRecord,
  type RunStore,
  type SaveInfo,
  type SaveKind,
  type SkipRecord,
  type SourceBatch,
  type TrainRecord,
} from './boundary.js';
export {
  countNonFiniteRows,
  type EvalResult,
  evaluateBatches,
  nonFiniteWarning,
  type PredictionHook,
  predictBatch,
  rankOf,
  topK,
} from './evaluate.js';
export {
  buildSchedule,
  hyperRuleBoundaries,
  hyperRuleLrAt,
  type Schedule,
  scaledHyperRule,
} from './schedule.js';
export { forwardBackward, type HostBatch, type StepOptions } from './step.js';
export {
  type RunOptions,
  type RunOutcome,
  type StepOutcome,
  type StepReport,
  Trainer,
  type TrainerOptions,
} from './trainer.js';
