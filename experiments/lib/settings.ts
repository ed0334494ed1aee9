/**
 * Every number of the reproduction protocol in one place: the full protocol (sized for a 2-core CPU on the
 * wasm backend) and `--quick` (tiny caches and step counts, for CI: proves the machinery, not the claims).
 * Invariant: a run's result JSON records the settings it ran with, so changing a value here never passes
 * silently for an old result (the report shows each run's own config).
 */

export interface Settings {
  quick: boolean;
  model: string;
  /** First members per class kept in the caches (0: all). */
  cacheLimit: { cifar: number; imagenette: number };
  /** Seed of the train/validation splits (setupData's `seed`, so `bit-ts validate` sees the same split). */
  splitSeed: number;
  cifarValFraction: number;
  /** Evaluation subset of the CIFAR validation split (setupData's `val_limit`). */
  cifarEvalCount: number;
  imagenetteValFraction: number;
  crop: number;
  precrop: number;
  upstream: { steps: number; batch: number; lr: number; warmupFrac: number; decayFracs: number[]; weightDecay: number };
  finetune: {
    scale: number;
    batch: number;
    lrCandidates: number[];
    pilotShots: number;
    pilotSeed: number;
    pilotEval: number;
  };
  shots: number[];
  seeds: number[];
  /** Seeds run first (the rest only after the other experiments' first tier). */
  firstSeeds: number;
  headShots: number;
  /** Extra few-shot runs with a longer fine-tuning schedule (null: none). */
  long: { scale: number; seeds: number[] } | null;
  table4: {
    steps: number;
    batch: number;
    variants: string[];
    /** Seeds of the from-scratch runs (0 first: its model is the one transferred). */
    scratchSeeds: number[];
    transferShots: number;
    transferSeeds: number[];
  };
  evalBatch: number;
  logEvery: number;
}

/** BiT upstream lr for batch B is 0.03 * B / 256; see docs/reproductions.md for why we use 0.1 * B / 128. */
const upstreamLr = (batch: number) => (0.1 * batch) / 128;

export const FULL: Settings = {
  quick: false,
  model: 'bit-tiny',
  cacheLimit: { cifar: 0, imagenette: 0 },
  splitSeed: 1,
  cifarValFraction: 0.2,
  cifarEvalCount: 2000,
  imagenetteValFraction: 0.1,
  crop: 32,
  precrop: 40,
  upstream: {
    steps: 6000,
    batch: 32,
    lr: upstreamLr(32),
    warmupFrac: 0.05,
    decayFracs: [30 / 90, 60 / 90, 80 / 90],
    weightDecay: 1e-4,
  },
  finetune: {
    scale: 0.2,
    batch: 32,
    lrCandidates: [(0.003 * 32) / 512, 0.003, 0.01, 0.03],
    pilotShots: 10,
    pilotSeed: 100,
    pilotEval: 1000,
  },
  shots: [1, 5, 10, 100],
  seeds: [0, 1, 2, 3, 4],
  firstSeeds: 3,
  headShots: 5,
  long: { scale: 1, seeds: [0, 1, 2] },
  table4: {
    steps: 1500,
    batch: 32,
    variants: ['bn', 'bn-ws', 'gn', 'gn-ws'],
    transferShots: 10,
    scratchSeeds: [0, 1],
    transferSeeds: [0, 1, 2],
  },
  evalBatch: 100,
  logEvery: 100,
};

export const QUICK: Settings = {
  ...FULL,
  quick: true,
  cacheLimit: { cifar: 40, imagenette: 12 },
  cifarEvalCount: 40,
  upstream: { ...FULL.upstream, steps: 6, batch: 8, lr: upstreamLr(8) },
  finetune: { ...FULL.finetune, scale: 0.01, batch: 8, lrCandidates: [0.003, 0.01], pilotShots: 2, pilotEval: 20 },
  shots: [1, 5],
  seeds: [0, 1],
  firstSeeds: 1,
  headShots: 5,
  long: null,
  table4: { steps: 4, batch: 8, variants: ['bn', 'gn-ws'], scratchSeeds: [0], transferShots: 2, transferSeeds: [0] },
  evalBatch: 50,
  logEvery: 0,
};

/** Model options of a Table-4 variant name ('bn', 'bn-ws', 'gn', 'gn-ws'). */
export function variantOptions(v: string): { norm: 'bn' | 'gn'; ws: boolean } {
  const [norm, ws] = v.split('-');
  if (norm !== 'bn' && norm !== 'gn') throw new Error(`unknown variant '${v}'`);
  return { norm, ws: ws === 'ws' };
}
