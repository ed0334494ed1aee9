/**
 * Evaluation: Top-1 / Top-5 accuracy (in percent, MindCV's Top_1_Accuracy / Top_5_Accuracy) and the mean
 * cross-entropy over a loader, in eval mode under noGrad, one tidy scope per batch (memory stays flat).
 *
 * Invariants: every image counts once; Top-5 with fewer than 5 classes counts a hit when the label is among
 * all classes (always 100%); the model's train/eval mode is restored. Readback is asynchronous (`await
 * t.data()` after each tidy scope), so evaluation runs on every backend, WebGPU included.
 * A row of logits holding a NaN or an infinity is wrong (never a hit at Top-1 or Top-5) and is counted in
 * `nonFinite`; the loss is NaN/Inf when any row's is, never hidden.
 */

import type { Batch, DataLoader } from '../data/index.js';
import type { Module } from '../nn/index.js';
import { crossEntropy } from '../nn/index.js';
import { fromTyped, noGrad, tidy } from '../tensor/index.js';

/** Evaluation metrics. */
export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  count: number;
  /** Images whose logits hold a NaN or an infinity (each counted wrong). */
  nonFinite: number;
}

/**
 * Rank of `label` among the row's logits (0 = the argmax); ties count against the label. A row holding a
 * non-finite logit ranks the label last (c): it is never right, whatever the comparisons with NaN say.
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

/**
 * Logits [N, C] of one batch (no graph). The caller disposes nothing: values are read back (asynchronously,
 * so any backend works) after the tidy scope, and the logits tensor is freed.
 */
export async function predictBatch(model: Module, b: Pick<Batch, 'images' | 'shape'>): Promise<Float32Array> {
  const logits = noGrad(() => tidy(() => model.forward(fromTyped(b.images, b.shape))));
  try {
    return Float32Array.from(await logits.data());
  } finally {
    logits.dispose();
  }
}

/** Evaluate `model` on every batch of `loader` (one epoch of it). */
export async function evaluate(model: Module, loader: DataLoader): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  let n = 0;
  let c1 = 0;
  let c5 = 0;
  let lossSum = 0;
  let nonFinite = 0;
  try {
    for await (const b of loader) {
      const bs = b.labels.length;
      const [logitsT, lossT] = noGrad(() =>
        tidy(() => {
          const logits = model.forward(fromTyped(b.images, b.shape));
          return [logits, crossEntropy(logits, b.labels, { reduction: 'sum' })] as const;
        }),
      );
      let out: { logits: Float32Array; c: number; loss: number };
      try {
        const [lg, ls] = await Promise.all([logitsT.data(), lossT.data()]);
        out = { logits: Float32Array.from(lg), c: logitsT.shape[1]!, loss: ls[0]! };
      } finally {
        logitsT.dispose();
        lossT.dispose();
      }
      lossSum += out.loss;
      nonFinite += countNonFiniteRows(out.logits, bs, out.c);
      for (let i = 0; i < bs; i++) {
        const r = rankOf(out.logits, i * out.c, out.c, b.labels[i]!);
        if (r === 0) c1++;
        if (r < 5) c5++;
      }
      n += bs;
    }
  } finally {
    model.train(wasTraining);
  }
  return { top1: n ? (100 * c1) / n : 0, top5: n ? (100 * c5) / n : 0, loss: n ? lossSum / n : 0, count: n, nonFinite };
}

/** The loud line for an evaluation whose outputs were not all finite, or null when they were. */
export function nonFiniteWarning(r: Pick<EvalResult, 'nonFinite' | 'count' | 'loss'>): string | null {
  if (r.nonFinite === 0 && Number.isFinite(r.loss)) return null;
  return (
    `the model's outputs are not finite: ${r.nonFinite} of ${r.count} images gave NaN/Inf logits (counted wrong), ` +
    `loss ${r.loss}; the weights or the input are damaged`
  );
}

/** Indices of the k largest values of row `i` (descending; NaN sorts last). */
export function topK(logits: Float32Array, c: number, i: number, k: number): number[] {
  const idx = Array.from({ length: c }, (_, j) => j);
  const key = (j: number) => {
    const v = logits[i * c + j]!;
    return Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v;
  };
  idx.sort((a, b) => key(b) - key(a) || a - b);
  return idx.slice(0, Math.min(k, c));
}
