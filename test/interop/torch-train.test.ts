/**
 * The same recipe trained by bit-ts and by PyTorch (interop/torch), on real PyTorch (Debian's python3-torch):
 *   fixed batches  bit-ts exports its model and recipe and the exact batches of its first steps (after
 *                  augmentation and MixUp); bit_torch.train --fixed trains on them: per-step losses and the
 *                  final weights agree within float32 tolerance (TORCH_TOL.trainLoss / weightsOfMax).
 *   DDP            2 gloo ranks on the same global batches give the losses of 1 rank (GroupNorm: no batch
 *                  statistics, only the all-reduce's summation order differs; TORCH_TOL.ddpLoss); with
 *                  BatchNorm they do not (statistics per rank: the regime of the paper's Table 4), and they
 *                  equal bit-ts's ghost BN with one statistics group per simulated device.
 *   round trip     `bit-ts export-torch finetune ...` -> 2 ranks under bit_torch.launch for 200 steps ->
 *                  `bit-ts validate` on the brought-back checkpoint gives the accuracy PyTorch reported on the
 *                  same images; its metrics.jsonl reads and plots as a bit-ts run's.
 * Skips only where torch is absent and BIT_REQUIRE_TORCH is unset (CI sets it).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { validateCheckpoint } from '../../src/cli/validate.js';
import { applyTransform } from '../../src/data/transforms.js';
import { exportTorch } from '../../src/interop/export-torch.js';
import { readSafetensors } from '../../src/models/node.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import { Rng } from '../../src/tensor/index.js';
import { setupBackend } from '../../src/train/backend-setup.js';
import { isTrainingCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { loadConfig } from '../../src/train/config.js';
import { setupData } from '../../src/train/data-setup.js';
import { readMetrics } from '../../src/train/metrics.js';
import { writePlots } from '../../src/train/plots.js';
import { haveTar, makeTar } from '../data/helpers.js';
import { expectClose, TORCH_TOL } from '../tolerances.js';
import { makeStripes, maxDiff, readArrays, runBitTorch, tmp, torchSkip } from './torch-harness.js';

const skip = torchSkip();

interface TorchResult {
  world_size: number;
  steps: number;
  losses: number[];
  lrs: number[];
  eval: { top1: number; top5: number; loss: number; count: number } | null;
}

const readResult = (dir: string): TorchResult => JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));

/** bit_torch.train on `ex` with `nproc` ranks (the launcher: /usr/bin/torchrun does not run on Debian's 1.13). */
function torchTrain(ex: string, out: string, nproc: number, extra: string[] = []): TorchResult {
  runBitTorch('launch', ['--nproc', String(nproc), '--', ex, '--out', out, '--threads', '1', ...extra]);
  return readResult(out);
}

