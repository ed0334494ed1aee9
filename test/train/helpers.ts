// Shared settings of the training tests: the smallest model (bit-tiny at base width 8), 32 px MNIST, wasm backend,
// no progress output, runs in a fresh temp directory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, type TrainConfig } from '../../src/train/config.js';

export function tmpRun(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bit-ts-${name}-`));
}

export function tinyConfig(dir: string, over: Record<string, unknown> = {}): TrainConfig {
  return loadConfig(null, {
    dataset: 'mnist',
    model: 'bit-tiny',
    model_base_width: 8,
    model_gn_groups: 4,
    image_resize: 32,
    augment: 'plain',
    hflip: 0,
    batch_size: 16,
    epoch_size: 1,
    scheduler: 'constant',
    warmup_epochs: 0,
    lr: 0.05,
    weight_decay: 0,
    val_split: 0,
    progress: 'none',
    plots: false,
    backend: 'wasm',
    ckpt_save_dir: dir,
    ...over,
  });
}

/**
 * Overrides of `tinyConfig` for a run that diverges within a few steps (lr 1e35 after 3 warmup steps, two MNIST
 * digits, 20 scheduled steps): the NaN-guard tests (train.test.ts, webgpu-nan-guard.test.ts).
 */
export const DIVERGING_RUN = {
  mnist_digits: [0, 1],
  num_classes: 2,
  train_limit: 16,
  epoch_size: 20,
  warmup_epochs: 3,
  lr: 1e35,
  momentum: 0,
} as const;
