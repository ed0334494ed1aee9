/**
 * A compact train/evaluate loop over decode-once caches (uint8 HWC in memory), for the many short runs of the
 * reproductions. src/train's `train()` reads and decodes JPEGs through the DataLoader every epoch, which at
 * ~10 ms per image would dominate runs of a few seconds; here augmentation is done on cached pixels and the
 * step itself is src/train's `forwardBackward` (MixUp, tidy scopes) followed by SGD.
 *
 * Augmentation is BiT's: square resize to `precrop` (done once per run, into the pool), random `crop` crop,
 * horizontal flip p = 0.5, pixels to [-1, 1] (x / 127.5 - 1); evaluation uses images already at the crop side.
 * Sampling: concatenated seeded permutations of the pool (any pool size, including k * C < batch).
 * Invariants: one Rng stream per (seed, purpose), so a run is a pure function of its config and seed; the
 * step's tensors live in tidy scopes and the optimizer is disposed, so memory stays flat across runs.
 */

import { mixupParams, Rng, resize } from '../../src/data/index.js';
import type { Module } from '../../src/nn/index.js';
import { crossEntropy, noDecayGroups, SGD } from '../../src/nn/index.js';
import { fromTyped, noGrad, tidy } from '../../src/tensor/index.js';
import { forwardBackward, type HostBatch } from '../../src/train/step.js';
import type { ImageCache } from './cache.js';

/** Images of one square size with labels (uint8 HWC RGB). */
export interface Pool {
  n: number;
  size: number;
  data: Uint8Array;
  labels: Int32Array;
}

/** The members `indices` of `cache`, resampled to `size` when the cache has another size. */
export function subsetPool(cache: ImageCache, indices: ArrayLike<number>, size: number): Pool {
  const s0 = cache.size;
  const per0 = s0 * s0 * 3;
  const per = size * size * 3;
  const data = new Uint8Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    labels[j] = cache.labels[i]!;
    const src = cache.data.subarray(i * per0, (i + 1) * per0);
    if (s0 === size) {
      data.set(src, j * per);
      continue;
    }
    const r = resize({ data: src, height: s0, width: s0, channels: 3 }, size, size).data;
    for (let q = 0; q < per; q++) data[j * per + q] = Math.min(255, Math.max(0, Math.round(r[q]!)));
  }
  return { n: indices.length, size, data, labels };
}

/** A training batch: random crop + flip of pool members `idx`, NCHW in [-1, 1]. */
export function trainBatch(pool: Pool, idx: readonly number[], crop: number, rng: Rng): HostBatch {
  const s = pool.size;
  const n = idx.length;
  const plane = crop * crop;
  const images = new Float32Array(n * 3 * plane);
  const labels = new Int32Array(n);
  idx.forEach((i, b) => {
    labels[b] = pool.labels[i]!;
    const top = rng.nextInt(s - crop + 1);
    const left = rng.nextInt(s - crop + 1);
    const flip = rng.nextFloat() < 0.5;
    const base = i * s * s * 3;
    for (let y = 0; y < crop; y++) {
      for (let x = 0; x < crop; x++) {
        const sx = left + (flip ? crop - 1 - x : x);
        const p = base + ((top + y) * s + sx) * 3;
        const o = b * 3 * plane + y * crop + x;
        images[o] = pool.data[p]! / 127.5 - 1;
        images[o + plane] = pool.data[p + 1]! / 127.5 - 1;
        images[o + 2 * plane] = pool.data[p + 2]! / 127.5 - 1;
      }
    }
  });
  return { images, shape: [n, 3, crop, crop], labels };
}

/** Pool members [a, b) as an evaluation batch (no augmentation). */
export function evalBatch(pool: Pool, a: number, b: number): HostBatch {
  const s = pool.size;
  const plane = s * s;
  const n = b - a;
  const images = new Float32Array(n * 3 * plane);
  for (let j = 0; j < n; j++) {
    const base = (a + j) * plane * 3;
    for (let q = 0; q < plane; q++) {
      for (let c = 0; c < 3; c++) images[j * 3 * plane + c * plane + q] = pool.data[base + q * 3 + c]! / 127.5 - 1;
    }
  }
  return { images, shape: [n, 3, s, s], labels: pool.labels.slice(a, b) };
}

/** What a training run does. */
export interface TrainPlan {
  steps: number;
  batch: number;
  /** lr at a step (0-based). */
  lr: (step: number) => number;
  momentum: number;
  weightDecay: number;
  mixupAlpha: number;
  crop: number;
  seed: number;
  log?: (msg: string) => void;
  logEvery?: number;
}

