/**
 * Evaluation, platform-free (src/train/core): Top-1 / Top-5 accuracy in percent (MindCV's Top_1_Accuracy /
 * Top_5_Accuracy) and the mean cross-entropy over any iterable of host batches, in eval mode under noGrad, one
 * tidy scope per batch. Every front end (the CLI's `validate`, the trainer, the study page, the benches) scores
 * with this one rule.
 *
 * The rule (`rankOf`): a prediction's rank is the number of OTHER classes whose logit is >= the label's, so a tie
 * counts against the label; a row holding a NaN or an infinity ranks the label last (C): it is never right at any k,
 * whatever comparisons with NaN would say, and is counted in `nonFinite`. The mean loss is taken as computed (NaN /
 * Inf when any row's is: a diverged model reads as such, never hidden).
 *
 * Invariants: every image counts once; Top-5 with fewer than 5 classes counts a hit when the label's rank is
 * below C; the model's train/eval mode is restored. Readback is asynchronous (`await t.data()` after each tidy
 * scope), so evaluation runs on every backend, WebGPU included.
 */

import { crossEntropy, type Module } from '../../nn/index.js';
import { fromTyped, noGrad, tidy } from '../../tensor/index.js';
import type { HostBatch } from './step.js';

/** Evaluation metrics. */
export interface EvalResult {
  /** Percent of images whose label ranks first. */
  top1: number;
  /** Percent of images whose label ranks among the first five. */
  top5: number;
  /** Mean cross-entropy (NaN / Inf when any image's is). */
  loss: number;
  /** Images scored. */
  count: number;
  /** Images whose logits hold a NaN or an infinity (each counted wrong). */
  nonFinite: number;
}

/**
 * Rank of `label` among the row's logits `row[off .. off + c)` (0 = the prediction): how many other classes have a
 * logit >= the label's, so ties count against the label. A row holding a non-finite logit ranks the label last (c).
 */
export function rankOf(row: ArrayLike<number>, off: number, c: number, label: number): number {
  for (let j = 0; j < c; j++) if (!Number.isFinite(row[off + j]!)) return c;
  const v = row[off + label]!;
  let r = 0;
  for (let j = 0; j < c; j++) if (j !== label && row[off + j]! >= v) r++;
  return r;
}

/** Rows of `logits` [n, c] holding a NaN or an infinity. */
export function countNonFiniteRows(logits: ArrayLike<number>, n: number, c: number): number {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      if (!Number.isFinite(logits[i * c + j]!)) {
        bad++;
        break;
      }
    }
  }
  return bad;
}

/** The loud line for an evaluation whose outputs were not all finite, or null when they were. */
export function nonFiniteWarning(r: Pick<EvalResult, 'nonFinite' | 'count' | 'loss'>): string | null {
  if (r.nonFinite === 0 && Number.isFinite(r.loss)) return null;
  return (
    `the model's outputs are not finite: ${r.nonFinite} of ${r.count} images gave NaN/Inf logits (counted wrong), ` +
    `loss ${r.loss}; the weights or the input are damaged`
  );
}

/**
 * Logits [N, C] of one batch (no graph), read back asynchronously (any backend) and freed.
 */
export async function predictBatch(model: Module, b: Pick<HostBatch, 'images' | 'shape'>): Promise<Float32Array> {
  const logits = noGrad(() => tidy(() => model.forward(fromTyped(b.images, b.shape))));
  try {
    return Float32Array.from(await logits.data());
  } finally {
    logits.dispose();
  }
}

/** Indices of the k largest values of row `i` (descending; NaN last). */
export function topK(logits: Float32Array, c: number, i: number, k: number): number[] {
  const key = (j: number) => {
    const v = logits[i * c + j]!;
    return Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
  };
  const idx = Array.from({ length: c }, (_, j) => j);
  idx.sort((a, b) => key(b) - key(a) || a - b);
  return idx.slice(0, Math.min(k, c));
}

/** Optional per-image hook of `evaluateBatches`: the logits row, its label and its rank. */
export type PredictionHook = (logits: Float32Array, label: number, rank: number) => void;

/**
 * Evaluate `model` on every batch of `batches` (e.g. one epoch of a loader, or an in-memory list).
 * `onPrediction` sees every image's logits (the study page's grid of held-out predictions).
 */
export async function evaluateBatches(
  model: Module,
  batches: AsyncIterable<HostBatch> | Iterable<HostBatch>,
  onPrediction?: PredictionHook,
): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  let n = 0;
  let c1 = 0;
  let c5 = 0;
  let bad = 0;
  let lossSum = 0;
  try {
    for await (const b of batches) {
      const bs = b.labels.length;
      if (bs === 0) continue;
      const [logitsT, lossT] = noGrad(() =>
        tidy(() => {
          const logits = model.forward(fromTyped(b.images, b.shape));
          return [logits, crossEntropy(logits, b.labels, { reduction: 'sum' })] as const;
        }),
      );
      let logits: Float32Array;
      const c = logitsT.shape[1]!;
      try {
        const [lg, ls] = await Promise.all([logitsT.data(), lossT.data()]);
        logits = Float32Array.from(lg);
        lossSum += ls[0]!;
      } finally {
        logitsT.dispose();
        lossT.dispose();
      }
      bad += countNonFiniteRows(logits, bs, c);
      for (let i = 0; i < bs; i++) {
        const row = logits.subarray(i * c, (i + 1) * c);
        const r = rankOf(row, 0, c, b.labels[i]!);
        if (r === 0) c1++;
        if (r < 5) c5++;
        onPrediction?.(row, b.labels[i]!, r);
      }
      n += bs;
    }
  } finally {
    model.train(wasTraining);
  }
  const pct = (k: number) => (n ? (100 * k) / n : 0);
  return { top1: pct(c1), top5: pct(c5), loss: n ? lossSum / n : 0, count: n, nonFinite: bad };
}
