/**
 * The reproduction protocol (issue 16) as an ordered list of runs, each trained through src/train:
 *   upstream: Tiny ImageNet (202 classes, scored on every val.tar image) and Imagenette (10 classes), GN+WS;
 *   grid:     the tuned transfer lr, and the from-scratch baseline's own lr x steps grid per k (scored on pilot
 *             images from the training part; one longer run when the longest schedule wins);
 *   fewshot:  CIFAR-10 k-shot transfer from each upstream (the rule's lr scaled to the batch, zero head,
 *             HyperRule schedule) and from scratch (its grid's choice), every k x seed;
 *   full:     all of the CIFAR-10 training part (the rule's MixUp case, reduced steps);
 *   head:     zero vs N(0, 0.01) head at the rule's and at the tuned lr;
 *   schedule: HyperRule vs a fixed short schedule for every k;
 *   table4:   BN / BN+WS (ghost BN: statistics per micro-batch) / GN / GN+WS upstreams on Tiny ImageNet at one
 *             budget, each transferred to CIFAR-10 k-shot.
 * Order is tiered (first seeds of every experiment before the remaining seeds) so a protocol cut short still
 * covers every experiment. Invariant: run ids are stable (they name the result JSONs that make a rerun skip).
 */

import { Subset } from '../../src/data/index.js';
import { scaledHyperRule } from '../../src/train/schedule.js';
import {
  type Context,
  cifarData,
  cifarKeys,
  finalCheckpoint,
  type RunDef,
  readResult,
  trainRun,
  variantConfig,
} from './protocol.js';
import type { Settings, UpstreamPlan, Variant } from './settings.js';

const GN_WS: Variant = { name: 'gn-ws', norm: 'gn', ws: true, ghostBatch: 0 };

/** The upstream recipe (BiT's step schedule: warm-up 5 of 90 "epochs", lr / 10 at 30, 60, 80; fitted to `steps`). */
function upstreamKeys(u: UpstreamPlan, v: Variant): Record<string, unknown> {
  return {
    batch_size: u.batch,
    lr: u.lr,
    weight_decay: u.weightDecay,
    scheduler: 'multi_step_decay',
    epoch_size: 90,
    warmup_epochs: 5,
    multi_step_decay_milestones: [25, 55, 75],
    decay_rate: 0.1,
    max_steps: u.steps,
    ...variantConfig(v),
  };
}

function upstreamRun(ctx: Context, id: string, u: UpstreamPlan, v: Variant, model = ctx.s.model) {
  const s = ctx.s;
  if (u.data === 'tiny-imagenet') {
    return trainRun(
      ctx,
      id,
      {
        ...upstreamKeys(u, v),
        model,
        dataset: 'imagefolder',
        data_dir: ctx.paths.tinyTrainTar,
        num_classes: ctx.tiny.numClasses,
      },
      {
        train: ctx.tiny,
        val: ctx.tinyVal,
        describe: `Tiny ImageNet train.tar (${ctx.tiny.length} images, ${ctx.tiny.numClasses} classes); scored on every val.tar image (${ctx.tinyVal.length})`,
      },
    );
  }
  return trainRun(
    ctx,
    id,
    {
      ...upstreamKeys(u, v),
      model,
      dataset: 'imagefolder',
      data_dir: ctx.paths.imagenetteTar,
      val_split: s.imagenetteValFraction,
      seed: s.splitSeed,
      num_classes: 10,
    },
    {
      train: new Subset(ctx.inettePre, ctx.inetteTrain),
      val: new Subset(ctx.inette, ctx.inetteVal),
      describe: `Imagenette train.tar 90% (${ctx.inetteTrain.length}); scored on the 10% held out (${ctx.inetteVal.length})`,
    },
  );
}

/** HyperRule fine-tuning keys (transfer: the upstream's final checkpoint, zero head unless said otherwise). */
function finetuneKeys(
  s: Settings,
  o: { lr: number; upstream: string | null; ctx: Context; zeroHead?: boolean; scale?: number; steps?: number },
) {
  return {
    batch_size: s.finetune.batch,
    lr: o.lr,
    scheduler: 'hyperrule',
    hyperrule_scale: o.scale ?? s.finetune.scale,
    max_steps: o.steps ?? 0,
    weight_decay: 0,
    zero_head: o.zeroHead ?? true,
    ckpt_path: o.upstream ? finalCheckpoint(o.ctx, o.upstream) : '',
  };
}

const lrTag = (lr: number) => lr.toPrecision(3).replace(/\.?0+$/, '');

/** Ids of the scratch grid at k. */
export function scratchGridIds(s: Settings, k: number): string[] {
  return s.scratch.lrs.flatMap((lr) => s.scratch.steps.map((st) => `grid-scratch-k${k}-lr${lrTag(lr)}-st${st}`));
}

