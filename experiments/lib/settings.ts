/**
 * Every number of the reproduction protocol (issue 16) in one place: the full protocol (sized for a 2-core CPU
 * on the wasm backend, about three hours; see `estimateSeconds`) and `--quick` (tiny caches and step counts,
 * for CI: proves the machinery, not the claims).
 * Invariant: a run's result JSON records the training config it ran with, so changing a value here never
 * passes silently for an old result (the report shows each run's own config).
 */

/** An upstream (from-scratch pre-training) run. */
export interface UpstreamPlan {
  data: 'tiny-imagenet' | 'imagenette';
  steps: number;
  batch: number;
  lr: number;
  weightDecay: number;
}

/** A Table-4 variant: normalization, weight standardization, BN statistics per micro-batch of this many images. */
export interface Variant {
  name: string;
  norm: 'bn' | 'gn';
  ws: boolean;
  ghostBatch: number;
}

export interface Settings {
  quick: boolean;
  /** The model of every run (a registered name). */
  model: string;
  /** First members per class kept in the caches (0: all). */
  cacheLimit: { cifar: number; imagenette: number; tiny: number; tinyVal: number };
  /** Seed of the train/validation splits (setupData's `seed`, so `bit-ts validate --seed` sees the same split). */
  splitSeed: number;
  cifarValFraction: number;
  /** Evaluation subset of the CIFAR validation split (setupData's `val_limit`). */
  cifarEvalCount: number;
  /** Images of the CIFAR TRAINING part (never the evaluation subset) that score the lr/schedule grids. */
  pilotEvalCount: number;
  imagenetteValFraction: number;
  crop: number;
  precrop: number;
  upstreams: { tiny: UpstreamPlan; imagenette: UpstreamPlan };
  finetune: {
    batch: number;
    /** HyperRule schedule multiplier (1: the official 500 steps for every few-shot task). */
    scale: number;
    /** The rule's lr, 0.003 at batch 512, scaled linearly to `batch`. */
    ruleLr: number;
    /** Candidates of the tuned transfer lr (grid on the pilot draw, scored on pilot images). */
    lrGrid: number[];
    pilotShots: number;
    pilotSeed: number;
  };
  shots: number[];
  seeds: number[];
  /** The from-scratch baseline's own grid per k (scored on pilot images); `extend`: x steps when the longest wins. */
  scratch: { lrs: number[]; steps: number[]; extend: number };
  /**
   * Full-data CIFAR-10 fine-tuning (the rule's MixUp case, N = 40k): schedule multiplier, seeds, and MixUp alpha
   * (null: the rule's choice from N; quick mode forces 0.1 so CI exercises the MixUp path on its tiny pool).
   */
  full: { scale: number; seeds: number[]; mixup: number | null };
  /** Head ablation (zero vs N(0, 0.01)) at the rule's and the tuned lr. */
  head: { shots: number; seeds: number[] };
  /** Schedule ablation: HyperRule (500 steps with decays) vs a fixed short schedule for every k. */
  schedule: { fixedSteps: number; shots: number[]; seeds: number[] };
  table4: {
    /** The model of Table 4's upstreams and their transfers (one shared budget for the four variants). */
    model: string;
    steps: number;
    batch: number;
    variants: Variant[];
    transferShots: number;
    transferSeeds: number[];
  };
  /** Steps between periodic checkpoints of long runs (a stop loses at most this many steps). */
  checkpointEvery: number;
  evalBatch: number;
  logEvery: number;
}

/** Upstream lr for batch B: 0.1 * B / 128 (BiT: 0.03 * B / 256 for 90 epochs; short runs need more). */
export const upstreamLr = (batch: number) => (0.1 * batch) / 128;

const ruleLr = (batch: number) => (0.003 * batch) / 512;

const variants = (ghost: number): Variant[] => [
  { name: 'bn', norm: 'bn', ws: false, ghostBatch: ghost },
  { name: 'bn-ws', norm: 'bn', ws: true, ghostBatch: ghost },
  { name: 'gn', norm: 'gn', ws: false, ghostBatch: 0 },
  { name: 'gn-ws', norm: 'gn', ws: true, ghostBatch: 0 },
];

export const FULL: Settings = {
  quick: false,
  // R14 at base width 24 (1.1M parameters): measured 547-674 img/s at batch 128 (see docs/reproductions.md)
  model: 'bit-tiny-w24',
  cacheLimit: { cifar: 0, imagenette: 0, tiny: 0, tinyVal: 0 },
  splitSeed: 1,
  cifarValFraction: 0.2,
  cifarEvalCount: 2000,
  pilotEvalCount: 1000,
  imagenetteValFraction: 0.1,
  crop: 32,
  precrop: 40,
  upstreams: {
    // ~1.5M images = 15 epochs of Tiny ImageNet's 101k (about an hour at ~400 img/s)
    tiny: { data: 'tiny-imagenet', steps: 12_000, batch: 128, lr: upstreamLr(128), weightDecay: 1e-4 },
    // the weaker upstream: 10 classes, 8.5k images; 192k images seen (as the first protocol)
    imagenette: { data: 'imagenette', steps: 6000, batch: 32, lr: upstreamLr(32), weightDecay: 1e-4 },
  },
  finetune: {
    batch: 32,
    scale: 1,
    ruleLr: ruleLr(32),
    lrGrid: [ruleLr(32), 0.001, 0.003, 0.01],
    pilotShots: 10,
    pilotSeed: 100,
  },
  shots: [1, 5, 10, 100],
  seeds: [0, 1, 2, 3, 4],
  scratch: { lrs: [0.01, 0.1], steps: [300, 1000], extend: 2 },
  full: { scale: 0.1, seeds: [0], mixup: null },
  head: { shots: 5, seeds: [0, 1, 2, 3, 4] },
  schedule: { fixedSteps: 100, shots: [1, 10, 100], seeds: [0, 1, 2] },
  table4: {
    model: 'bit-tiny',
    steps: 1500,
    batch: 128,
    variants: variants(8),
    transferShots: 10,
    transferSeeds: [0, 1, 2],
  },
  checkpointEvery: 500,
  evalBatch: 200,
  logEvery: 100,
};

export const QUICK: Settings = {
  ...FULL,
  quick: true,
  cacheLimit: { cifar: 40, imagenette: 12, tiny: 4, tinyVal: 2 },
  cifarEvalCount: 40,
  pilotEvalCount: 20,
  upstreams: {
    tiny: { ...FULL.upstreams.tiny, steps: 4, batch: 16, lr: upstreamLr(16) },
    imagenette: { ...FULL.upstreams.imagenette, steps: 3, batch: 8, lr: upstreamLr(8) },
  },
  finetune: { ...FULL.finetune, batch: 8, scale: 0.01, ruleLr: ruleLr(8), lrGrid: [ruleLr(8), 0.01], pilotShots: 2 },
  shots: [1, 2],
  seeds: [0],
  scratch: { lrs: [0.01, 0.1], steps: [3, 5], extend: 2 },
  full: { scale: 0.0005, seeds: [0], mixup: 0.1 },
  head: { shots: 2, seeds: [0] },
  schedule: { fixedSteps: 2, shots: [1], seeds: [0] },
  table4: { model: 'bit-tiny', steps: 3, batch: 16, variants: variants(4), transferShots: 1, transferSeeds: [0] },
  checkpointEvery: 2,
  evalBatch: 50,
  logEvery: 0,
};
