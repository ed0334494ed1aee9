/**
 * The study page's runs go through the training core (web/lib/study.ts on src/train/core), checked in Node on the
 * wasm backend with the tiny preset: gradient accumulation gives the same losses as whole batches (GroupNorm
 * statistics are per sample), MixUp is drawn from the seeded stream (same seed, same losses; different from no
 * MixUp), a diverging run stops at the NaN guard with a 'nan' event and goes no further, the k-shot and prediction
 * events carry what the page draws, and the time estimate counts the study's steps.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { disposeBackends, useBackend } from '../../src/tensor/backends/registry.js';
import { mnistSubset } from '../../web/build.js';
import { type StudyConfig, TINY_STUDY } from '../../web/lib/config.js';
import { estimateSeconds, studySize } from '../../web/lib/estimate.js';
import { unpackMnist } from '../../web/lib/mnist-pack.js';
import { runStudy, type StudyEvent } from '../../web/lib/study.js';
import { closeness, TOL } from '../tolerances.js';

const data = unpackMnist(mnistSubset());

async function study(cfg: StudyConfig): Promise<StudyEvent[]> {
  await useBackend('wasm');
  const events: StudyEvent[] = [];
  const models: { dispose(): void }[] = [];
  await runStudy(cfg, data, (e) => {
    if (e.kind === 'model') models.push(e.model);
    else events.push(e);
  });
  for (const m of models) m.dispose();
  return events;
}
const losses = (ev: StudyEvent[]) => ev.flatMap((e) => (e.kind === 'step' ? [e.loss] : []));

describe('the study runs on the training core', () => {
  afterAll(() => disposeBackends());

  it('accumulation over 2 micro-batches gives the whole-batch losses', async () => {
    const whole = losses(await study(TINY_STUDY));
    const accum = losses(await study({ ...TINY_STUDY, accum: 2 }));
    expect(whole).toHaveLength(TINY_STUDY.upstreamSteps + 2 * TINY_STUDY.maxSteps);
    expect(closeness(accum, whole, TOL.training)).toBeLessThanOrEqual(0);
  });

  it('MixUp comes from the seeded stream: same seed same losses, different from no MixUp', async () => {
    const a = losses(await study({ ...TINY_STUDY, mixup: 0.4 }));
    const b = losses(await study({ ...TINY_STUDY, mixup: 0.4 }));
    const plain = losses(await study(TINY_STUDY));
    expect(a).toEqual(b);
    expect(a[0]).not.toBeCloseTo(plain[0]!, 4);
  });

  it('a diverging upstream run stops at the NaN guard: a nan event, no transfer or scratch run', async () => {
    const ev = await study({ ...TINY_STUDY, upstreamSteps: 4, upstreamLr: 1e30 });
    const nan = ev.find((e) => e.kind === 'nan');
    expect(nan).toMatchObject({ kind: 'nan', run: 'upstream' });
    expect(ev.some((e) => e.kind === 'hyperrule' || (e.kind === 'step' && e.run !== 'upstream'))).toBe(false);
    expect(ev.filter((e) => e.kind === 'step').every((e) => Number.isFinite((e as { loss: number }).loss))).toBe(true);
  });

  it('k-shot images, held-out predictions and run sizes are reported', async () => {
    const ev = await study(TINY_STUDY);
    const k = ev.find((e) => e.kind === 'kshot');
    expect(k?.kind === 'kshot' && k.labels.length).toBe(5 * TINY_STUDY.shots);
    expect(k?.kind === 'kshot' && k.pixels.length).toBe(5 * TINY_STUDY.shots * 784);
    const runs = ev.filter((e) => e.kind === 'run');
    expect(runs.map((e) => e.kind === 'run' && [e.run, e.total, e.heldOut])).toEqual([
      ['upstream', TINY_STUDY.upstreamSteps, TINY_STUDY.evalImages],
      ['transfer', TINY_STUDY.maxSteps, TINY_STUDY.evalImages],
      ['scratch', TINY_STUDY.maxSteps, TINY_STUDY.evalImages],
    ]);
    for (const e of ev) {
      if (e.kind !== 'predictions') continue;
      expect(e.predicted).toHaveLength(TINY_STUDY.evalImages);
      const top1 = ev.filter((x) => x.kind === 'eval' && x.run === e.run).at(-1);
      expect(top1?.kind === 'eval' && top1.top1).toBe((100 * e.right.filter(Boolean).length) / e.right.length);
    }
  });

  it('the time estimate counts every training step and evaluation of the study', () => {
    expect(studySize({ ...TINY_STUDY, maxSteps: 0, shots: 5, scale: 0.1, upstreamSteps: 150, evalEvery: 25 })).toEqual({
      upstream: 150,
      downstream: 50,
      evals: 6 + 2 * 2,
    });
    const cfg = { ...TINY_STUDY, evalEvery: 0 };
    const s = studySize(cfg);
    expect(estimateSeconds(cfg, 100)).toBeCloseTo(
      ((s.upstream + 2 * s.downstream) * 100 + s.evals * (100 / 3) * (cfg.evalImages / cfg.batch)) / 1000,
      9,
    );
  });
});