/** The scratch baseline's choice at k: the best (lr, steps) of its grid (extension included when it ran). */
export function scratchChoice(ctx: Context, k: number): { lr: number; steps: number } {
  const s = ctx.s;
  let best = { lr: s.scratch.lrs[0]!, steps: s.scratch.steps[0]!, acc: -1 };
  for (const id of [...scratchGridIds(s, k), `grid-scratch-k${k}-ext`]) {
    const r = readResult(ctx.paths.results, id);
    if (!r || r.skipped) continue;
    const acc = r.accuracy as number;
    const c = r.choice as { lr: number; steps: number };
    if (acc > best.acc) best = { ...c, acc };
  }
  return { lr: best.lr, steps: best.steps };
}

/** The tuned transfer lr (best pilot accuracy; ties: the smaller lr). */
export function tunedLr(ctx: Context): number {
  let best = { lr: ctx.s.finetune.ruleLr, acc: -1 };
  for (const lr of ctx.s.finetune.lrGrid) {
    const r = readResult(ctx.paths.results, `grid-transfer-lr${lrTag(lr)}`);
    if (r && (r.accuracy as number) > best.acc) best = { lr, acc: r.accuracy as number };
  }
  return best.lr;
}

/** Every run of the protocol, in execution order. */
export function protocolRuns(s: Settings): RunDef[] {
  const runs: RunDef[] = [];
  const ups = { tiny: 'up-tiny', imagenette: 'up-imagenette' } as const;
  for (const [key, id] of Object.entries(ups) as [keyof typeof ups, string][]) {
    runs.push({
      id,
      experiment: 'upstream',
      tier: 0,
      deps: [],
      artifact: (ctx) => finalCheckpoint(ctx, id),
      exec: async (ctx) => ({ ...(await upstreamRun(ctx, id, s.upstreams[key], GN_WS)), variant: 'gn-ws' }),
    });
  }
  const f = s.finetune;
  for (const lr of f.lrGrid) {
    runs.push({
      id: `grid-transfer-lr${lrTag(lr)}`,
      experiment: 'grid',
      tier: 0,
      deps: [ups.tiny],
      exec: async (ctx) => ({
        ...(await trainRun(
          ctx,
          `grid-transfer-lr${lrTag(lr)}`,
          { ...cifarKeys(ctx, f.pilotShots, f.pilotSeed), ...finetuneKeys(s, { lr, upstream: ups.tiny, ctx }) },
          cifarData(ctx, f.pilotShots, f.pilotSeed, 'pilot'),
        )),
        k: f.pilotShots,
        upstream: 'tiny',
      }),
    });
  }
  for (const k of s.shots) {
    const grid = scratchGridIds(s, k);
    s.scratch.lrs.forEach((lr, li) => {
      s.scratch.steps.forEach((steps, si) => {
        const id = grid[li * s.scratch.steps.length + si]!;
        runs.push({
          id,
          experiment: 'grid',
          tier: 0,
          deps: [],
          exec: async (ctx) => ({
            ...(await trainRun(
              ctx,
              id,
              {
                ...cifarKeys(ctx, k, f.pilotSeed),
                ...finetuneKeys(s, { lr, upstream: null, ctx, steps }),
                seed: f.pilotSeed,
              },
              cifarData(ctx, k, f.pilotSeed, 'pilot'),
            )),
            k,
            choice: { lr, steps },
          }),
        });
      });
    });
    // More steps where the longest schedule still wins: one run at extend x the longest, at the best lr.
    const ext = `grid-scratch-k${k}-ext`;
    runs.push({
      id: ext,
      experiment: 'grid',
      tier: 0,
      deps: grid,
      exec: async (ctx) => {
        const c = scratchChoice(ctx, k);
        const longest = Math.max(...s.scratch.steps);
        if (c.steps < longest)
          return { skipped: true, reason: `best grid schedule (${c.steps} steps) is not the longest`, k };
        const steps = longest * s.scratch.extend;
        return {
          ...(await trainRun(
            ctx,
            ext,
            {
              ...cifarKeys(ctx, k, f.pilotSeed),
              ...finetuneKeys(s, { lr: c.lr, upstream: null, ctx, steps }),
              seed: f.pilotSeed,
            },
            cifarData(ctx, k, f.pilotSeed, 'pilot'),
          )),
          k,
          choice: { lr: c.lr, steps },
        };
      },
    });
  }
  const gridIds = runs.filter((r) => r.experiment === 'grid').map((r) => r.id);
  const transferGrid = gridIds.filter((i) => i.startsWith('grid-transfer'));
  s.seeds.forEach((seed, si) => {
    const tier = si < 3 ? 1 : 3;
    for (const k of s.shots) {
      for (const init of ['tiny', 'imagenette', 'scratch'] as const) {
        const id = `fewshot-${init}-k${k}-s${seed}`;
        const scratchDeps = [...scratchGridIds(s, k), `grid-scratch-k${k}-ext`];
        runs.push({
          id,
          experiment: 'fewshot',
          tier,
          deps: init === 'scratch' ? scratchDeps : [ups[init]],
          artifact: (ctx) => finalCheckpoint(ctx, id),
          exec: async (ctx) => {
            const c = init === 'scratch' ? scratchChoice(ctx, k) : null;
            const keys =
              init === 'scratch'
                ? finetuneKeys(s, { lr: c!.lr, upstream: null, ctx, steps: c!.steps })
                : finetuneKeys(s, { lr: f.ruleLr, upstream: ups[init], ctx });
            return {
              ...(await trainRun(ctx, id, { ...cifarKeys(ctx, k, seed), ...keys, seed }, cifarData(ctx, k, seed))),
              k,
              init,
            };
          },
        });
      }
    }
  });
  for (const seed of s.full.seeds) {
    for (const init of ['tiny', 'imagenette', 'scratch'] as const) {
      const id = `full-${init}-s${seed}`;
      const big = Math.max(...s.shots);
      runs.push({
        id,
        experiment: 'full',
        tier: 2,
        deps: init === 'scratch' ? [...scratchGridIds(s, big), `grid-scratch-k${big}-ext`] : [ups[init]],
        exec: async (ctx) => {
          const n = ctx.cifarTrain.length;
          const mixup = s.full.mixup ?? (n < 20_000 ? 0 : 0.1);
          const lr = init === 'scratch' ? scratchChoice(ctx, big).lr : f.ruleLr;
          const keys = finetuneKeys(s, {
            lr,
            upstream: init === 'scratch' ? null : ups[init],
            ctx,
            scale: s.full.scale,
          });
          return {
            ...(await trainRun(ctx, id, { ...cifarKeys(ctx, 0, 0), ...keys, mixup, seed }, cifarData(ctx, 0, seed))),
            init,
            schedule: scaledHyperRule(n, s.full.scale),
          };
        },
      });
    }
  }
  // Head ablation: zero head at the rule's lr is fewshot-tiny-k{h}; the other three cells here.
  s.head.seeds.forEach((seed, si) => {
    for (const [head, lrKind] of [
      ['normal', 'rule'],
      ['zero', 'tuned'],
      ['normal', 'tuned'],
    ] as const) {
      const id = `head-${head}-${lrKind}-k${s.head.shots}-s${seed}`;
      runs.push({
        id,
        experiment: 'head',
        tier: si < 3 ? 2 : 3,
        deps: lrKind === 'tuned' ? [ups.tiny, ...transferGrid] : [ups.tiny],
        exec: async (ctx) => {
          const lr = lrKind === 'tuned' ? tunedLr(ctx) : f.ruleLr;
          const keys = finetuneKeys(s, { lr, upstream: ups.tiny, ctx, zeroHead: head === 'zero' });
          return {
            ...(await trainRun(
              ctx,
              id,
              { ...cifarKeys(ctx, s.head.shots, seed), ...keys, seed },
              cifarData(ctx, s.head.shots, seed),
            )),
            k: s.head.shots,
            head,
            lrKind,
          };
        },
      });
    }
  });
  for (const seed of s.schedule.seeds) {
    for (const k of s.schedule.shots) {
      const id = `sched-fixed-k${k}-s${seed}`;
      runs.push({
        id,
        experiment: 'schedule',
        tier: 2,
        deps: [ups.tiny],
        exec: async (ctx) => {
          const keys = finetuneKeys(s, { lr: f.ruleLr, upstream: ups.tiny, ctx, steps: s.schedule.fixedSteps });
          return {
            ...(await trainRun(ctx, id, { ...cifarKeys(ctx, k, seed), ...keys, seed }, cifarData(ctx, k, seed))),
            k,
          };
        },
      });
    }
  }
  const t4 = s.table4;
  for (const v of t4.variants) {
    const up = `t4-up-${v.name}`;
    const plan: UpstreamPlan = {
      ...s.upstreams.tiny,
      steps: t4.steps,
      batch: t4.batch,
      lr: s.upstreams.tiny.lr * (t4.batch / s.upstreams.tiny.batch),
    };
    runs.push({
      id: up,
      experiment: 'table4',
      tier: 2,
      deps: [],
      artifact: (ctx) => finalCheckpoint(ctx, up),
      exec: async (ctx) => ({ ...(await upstreamRun(ctx, up, plan, v, t4.model)), variant: v.name }),
    });
    t4.transferSeeds.forEach((seed, si) => {
      const id = `t4-tr-${v.name}-k${t4.transferShots}-s${seed}`;
      runs.push({
        id,
        experiment: 'table4',
        tier: si < 2 ? 2 : 3,
        deps: [up],
        exec: async (ctx) => {
          const k = t4.transferShots;
          const keys = finetuneKeys(s, { lr: f.ruleLr, upstream: up, ctx });
          return {
            ...(await trainRun(
              ctx,
              id,
              { ...cifarKeys(ctx, k, seed), ...keys, ...variantConfig(v), model: t4.model, seed },
              cifarData(ctx, k, seed),
            )),
            k,
            variant: v.name,
          };
        },
      });
    });
  }
  return runs.sort((a, b) => a.tier - b.tier);
}