describe.skipIf(skip !== null)('bit-ts and PyTorch DDP train the same recipe the same way', () => {
  let data = '';
  const dirs: string[] = [];
  beforeAll(async () => {
    data = tmp('stripes');
    dirs.push(data);
    makeStripes(data, 'train', 4, 24, 32, 1);
    makeStripes(data, 'val', 4, 10, 32, 2);
    // the round trip scores a harder set, larger than the crop (the evaluation resize runs on both sides)
    makeStripes(data, 'test', 4, 25, 40, 4, 120);
    await setupBackend('wasm', 0);
  });
  afterAll(() => {
    disposeBackends();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  /** A bit-tiny recipe with every ingredient the other side must reproduce: MixUp, smoothing, decay, momentum. */
  const cfgOf = (extra: Record<string, string> = {}) =>
    loadConfig(null, {
      data_dir: data,
      val_split: 'val',
      model: 'bit-tiny',
      num_classes: '4',
      batch_size: '8',
      augment: 'bit',
      image_resize: '32',
      precrop: '36',
      scheduler: 'cosine_decay',
      lr: '0.05',
      warmup_epochs: '0.25',
      epoch_size: '2',
      weight_decay: '0.0005',
      mixup: '0.4',
      label_smoothing: '0.1',
      progress: 'none',
      plots: 'false',
      seed: '3',
      ...extra,
    });

  it('fixed batches: per-step losses and final weights agree; 2 gloo ranks equal 1 rank (GroupNorm)', async () => {
    const ex = tmp('fixed');
    dirs.push(ex);
    const r = await exportTorch(cfgOf(), ex, { fixedBatches: 4 });
    expect(r.losses).toHaveLength(4);
    const one = torchTrain(ex, path.join(ex, 'run1'), 1, ['--fixed', '--no-eval']);
    const two = torchTrain(ex, path.join(ex, 'run2'), 2, ['--fixed', '--no-eval']);
    expectClose(one.losses, r.losses, TORCH_TOL.trainLoss, 'per-step losses, PyTorch vs bit-ts');
    expectClose(two.losses, one.losses, TORCH_TOL.ddpLoss, 'per-step losses, 2 ranks vs 1 rank');
    const ours = readArrays(path.join(ex, 'bit-ts-final.safetensors'));
    const theirs = readArrays(path.join(ex, 'run1', 'latest.safetensors'));
    const theirs2 = readArrays(path.join(ex, 'run2', 'latest.safetensors'));
    let worst = 0;
    let worstDdp = 0;
    for (const [k, w] of ours) {
      const d = maxDiff(theirs.get(k)!, w);
      const d2 = maxDiff(theirs2.get(k)!, theirs.get(k)!);
      worst = Math.max(worst, d.abs / d.scale);
      worstDdp = Math.max(worstDdp, d2.abs / d2.scale);
      expect(d.abs, `final ${k}`).toBeLessThanOrEqual(TORCH_TOL.weightsOfMax * d.scale);
      expect(d2.abs, `final ${k}, 2 ranks vs 1`).toBeLessThanOrEqual(TORCH_TOL.weightsOfMax * d2.scale);
    }
    const lossDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    console.log(
      `fixed batches (bit-tiny, 4 steps of 8, MixUp 0.4, smoothing 0.1): bit-ts losses ${r.losses.map((l) => l.toFixed(6))}; ` +
        `PyTorch max |diff| ${lossDiff(one.losses, r.losses).toExponential(2)}, final weights ${worst.toExponential(2)} of max; ` +
        `DDP 2 ranks vs 1: losses ${lossDiff(two.losses, one.losses).toExponential(2)}, weights ${worstDdp.toExponential(2)} of max`,
    );
    // the brought-back checkpoint is a bit-ts training checkpoint with its momentum buffers
    const ck = loadCheckpoint(path.join(ex, 'run2', 'latest.safetensors'));
    expect(ck.meta.step).toBe(4);
    expect(ck.meta.classes).toEqual(['class0', 'class1', 'class2', 'class3']);
    expect(ck.momentum.size).toBe(ck.weights.size);
  }, 600_000);

  it.skipIf(!haveTar())(
    'the same pixels: bit_torch decodes and transforms a tar of 40 px JPEGs as bit-ts does',
    async () => {
      const ex = tmp('pixels');
      dirs.push(ex);
      const tarFile = path.join(ex, 'data.tar');
      makeTar(tarFile, data, ['train', 'test']);
      const cfg = cfgOf({ data_dir: tarFile, val_split: 'test', mixup: '0' });
      await exportTorch(cfg, ex);
      runBitTorch('pixels', [ex, path.join(ex, 'pixels.safetensors'), '--split', 'val', '--count', '12']);
      const theirs = readArrays(path.join(ex, 'pixels.safetensors'));
      const d = setupData(cfg);
      const per = 3 * 32 * 32;
      let worst = 0;
      for (let i = 0; i < 12; i++) {
        const ours = applyTransform(d.evalSpec, d.val!.get(i).image, new Rng(0)).data;
        const d1 = maxDiff(ours, theirs.get('x')!.subarray(i * per, (i + 1) * per));
        worst = Math.max(worst, d1.abs);
        expect(theirs.get('y')![i]).toBe(d.val!.label(i));
      }
      d.train.close?.();
      d.val!.close?.();
      // [-1, 1] pixels: one grey level is 2/255 = 7.8e-3; float resizing on both sides leaves rounding only
      console.log(
        `eval inputs of 12 tar JPEGs (40 -> 32 px): max |diff| ${worst.toExponential(2)} (one grey level: 7.8e-3)`,
      );
      expect(worst).toBeLessThanOrEqual(TORCH_TOL.pixels);
    },
    600_000,
  );

  it('BatchNorm: 2 ranks differ from 1 rank on the same global batch, and equal ghost BN of 4 images', async () => {
    const bn = tmp('bn');
    const ghost = tmp('ghost');
    dirs.push(bn, ghost);
    await exportTorch(cfgOf({ model_norm: 'bn', mixup: '0' }), bn, { fixedBatches: 3 });
    const g = await exportTorch(cfgOf({ model_norm: 'bn', mixup: '0', bn_ghost_batch: '4' }), ghost, {
      fixedBatches: 3,
    });
    // both exports hold the same batches (same seed, data, transforms)
    const b1 = readSafetensors(path.join(bn, 'batches.safetensors')).weights.get('images/2')!.data;
    const b2 = readSafetensors(path.join(ghost, 'batches.safetensors')).weights.get('images/2')!.data;
    expect(maxDiff(b1 as Float32Array, b2 as Float32Array).abs).toBe(0);
    const one = torchTrain(bn, path.join(bn, 'run1'), 1, ['--fixed', '--no-eval']);
    const two = torchTrain(bn, path.join(bn, 'run2'), 2, ['--fixed', '--no-eval']);
    const rel = Math.abs(two.losses[0]! - one.losses[0]!) / one.losses[0]!;
    console.log(
      `BatchNorm, batch 8: 1 rank ${one.losses.map((l) => l.toFixed(6))}, 2 ranks ${two.losses.map((l) => l.toFixed(6))} ` +
        `(first step ${rel.toExponential(2)} apart); bit-ts ghost BN (4 per group) ${g.losses.map((l) => l.toFixed(6))}`,
    );
    expect(rel).toBeGreaterThan(1e-3); // per-rank statistics change the forward pass itself
    expectClose(g.losses, two.losses, TORCH_TOL.trainLoss, 'bit-ts ghost BN vs PyTorch 2 ranks');
  }, 600_000);

  it('round trip: export-torch finetune -> 2 ranks, 200 steps -> bit-ts validate gives PyTorch accuracy', async () => {
    const ex = tmp('roundtrip');
    dirs.push(ex);
    const code = await main([
      'export-torch',
      'finetune',
      '--model',
      'bit-tiny',
      '--data_dir',
      data,
      '--val_split',
      'test',
      '--batch_size',
      '16',
      '--crop',
      '32',
      '--max_steps',
      '200',
      '--lr',
      '0.05',
      '--seed',
      '5',
      '--progress',
      'none',
      '--out',
      ex,
    ]);
    expect(code).toBe(0);
    const recipe = JSON.parse(fs.readFileSync(path.join(ex, 'recipe.json'), 'utf8'));
    expect(recipe.schedule.kind).toBe('hyperrule');
    expect(recipe.hyperrule.lines[0]).toMatch(/^BiT-HyperRule for N=96 training images/);
    expect(fs.readFileSync(path.join(ex, 'README.md'), 'utf8')).toContain(
      'torchrun --nproc_per_node 2 -m bit_torch.train . --out run',
    );
    const run = path.join(ex, 'run');
    const t0 = Date.now();
    const res = torchTrain(ex, run, 2);
    const secs = (Date.now() - t0) / 1000;
    expect(res.steps).toBe(200);
    expect(res.eval!.count).toBe(100);
    const ckpt = path.join(run, 'latest.safetensors');
    expect(isTrainingCheckpoint(ckpt)).toBe(true);
    const v = await validateCheckpoint({ ckpt_path: ckpt, data_dir: path.join(data, 'test') });
    console.log(
      `round trip (2 ranks, 200 steps, ${secs.toFixed(0)} s): PyTorch Top-1 ${res.eval!.top1.toFixed(2)}% loss ${res.eval!.loss.toFixed(6)}; ` +
        `bit-ts validate Top-1 ${v.top1.toFixed(2)}% loss ${v.loss.toFixed(6)} on ${v.count} images`,
    );
    expect(v.count).toBe(100);
    expect(v.top1).toBe(res.eval!.top1);
    expect(v.top5).toBe(res.eval!.top5);
    expectClose([v.loss], [res.eval!.loss], TORCH_TOL.loss, 'validation loss, bit-ts vs PyTorch');
    expect(res.eval!.top1).toBeGreaterThan(50); // it learned (chance: 25%)
    // infer reads it like a local run's checkpoint (its class names)
    const image = path.join(data, 'test', 'class1', '0.jpg');
    expect(await main(['infer', '--ckpt_path', ckpt, image, '--json'])).toBe(0);
    // metrics.jsonl is bit-ts's schema: read, summarized and plotted as a local run's
    const records = readMetrics(path.join(run, 'metrics.jsonl'));
    expect(records.filter((x) => x.type === 'train')).toHaveLength(200);
    expect(records.filter((x) => x.type === 'eval')).toHaveLength(1);
    const plots = await writePlots(run, records, 'bit_torch');
    expect(plots.some((p) => p.endsWith('.svg'))).toBe(true);
  }, 600_000);
});
