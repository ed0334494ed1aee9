/**
 * Classification losses built from differentiable ops (logSoftmax, mul by a constant target matrix, sum), so
 * gradients come from autograd. Targets are turned into a dense [N, C] probability matrix on the host:
 * - integer labels (a Tensor of class indices stored as floats, an Int32Array or a number[]) -> one-hot;
 * - label smoothing eps (PyTorch semantics): t = (1 - eps) * onehot + eps / C, which equals
 *   (1 - eps) * CE + eps * mean_c(-log p_c);
 * - MixUp: t = l * t_a + (1 - l) * t_b, which equals l * CE(y_a) + (1 - l) * CE(y_b) (CE is linear in t);
 * - soft targets: a [N, C] Tensor of probabilities is used as is.
 * Reductions: 'mean' over the batch (default), 'sum', 'none' ([N]). Sigmoid CE (multi-label) uses the stable
 * form max(x, 0) - x t + log(1 + exp(-|x|)) and PyTorch's 'mean' over all N x C elements.
 */

import { abs, exp, log, logSoftmax, maximum, mean, mul, neg, sum } from '../autograd/ops/index.js';
import { ConfigError, IndexError, ShapeError } from '../errors.js';
import { fromTyped } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';

/** Class indices: one per sample. */
export type Labels = Tensor | Int32Array | readonly number[];
export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** Label smoothing eps in [0, 1) (default 0). */
  labelSmoothing?: number;
}

function checkLogits(op: string, logits: Tensor): [number, number] {
  if (logits.ndim !== 2) throw new ShapeError(`${op}: expected logits [N, C], got [${logits.shape}]`);
  return [logits.shape[0], logits.shape[1]];
}

function labelArray(op: string, y: Labels, n: number, c: number): ArrayLike<number> {
  const arr: ArrayLike<number> =
    y instanceof Int32Array || Array.isArray(y) ? (y as ArrayLike<number>) : (y as Tensor).dataSync();
  if (arr.length !== n) throw new ShapeError(`${op}: ${arr.length} labels for a batch of ${n}`);
  for (let i = 0; i < n; i++) {
    const k = arr[i];
    if (!Number.isInteger(k) || k < 0 || k >= c) throw new IndexError(`${op}: label ${k} at ${i} is not in [0, ${c})`);
  }
  return arr;
}

/** Dense [N, C] target probabilities (host), label smoothing applied. */
function targetMatrix(op: string, y: Labels, n: number, c: number, eps: number): Float32Array {
  if (!(eps >= 0 && eps < 1)) throw new ConfigError(`${op}: labelSmoothing must be in [0, 1), got ${eps}`);
  const t = new Float32Array(n * c);
  const isSoft = !(y instanceof Int32Array) && !Array.isArray(y) && (y as Tensor).ndim === 2;
  if (isSoft) {
    const s = y as Tensor;
    if (s.shape[0] !== n || s.shape[1] !== c)
      throw new ShapeError(`${op}: soft targets [${s.shape}] for logits [${n},${c}]`);
    const d = s.dataSync();
    for (let i = 0; i < n * c; i++) t[i] = (1 - eps) * d[i] + eps / c;
    return t;
  }
  const lab = labelArray(op, y, n, c);
  t.fill(eps / c);
  for (let i = 0; i < n; i++) t[i * c + lab[i]] += 1 - eps;
  return t;
}

function reduce(perSample: Tensor, r: Reduction): Tensor {
  if (r === 'none') return perSample;
  if (r === 'sum') return sum(perSample);
  if (r === 'mean') return mean(perSample);
  throw new ConfigError(`loss: unknown reduction '${r}'`);
}

/** -sum_c t[n,c] * logSoftmax(logits)[n,c], reduced. */
function softCe(logits: Tensor, t: Float32Array, r: Reduction): Tensor {
  const target = fromTyped(t, logits.shape, { backend: logits.backend, dtype: logits.dtype });
  const per = neg(sum(mul(logSoftmax(logits, 1), target), 1));
  return reduce(per, r);
}

/**
 * Softmax cross-entropy. logits [N, C]; target: labels [N] or soft probabilities [N, C].
 * @returns a scalar (mean, sum) or [N] (none).
 */
export function crossEntropy(logits: Tensor, target: Labels, opts: CrossEntropyOptions = {}): Tensor {
  const [n, c] = checkLogits('crossEntropy', logits);
  const t = targetMatrix('crossEntropy', target, n, c, opts.labelSmoothing ?? 0);
  return softCe(logits, t, opts.reduction ?? 'mean');
}

/**
 * MixUp loss: lambda * CE(logits, yA) + (1 - lambda) * CE(logits, yB). logits [N, C]; yA, yB labels [N] (or
 * soft [N, C]). Label smoothing, if given, applies to both targets.
 */
export function mixupCrossEntropy(
  logits: Tensor,
  yA: Labels,
  yB: Labels,
  lambda: number,
  opts: CrossEntropyOptions = {},
): Tensor {
  const [n, c] = checkLogits('mixupCrossEntropy', logits);
  if (!(lambda >= 0 && lambda <= 1))
    throw new ConfigError(`mixupCrossEntropy: lambda must be in [0, 1], got ${lambda}`);
  const eps = opts.labelSmoothing ?? 0;
  const a = targetMatrix('mixupCrossEntropy', yA, n, c, eps);
  const b = targetMatrix('mixupCrossEntropy', yB, n, c, eps);
  for (let i = 0; i < a.length; i++) a[i] = lambda * a[i] + (1 - lambda) * b[i];
  return softCe(logits, a, opts.reduction ?? 'mean');
}

/**
 * Sigmoid (binary) cross-entropy per label, for multi-label targets. logits and targets [N, C] (targets in
 * [0, 1], a Tensor or a flat array). 'mean' averages over all N x C elements (PyTorch's BCEWithLogitsLoss);
 * 'none' returns [N, C].
 */
export function sigmoidCrossEntropy(
  logits: Tensor,
  targets: Tensor | ArrayLike<number>,
  opts: { reduction?: Reduction } = {},
): Tensor {
  const [n, c] = checkLogits('sigmoidCrossEntropy', logits);
  const data = 'dataSync' in (targets as object) ? (targets as Tensor).dataSync() : (targets as ArrayLike<number>);
  if (data.length !== n * c) throw new ShapeError(`sigmoidCrossEntropy: ${data.length} targets for logits [${n},${c}]`);
  const t = fromTyped(data, logits.shape, { backend: logits.backend, dtype: logits.dtype });
  const softplusNegAbs = log(exp(neg(abs(logits))).add(1));
  // maximum (not relu): at x = 0 the tie splits the gradient evenly, giving sigmoid(0) - t = 0.5 - t exactly
  const per = maximum(logits, 0).sub(mul(logits, t)).add(softplusNegAbs);
  return reduce(per, opts.reduction ?? 'mean');
}
