/**
 * Decode + augment + collate of one batch, shared by the in-process loader path and loader workers so both give
 * bit-identical batches. Each sample's augmentation generator is derived from (seed, epoch, sample position in
 * the epoch), never from worker identity or timing, so results do not depend on the worker count.
 * Invariant: all samples of a batch must transform to the same C x H x W, else DataError.
 */
import { DataError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { Rng } from './rng.js';
import { applyTransform, type TransformSpec } from './transforms.js';

/** Stream tag for per-sample augmentation generators. */
export const SAMPLE_STREAM = 0xa09;

/** Generator of the augmentation of the sample at `position` (0-based, within the epoch) of `epoch`. */
export function sampleRng(seed: number, epoch: number, position: number): Rng {
  return Rng.derive(seed, SAMPLE_STREAM, epoch, position);
}

/** Collated batch content (without epoch/position bookkeeping). */
export interface BatchData {
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** With `skipBad`: the DataError message of each sample left out (the batch is that much smaller). */
  skipped?: string[];
  /** With skipped samples: the dataset indices actually in the batch. */
  kept?: Int32Array;
}

/**
 * Loads, transforms and stacks `indices` into an NCHW batch.
 * @param firstPosition epoch position of indices[0] (the following samples are consecutive)
 * @param skipBad leave out samples whose read/decode throws a DataError (reported in `skipped`) instead of
 *   failing the batch; the other samples keep their augmentation streams (positions are not shifted)
 * @throws DataError on a decode failure (unless skipBad) or when samples end up with different sizes
 */
export function collateBatch(
  dataset: Dataset,
  spec: TransformSpec,
  indices: ArrayLike<number>,
  seed: number,
  epoch: number,
  firstPosition: number,
  skipBad = false,
): BatchData {
  const skipped: string[] = [];
  const keep: number[] = [];
  const got: { image: ReturnType<Dataset['get']>['image']; label: number; j: number }[] = [];
  for (let j = 0; j < indices.length; j++) {
    try {
      const { image, label } = dataset.get(indices[j]!);
      got.push({ image, label, j });
      keep.push(indices[j]!);
    } catch (e) {
      if (!(skipBad && e instanceof DataError)) throw e;
      skipped.push(e.message);
    }
  }
  const n = got.length;
  const labels = new Int32Array(n);
  let images: Float32Array | null = null;
  let shape: [number, number, number, number] = [n, 0, 0, 0];
  let per = 0;
  for (let k = 0; k < n; k++) {
    const { image, label, j } = got[k]!;
    const idx = indices[j]!;
    const s = applyTransform(spec, image, sampleRng(seed, epoch, firstPosition + j));
    if (images === null) {
      shape = [n, s.channels, s.height, s.width];
      per = s.data.length;
      images = new Float32Array(n * per);
    } else if (s.channels !== shape[1] || s.height !== shape[2] || s.width !== shape[3]) {
      throw new DataError(
        `mixed-size batch: dataset index ${idx} transforms to ${s.channels}x${s.height}x${s.width} but the batch is ` +
          `${shape[1]}x${shape[2]}x${shape[3]} (index ${indices[0]}); use a transform with a resize (bit-eval, plain with size)`,
      );
    }
    images.set(s.data, k * per);
    labels[k] = label;
  }
  const out: BatchData = { images: images ?? new Float32Array(0), shape, labels };
  if (skipped.length) {
    out.skipped = skipped;
    out.kept = Int32Array.from(keep);
  }
  return out;
}
