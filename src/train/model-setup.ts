/**
 * Model construction from a config (or from a checkpoint's recorded model spec) and loading of pretrained
 * weights with the BiT transfer rule (head dropped and zero-initialized when the class count differs).
 *
 * Invariants: the model spec recorded in checkpoints (`ModelSpec`) rebuilds exactly the same architecture;
 * loading reports every missing / unexpected / mismatched name instead of silently ignoring it.
 */

import { CheckpointError } from '../errors.js';
import { createModel, matchStateDict, type ResNetV2, toFloat32 } from '../models/index.js';
import { loadWeightsFile } from '../models/weights/node-io.js';
import { noGrad } from '../tensor/index.js';
import type { TrainConfig } from './config.js';

/** Everything needed to rebuild a model. */
export interface ModelSpec {
  model: string;
  numClasses: number;
  baseWidth?: number;
  gnGroups?: number;
  /** Normalization and weight standardization (the GN/BN x WS ablation); absent = the model's default (GN + WS). */
  norm?: 'gn' | 'bn';
  ws?: boolean;
  /** BatchNorm: images per statistics group in training (ghost BN); absent = the whole batch. */
  bnGhostBatch?: number;
}

/** The spec of a built model (records norm/ws when they differ from BiT's GN + WS). */
export function modelSpecOfModel(name: string, model: ResNetV2): ModelSpec {
  const c = model.config;
  const s: ModelSpec = { model: name, numClasses: model.numClasses };
  if (c.baseWidth !== undefined) s.baseWidth = c.baseWidth;
  if (c.gnGroups !== undefined) s.gnGroups = c.gnGroups;
  if (c.norm && c.norm !== 'gn') s.norm = c.norm;
  if (c.ws === false) s.ws = false;
  if (c.bnGhostBatch) s.bnGhostBatch = c.bnGhostBatch;
  return s;
}

/** The model spec of a config. */
export function modelSpecOf(cfg: TrainConfig): ModelSpec {
  const s: ModelSpec = { model: cfg.model, numClasses: cfg.num_classes };
  if (cfg.model_base_width > 0) s.baseWidth = cfg.model_base_width;
  if (cfg.model_gn_groups > 0) s.gnGroups = cfg.model_gn_groups;
  if (cfg.model_norm === 'bn') s.norm = 'bn';
  if (!cfg.model_ws) s.ws = false;
  if (cfg.bn_ghost_batch > 0) s.bnGhostBatch = cfg.bn_ghost_batch;
  return s;
}

/** Build a model from a spec (seeded init; optional zero head). */
export function buildModel(spec: ModelSpec, opts: { seed?: number; zeroHead?: boolean } = {}): ResNetV2 {
  return createModel(spec.model, {
    numClasses: spec.numClasses,
    seed: opts.seed ?? 0,
    zeroHead: opts.zeroHead ?? false,
    ...(spec.baseWidth ? { baseWidth: spec.baseWidth } : {}),
    ...(spec.gnGroups ? { gnGroups: spec.gnGroups } : {}),
    ...(spec.norm ? { norm: spec.norm } : {}),
    ...(spec.ws === false ? { ws: false } : {}),
    ...(spec.bnGhostBatch ? { bnGhostBatch: spec.bnGhostBatch } : {}),
  });
}

/** What loading pretrained weights did. */
export interface PretrainedReport {
  loaded: number;
  headDropped: boolean;
  missing: string[];
  unexpected: string[];
  skipped: string[];
  lines: string[];
}

/**
 * Load a weight file (npz / safetensors / ckpt, any naming) into `model`.
 * @throws CheckpointError when a shape differs or a body weight is missing.
 */
export function loadPretrained(model: ResNetV2, file: string, zeroHead: boolean): PretrainedReport {
  const w = loadWeightsFile(file);
  const expected = new Map<string, number[]>();
  for (const [n, t] of model.stateDict()) expected.set(n, [...t.shape]);
  const m = matchStateDict(expected, w.weights, { numClasses: model.numClasses });
  if (m.shapeMismatch.length > 0) {
    const s = m.shapeMismatch[0]!;
    throw new CheckpointError(
      `${file}: '${s.name}' has shape [${s.got}] in the file, the model [${s.expected}] (${m.shapeMismatch.length} mismatches; wrong model?)`,
    );
  }
  const bodyMissing = m.missing.filter((n) => !n.startsWith('head.'));
  if (bodyMissing.length > 0) {
    throw new CheckpointError(`${file}: ${bodyMissing.length} model weights missing, e.g. '${bodyMissing[0]}'`);
  }
  const sd: Record<string, { shape: number[]; data: Float32Array }> = {};
  // BiT transfer: with zeroHead the file's head is never used (a new task gets a zero head even when the
  // class count happens to match); otherwise a head of the right shape is loaded.
  for (const [n, a] of m.weights)
    if (!(zeroHead && n.startsWith('head.'))) sd[n] = { shape: a.shape, data: toFloat32(a) };
  model.loadStateDict(sd, { strict: false });
  const headDropped = zeroHead || m.headDropped !== null || m.missing.some((n) => n.startsWith('head.'));
  if (headDropped && zeroHead) {
    const head = model.head.fc;
    if (head) {
      noGrad(() => {
        for (const p of head.stateDict().values()) p.zero_();
      });
    }
  }
  const lines = [`loaded ${m.weights.size} tensors from ${file} (${w.format}, ${w.naming} names)`];
  if (zeroHead) lines.push("head: zero-initialized (BiT transfer; the file's head is not used)");
  else if (m.headDropped) {
    lines.push(
      `head: file has ${m.headDropped.fileClasses} classes, model ${m.headDropped.numClasses}: ${zeroHead ? 'zero-initialized' : 'fresh init'}`,
    );
  }
  if (w.skipped.length) lines.push(`skipped ${w.skipped.length} optimizer/training entries`);
  if (w.unexpected.length + m.unexpected.length) {
    lines.push(`ignored ${w.unexpected.length + m.unexpected.length} unknown entries`);
  }
  return {
    loaded: m.weights.size,
    headDropped,
    missing: m.missing,
    unexpected: [...w.unexpected, ...m.unexpected],
    skipped: w.skipped,
    lines,
  };
}
