/**
 * Model construction from a config (or from a checkpoint's recorded model spec) and loading of pretrained
 * weights with the BiT transfer rule (head dropped and zero-initialized when the class count differs).
 *
 * Invariants: the model spec recorded in checkpoints (`ModelSpec`) rebuilds exactly the same architecture;
 * loading reports every missing / unexpected / mismatched name instead of silently ignoring it; weights holding
 * NaN or infinities are refused at load time (CheckpointError) unless explicitly allowed; a caller that predicts
 * (`requireHead`) never gets a randomly initialized head silently.
 */

import { CheckpointError } from '../errors.js';
import {
  createModel,
  matchStateDict,
  modelConfig,
  type ResNetV2,
  type ResNetV2Config,
  toFloat32,
} from '../models/index.js';
import { loadWeightsFile } from '../models/weights/node-io.js';
import { noGrad } from '../tensor/index.js';
import { loadCheckpoint } from './checkpoint.js';
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

/** The model config a spec builds (what `buildModel` creates), without allocating. */
export function specConfig(spec: ModelSpec): ResNetV2Config {
  return modelConfig(spec.model, specOptions(spec));
}

/** Build a model from a spec (seeded init; optional zero head). */
export function buildModel(spec: ModelSpec, opts: { seed?: number; zeroHead?: boolean } = {}): ResNetV2 {
  return createModel(spec.model, {
    ...specOptions(spec),
    seed: opts.seed ?? 0,
    zeroHead: opts.zeroHead ?? false,
  });
}

/** createModel options of a spec (architecture and head; no init settings). */
function specOptions(spec: ModelSpec) {
  return {
    numClasses: spec.numClasses,
    ...(spec.baseWidth ? { baseWidth: spec.baseWidth } : {}),
    ...(spec.gnGroups ? { gnGroups: spec.gnGroups } : {}),
    ...(spec.norm ? { norm: spec.norm } : {}),
    ...(spec.ws === false ? { ws: false } : {}),
    ...(spec.bnGhostBatch ? { bnGhostBatch: spec.bnGhostBatch } : {}),
  };
}

/**
 * Refuse weights holding NaN or infinities (a damaged or diverged file gives silently wrong predictions).
 * @returns a warning line when `allow` and some tensors are non-finite, else null.
 * @throws CheckpointError naming the first damaged tensor and the count, unless `allow`.
 */
export function checkFiniteWeights(
  entries: Iterable<[string, { data: ArrayLike<number> }]>,
  file: string,
  allow: boolean,
): string | null {
  let tensors = 0;
  let bad = 0;
  let first = '';
  for (const [name, { data }] of entries) {
    tensors++;
    let nan = 0;
    let inf = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v - v !== 0) {
        if (Number.isNaN(v)) nan++;
        else inf++;
      }
    }
    if (nan + inf === 0) continue;
    if (bad === 0) first = `'${name}' (${nan} NaN, ${inf} infinite of ${data.length} values)`;
    bad++;
  }
  if (bad === 0) return null;
  const what = `${file}: ${bad} of ${tensors} tensors hold non-finite values, first ${first}`;
  if (allow) return `warning: ${what}; loaded anyway (--allow_nonfinite)`;
  throw new CheckpointError(
    `${what}: the weights are damaged (or the run diverged); predictions from them are meaningless. ` +
      `Pass --allow_nonfinite to load them anyway`,
  );
}

/** Options of {@link loadPretrained}. */
export interface LoadOptions {
  /** Load weights holding NaN/Inf (with a warning line) instead of throwing. */
  allowNonfinite?: boolean;
  /**
   * The caller predicts with the file's head (validate, infer): a head the file cannot supply (other class
   * count, or none) is a CheckpointError instead of a fresh random head, unless `allowRandomHead`.
   */
  requireHead?: boolean;
  allowRandomHead?: boolean;
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
export function loadPretrained(
  model: ResNetV2,
  file: string,
  zeroHead: boolean,
  opts: LoadOptions = {},
): PretrainedReport {
  const w = loadWeightsFile(file);
  const finiteNote = checkFiniteWeights(
    [...w.weights].map(([n, a]) => [n, { data: a.data as ArrayLike<number> }]),
    file,
    opts.allowNonfinite ?? false,
  );
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
  const headMissing = m.headDropped !== null || m.missing.some((n) => n.startsWith('head.'));
  if (opts.requireHead && headMissing && !zeroHead && !opts.allowRandomHead) {
    throw new CheckpointError(
      m.headDropped
        ? `${file}: its head has ${m.headDropped.fileClasses} classes, the model ${m.headDropped.numClasses}: ` +
            `predictions would come from a randomly initialized head. Give --num_classes ${m.headDropped.fileClasses}, ` +
            `or --allow_random_head to predict with a random head anyway`
        : `${file} holds no classification head: predictions would come from a randomly initialized head ` +
            `(pass --allow_random_head to do that anyway)`,
    );
  }
  const sd: Record<string, { shape: number[]; data: Float32Array }> = {};
  // BiT transfer: with zeroHead the file's head is never used (a new task gets a zero head even when the
  // class count happens to match); otherwise a head of the right shape is loaded.
  for (const [n, a] of m.weights)
    if (!(zeroHead && n.startsWith('head.'))) sd[n] = { shape: a.shape, data: toFloat32(a) };
  model.loadStateDict(sd, { strict: false });
  const headDropped = zeroHead || headMissing;
  if (headDropped && zeroHead) {
    const head = model.head.fc;
    if (head) {
      noGrad(() => {
        for (const p of head.stateDict().values()) p.zero_();
      });
    }
  }
  const lines = [`loaded ${m.weights.size} tensors from ${file} (${w.format}, ${w.naming} names)`];
  if (finiteNote) lines.push(finiteNote);
  if (zeroHead) lines.push("head: zero-initialized (BiT transfer; the file's head is not used)");
  else if (m.headDropped) {
    lines.push(
      `head: file has ${m.headDropped.fileClasses} classes, model ${m.headDropped.numClasses}: RANDOM init (fresh, not from the file)`,
    );
  } else if (headMissing) lines.push('head: not in the file: RANDOM init (fresh)');
  else lines.push(`head: from the file (${model.numClasses} classes)`);
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

/**
 * Load the weights a predicting command (validate, infer) uses: a bit-ts training checkpoint's own state dict,
 * or any weight file with its head required (see {@link LoadOptions}). Returns the lines saying what was
 * loaded, the head included.
 * @throws CheckpointError for non-finite weights (unless allowed) or a head the file cannot supply.
 */
export function loadForPrediction(
  model: ResNetV2,
  file: string,
  training: boolean,
  opts: Omit<LoadOptions, 'requireHead'> = {},
): string[] {
  if (!training) return loadPretrained(model, file, false, { ...opts, requireHead: true }).lines;
  const ck = loadCheckpoint(file);
  const note = checkFiniteWeights(ck.weights, file, opts.allowNonfinite ?? false);
  model.loadStateDict(ck.weights);
  const lines = [`loaded ${ck.weights.size} tensors from ${file} (bit-ts training checkpoint, step ${ck.meta.step})`];
  if (note) lines.push(note);
  lines.push(`head: from the checkpoint (${model.numClasses} classes)`);
  return lines;
}