/** Outcome of `trainModel`. */
export interface TrainStats {
  wallS: number;
  images: number;
  imagesPerS: number;
  /** Mean loss over the first and last 10% of steps. */
  firstLoss: number;
  lastLoss: number;
}

const ORDER_STREAM = 0x0d3;
const AUG_STREAM = 0xa06;
const MIX_STREAM = 0x313;

/** Train `model` on `pool` as `plan` says (SGD with momentum; weight decay off norm params and biases). */
export async function trainModel(model: Module, pool: Pool, plan: TrainPlan): Promise<TrainStats> {
  const named = model.namedParameters();
  const opt =
    plan.weightDecay > 0
      ? new SGD(noDecayGroups(named, plan.weightDecay), { lr: plan.lr(0), momentum: plan.momentum })
      : new SGD(named, { lr: plan.lr(0), momentum: plan.momentum });
  const order = Rng.derive(plan.seed, ORDER_STREAM);
  const aug = Rng.derive(plan.seed, AUG_STREAM);
  const mixRng = Rng.derive(plan.seed, MIX_STREAM);
  let perm = order.permutation(pool.n);
  let pos = 0;
  const losses: number[] = [];
  model.train();
  const t0 = performance.now();
  try {
    for (let step = 0; step < plan.steps; step++) {
      const idx: number[] = [];
      while (idx.length < plan.batch) {
        if (pos >= perm.length) {
          perm = order.permutation(pool.n);
          pos = 0;
        }
        idx.push(perm[pos++]!);
      }
      const batch = trainBatch(pool, idx, plan.crop, aug);
      const mix = plan.mixupAlpha > 0 ? mixupParams(plan.batch, plan.mixupAlpha, mixRng) : null;
      opt.setLr(plan.lr(step));
      const loss = await forwardBackward(model, batch, { mix });
      if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss} at step ${step}`);
      opt.step();
      opt.zeroGrad();
      losses.push(loss);
      const every = plan.logEvery ?? 0;
      if (plan.log && every > 0 && (step + 1) % every === 0) {
        const s = (performance.now() - t0) / 1000;
        plan.log(
          `  step ${step + 1}/${plan.steps} loss ${loss.toFixed(4)} lr ${plan.lr(step).toExponential(2)} (${s.toFixed(0)} s)`,
        );
      }
    }
  } finally {
    opt.dispose();
  }
  const wallS = (performance.now() - t0) / 1000;
  const tenth = Math.max(1, Math.floor(losses.length / 10));
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
  const images = plan.steps * plan.batch;
  return {
    wallS,
    images,
    imagesPerS: images / wallS,
    firstLoss: mean(losses.slice(0, tenth)),
    lastLoss: mean(losses.slice(-tenth)),
  };
}

/** Outcome of `evaluatePool`. */
export interface EvalStats {
  top1: number;
  loss: number;
  count: number;
  wallS: number;
  imagesPerS: number;
}

/** Top-1 (%) and mean cross-entropy of `model` on every member of `pool`, eval mode, no graph. */
export async function evaluatePool(model: Module, pool: Pool, batch = 100): Promise<EvalStats> {
  const was = model.training;
  model.eval();
  let correct = 0;
  let lossSum = 0;
  const t0 = performance.now();
  try {
    for (let a = 0; a < pool.n; a += batch) {
      const b = Math.min(pool.n, a + batch);
      const hb = evalBatch(pool, a, b);
      const [logitsT, lossT] = noGrad(() =>
        tidy(() => {
          const logits = model.forward(fromTyped(hb.images, hb.shape));
          return [logits, crossEntropy(logits, hb.labels, { reduction: 'sum' })] as const;
        }),
      );
      const r = {
        logits: Float32Array.from(await logitsT.data()),
        c: logitsT.shape[1]!,
        loss: (await lossT.data())[0]!,
      };
      logitsT.dispose();
      lossT.dispose();
      lossSum += r.loss;
      for (let i = 0; i < b - a; i++) {
        let best = 0;
        for (let j = 1; j < r.c; j++) if (r.logits[i * r.c + j]! > r.logits[i * r.c + best]!) best = j;
        if (best === hb.labels[i]) correct++;
      }
    }
  } finally {
    model.train(was);
  }
  const wallS = (performance.now() - t0) / 1000;
  return { top1: (100 * correct) / pool.n, loss: lossSum / pool.n, count: pool.n, wallS, imagesPerS: pool.n / wallS };
}
