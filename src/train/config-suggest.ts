/**
 * Helpers for "did you mean" on unknown config keys: edit distance, and the names other trainers (PyTorch
 * scripts, timm, Keras, MindCV variants) use for our keys, which edit distance alone gets wrong
 * (`learning_rate` is closer to `drop_rate` than to `lr`). Invariant: every alias target is a schema key
 * (checked by the type in config.ts, which imports this file; nothing here imports config.ts).
 */

/** Levenshtein distance between a and b. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Names other trainers (PyTorch scripts, timm, Keras, MindCV variants) use for our keys. */
export const KEY_ALIASES = {
  learning_rate: 'lr',
  base_lr: 'lr',
  epochs: 'epoch_size',
  num_epochs: 'epoch_size',
  max_epochs: 'epoch_size',
  lr_scheduler: 'scheduler',
  lr_schedule: 'scheduler',
  sched: 'scheduler',
  optimizer: 'opt',
  warmup: 'warmup_epochs',
  warmup_steps: 'warmup_epochs',
  batch: 'batch_size',
  bs: 'batch_size',
  train_batch_size: 'batch_size',
  img_size: 'image_resize',
  image_size: 'image_resize',
  input_size: 'image_resize',
  resolution: 'image_resize',
  data_path: 'data_dir',
  data_root: 'data_dir',
  dataset_path: 'data_dir',
  workers: 'num_parallel_workers',
  num_workers: 'num_parallel_workers',
  output_dir: 'ckpt_save_dir',
  checkpoint_dir: 'ckpt_save_dir',
  save_dir: 'ckpt_save_dir',
  resume_from: 'resume',
  pretrained_weights: 'ckpt_path',
  weights: 'ckpt_path',
  arch: 'model',
  model_name: 'model',
  classes: 'num_classes',
  nesterov: 'use_nesterov',
  smoothing: 'label_smoothing',
  wd: 'weight_decay',
  max_iter: 'max_steps',
  max_iters: 'max_steps',
  total_steps: 'max_steps',
  num_steps: 'max_steps',
  eval_interval: 'val_interval',
  grad_accum_steps: 'gradient_accumulation_steps',
  accumulation_steps: 'gradient_accumulation_steps',
} as const;
