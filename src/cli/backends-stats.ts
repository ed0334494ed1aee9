/**
 * `bit-ts backends --stats`: run a few training steps of a model on one backend and print, per step in steady
 * state, the step time and what crossed between host and device: kernel launches, uploads and their bytes,
 * readbacks and their bytes (the gpu.js backends count them; `transfers()`). On gpujs-webgpu the target is
 * uploads = the batch and its labels, readbacks = 1 (the loss): parameters and optimizer state stay on the device.
 *
 * Invariants: the batch is uploaded fresh every step (as a trainer does); the last step is the one reported.
 */

import { ConfigError } from '../errors.js';
import { createModel } from '../models/index.js';
import { crossEntropy, SGD } from '../nn/index.js';
import type { Backend } from '../tensor/backend.js';
import { diffTransferStats, type TransferStats } from '../tensor/backends/gpujs/index.js';
import { getBackend } from '../tensor/backends/registry.js';
import { fromTyped, Rng, setDefaultBackend, tidy } from '../tensor/index.js';

/** One measured run. `perStep` is null on backends without transfer counters. */
export interface StepStats {
  readonly backend: string;
  readonly model: string;
  readonly batch: number;
  readonly px: number;
  readonly firstMs: number;
  readonly ms: number;
  readonly perStep: TransferStats | null;
}

type Counting = Backend & { transfers(): TransferStats };
const counts = (b: Backend): b is Counting => typeof (b as Partial<Counting>).transfers === 'function';

/**
 * Run `steps` (>= 2) SGD-momentum training steps of `model` (10 classes) at `batch` x 3 x `px` x `px` on `b`;
 * each step uploads a new batch and reads its loss back.
 */
export async function measureSteps(b: Backend, model: string, batch: number, px: number, steps = 3) {
  setDefaultBackend(b);
  const net = createModel(model, { numClasses: 10, seed: 0, backend: b });
  const opt = new SGD(net.parameters(), { lr: 0.003, momentum: 0.9 });
  const rng = new Rng(1);
  let firstMs = 0;
  let ms = 0;
  let perStep: TransferStats | null = null;
  try {
    for (let s = 0; s < Math.max(2, steps); s++) {
      const images = new Float32Array(batch * 3 * px * px);
      rng.fillNormal(images);
      const labels = Int32Array.from({ length: batch }, (_, i) => (i + s) % 10);
      const before = counts(b) ? b.transfers() : null;
      const t0 = performance.now();
      const loss = tidy(() => {
        opt.zeroGrad();
        const l = crossEntropy(net.forward(fromTyped(images, [batch, 3, px, px])), labels);
        l.backward();
        opt.step();
        return l.detach();
      });
      await loss.data();
      loss.dispose();
      const t = performance.now() - t0;
      if (s === 0) firstMs = t;
      ms = t;
      if (before && counts(b)) perStep = diffTransferStats(before, b.transfers());
    }
  } finally {
    opt.dispose();
    net.dispose();
  }
  return { backend: b.name, model, batch, px, firstMs, ms, perStep } satisfies StepStats;
}

/** One line per run: time, launches, uploads (bytes), readbacks (bytes). */
export function formatStepStats(r: StepStats): string {
  const head = `${r.backend} ${r.model} ${r.batch}x${r.px}px: step ${r.ms.toFixed(1)} ms (first ${r.firstMs.toFixed(0)} ms)`;
  const p = r.perStep;
  if (!p) return `${head}; this backend keeps no transfer counters (host memory only)`;
  return (
    `${head}; per step: ${p.launches} launches, ${p.uploads} uploads (${p.bytesUploaded} B), ` +
    `${p.readbacks} readbacks (${p.bytesRead} B), ${p.deviceCopies} device-side copies`
  );
}

/** `bit-ts backends --stats [--backend NAME] [--model M] [--batch N] [--px P] [--steps S]`. */
export async function backendsStats(flags: Record<string, string>, fallback: string): Promise<number> {
  const int = (k: string, d: number) => {
    const v = flags[k] === undefined ? d : Number(flags[k]);
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`backends --stats: --${k} must be a positive integer`);
    return v;
  };
  const name = flags.backend ?? fallback;
  const b = await getBackend(name);
  const r = await measureSteps(b, flags.model ?? 'bit-tiny', int('batch', 2), int('px', 32), int('steps', 3));
  if (flags.json) console.log(JSON.stringify(r));
  else console.log(formatStepStats(r));
  return 0;
}
