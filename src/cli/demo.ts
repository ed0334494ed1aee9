/**
 * `bit-ts demo` (`npm start`): BiT transfer in miniature on the embedded MNIST data, no arguments, no downloads.
 *   1. upstream: a small ResNetV2 (GN + WS; bit-tiny = R14, base width 16) trained on digits 0-4;
 *   2. transfer: BiT-HyperRule fine-tuning (zero head, no weight decay, SGD momentum 0.9) to k-shot digits 5-9;
 *   3. scratch: the same model, same k-shot data, same schedule, from random init;
 *   4. the held-out accuracy table (MNIST test images of digits 5-9) and a comparison plot.
 * The HyperRule is scaled down for two CPU cores (see SCALE below): schedule x0.1 (500 -> 50 steps: warmup 10,
 * lr/10 after 20, 30, 40), resolution 128 -> 32 px crop (resize 160 -> 40), batch 512 -> 32 with the lr raised
 * to 0.01 (the official 0.003 * 32/512 = 0.0002 barely moves in 50 steps). Everything is seeded and printed.
 */

import * as path from 'node:path';
import { setupBackend } from '../train/backend-setup.js';
import { loadConfig, type TrainConfig } from '../train/config.js';
import { hyperRuleConfig } from '../train/finetune-setup.js';
import { formatTable } from '../train/metrics.js';
import { writeComparisonPlot } from '../train/plots.js';
import { train } from '../train/trainer.js';
import type { Args } from './args.js';

/** Sizes of the demo (chosen to finish in about 3-4 minutes on 2 cores). */
export const DEMO = {
  model: 'bit-tiny',
  seed: 1,
  upstreamDigits: [0, 1, 2, 3, 4],
  downstreamDigits: [5, 6, 7, 8, 9],
  upstreamSteps: 300,
  upstreamImages: 15000,
  upstreamLr: 0.05,
  shots: [1, 5, 10],
  fewshotSeeds: [0, 1, 2],
  scale: 0.1,
  crop: 32,
  batch: 32,
  lr: 0.01,
  heldOut: 1000,
};

function common(root: string, name: string): Record<string, unknown> {
  return {
    dataset: 'mnist',
    model: DEMO.model,
    batch_size: DEMO.batch,
    hflip: 0,
    val_split: 'test',
    progress: 'none',
    ckpt_save_interval: 1_000_000,
    val_while_train: false,
    ckpt_save_dir: path.join(root, name),
    seed: DEMO.seed,
  };
}

