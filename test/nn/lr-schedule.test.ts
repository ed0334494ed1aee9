/**
 * LR schedules, value by value: the small-task BiT-HyperRule table (steps 0..500, base 0.003), HyperRule
 * settings (resolution, MixUp, schedule length) for each dataset-size bracket and both variants, the MindCV
 * BiT50 table (warmup 3 epochs per step, milestones counted after warmup), step, cosine and constant schedules.
 */

import { describe, expect, it } from 'vitest';
import { constantLr, cosineLr, hyperRule, hyperRuleLr, mindcvMultiStepLr, stepLr } from '../../src/nn/index.js';

const rel = (a: number, b: number) => Math.abs(a - b) <= 1e-12 + 1e-9 * Math.abs(b);

describe('BiT-HyperRule', () => {
  it('small-task table with base 0.003, every step 0..500', () => {
    for (let s = 0; s <= 500; s++) {
      const want = s < 100 ? 3e-5 * s : s <= 200 ? 3e-3 : s <= 300 ? 3e-4 : s <= 400 ? 3e-5 : s < 500 ? 3e-6 : null;
      const got = hyperRuleLr(s, 5000, 0.003);
      if (want === null) expect(got, `step ${s}`).toBeNull();
      else expect(rel(got!, want), `step ${s}: ${got} vs ${want}`).toBe(true);
    }
    expect(hyperRuleLr(0, 5000, 0.003)).toBe(0);
    expect(hyperRuleLr(200, 5000, 0.003)).toBe(0.003);
    expect(hyperRuleLr(201, 5000, 0.003)).toBeCloseTo(3e-4, 15);
    expect(hyperRuleLr(10_000, 5000, 0.003)).toBeNull();
  });

  it('medium and large schedules', () => {
    expect(hyperRuleLr(250, 50_000, 0.003)).toBeCloseTo(0.0015, 15);
    expect(hyperRuleLr(3000, 50_000, 0.003)).toBe(0.003);
    expect(hyperRuleLr(3001, 50_000, 0.003)).toBeCloseTo(3e-4, 15);
    expect(hyperRuleLr(9999, 50_000, 0.003)).toBeCloseTo(3e-6, 15);
    expect(hyperRuleLr(10_000, 50_000, 0.003)).toBeNull();
    expect(hyperRuleLr(18_001, 1_281_167, 0.003)).toBeCloseTo(3e-6, 15);
    expect(hyperRuleLr(20_000, 1_281_167, 0.003)).toBeNull();
  });

  it('settings by dataset size, image size and variant', () => {
    expect(hyperRule(50, { imageSize: 32 })).toEqual({
      resize: 160,
      crop: 128,
      mixupAlpha: 0,
      warmup: 100,
      decaySteps: [200, 300, 400],
      totalSteps: 500,
    });
    expect(hyperRule(19_999, { imageSize: [95, 96] }).crop).toBe(128);
    expect(hyperRule(20_000, { imageSize: [96, 96] })).toEqual({
      resize: 512,
      crop: 480,
      mixupAlpha: 0.1,
      warmup: 500,
      decaySteps: [3000, 6000, 9000],
      totalSteps: 10_000,
    });
    expect(hyperRule(1_281_167)).toMatchObject({
      resize: 512,
      crop: 480,
      totalSteps: 20_000,
      decaySteps: [6000, 12000, 18000],
    });
    expect(hyperRule(1_281_167, { variant: 'paper' })).toMatchObject({ resize: 448, crop: 384 });
    expect(hyperRule(100, { variant: 'paper', imageSize: 32 })).toMatchObject({ resize: 160, crop: 128 });
  });
});

describe('MindCV BiT50 (lr 0.06, decay 0.5, milestones [30..85] after a 3-epoch warmup)', () => {
  const spe = 7;
  const f = mindcvMultiStepLr({
    lr: 0.06,
    stepsPerEpoch: spe,
    epochs: 90,
    warmupEpochs: 3,
    milestones: [30, 40, 50, 60, 70, 80, 85],
    decayRate: 0.5,
  });
  const table: [number, number, number][] = [
    [3, 32, 0.06],
    [33, 42, 0.03],
    [43, 52, 0.015],
    [53, 62, 0.0075],
    [63, 72, 0.00375],
    [73, 82, 0.001875],
    [83, 87, 0.0009375],
    [88, 89, 0.00046875],
  ];
  it('warmup is linear from 0 per step over 3 epochs', () => {
    for (let s = 0; s < 3 * spe; s++) expect(rel(f(s)!, (0.06 * s) / (3 * spe)), `step ${s}`).toBe(true);
  });
  it('every step of epochs 3..89 follows the table', () => {
    for (const [a, b, lr] of table) {
      for (let e = a; e <= b; e++) {
        for (let k = 0; k < spe; k++)
          expect(rel(f(e * spe + k)!, lr), `epoch ${e} step ${k}: ${f(e * spe + k)}`).toBe(true);
      }
    }
  });
});

describe('other schedules', () => {
  it('step, cosine, constant', () => {
    const st = stepLr({ lr: 1, stepSize: 10, gamma: 0.5, warmupSteps: 4 });
    expect([0, 2, 4, 13, 14, 24].map((s) => st(s))).toEqual([0, 0.5, 1, 1, 0.5, 0.25]);
    const c = cosineLr({ lr: 1, totalSteps: 110, warmupSteps: 10, minLr: 0.1 });
    expect(c(5)).toBeCloseTo(0.5, 12);
    expect(c(10)).toBeCloseTo(1, 12);
    expect(c(60)).toBeCloseTo(0.55, 12);
    expect(c(109)).toBeGreaterThan(0.1);
    expect(c(110)).toBeNull();
    expect(constantLr(0.1)(1e6)).toBe(0.1);
    expect(constantLr(0.1, 5)(5)).toBeNull();
  });
});
