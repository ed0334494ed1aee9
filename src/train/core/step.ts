/**
 * One optimizer update's forward/backward work: optional MixUp on the host, the batch split into
 * `accum` micro-batches, each forward+backward in its own tidy scope with its mean loss scaled by
 * (micro size / batch size), so the accumulated gradient equals the full batch's mean-loss gradient.
 *
 * Equality holds exactly (up to float summation order) for GroupNorm models: GN statistics are per sample,
 * so splitting the batch changes nothing but the order of the gradient sums. With BatchNorm it does NOT hold:
 * batch statistics over a micro-batch differ from those over the full batch.
 *
 * Invariants: the optimizer is not stepped here (the caller checks the loss first); gradients accumulate in
 * the parameters' `.grad`; no tensor created here outlives the call. Readback is asynchronous (`await
 * t.data()`), so the step runs on backends that cannot read synchronously (WebGPU): each micro-batch's tidy
 * scope returns its scaled loss tensor, which is read after the scope closes and then disposed. Platform-free
 * (src/train/core): it imports the data layer's MixUp module directly, not the Node data entry.
 */

import { type MixupParams, mixBatch, mixupLabels } from '../../data/mixup.js';
import { crossEntropy, type Module, mixupCrossEntropy } from '../../nn/index.js';
import { fromTyped, type Tensor, tidy } from '../../tensor/index.js';

/** A host batch. */
export interface HostBatch {
  images: Float32Array;
  shape: readonly [number, number, number, number] | readonly number[];
  labels: Int32Array;
}

/** Options of `forwardBackward`. */
export interface StepOptions {
  accum?: number;
  labelSmoothing?: number;
  mix?: MixupParams | null;
}

/**
 * Forward and backward over `batch` (gradients accumulate into the model's parameters).
 * @returns the batch's mean loss (the value the full-batch loss would have).
 */
export async function forwardBackward(model: Module, batch: HostBatch, o: StepOptions = {}): Promise<number> {
  const n = batch.labels.length;
  const [, c, h, w] = batch.shape as [number, number, number, number];
  const per = c * h * w;
  const accum = Math.max(1, Math.min(o.accum ?? 1, n));
  const mix = o.mix && o.mix.lambda < 1 ? o.mix : null;
  const images = mix ? mixBatch(batch.images, mix.perm, mix.lambda) : batch.images;
  const yB = mix ? mixupLabels(batch.labels, mix.perm) : null;
  const ls = o.labelSmoothing ?? 0;
  const parts: Tensor[] = [];
  const weights: number[] = [];
  for (let i = 0; i < accum; i++) {
    const a = Math.floor((i * n) / accum);
    const b = Math.floor(((i + 1) * n) / accum);
    if (b <= a) continue;
    const weight = (b - a) / n;
    parts.push(
      tidy(() => {
        const x = fromTyped(images.subarray(a * per, b * per), [b - a, c, h, w]);
        const logits = model.forward(x);
        const ya = batch.labels.subarray(a, b);
        const loss = yB
          ? mixupCrossEntropy(logits, ya, yB.subarray(a, b), mix!.lambda, { labelSmoothing: ls })
          : crossEntropy(logits, ya, { labelSmoothing: ls });
        (weight === 1 ? loss : loss.mul(weight)).backward();
        // backward() frees the graph, not the value: the loss survives the scope as the returned tensor.
        return loss.detach();
      }),
    );
    weights.push(weight);
  }
  let total = 0;
  try {
    for (let i = 0; i < parts.length; i++) total += (await parts[i]!.data())[0]! * weights[i]!;
  } finally {
    for (const t of parts) t.dispose();
  }
  return total;
}
