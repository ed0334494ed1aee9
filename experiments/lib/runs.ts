/**
 * The reproduction protocol as an ordered list of runs: upstream pre-training, lr pilot, few-shot transfer vs
 * scratch, head-init ablation, miniature Table 4, the 500-step few-shot runs. Order is tiered (first seeds of
 * every experiment before the remaining seeds and the extensions) so a protocol cut short still covers every
 * experiment. Invariant: run ids are stable (they name the result JSONs that make a rerun skip a run).
 */

import * as path from 'node:path';
import { fewShot } from '../../src/data/index.js';
import { subsetPool } from './loop.js';
import {
  type Context,
  chosenLr,
  cifarFewShot,
  ckptDir,
  finetune,
  pick,
  pilotId,
  type RunDef,
  runUpstream,
  save,
  take,
  UPSTREAM_FILE,
  upstreamTrain,
  upstreamWeights,
} from './protocol.js';
import { type Settings, variantOptions } from './settings.js';

/** Every run of the protocol, in execution order. */
export function protocolRuns(s: Settings): RunDef[] {
  const runs: RunDef[] = [];
  const upFile = (ctx: Context) => path.join(ckptDir(ctx), UPSTREAM_FILE);
  const upW = (ctx: Context) => upstreamWeights(ctx, upFile(ctx), () => runUpstream(ctx));
  const cifarEvalPool = (ctx: Context) => subsetPool(ctx.cifar, ctx.cifarEval, s.crop);
  runs.push({ id: 'upstream-gn-ws', experiment: 'upstream', tier: 0, exec: runUpstream });
  for (const lr of s.finetune.lrCandidates) {
    runs.push({
      id: pilotId(lr),
      experiment: 'pilot',
      tier: 0,
      exec: async (ctx) => ({
        ...(await finetune(ctx, {
          pool: cifarFewShot(ctx, s.finetune.pilotShots, s.finetune.pilotSeed),
          evalPool: subsetPool(ctx.cifar, ctx.cifarPilot, s.crop),
          init: 'transfer',
          weights: await upW(ctx),
          variant: 'gn-ws',
          zeroHead: true,
          seed: s.finetune.pilotSeed,
          lr,
        })),
        k: s.finetune.pilotShots,
      }),
    });
  }
  s.seeds.forEach((seed, si) => {
    const tier = si < s.firstSeeds ? 1 : 3;
    for (const k of s.shots) {
      for (const init of ['transfer', 'scratch'] as const) {
        runs.push({
          id: `fewshot-${init}-k${k}-s${seed}`,
          experiment: 'fewshot',
          tier,
          exec: async (ctx) => {
            const saveAs =
              init === 'transfer' && si === 0
                ? {
                    file: path.join(ckptDir(ctx), `transfer-cifar10-k${k}-s${seed}.safetensors`),
                    cfg: {
                      dataset: 'cifar10',
                      data_dir: ctx.paths.cifarTar,
                      val_split: s.cifarValFraction,
                      val_limit: s.cifarEvalCount,
                      examples_per_class: k,
                      fewshot_seed: seed,
                      batch_size: s.finetune.batch,
                    },
                    classes: ctx.cifar.classes,
                  }
                : undefined;
            const r = await finetune(ctx, {
              pool: cifarFewShot(ctx, k, seed),
              evalPool: cifarEvalPool(ctx),
              init,
              weights: init === 'transfer' ? await upW(ctx) : null,
              variant: 'gn-ws',
              zeroHead: true,
              seed,
              lr: chosenLr(ctx),
              saveAs,
            });
            return { ...r, k };
          },
        });
      }
    }
    runs.push({
      id: `head-default-k${s.headShots}-s${seed}`,
      experiment: 'head',
      tier,
      exec: async (ctx) => ({
        ...(await finetune(ctx, {
          pool: cifarFewShot(ctx, s.headShots, seed),
          evalPool: cifarEvalPool(ctx),
          init: 'transfer',
          weights: await upW(ctx),
          variant: 'gn-ws',
          zeroHead: false,
          seed,
          lr: chosenLr(ctx),
        })),
        k: s.headShots,
      }),
    });
  });
  // Longer fine-tuning (the official 500-step small-task schedule, scale 1): is the gap an artefact of x0.2?
  for (const seed of s.long?.seeds ?? []) {
    for (const k of s.shots) {
      for (const init of ['transfer', 'scratch'] as const) {
        runs.push({
          id: `long-${init}-k${k}-s${seed}`,
          experiment: 'long',
          tier: 5,
          exec: async (ctx) => ({
            ...(await finetune(ctx, {
              pool: cifarFewShot(ctx, k, seed),
              evalPool: cifarEvalPool(ctx),
              init,
              weights: init === 'transfer' ? await upW(ctx) : null,
              variant: 'gn-ws',
              zeroHead: true,
              seed,
              lr: chosenLr(ctx),
              scale: s.long!.scale,
            })),
            k,
          }),
        });
      }
    }
  }
  const t4 = s.table4;
  // Seed 0 keeps the suffix-free names (its checkpoint feeds the transfers); extra seeds measure the spread.
  const sfx = (seed: number) => (seed === 0 ? '' : `-s${seed}`);
  const t4File = (ctx: Context, v: string, seed = 0) =>
    path.join(ckptDir(ctx), `table4-cifar10-${v}${sfx(seed)}.safetensors`);
  for (const v of t4.variants) {
    const scratchSeed = (seed: number) => async (ctx: Context) => {
      const pool = subsetPool(ctx.cifar, ctx.cifarTrain, s.precrop);
      const { model, tr, ev } = await upstreamTrain(ctx, pool, cifarEvalPool(ctx), v, seed, t4.steps);
      const cfg = {
        dataset: 'cifar10',
        data_dir: ctx.paths.cifarTar,
        val_split: s.cifarValFraction,
        val_limit: s.cifarEvalCount,
        batch_size: t4.batch,
      };
      await save(ctx, t4File(ctx, v, seed), model, cfg, ctx.cifar.classes, t4.steps);
      model.dispose();
      const up = { ...s.upstream, steps: t4.steps, batch: t4.batch };
      return {
        config: {
          model: s.model,
          variant: v,
          ...variantOptions(v),
          data: 'cifar10 train 80%',
          trainImages: pool.n,
          ...up,
        },
        seed,
        accuracy: ev.top1,
        evalCount: ev.count,
        evalLoss: ev.loss,
        train: tr,
        evalWallS: ev.wallS,
        checkpoint: t4File(ctx, v, seed),
      };
    };
    const scratch = scratchSeed(0);
    for (const seed of t4.scratchSeeds.filter((x) => x !== 0)) {
      runs.push({ id: `table4-scratch-${v}${sfx(seed)}`, experiment: 'table4', tier: 4, exec: scratchSeed(seed) });
    }
    runs.push({ id: `table4-scratch-${v}`, experiment: 'table4', tier: 2, exec: scratch });
    t4.transferSeeds.forEach((seed, si) => {
      runs.push({
        id: `table4-transfer-${v}-k${t4.transferShots}-s${seed}`,
        experiment: 'table4',
        tier: si < 2 ? 2 : 3,
        exec: async (ctx) => {
          const w = await upstreamWeights(ctx, t4File(ctx, v), () => scratch(ctx));
          const labels = pick(ctx.inette40.labels, ctx.inetteTrain);
          const idx = take(ctx.inetteTrain, fewShot(labels, t4.transferShots, seed, 10));
          const r = await finetune(ctx, {
            pool: subsetPool(ctx.inette40, idx, s.precrop),
            evalPool: subsetPool(ctx.inette32, ctx.inetteVal, s.crop),
            init: 'transfer',
            weights: w,
            variant: v,
            zeroHead: true,
            seed,
            lr: chosenLr(ctx),
          });
          return { ...r, k: t4.transferShots, downstream: 'imagenette' };
        },
      });
    });
  }
  return runs.sort((a, b) => a.tier - b.tier);
}
