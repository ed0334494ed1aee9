/**
 * `exportTorch`: an export folder for the PyTorch side (interop/torch, `bit_torch`), from a training config
 * exactly as `bit-ts train` would start it (Trainer.setup: the seeded init, pretrained weights with the
 * transfer rule, the schedule, the data selections):
 *   model.safetensors   the starting weights, timm names (= bit-ts's state-dict names)
 *   plan.json, recipe.json, data.json   the contract (torch-contract.ts)
 *   README.md           the exact torchrun command, the launcher alternative, and how to bring the run back
 *   bit_torch/          a copy of the Python package (when the repository's interop/torch is at hand)
 * With `fixedBatches` N, bit-ts also runs its first N steps and writes the exact batches it trained on
 * (batches.safetensors: images after augmentation AND MixUp, labels a/b, lambda, lr, loss per step) and its
 * weights after them (bit-ts-final.safetensors): `bit_torch.train --fixed` trains on the same batches, and the
 * two sides' per-step losses and final weights can be compared.
 * Invariants: every file is written atomically (temp + rename); the folder is self-describing.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mixBatch, mixupLabels, mixupParams, Rng } from '../data/index.js';
import { ConfigError } from '../errors.js';
import type { NamedArray } from '../models/index.js';
import { writeFileAtomic, writeSafetensorsAtomic } from '../models/node.js';
import type { TrainConfig } from '../train/config.js';
import { hyperRuleBoundaries } from '../train/schedule.js';
import { Trainer } from '../train/trainer-phases.js';
import { type DataJson, dataSplitJson, planJson, recipeJson } from './torch-contract.js';

/** Options of `exportTorch`. */
export interface ExportTorchOptions {
  /** Lines the HyperRule printed (recorded in the recipe with its choices). */
  hyperRuleLines?: string[];
  /** Also run bit-ts's first N steps and write their exact batches and the weights after them. */
  fixedBatches?: number;
  /** Ranks per node in the README's torchrun line (default 2). */
  nproc?: number;
  log?: (m: string) => void;
}

/** What was written. */
export interface ExportTorchResult {
  dir: string;
  files: string[];
  /** bit-ts's per-step losses of the fixed batches (empty without fixedBatches). */
  losses: number[];
  torchrun: string;
}

const writeJson = (file: string, v: unknown) =>
  writeFileAtomic(file, [new TextEncoder().encode(`${JSON.stringify(v, null, 1)}\n`)]);

async function stateArrays(t: Trainer): Promise<NamedArray[]> {
  const out: NamedArray[] = [];
  for (const [name, v] of t.model.stateDict()) {
    const d = await v.data();
    const data = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
    out.push({ name, shape: [...v.shape], dtype: 'float32', data });
  }
  return out;
}

/** The repository's interop/torch/bit_torch, wherever this module runs from (src or a build). */
function packageDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const p = path.resolve(here, up, 'interop/torch/bit_torch');
    if (fs.existsSync(path.join(p, 'train.py'))) return p;
  }
  return null;
}

/**
 * Write the export folder `dir` for `cfg`.
 * @throws ConfigError for a data source the PyTorch side cannot read, or a batch the ranks cannot split.
 */
export async function exportTorch(
  cfg: TrainConfig,
  dir: string,
  o: ExportTorchOptions = {},
): Promise<ExportTorchResult> {
  const log = o.log ?? (() => {});
  const nproc = o.nproc ?? 2;
  if (!Number.isInteger(nproc) || nproc < 1) throw new ConfigError(`export-torch: --nproc must be >= 1, got ${nproc}`);
  fs.mkdirSync(dir, { recursive: true });
  const fixed = o.fixedBatches ?? 0;
  const runDir = fixed > 0 ? path.join(dir, 'bit-ts-steps') : fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-export-'));
  fs.mkdirSync(runDir, { recursive: true });
  const t = Trainer.setup({ ...cfg, ckpt_save_dir: runDir, resume: '' }, runDir, null, log);
  const files: string[] = [];
  const losses: number[] = [];
  try {
    const n = t.data.train.length;
    const boundaries =
      cfg.scheduler === 'hyperrule'
        ? hyperRuleBoundaries(
            cfg.hyperrule_dataset_size > 0 ? cfg.hyperrule_dataset_size : n,
            cfg.hyperrule_scale,
            cfg.max_steps,
          )
        : null;
    const recipe = recipeJson({
      cfg,
      schedule: t.sched,
      boundaries,
      stopAt: t.stopAt,
      trainSpec: t.data.trainSpec,
      evalSpec: t.data.evalSpec,
      spec: t.spec,
      classes: t.data.classes,
      rng: t.rng.state(),
      hyperRuleLines: o.hyperRuleLines ?? null,
    });
    const data: DataJson | null = (() => {
      try {
        return {
          format: 'bit-ts-data-v1',
          data_dir: path.resolve(cfg.data_dir || '.'),
          classes: t.data.classes,
          train: dataSplitJson(t.data.train, cfg.data_dir || '.'),
          val: t.data.val ? dataSplitJson(t.data.val, cfg.data_dir || '.') : null,
        };
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        log(`note: no data.json: ${e.message}`);
        return null;
      }
    })();
    writeSafetensorsAtomic(path.join(dir, 'model.safetensors'), await stateArrays(t), {
      bit_ts_export: JSON.stringify({ model: cfg.model, spec: t.spec }),
    });
    writeJson(path.join(dir, 'plan.json'), planJson(t.model, t.spec));
    writeJson(path.join(dir, 'recipe.json'), recipe);
    files.push('model.safetensors', 'plan.json', 'recipe.json');
    if (data) {
      writeJson(path.join(dir, 'data.json'), data);
      files.push('data.json');
    }
    if (fixed > 0) {
      losses.push(...(await runFixed(t, fixed, dir)));
      files.push('batches.safetensors', 'bit-ts-final.safetensors');
    }
  } finally {
    await t.close(false);
    if (fixed === 0) fs.rmSync(runDir, { recursive: true, force: true });
  }
  const pkg = packageDir();
  if (pkg) {
    fs.cpSync(pkg, path.join(dir, 'bit_torch'), { recursive: true, filter: (s) => !s.includes('__pycache__') });
    files.push('bit_torch/');
  }
  const torchrun = `torchrun --nproc_per_node ${nproc} -m bit_torch.train . --out run`;
  writeFileAtomic(path.join(dir, 'README.md'), [new TextEncoder().encode(readme(cfg, torchrun, nproc, pkg !== null))]);
  files.push('README.md');
  return { dir, files, losses, torchrun };
}

