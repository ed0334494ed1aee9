/**
 * The core's boundary: what a front end hands the platform-free Trainer (./trainer.ts). A `BatchSource` yields the
 * training (or evaluation) batches of one epoch per iteration; a `RunStore` keeps what the run produces (metric
 * records, checkpoints). The Node layer implements them with the worker DataLoader and a run folder (safetensors
 * files, metrics.jsonl, the run lock: ../node-store.ts); the study page with in-memory MNIST and its UI.
 *
 * Invariants: plain data crosses the boundary (typed arrays, numbers, strings); nothing here is platform-specific.
 */

import type { HostBatch } from './step.js';

/** A training batch with its place in the data order. */
export interface SourceBatch extends HostBatch {
  /** Epoch this batch belongs to (0-based). */
  epoch: number;
  /** Position of the batch within its epoch (numBatches() - 1 is the last). */
  position: number;
  /** Images the source could not read and left out of this batch (reported, counted against a cap). */
  skipped?: readonly string[];
}

/**
 * Batches, one epoch per iteration (iterating again starts the next epoch). An unreadable image may surface as a
 * DataError thrown by the iterator (the trainer stops with a checkpoint) or as `skipped` entries.
 */
export interface BatchSource<B extends SourceBatch = SourceBatch> extends AsyncIterable<B> {
  /** Batches per epoch. */
  numBatches(): number;
}

/** One training step. */
export interface TrainRecord {
  type: 'train';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  images_per_s: number;
  time_s: number;
}

/** One evaluation. */
export interface EvalRecord {
  type: 'eval';
  step: number;
  epoch: number;
  top1: number;
  top5: number;
  loss: number;
}

/** An image left out by skip_bad_images (at the step before which it was skipped). */
export interface SkipRecord {
  type: 'skip';
  step: number;
  epoch: number;
  message: string;
}

export type MetricRecord = TrainRecord | EvalRecord | SkipRecord;

/** What a save is for. 'epoch': the end-of-epoch state, written ONCE and also the resume point. */
export type SaveKind = 'latest' | 'best' | 'epoch';

/** What the trainer tells the store at a save. */
export interface SaveInfo {
  /** Why (recorded in the checkpoint): 'final', 'interrupt', 'data-error', 'epoch', 'best'. */
  reason: string;
  step: number;
  /** Epochs completed ('epoch' saves) or the current epoch. */
  epoch: number;
  /** Top-1 of an evaluation at this very step, else null (for top-k checkpoint rotation). */
  top1: number | null;
}

/** Where a run's records and checkpoints go. */
export interface RunStore {
  /** Append one metric record (in step order). */
  append(record: MetricRecord): void;
  /** Persist the run's state; returns where it went (a path, a key), or null for a store that keeps none. */
  save(kind: SaveKind, info: SaveInfo): Promise<string | null>;
}

/** A store that keeps the records in memory and no checkpoints (tests, the study page). */
export class MemoryStore implements RunStore {
  readonly records: MetricRecord[] = [];
  constructor(private readonly onRecord?: (r: MetricRecord) => void) {}
  append(r: MetricRecord): void {
    this.records.push(r);
    this.onRecord?.(r);
  }
  async save(_kind: SaveKind, _info: SaveInfo): Promise<string | null> {
    return null;
  }
}
