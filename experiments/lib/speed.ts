/**
 * `bit-ts reproduce speed`: short training runs of candidate upstream models on the Tiny ImageNet cache through
 * the same path as the protocol (src/train's train(), bit augmentation 40 -> 32 px, the upstream's batch), to
 * choose the upstream that fits the time budget. Reports, per candidate, the median step speed (forward +
 * backward + update) and the wall speed including the loader, and what the upstream's budget would cost.
 * Invariant: each measurement starts from a fresh run folder (no resume) and leaves no result JSON.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Subset } from '../../src/data/index.js';
import { modelConfig, resnetV2NumParameters } from '../../src/models/index.js';
import { transformsOf } from '../../src/train/data-setup.js';
import { readMetrics } from '../../src/train/metrics.js';
import { train } from '../../src/train/trainer.js';
import { type Context, runConfig, runDir } from './protocol.js';

/** A candidate: a registered model, optionally with another base width / GN group count. */
export interface Candidate {
  model: string;
  baseWidth?: number;
  gnGroups?: number;
  /** BatchNorm with statistics per this many images (Table 4's BN variants); absent: GN. */
  bnGhost?: number;
}

export const CANDIDATES: Candidate[] = [
  { model: 'bit-tiny' },
  { model: 'bit-small', baseWidth: 16, gnGroups: 8 },
  { model: 'bit-tiny', baseWidth: 24, gnGroups: 12 },
  { model: 'bit-tiny', baseWidth: 32, gnGroups: 16 },
  { model: 'bit-small' },
  { model: 'bit-tiny-w24', bnGhost: 8 },
];

/** Only the candidates whose label contains `filter` (all when empty). */
export function candidates(filter: string): Candidate[] {
  return CANDIDATES.filter((c) => label(c).includes(filter));
}

const label = (c: Candidate) =>
  `${c.model}${c.baseWidth ? `-w${c.baseWidth}` : ''}${c.bnGhost ? `-bn-ghost${c.bnGhost}` : ''}`;

/** Measure every candidate for `steps` steps (after `warm` steps not counted); returns a markdown table. */
export async function measureSpeed(
  ctx: Context,
  cands: Candidate[],
  steps: number,
  batch = ctx.s.upstreams.tiny.batch,
  warm = 3,
): Promise<string> {
  const u = { ...ctx.s.upstreams.tiny, batch };
  const lines = [
    `Training speed on Tiny ImageNet (32 px, batch ${u.batch}, wasm, ${steps} steps after ${warm} warm-up steps):`,
    '',
    '| model | parameters (202 classes) | step img/s (median) | wall img/s (with loader) | upstream budget (min) |',
    '|---|---|---|---|---|',
  ];
  for (const c of cands) {
    const id = `speed-${label(c)}-b${batch}`;
    fs.rmSync(runDir(ctx, id), { recursive: true, force: true });
    const values = {
      model: c.model,
      model_base_width: c.baseWidth ?? 0,
      model_gn_groups: c.gnGroups ?? 0,
      ...(c.bnGhost ? { model_norm: 'bn', bn_ghost_batch: c.bnGhost } : {}),
      num_classes: ctx.tiny.numClasses,
      batch_size: u.batch,
      lr: u.lr,
      weight_decay: u.weightDecay,
      scheduler: 'constant',
      warmup_epochs: 0,
      max_steps: warm + steps,
      progress: 'none',
    };
    const cfg = runConfig(ctx, id, values);
    fs.mkdirSync(cfg.ckpt_save_dir, { recursive: true });
    const val = new Subset(
      ctx.tinyVal,
      Int32Array.from({ length: Math.min(64, ctx.tinyVal.length) }, (_, i) => i),
    );
    await train(cfg, {
      data: {
        train: ctx.tiny,
        val,
        classes: ctx.tiny.classes,
        ...transformsOf(cfg),
        imageSize: [32, 32],
        describe: id,
      },
      log: () => {},
    });
    const recs = readMetrics(path.join(cfg.ckpt_save_dir, 'metrics.jsonl')).filter((m) => m.type === 'train');
    const timed = recs.slice(warm);
    const ips = timed.map((m) => Number(m.images_per_s)).sort((a, b) => a - b);
    const med = ips[Math.floor(ips.length / 2)] ?? 0;
    const dt = Number(timed[timed.length - 1]!.time_s) - Number(recs[warm - 1]!.time_s);
    const wall = (timed.length * u.batch) / dt;
    const o = {
      numClasses: ctx.tiny.numClasses,
      ...(c.baseWidth ? { baseWidth: c.baseWidth, gnGroups: c.gnGroups } : {}),
    };
    const p = resnetV2NumParameters(modelConfig(c.model, o)).toLocaleString('en-US');
    lines.push(
      `| ${label(c)} | ${p} | ${med.toFixed(0)} | ${wall.toFixed(0)} | ${((ctx.s.upstreams.tiny.steps * ctx.s.upstreams.tiny.batch) / wall / 60).toFixed(0)} |`,
    );
    ctx.log(lines[lines.length - 1]!);
    fs.rmSync(runDir(ctx, id), { recursive: true, force: true });
  }
  return lines.join('\n');
}
