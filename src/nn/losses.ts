/**
 * Classification losses built from differentiable ops (logSoftmax, mul by a constant target matrix, sum), so
 * gradients come from autograd. Soft targets (a [N, C] Tensor) and sigmoid targets stay on their device (no
 * readback); integer labels are validated and turned into a dense [N, C] probability matrix on the host:
 * - integer labels (a Tensor of class indices stored as floats, an Int32Array or a number[]) -> one-hot;
 * - label smoothing eps (PyTorch semantics): t = (1 - eps) * onehot + eps / C, which equals
 *   (1 - eps) * CE + eps * mean_c(-log p_c);
 * - MixUp: t = l * t_a + (1 - l) * t_b, which equals l * CE(y_a) + (1 - l) * CE(y_b) (CE is linear in t);
 * - soft targets: a [N, C] Tensor of probabilities is used as is.
 * Reductions: 'mean' over the batch (default), 'sum', 'none' ([N]). Sigmoid CE (multi-label) uses the stable
 * form max(x, 0) - x t + log(1 + exp(-|x|)) and PyTorch's 'mean' over all N x C elements.
 */

import { abs, exp, log, logSoftmax, maximum, mean, mul, neg, sum } from '../autograd/ops/index.js';
import { BackendError, ConfigError, IndexError, ShapeError } from '../errors.js';
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

/**
 * Host values of a target Tensor. Integer labels are needed on the host (validated, then one-hot); on a backend
 * that reads back only asynchronously (WebGPU) that needs `await t.data()` first, so say so instead of failing
 * deep in the backend.
 */
function hostValues(op: string, t: Tensor): ArrayLike<number> {
  try {
    return t.dataSync();
  } catch (e) {
    if (!(e instanceof BackendError)) throw e;
    throw new BackendError(
      `${op}: target labels are a Tensor on ${t.backend.name}, which reads back only asynchronously; pass them as ` +
        `an Int32Array or number[] (e.g. Int32Array.from(await labels.data()))`,
    );
  }
}

function labelArray(op: string, y: Labels, n: number, c: number): ArrayLike<number> {
  const arr: ArrayLike<number> =
    y instanceof Int32Array || Array.isArray(y) ? (y as ArrayLike<number>) : hostValues(op, y as Tensor);
  if (arr.length !== n) throw new ShapeError(`${op}: ${arr.length} labels for a batch of ${n}`);
  for (let i = 0; i < n; i++) {
    const k = arr[i];
    if (!Number.isInteger(k) || k < 0 || k >= c) throw new IndexError(`${op}: label ${k} at ${i} is not in [0, ${c})`);
  }
  return arr;
}

/** Whether `y` is a soft-target Tensor [N, C] (kept on its device) rather than labels. */
function isSoft(y: Labels): y is Tensor {
  return !(y instanceof Int32Array) && !Array.isArray(y) && (y as Tensor).ndim === 2;
}

/** Soft targets [N, C] on the logits' device with label smoothing applied (no readback). */
function softTargets(op: string, s: Tensor, logits: Tensor, eps: number): Tensor {
  const [n, c] = logits.shape;
  if (s.shape[0] !== n || s.shape[1] !== c)
    throw new ShapeError(`${op}: soft targets [${s.shape}] for logits [${n},${c}]`);
  return eps === 0
    ? s.detach()
    : s
        .detach()
        .mul(1 - eps)
        .add(eps / c);
}

/** Dense [N, C] target probabilities (host) from labels, label smoothing applied. */
function targetMatrix(op: string, y: Labels, n: number, c: number, eps: number): Float32Array {
  if (!(eps >= 0 && eps < 1)) throw new ConfigError(`${op}: labelSmoothing must be in [0, 1), got ${eps}`);
  const t = new Float32Array(n * c);
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

/** -sum_c t[n,c] * logSoftmax(logits)[n,c], reduced. `t` is a host matrix or a device tensor [N, C]. */
function softCe(logits: Tensor, t: Float32Array | Tensor, r: Reduction): Tensor {
  const target =
    t instanceof Float32Array ? fromTyped(t, logits.shape, { backend: logits.backend, dtype: logits.dtype }) : t;
  const per = neg(sum(mul(logSoftmax(logits, 1), target), 1));
  return reduce(per, r);
}

/** Targets for `op` as a host matrix (labels) or a device tensor (soft targets), smoothing applied. */
function targets(op: string, y: Labels, logits: Tensor, eps: number): Float32Array | Tensor {
  if (!(eps >= 0 && eps < 1)) throw new ConfigError(`${op}: labelSmoothing must be in [0, 1), got ${eps}`);
  const [n, c] = logits.shape;
  return isSoft(y) ? softTargets(op, y, logits, eps) : targetMatrix(op, y, n, c, eps);
}

/**
 * Softmax cross-entropy. logits [N, C]; target: labels [N] or soft probabilities [N, C].
 * @returns a scalar (mean, sum) or [N] (none).
 */
export function crossEntropy(logits: Tensor, target: Labels, opts: CrossEntropyOptions = {}): Tensor {
  checkLogits('crossEntropy', logits);
  return softCe(logits, targets('crossEntropy', target, logits, opts.labelSmoothing ?? 0), opts.reduction ?? 'mean');
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
  const a = targets('mixupCrossEntropy', yA, logits, eps);
  const b = targets('mixupCrossEntropy', yB, logits, eps);
  if (a instanceof Float32Array && b instanceof Float32Array) {
    for (let i = 0; i < a.length; i++) a[i] = lambda * a[i] + (1 - lambda) * b[i];
    return softCe(logits, a, opts.reduction ?? 'mean');
  }
  const dev = (t: Float32Array | Tensor) =>
    t instanceof Float32Array ? fromTyped(t, [n, c], { backend: logits.backend, dtype: logits.dtype }) : t;
  return softCe(
    logits,
    dev(a)
      .mul(lambda)
      .add(dev(b).mul(1 - lambda)),
    opts.reduction ?? 'mean',
  );
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
  let t: Tensor;
  if ('storage' in (targets as object)) {
    const tt = targets as Tensor;
    if (tt.size !== n * c) throw new ShapeError(`sigmoidCrossEntropy: ${tt.size} targets for logits [${n},${c}]`);
    t = tt.detach().reshape([n, c]); // stays on its device: no readback
  } else {
    const data = targets as ArrayLike<number>;
    if (data.length !== n * c)
      throw new ShapeError(`sigmoidCrossEntropy: ${data.length} targets for logits [${n},${c}]`);
    t = fromTyped(data, logits.shape, { backend: logits.backend, dtype: logits.dtype });
  }
  const softplusNegAbs = log(exp(neg(abs(logits))).add(1));
  // maximum (not relu): at x = 0 the tie splits the gradient evenly, giving sigmoid(0) - t = 0.5 - t exactly
  const per = maximum(logits, 0).sub(mul(logits, t)).add(softplusNegAbs);
  return reduce(per, opts.reduction ?? 'mean');
}
