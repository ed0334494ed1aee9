/**
 * Evaluation over a Node DataLoader: one epoch of it through the platform-free core's `evaluateBatches`
 * (./core/evaluate.ts), which holds the one Top-1 / Top-5 rule (ties count against the label; a row holding a NaN
 * or an infinity is wrong and counted in `nonFinite`; the loss is NaN/Inf when any row's is, never hidden).
 * The rule's helpers are re-exported here for the CLI.
 */

import type { DataLoader } from '../data/index.js';
import type { Module } from '../nn/index.js';
import { type EvalResult, evaluateBatches } from './core/evaluate.js';

export {
  countNonFiniteRows,
  type EvalResult,
  nonFiniteWarning,
  predictBatch,
  rankOf,
  topK,
} from './core/evaluate.js';

/** Evaluate `model` on every batch of `loader` (one epoch of it). */
export function evaluate(model: Module, loader: DataLoader): Promise<EvalResult> {
  return evaluateBatches(model, loader);
}