/** Run the command; returns the exit code. */
export async function demoCommand(args: Args): Promise<number> {
  const root = args.flags.out ?? 'runs/demo';
  const t0 = Date.now();
  const backend = await setupBackend(args.flags.backend ?? '', 0);
  const say = (m: string) => console.log(m);
  say(
    `bit-ts demo: BiT transfer on embedded MNIST (backend ${backend}; all seeds fixed: model/data seed ${DEMO.seed}, few-shot seeds ${DEMO.fewshotSeeds.join(',')})`,
  );

  say(
    `\n[1/3] upstream: ${DEMO.model} (ResNetV2, GroupNorm + weight standardization) on digits ${DEMO.upstreamDigits.join(',')}`,
  );
  const upCfg = loadConfig(null, {
    ...common(root, 'upstream'),
    mnist_digits: DEMO.upstreamDigits,
    num_classes: DEMO.upstreamDigits.length,
    train_limit: DEMO.upstreamImages,
    val_limit: 500,
    augment: 'bit',
    image_resize: DEMO.crop,
    epoch_size: 1,
    stop_after_steps: DEMO.upstreamSteps, // the cosine stays over the full epoch, as the demo was tuned
    scheduler: 'cosine_decay',
    warmup_epochs: 0,
    lr: DEMO.upstreamLr,
    weight_decay: 1e-4,
    progress: args.flags.progress ?? 'auto',
  });
  say(
    `      ${DEMO.upstreamSteps} steps x ${DEMO.batch} images at ${DEMO.crop} px, SGD momentum 0.9, cosine lr ${DEMO.upstreamLr}`,
  );
  // the demo's folder is its own: every run starts over (overwrite)
  const up = await train(upCfg, { label: 'upstream', log: () => {}, handleSignals: true, overwrite: true });
  if (up.status !== 'completed') {
    console.error(up.message);
    return up.exitCode;
  }
  const upAcc = up.final?.top1 ?? Number.NaN;
  say(
    `      upstream held-out accuracy (digits 0-4, ${up.final?.count ?? 0} test images): ${upAcc.toFixed(2)}%  [${((Date.now() - t0) / 1000).toFixed(0)} s]`,
  );
  const upstreamCkpt = up.latestCheckpoint!;

  const results: { k: number; transfer: number[]; scratch: number[] }[] = [];
  let ruleShown = false;
  let heldOutCount = 0; // counted by the evaluations, never assumed
  for (const k of DEMO.shots) {
    const row = { k, transfer: [] as number[], scratch: [] as number[] };
    for (const fsSeed of DEMO.fewshotSeeds)
      for (const method of ['transfer', 'scratch'] as const) {
        const base: TrainConfig = loadConfig(null, {
          ...common(root, `${method}-k${k}-s${fsSeed}`),
          mnist_digits: DEMO.downstreamDigits,
          num_classes: DEMO.downstreamDigits.length,
          examples_per_class: k,
          fewshot_seed: fsSeed,
          val_limit: DEMO.heldOut,
          ckpt_path: method === 'transfer' ? upstreamCkpt : '',
        });
        const { cfg, lines } = hyperRuleConfig(base, { scale: DEMO.scale, crop: DEMO.crop, lr: DEMO.lr });
        if (method === 'scratch') cfg.zero_head = false;
        if (!ruleShown) {
          say(
            `\n[2/3] transfer to k-shot digits ${DEMO.downstreamDigits.join(',')} (labels 0-4 = digits 5-9), zero head;`,
          );
          say(`[3/3] the same model from scratch on the same k-shot images and schedule. For k=${k}:`);
          for (const l of lines) say(`      ${l}`);
          say(
            `      scaled for CPU: official schedule x${DEMO.scale}, crop 128 -> ${DEMO.crop} px, batch 512 -> ${DEMO.batch}, lr 0.003 -> ${DEMO.lr}`,
          );
          ruleShown = true;
        }
        const r = await train(cfg, { label: `${method} k=${k}`, log: () => {}, handleSignals: true, overwrite: true });
        if (r.status !== 'completed' || !r.final) {
          console.error(r.message);
          return r.exitCode || 1;
        }
        row[method].push(r.final.top1);
        heldOutCount = r.final.count;
        say(
          `      k=${String(k).padStart(2)} seed ${fsSeed} ${method.padEnd(8)} held-out Top-1 ${r.final.top1.toFixed(2)}%  [${((Date.now() - t0) / 1000).toFixed(0)} s]`,
        );
      }
    results.push(row);
  }

  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  const cell = (v: number[]) => `${med(v).toFixed(1)}% (${Math.min(...v).toFixed(1)}-${Math.max(...v).toFixed(1)})`;
  say(
    `\nHeld-out Top-1 on ${heldOutCount} MNIST test images of digits 5-9 (chance 20%); median (range) of few-shot seeds ${DEMO.fewshotSeeds.join(',')}:`,
  );
  say(
    formatTable(
      ['examples/class', 'BiT transfer', 'from scratch', 'gain (median)'],
      results.map((r) => [r.k, cell(r.transfer), cell(r.scratch), (med(r.transfer) - med(r.scratch)).toFixed(1)]),
    ),
  );
  const plot = await writeComparisonPlot(
    path.join(root, 'transfer-vs-scratch'),
    results.flatMap((r) => [
      { method: 'BiT transfer', k: String(r.k), top1: med(r.transfer) },
      { method: 'from scratch', k: String(r.k), top1: med(r.scratch) },
    ]),
    'k-shot MNIST 5-9: transfer vs scratch (median)',
  );
  say(`\nplots: ${plot.join(', ')}`);
  say(`per-run loss / accuracy / lr plots and metrics.jsonl: ${root}/{upstream,transfer-k*-s*,scratch-k*-s*}/`);
  say(`upstream checkpoint: ${upstreamCkpt} (try: npx bit-ts validate --ckpt_path ${upstreamCkpt})`);
  say(`total wall time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}
