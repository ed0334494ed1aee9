/**
 * The Node RunStore of the training core (./core/boundary.ts): a run folder. Metric records go to
 * `metrics.jsonl`; saves are safetensors checkpoints written atomically (temp file + rename): 'latest' and 'best'
 * to their files, and an epoch end ('epoch') ONCE: the model and optimizer are serialized into the epoch file
 * (`<model>-<epoch>_<step>.safetensors`, then rotated by ckpt_save_policy) and the same bytes become
 * latest.safetensors by an atomic copy, no second serialization. The checkpoint meta comes from the Node trainer
 * (loader position, Rng, config) through `meta(reason)`.
 *
 * Invariants: every file a save names exists and is complete when `save` resolves; the run lock
 * (./run-lock.ts) is the caller's.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../models/weights/node-io.js';
import type { Module } from '../nn/index.js';
import type { SGD } from '../nn/optim/sgd.js';
import { type CheckpointMeta, epochCheckpointName, rotateCheckpoints, saveCheckpoint } from './checkpoint.js';
import type { MetricRecord, RunStore, SaveInfo, SaveKind } from './core/boundary.js';
import { MetricsLog } from './metrics.js';

/** How the store rotates epoch checkpoints. */
export interface RotationPolicy {
  model: string;
  keep: number;
  policy: 'latest_k' | 'top_k';
}

/** A run folder as the core's RunStore. */
export class RunFolderStore implements RunStore {
  readonly metrics: MetricsLog;
  /** Path of the latest checkpoint written (or found in the folder). */
  latest: string | null;
  private readonly scores = new Map<string, number>();

  constructor(
    readonly runDir: string,
    private readonly state: { model: Module; opt: SGD; meta: (reason: string) => CheckpointMeta },
    private readonly rotation: RotationPolicy,
  ) {
    this.metrics = new MetricsLog(path.join(runDir, 'metrics.jsonl'));
    const latest = path.join(runDir, 'latest.safetensors');
    this.latest = fs.existsSync(latest) ? latest : null;
  }

  append(r: MetricRecord): void {
    this.metrics.append(r);
  }

  async save(kind: SaveKind, info: SaveInfo): Promise<string> {
    const { model, opt, meta } = this.state;
    const latest = path.join(this.runDir, 'latest.safetensors');
    if (kind === 'best') {
      const best = path.join(this.runDir, 'best.safetensors');
      await saveCheckpoint(best, model, opt, meta(info.reason));
      return best;
    }
    if (kind === 'latest') {
      await saveCheckpoint(latest, model, opt, meta(info.reason));
      this.latest = latest;
      return latest;
    }
    const { model: name, keep, policy } = this.rotation;
    const f = epochCheckpointName(name, info.epoch, info.step);
    const file = path.join(this.runDir, f);
    await saveCheckpoint(file, model, opt, meta(info.reason));
    writeFileAtomic(latest, [fs.readFileSync(file)]);
    this.latest = latest;
    if (info.top1 !== null) this.scores.set(f, info.top1);
    rotateCheckpoints(this.runDir, name, keep, policy, this.scores);
    return file;
  }
}
