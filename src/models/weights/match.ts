/**
 * Compare loaded weights (our names) with a model's expected parameter shapes, applying the BiT transfer rule:
 * when the file's classifier has a different class count than requested, the head (`head.fc.*`) is dropped
 * and reported so the caller zero-initialises it (official BiT fine-tuning behaviour). Pure bookkeeping:
 * nothing is copied; `weights` holds the loaded arrays that may be assigned as-is.
 */
import type { WeightMap } from './types.js';

/** A parameter whose loaded shape differs from the model's. */
export interface ShapeMismatch {
  name: string;
  expected: number[];
  got: number[];
}

/** Outcome of matching a loaded state dict against a model. */
export interface MatchResult {
  /** Expected names absent from the file (excluding a dropped head). */
  missing: string[];
  /** Loaded names the model does not have. */
  unexpected: string[];
  /** Names present in both with different shapes (never assignable). */
  shapeMismatch: ShapeMismatch[];
  /** Set when head.fc.* was dropped because the class count differs: zero-init the head. */
  headDropped: { fileClasses: number; numClasses: number } | null;
  /** Loaded arrays that match by name and shape (safe to assign). */
  weights: WeightMap;
}

/** Options for {@link matchStateDict}. */
export interface MatchOptions {
  /** Classes the caller wants; defaults to the class count of the expected head. */
  numClasses?: number;
}

const HEAD = ['head.fc.weight', 'head.fc.bias'];

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Match `loaded` against `expected` (name -> shape).
 * Head rule: if the file's head.fc.weight (or bias) has a class count different from `numClasses`, both
 * head.fc.* entries are dropped and `headDropped` is set; they then count neither as missing nor mismatched.
 */
export function matchStateDict(
  expected: ReadonlyMap<string, readonly number[]>,
  loaded: WeightMap,
  opts: MatchOptions = {},
): MatchResult {
  const numClasses = opts.numClasses ?? expected.get('head.fc.weight')?.[0] ?? expected.get('head.fc.bias')?.[0];
  let headDropped: MatchResult['headDropped'] = null;
  const fileHead = loaded.get('head.fc.weight') ?? loaded.get('head.fc.bias');
  if (fileHead && numClasses !== undefined && fileHead.shape[0] !== numClasses) {
    headDropped = { fileClasses: fileHead.shape[0] ?? 0, numClasses };
  }
  const missing: string[] = [];
  const shapeMismatch: ShapeMismatch[] = [];
  const weights: WeightMap = new Map();
  for (const [name, shape] of expected) {
    if (headDropped && HEAD.includes(name)) continue;
    const got = loaded.get(name);
    if (!got) missing.push(name);
    else if (!sameShape(got.shape, shape)) shapeMismatch.push({ name, expected: [...shape], got: [...got.shape] });
    else weights.set(name, got);
  }
  const unexpected = [...loaded.keys()].filter((n) => !expected.has(n) && !(headDropped && HEAD.includes(n)));
  return { missing, unexpected, shapeMismatch, headDropped, weights };
}
