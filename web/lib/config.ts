/**
 * Sizes of the study (./study.ts) and its class names: plain data with no imports, so the page's UI bundle does
 * not pull in the engine.
 */

export type RunName = 'upstream' | 'transfer' | 'scratch';

/** Sizes of one study. */
export interface StudyConfig {
  seed: number;
  model: string;
  batch: number;
  /** Crop side in px (the resize side is crop * 160/128, as the HyperRule's small-image rule). */
  crop: number;
  upstreamSteps: number;
  upstreamLr: number;
  /** Images per class of the k-shot downstream set. */
  shots: number;
  /** HyperRule schedule multiplier (0.1: 500 -> 50 steps). */
  scale: number;
  /** Fine-tuning lr at this batch (the demo's 0.01: 0.003 * 32/512 barely moves in 50 steps). */
  lr: number;
  /** Cut the transfer and scratch runs at this many steps (0: none). */
  maxSteps: number;
  /** Held-out images per evaluation. */
  evalImages: number;
  /** Evaluate every this many steps (and at the end; 0: only at the end). */
  evalEvery: number;
  /** MixUp alpha of every run (0: off, as the HyperRule says for N < 20k). */
  mixup: number;
  /** Micro-batches per update (gradient accumulation; same update for GroupNorm models). */
  accum: number;
}

/** The page's default: a few minutes on a laptop CPU. */
export const FULL_STUDY: StudyConfig = {
  seed: 1,
  model: 'bit-tiny',
  batch: 32,
  crop: 32,
  upstreamSteps: 150,
  upstreamLr: 0.05,
  shots: 5,
  scale: 0.1,
  lr: 0.01,
  maxSteps: 0,
  evalImages: 500,
  evalEvery: 25,
  mixup: 0,
  accum: 1,
};

/** A few steps of everything (the browser test on the CPU backends). */
export const QUICK_STUDY: StudyConfig = {
  ...FULL_STUDY,
  batch: 8,
  upstreamSteps: 3,
  shots: 2,
  maxSteps: 2,
  evalImages: 16,
  evalEvery: 0,
};

export const UP_CLASSES = ['0', '1', '2', '3', '4'];
export const DOWN_CLASSES = ['5', '6', '7', '8', '9'];

/** Fewer and smaller steps (the browser test on a software WebGPU adapter, which is slow). */
export const TINY_STUDY: StudyConfig = { ...QUICK_STUDY, batch: 4, upstreamSteps: 2, maxSteps: 1, evalImages: 4 };

/** The named configs the page accepts as `?study=NAME` (default: full). */
export const STUDIES: Record<string, StudyConfig> = { full: FULL_STUDY, quick: QUICK_STUDY, tiny: TINY_STUDY };

/** The study keys the page shows as inputs (set from a `?study=` preset, read back at start). */
export const STUDY_INPUTS = ['upstreamSteps', 'shots', 'batch', 'lr', 'scale', 'mixup', 'accum'] as const;
