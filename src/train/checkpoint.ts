/**
 * Training checkpoints: one safetensors file holding the model state dict under OUR names (so any weight
 * reader, `convert` and `finetune --weights` accept it), the SGD momentum buffers under `optimizer.momentum/`,
 * and in the `bit_ts` metadata entry (JSON): step, epoch, optimizer step count, the effective config, the
 * model spec, the class names, RNG and loader state, and the best accuracy so far.
 *
 * Invariants: files are written atomically (temp + fsync + rename, by writeSafetensorsAtomic), so a crash
 * leaves the previous file intact; loading restores bit-identical float32 values; rotation never deletes
 * `latest` or `best`, and keeps at most keep_checkpoint_max epoch files.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../errors.js';
import { decodeSafetensors, detectFormat, type NamedArray } from '../models/index.js';
import { readWeightBytes, writeSafetensorsAtomic } from '../models/node.js';
import type { Module, SGD } from '../nn/index.js';
import type { Tensor } from '../tensor/index.js';
import type { ModelSpec } from './model-setup.js';

const MOMENTUM = 'optimizer.momentum/';
export const CHECKPOINT_FORMAT = 'bit-ts-checkpoint-v1';

/** The non-tensor part of a checkpoint. */
export interface CheckpointMeta {
  format: string;
  /** Optimizer steps completed. */
  step: number;
  /** Completed epochs. */
  epoch: number;
  optimizerStep: number;
  config: Record<string, unknown>;
  spec: ModelSpec;
  classes: string[];
  /** Training Rng state (MixUp), 4 uint32 words. */
  rng: number[];
  loader: { epoch: number; position: number };
  bestTop1: number | null;
  /** Which evaluation wrote best.safetensors (absent in checkpoints older than this field). */
  best?: { step: number; top1: number } | null;
  /** Why it was written: epoch, interrupt, final, nan-guard... */
  reason: string;
}

/** A loaded checkpoint. */
export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  momentum: Map<string, { shape: number[]; data: Float32Array }>;
}

async function named(name: string, t: Tensor): Promise<NamedArray> {
  const d = await t.data();
  const data = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
  return { name, shape: [...t.shape], dtype: 'float32', data };
}

/**
 * Write a checkpoint of `model` and `optimizer` with `meta` to `file` (atomically). Values are read back
 * asynchronously, so this works on every backend (WebGPU included); the tensors must not change until the
 * returned Promise resolves (the trainer awaits it before the next step).
 */
export async function saveCheckpoint(
  file: string,
  model: Module,
  optimizer: SGD | null,
  meta: CheckpointMeta,
): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const arrays: NamedArray[] = [];
  for (const [n, t] of model.stateDict()) arrays.push(await named(n, t));
  if (optimizer) {
    const st = optimizer.stateDict();
    try {
      for (const [n, t] of st.momentumBuffers) arrays.push(await named(MOMENTUM + n, t));
    } finally {
      for (const t of st.momentumBuffers.values()) t.dispose();
    }
  }
  writeSafetensorsAtomic(file, arrays, { bit_ts: JSON.stringify(meta) });
}

/**
 * Read a checkpoint written by `saveCheckpoint`.
 * @throws CheckpointError when the file is unreadable or is not a bit-ts training checkpoint.
 */
export function loadCheckpoint(file: string): LoadedCheckpoint {
  const bytes = readWeightBytes(file);
  const format = detectFormat(bytes, file);
  const notOurs = `: a bit-ts training checkpoint (latest.safetensors of a run folder) is needed here; to start from these weights use --ckpt_path FILE (train) or --weights FILE (finetune)`;
  if (format !== 'safetensors')
    throw new CheckpointError(`${file} is ${format === 'npz' ? 'an npz' : `a ${format}`} weight file${notOurs}`);
  const st = decodeSafetensors(bytes, file);
  const raw = st.metadata.bit_ts;
  if (!raw) throw new CheckpointError(`${file}: not a bit-ts training checkpoint (no 'bit_ts' metadata)${notOurs}`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new CheckpointError(`${file}: bit_ts metadata is not JSON: ${(e as Error).message}`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${file}: checkpoint format '${meta.format}', expected '${CHECKPOINT_FORMAT}'`);
  }
  const weights: LoadedCheckpoint['weights'] = new Map();
  const momentum: LoadedCheckpoint['momentum'] = new Map();
  for (const [n, a] of st.weights) {
    if (a.dtype !== 'float32') throw new CheckpointError(`${file}: entry '${n}' is ${a.dtype}, expected float32`);
    const v = { shape: a.shape, data: a.data as Float32Array };
    if (n.startsWith(MOMENTUM)) momentum.set(n.slice(MOMENTUM.length), v);
    else weights.set(n, v);
  }
  return { meta, weights, momentum };
}

/**
 * Whether `file` is a bit-ts training checkpoint: true for a safetensors file with `bit_ts` metadata, false
 * for any other readable weight file (npz, ckpt, safetensors without it).
 * @throws CheckpointError for a missing file, a directory, an unknown format or a corrupt file: the real
 *   problem, never "not a training checkpoint".
 */
export function isTrainingCheckpoint(file: string): boolean {
  const bytes = readWeightBytes(file);
  if (detectFormat(bytes, file) !== 'safetensors') return false;
  return Boolean(decodeSafetensors(bytes, file).metadata.bit_ts);
}

/** Epoch checkpoint name: `<model>-<epoch>_<step>.safetensors` (MindCV: `<model>-<epoch>_<batch>.ckpt`). */
export function epochCheckpointName(model: string, epoch: number, step: number): string {
  return `${model.replace(/[^A-Za-z0-9._-]/g, '_')}-${epoch}_${step}.safetensors`;
}

/**
 * Delete epoch checkpoints beyond `keep` in `dir`: the oldest (latest_k) or the lowest Top-1 (top_k, scores
 * by file name). `latest.safetensors` and `best.safetensors` are never touched.
 */
export function rotateCheckpoints(
  dir: string,
  model: string,
  keep: number,
  policy: string,
  scores: Map<string, number>,
): string[] {
  const prefix = `${model.replace(/[^A-Za-z0-9._-]/g, '_')}-`;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && /-\d+_\d+\.safetensors$/.test(f))
    .map((f) => ({ f, step: Number(/_(\d+)\.safetensors$/.exec(f)![1]) }));
  if (policy === 'top_k') files.sort((a, b) => (scores.get(b.f) ?? -1) - (scores.get(a.f) ?? -1) || b.step - a.step);
  else files.sort((a, b) => b.step - a.step);
  const removed: string[] = [];
  for (const { f } of files.slice(keep)) {
    fs.rmSync(path.join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}
