/**
 * Name mapping and state-dict matching: official BiT / timm / MindCV names to ours and back, the
 * HWIO <-> OIHW transpose on exact values, optimizer-state reporting, rank validation, the BiT head rule
 * in matchStateDict (different class count -> head dropped and reported), and format/naming detection.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeWeights,
  detectFormat,
  detectNaming,
  encodeCkpt,
  encodeNpz,
  encodeSafetensors,
  float16ToNumber,
  fromBitNpz,
  fromMindCV,
  fromTimm,
  matchStateDict,
  type NamedArray,
  numberToFloat16,
  toBitNpz,
  toFloat32,
  toMindCV,
  transpose4d,
  type WeightMap,
} from '../../../src/models/weights/index.js';
import { expectCheckpointError, expectSameArray, tinyShapes, tinyWeights } from './helpers.js';

const arr = (name: string, shape: number[], values?: number[]): NamedArray => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, dtype: 'float32', data: Float32Array.from(values ?? Array.from({ length: n }, (_, i) => i)) };
};
const mapOf = (...a: NamedArray[]): WeightMap => new Map(a.map((x) => [x.name, x]));

describe('transpose4d', () => {
  it('HWIO [3,2,0,1] -> OIHW puts element [h,w,i,o] at [o,i,h,w]', () => {
    const H = 2;
    const W = 3;
    const I = 4;
    const O = 5;
    const src = arr('k', [H, W, I, O]);
    const out = transpose4d(src, [3, 2, 0, 1], 'k2');
    expect(out.shape).toEqual([O, I, H, W]);
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let i = 0; i < I; i++)
          for (let o = 0; o < O; o++) {
            const v = (src.data as Float32Array)[((h * W + w) * I + i) * O + o];
            expect((out.data as Float32Array)[((o * I + i) * H + h) * W + w]).toBe(v);
          }
    expectCheckpointError(() => transpose4d(arr('bad', [2, 2]), [3, 2, 0, 1], 'x'), "'bad'", '4-D');
  });
});

describe('mappings', () => {
  it('official names: unit numbering, proj, head and unknown names', () => {
    const m = fromBitNpz(
      mapOf(
        arr('resnet/block2/unit03/c/group_norm/beta', [4]),
        arr('resnet/block4/unit01/a/proj/standardized_conv2d/kernel', [1, 1, 6, 7]),
        arr('resnet/head/conv2d/kernel', [1, 1, 6, 3]),
        arr('resnet/extra/thing', [1]),
      ),
    );
    expect([...m.weights.keys()]).toEqual([
      'stages.1.blocks.2.norm3.bias',
      'stages.3.blocks.0.downsample.conv.weight',
      'head.fc.weight',
    ]);
    expect(m.weights.get('head.fc.weight')!.shape).toEqual([3, 6, 1, 1]);
    expect(m.unexpected).toEqual(['resnet/extra/thing']);
  });

  it('ours -> BiT -> ours and ours -> MindCV -> ours are identities', () => {
    const w = tinyWeights();
    const viaBit = fromBitNpz(toBitNpz(w).weights);
    const viaMind = fromMindCV(toMindCV(w).weights);
    for (const a of w.values()) {
      expectSameArray(viaBit.weights.get(a.name), a);
      expectSameArray(viaMind.weights.get(a.name), a);
    }
    const names = [...toMindCV(w).weights.keys()];
    expect(names).toContain('layer1.1.gn2.gamma');
    expect(names).toContain('layer3.0.down_sample.0.weight');
    expect(names).toContain('classifier.weight');
    expect(names).toContain('gn.beta');
  });

  it('MindCV: optimizer state skipped, dense classifier reshaped, unknown names reported', () => {
    const m = fromMindCV(
      mapOf(
        arr('conv1.weight', [2, 3, 1, 1]),
        arr('classifier.weight', [3, 2], [1, 2, 3, 4, 5, 6]),
        arr('learning_rate', [], [0.1]),
        arr('momentum', [], [0.9]),
        arr('global_step', [1], [5]),
        arr('accum.conv1.weight', [2, 3, 1, 1]),
        arr('stat.conv1.weight', [2, 3, 1, 1]),
        arr('moments.gn.gamma', [2]),
        arr('ema.layer1.0.conv1.weight', [1]),
        arr('mystery', [1]),
      ),
    );
    expect([...m.weights.keys()]).toEqual(['stem.conv.weight', 'head.fc.weight']);
    expect(m.weights.get('head.fc.weight')!.shape).toEqual([3, 2, 1, 1]);
    expect(m.skipped).toEqual([
      'learning_rate',
      'momentum',
      'global_step',
      'accum.conv1.weight',
      'stat.conv1.weight',
      'moments.gn.gamma',
      'ema.layer1.0.conv1.weight',
    ]);
    expect(m.unexpected).toEqual(['mystery']);
  });

  it('timm: identity with rank validation', () => {
    const m = fromTimm(mapOf(arr('norm.weight', [4]), arr('head.fc.weight', [3, 4]), arr('other.x', [1])));
    expect(m.weights.get('head.fc.weight')!.shape).toEqual([3, 4, 1, 1]);
    expect(m.unexpected).toEqual(['other.x']);
    expectCheckpointError(
      () => fromTimm(mapOf(arr('stem.conv.weight', [8, 3])), 'r.safetensors'),
      'r.safetensors',
      'rank 2',
    );
  });
});

describe('matchStateDict', () => {
  it('exact match: nothing missing or unexpected', () => {
    const r = matchStateDict(tinyShapes(5), tinyWeights(5), { numClasses: 5 });
    expect(r).toMatchObject({ missing: [], unexpected: [], shapeMismatch: [], headDropped: null });
    expect(r.weights.size).toBe(tinyShapes().size);
  });

  it('different class count drops head.fc.* and reports it (BiT transfer)', () => {
    const r = matchStateDict(tinyShapes(10), tinyWeights(5), { numClasses: 10 });
    expect(r.headDropped).toEqual({ fileClasses: 5, numClasses: 10 });
    expect(r.missing).toEqual([]);
    expect(r.unexpected).toEqual([]);
    expect(r.shapeMismatch).toEqual([]);
    expect(r.weights.has('head.fc.weight')).toBe(false);
    expect(r.weights.size).toBe(tinyShapes().size - 2);
  });

  it('reports missing, unexpected and shape mismatches', () => {
    const loaded = tinyWeights(5);
    loaded.delete('norm.bias');
    loaded.set('extra', arr('extra', [1]));
    loaded.set('stem.conv.weight', arr('stem.conv.weight', [8, 3, 3, 3]));
    const r = matchStateDict(tinyShapes(5), loaded);
    expect(r.missing).toEqual(['norm.bias']);
    expect(r.unexpected).toEqual(['extra']);
    expect(r.shapeMismatch).toEqual([{ name: 'stem.conv.weight', expected: [8, 3, 7, 7], got: [8, 3, 3, 3] }]);
    expect(r.headDropped).toBeNull();
  });
});

describe('detection and dtype helpers', () => {
  it('detects containers by magic and naming by names', () => {
    const w = tinyWeights();
    expect(detectFormat(encodeNpz(toBitNpz(w).weights), 'x.bin')).toBe('npz');
    expect(detectFormat(encodeSafetensors(w), 'x.bin')).toBe('safetensors');
    expect(detectFormat(encodeCkpt(toMindCV(w).weights), 'x.bin')).toBe('ckpt');
    expectCheckpointError(
      () => detectFormat(new Uint8Array([1, 2, 3]), 'x.bin'),
      'x.bin',
      'unknown weight file format',
    );
    expect(detectNaming(['resnet/group_norm/gamma'], 'f')).toBe('bit');
    expect(detectNaming(['stages.0.blocks.0.conv1.weight'], 'f')).toBe('timm');
    expect(detectNaming(['layer1.0.conv1.weight', 'learning_rate'], 'f')).toBe('mindcv');
    expectCheckpointError(() => detectNaming(['foo'], 'n.npz'), 'n.npz', 'no BiT');
    for (const bytes of [encodeNpz(toBitNpz(w).weights), encodeSafetensors(w), encodeCkpt(toMindCV(w).weights)]) {
      const r = decodeWeights(bytes, 'any');
      for (const a of w.values()) expectSameArray(r.weights.get(a.name), a);
    }
  });

  it('float16 conversion is exact on representable values and rounds to nearest even', () => {
    for (const v of [0, -0, 1, -2, 0.5, 65504, 2 ** -24, 2 ** -14, 1.5, Number.POSITIVE_INFINITY]) {
      expect(float16ToNumber(numberToFloat16(v))).toBe(v);
    }
    expect(Number.isNaN(float16ToNumber(numberToFloat16(Number.NaN)))).toBe(true);
    expect(numberToFloat16(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(numberToFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToFloat16(1e6)).toBe(0x7c00);
    const h: NamedArray = { name: 'h', shape: [2], dtype: 'float16', data: new Uint16Array([0x3555, 0x8001]) };
    expect(Array.from(toFloat32(h))).toEqual([Math.fround(0.333251953125), Math.fround(-(2 ** -24))]);
    const l: NamedArray = { name: 'l', shape: [2], dtype: 'int64', data: new BigInt64Array([-3n, 7n]) };
    expect(Array.from(toFloat32(l))).toEqual([-3, 7]);
  });
});
