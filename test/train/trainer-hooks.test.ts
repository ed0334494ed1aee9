/**
 * The trainer's per-step hooks: called once per completed step, in order, with the step's report (the same loss
 * train() returns for that step) and the Trainer, whose phases a hook may use (here: evaluate mid-run).
 */

import { afterAll, describe, expect, it } from 'vitest';
import { releaseBackends, setupBackend } from '../../src/train/backend-setup.js';
import { type StepReport, type Trainer, train } from '../../src/train/trainer.js';
import { tinyConfig, tmpRun } from './helpers.js';

afterAll(() => releaseBackends());

describe('train() per-step hooks', () => {
  it('runs each hook after every step with the step report; a hook can drive the evaluate phase', async () => {
    await setupBackend('wasm');
    const seen: StepReport[] = [];
    const evals: number[] = [];
    const cfg = tinyConfig(tmpRun('hooks'), { mnist_digits: [0, 1], num_classes: 2, train_limit: 64, val_split: 0.25 });
    const r = await train(cfg, {
      log: () => {},
      onStep: [
        (rep) => {
          seen.push(rep);
        },
        async (rep, t: Trainer) => {
          if (rep.step === 2) evals.push((await t.evaluate(rep.epoch))!.top1);
        },
      ],
    });
    expect(r.status).toBe('completed');
    expect(seen.map((s) => s.step)).toEqual(Array.from({ length: r.steps }, (_, i) => i + 1));
    for (const s of seen) expect(s.loss).toBe(r.losses.get(s.step - 1));
    expect(seen.every((s) => s.lr === cfg.lr && s.epoch === 0)).toBe(true);
    expect(evals.length).toBe(1);
    expect(evals[0]).toBeGreaterThanOrEqual(0);
    expect(evals[0]).toBeLessThanOrEqual(100);
  });
});