/** bit-ts's first `steps` steps, recording each batch exactly as it entered forward/backward. */
async function runFixed(t: Trainer, steps: number, dir: string): Promise<number[]> {
  const arrays: NamedArray[] = [];
  const info = {
    steps: 0,
    lambdas: [] as number[],
    lrs: [] as number[],
    losses: [] as number[],
    epochs: [] as number[],
  };
  const it = t.loader[Symbol.asyncIterator]();
  try {
    while (info.steps < steps) {
      const r = await it.next();
      if (r.done) continue;
      const b = r.value;
      const k = info.steps;
      // the MixUp draw trainStep is about to make, from a copy of its generator
      const mix = t.cfg.mixup > 0 ? mixupParams(b.labels.length, t.cfg.mixup, Rng.fromState(t.rng.state())) : null;
      const mixed = mix && mix.lambda < 1 ? mix : null;
      const images = mixed ? mixBatch(b.images, mixed.perm, mixed.lambda) : b.images;
      arrays.push({ name: `images/${k}`, shape: [...b.shape], dtype: 'float32', data: Float32Array.from(images) });
      arrays.push({ name: `labels_a/${k}`, shape: [b.labels.length], dtype: 'int32', data: Int32Array.from(b.labels) });
      if (mixed) {
        const yb = mixupLabels(b.labels, mixed.perm);
        arrays.push({ name: `labels_b/${k}`, shape: [yb.length], dtype: 'int32', data: yb });
      }
      const out = await t.trainStep(b);
      if (!out.ok) throw new ConfigError(`export-torch: non-finite loss ${out.loss} at fixed step ${k}`);
      info.lambdas.push(mixed ? mixed.lambda : 1);
      info.lrs.push(out.report.lr);
      info.losses.push(out.report.loss);
      info.epochs.push(b.epoch);
      info.steps++;
    }
  } finally {
    await it.return?.();
  }
  writeSafetensorsAtomic(path.join(dir, 'batches.safetensors'), arrays, { bit_ts_fixed: JSON.stringify(info) });
  writeSafetensorsAtomic(path.join(dir, 'bit-ts-final.safetensors'), await stateArrays(t), {
    bit_ts_fixed: JSON.stringify({ steps }),
  });
  return info.losses;
}

function readme(cfg: TrainConfig, torchrun: string, nproc: number, withPkg: boolean): string {
  return `# bit-ts export for PyTorch DDP: ${cfg.model}

Run from this folder${withPkg ? '' : " (put the bit-ts repository's interop/torch/bit_torch next to it)"}:

    ${torchrun}

(${nproc} ranks per node; several nodes: add --nnodes M --rdzv_endpoint HOST:PORT; GPUs use NCCL, CPUs gloo.)
Without torchrun (e.g. Debian's torch 1.13 on Python 3.11): \`python3 -m bit_torch.launch --nproc ${nproc} -- . --out run\`.
The data is read from data.json's paths; elsewhere pass \`--data-dir DIR\`. \`--fixed\` trains on batches.safetensors.

Bring it back: \`bit-ts validate --ckpt_path run/latest.safetensors --data_dir DIR\`; run/metrics.jsonl is bit-ts's schema.

Files: plan.json (the network), model.safetensors (timm names), recipe.json (optimizer, schedule, batch, MixUp,
augmentation, seed), data.json (the exact images of each split).
`;
}
