/**
 * Named models: exact parameter counts from the spec table (analytic, no allocation: R152x4 has 928M weights),
 * GMACs at 224 px within 1% of the spec (fvcore convention), aliases, unknown names.
 */

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  countParameters,
  getModelEntry,
  gflops,
  gmacs,
  listModels,
  modelConfig,
  parameterShapes,
  resnetV2MacsBreakdown,
} from '../../src/models/index.js';
import { memory } from '../../src/tensor/index.js';

const COUNTS: Record<string, [number, number, number, number]> = {
  // no classifier, 1000, 21843, 10 classes
  'BiT-R50x1': [23_500_352, 25_549_352, 68_256_659, 23_520_842],
  'BiT-R50x3': [211_174_080, 217_319_080, 345_399_315, 211_235_530],
  'BiT-R101x1': [42_492_480, 44_541_480, 87_248_787, 42_512_970],
  'BiT-R101x3': [381_789_888, 387_934_888, 516_015_123, 381_851_338],
  'BiT-R152x2': [232_238_208, 236_335_208, 321_728_979, 232_279_178],
  'BiT-R152x4': [928_340_224, 936_533_224, 1_107_299_923, 928_422_154],
};

const GMACS: Record<string, number> = {
  'BiT-R50x1': 4.23,
  'BiT-R101x1': 8.04,
  'BiT-R50x3': 37.06,
  'BiT-R152x2': 46.95,
  'BiT-R101x3': 71.23,
  'BiT-R152x4': 186.9,
};

describe('parameter counts (spec table)', () => {
  for (const [name, [c0, c1000, c21k, c10]] of Object.entries(COUNTS)) {
    it(`${name}`, () => {
      const before = memory().liveBuffers;
      expect(countParameters(name, 0)).toBe(c0);
      expect(countParameters(name, 1000)).toBe(c1000);
      expect(countParameters(name, 21843)).toBe(c21k);
      expect(countParameters(name, 10)).toBe(c10);
      expect(memory().liveBuffers).toBe(before);
    });
  }
});

describe('compute', () => {
  for (const [name, g] of Object.entries(GMACS)) {
    it(`${name}: ${g} GMACs at 224 px within 1%`, () => {
      expect(Math.abs(gmacs(name, 224) / g - 1)).toBeLessThan(0.01);
      expect(gflops(name, 224)).toBeCloseTo(2 * gmacs(name, 224), 9);
    });
  }

  it('plain conv MACs of R50x1 are 4.09 G; the rest is WS, norms and pooling', () => {
    const b = resnetV2MacsBreakdown(modelConfig('BiT-R50x1'), 224);
    expect(b.conv / 1e9).toBeCloseTo(4.089, 2);
    const wsWeights = parameterShapes('BiT-R50x1', 0)
      .filter(([, sh]) => sh.length === 4)
      .reduce((a, [, sh]) => a + sh.reduce((p, d) => p * d, 1), 0);
    expect(b.ws).toBe(4 * wsWeights);
    expect(b.conv + b.ws + b.norm + b.pool).toBe(b.total);
  });

  it('conv compute scales with the square of the resolution; WS cost does not', () => {
    const cfg = modelConfig('BiT-R50x1');
    const [a, b] = [resnetV2MacsBreakdown(cfg, 224), resnetV2MacsBreakdown(cfg, 448)];
    expect(b.conv / a.conv).toBeCloseTo(4, 2);
    expect(b.ws).toBe(a.ws);
  });
});

describe('registry names', () => {
  it('resolves BiT-S/BiT-M, timm and MindCV aliases', () => {
    const cases: [string, string][] = [
      ['BiT-M-R50x1', 'BiT-R50x1'],
      ['BiT-S-R101x3', 'BiT-R101x3'],
      ['bit-r152x4', 'BiT-R152x4'],
      ['resnetv2_50x1_bit.goog_in21k', 'BiT-R50x1'],
      ['resnetv2_50x3_bitm', 'BiT-R50x3'],
      ['resnetv2_152x2_bitm_in21k', 'BiT-R152x2'],
      ['BiT_resnet50', 'BiT-R50x1'],
      ['BiT_resnet50x3', 'BiT-R50x3'],
      ['BiT_resnet101', 'BiT-R101x1'],
      ['BiT-R14-w16', 'bit-tiny'],
      ['BiT-R14-w24', 'bit-tiny-w24'],
    ];
    for (const [alias, name] of cases) expect(getModelEntry(alias).name, alias).toBe(name);
  });

  it('lists the six BiT models and the small variants', () => {
    expect(listModels()).toEqual([
      'BiT-R50x1',
      'BiT-R50x3',
      'BiT-R101x1',
      'BiT-R101x3',
      'BiT-R152x2',
      'BiT-R152x4',
      'bit-tiny',
      'bit-small',
      'bit-medium',
      'bit-tiny-w24',
    ]);
  });

  it('unknown names throw ConfigError listing the known ones', () => {
    expect(() => getModelEntry('resnet50')).toThrow(ConfigError);
    expect(() => getModelEntry('resnet50')).toThrow(/BiT-R50x1/);
  });
});
