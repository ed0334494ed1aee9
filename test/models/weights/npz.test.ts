/**
 * NPZ/NPY reader and writer against files numpy wrote (scripts/gen-weight-fixtures.py): every tensor of the
 * tiny official-BiT checkpoint (stored and deflated), every supported dtype, Fortran order, v2/v3 headers,
 * big-endian rejection, corrupt archives, and our writer round-tripping through our reader.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeNpy,
  decodeNpz,
  encodeNpy,
  encodeNpz,
  fromBitNpz,
  type NamedArray,
  numberToFloat16,
  toBitNpz,
  toFloat32,
} from '../../../src/models/weights/index.js';
import { loadWeightsFile, readNpz, writeNpzAtomic } from '../../../src/models/weights/node-io.js';
import { expectCheckpointError, expectSameArray, tinyShapes, tinyWeights } from './helpers.js';

const FIX = join(import.meta.dirname, '../../fixtures/weights');
interface Stats {
  shape: number[];
  dtype: string;
  sum: number;
  sumsq: number;
  wsum: number;
  first: number[];
  last: number | null;
  oihw?: Stats;
  oihw_samples?: number[][];
}
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  bit: Record<string, Stats>;
  dtypes: Record<string, Stats>;
};

function stats(values: ArrayLike<number>) {
  let sum = 0;
  let sumsq = 0;
  let wsum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    sum += v;
    sumsq += v * v;
    wsum += v * ((i % 13) + 1);
  }
  return { sum, sumsq, wsum };
}

function expectStats(arr: NamedArray, e: Stats): void {
  expect(arr.shape).toEqual(e.shape);
  const f = arr.data instanceof BigInt64Array ? Array.from(arr.data, Number) : Array.from(toFloat32(arr), Number);
  const vals = arr.dtype === 'float64' || arr.dtype === 'int32' ? Array.from(arr.data as Float64Array) : f;
  const s = stats(vals);
  const tol = (x: number) => 1e-9 * Math.max(1, Math.abs(x));
  expect(Math.abs(s.sum - e.sum)).toBeLessThanOrEqual(tol(e.sum));
  expect(Math.abs(s.sumsq - e.sumsq)).toBeLessThanOrEqual(tol(e.sumsq));
  expect(Math.abs(s.wsum - e.wsum)).toBeLessThanOrEqual(tol(e.wsum));
  expect(vals.slice(0, 4)).toEqual(e.first);
  if (e.last !== null) expect(vals[vals.length - 1]).toBe(e.last);
}

describe('NPZ written by numpy', () => {
  for (const file of ['bit-tiny.npz', 'bit-tiny-compressed.npz']) {
    it(`reads every tensor of ${file} exactly`, () => {
      const map = readNpz(join(FIX, file));
      expect([...map.keys()].sort()).toEqual(Object.keys(expected.bit).sort());
      for (const [name, e] of Object.entries(expected.bit)) {
        const arr = map.get(name)!;
        expect(arr.dtype).toBe('float32');
        expectStats(arr, e);
      }
    });
  }

  it('maps official names to ours with HWIO -> OIHW kernels', () => {
    const raw = readNpz(join(FIX, 'bit-tiny.npz'));
    const { weights, unexpected, skipped } = fromBitNpz(raw, 'bit-tiny.npz');
    expect(unexpected).toEqual([]);
    expect(skipped).toEqual([]);
    const shapes = tinyShapes(5);
    expect([...weights.keys()].sort()).toEqual([...shapes.keys()].sort());
    for (const [name, shape] of shapes) expect(weights.get(name)!.shape, name).toEqual(shape);
    const pairs: [string, string][] = [
      ['resnet/root_block/standardized_conv2d/kernel', 'stem.conv.weight'],
      ['resnet/block1/unit02/b/standardized_conv2d/kernel', 'stages.0.blocks.1.conv2.weight'],
      ['resnet/block3/unit01/a/proj/standardized_conv2d/kernel', 'stages.2.blocks.0.downsample.conv.weight'],
      ['resnet/head/conv2d/kernel', 'head.fc.weight'],
    ];
    for (const [src, dst] of pairs) {
      const e = expected.bit[src]!;
      const arr = weights.get(dst)!;
      expectStats(arr, e.oihw!);
      const [, c1, h, w] = arr.shape as [number, number, number, number];
      for (const [o, i, y, x, v] of e.oihw_samples!) {
        expect((arr.data as Float32Array)[((o! * c1 + i!) * h + y!) * w + x!]).toBe(v);
      }
    }
    expectStats(
      weights.get('stages.1.blocks.0.norm2.weight')!,
      expected.bit['resnet/block2/unit01/b/group_norm/gamma']!,
    );
    expectStats(weights.get('norm.bias')!, expected.bit['resnet/group_norm/beta']!);
    expectStats(weights.get('head.fc.bias')!, expected.bit['resnet/head/conv2d/bias']!);
  });

  it('reads every NPY dtype, scalars, empty arrays, Fortran order and v2/v3 headers', () => {
    const map = readNpz(join(FIX, 'npy-dtypes.npz'));
    const dtypes: Record<string, string> = {
      f2: 'float16',
      f4: 'float32',
      f8: 'float64',
      i1: 'int8',
      i2: 'int16',
      i4: 'int32',
      i8: 'int64',
      u1: 'uint8',
      b1: 'bool',
      scalar: 'float32',
      fortran: 'float32',
      empty: 'float32',
      v2: 'float32',
      v3: 'float32',
    };
    for (const [name, dt] of Object.entries(dtypes)) {
      const arr = map.get(name)!;
      expect(arr.dtype, name).toBe(dt);
      expectStats(arr, expected.dtypes[name]!);
    }
    expect(map.get('scalar')!.shape).toEqual([]);
    expect(Array.from(map.get('fortran')!.data as Float32Array)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(Array.from(map.get('i8')!.data as BigInt64Array)).toEqual([-(2n ** 40n), 7n, 2n ** 33n + 1n]);
    expect(Array.from(map.get('u1')!.data as Uint8Array)).toEqual([250, 251, 252, 253, 254, 255]);
    expect(Array.from(map.get('b1')!.data as Uint8Array)).toEqual([1, 0, 1]);
  });

  it('loadWeightsFile dispatches the deflated fixture to the BiT mapping', () => {
    const r = loadWeightsFile(join(FIX, 'bit-tiny-compressed.npz'));
    expect(r).toMatchObject({ format: 'npz', naming: 'bit', unexpected: [], skipped: [], nonTensor: [] });
    const direct = fromBitNpz(readNpz(join(FIX, 'bit-tiny.npz'))).weights;
    expect(r.weights.size).toBe(direct.size);
    for (const a of direct.values()) expectSameArray(r.weights.get(a.name), a);
  });

  it('a non-4-D kernel is an error naming file and entry', () => {
    const raw = readNpz(join(FIX, 'bit-tiny.npz'));
    const k = 'resnet/block1/unit01/a/standardized_conv2d/kernel';
    raw.set(k, { ...raw.get(k)!, shape: [8, 2] });
    expectCheckpointError(() => fromBitNpz(raw, 'bit-tiny.npz'), 'bit-tiny.npz', k, '4-D');
  });

  it('rejects big-endian arrays naming file and entry', () => {
    expectCheckpointError(() => readNpz(join(FIX, 'big-endian.npz')), 'big-endian.npz', "'be'", 'big-endian');
  });
});

describe('NPZ writer', () => {
  it('round-trips every dtype through encodeNpz/decodeNpz', () => {
    const arrs: NamedArray[] = [
      { name: 'a', shape: [2, 2], dtype: 'float32', data: new Float32Array([1.5, -2, 3, 4]) },
      { name: 'b', shape: [], dtype: 'float64', data: new Float64Array([Math.PI]) },
      { name: 'c', shape: [3], dtype: 'int64', data: new BigInt64Array([-1n, 0n, 2n ** 60n]) },
      { name: 'd', shape: [2], dtype: 'float16', data: new Uint16Array([numberToFloat16(0.5), numberToFloat16(-3)]) },
      { name: 'e/with/slash', shape: [0, 2], dtype: 'uint8', data: new Uint8Array(0) },
    ];
    const back = decodeNpz(encodeNpz(arrs), 'mem.npz');
    for (const a of arrs) expectSameArray(back.get(a.name), a);
    expect(Array.from(toFloat32(back.get('d')!))).toEqual([0.5, -3]);
  });

  it('convert path: ours -> official names -> file -> ours is lossless', () => {
    const dir = mkdtempSync(join(tmpdir(), 'npz-'));
    try {
      const ours = tinyWeights();
      const bit = toBitNpz(ours);
      expect(bit.unexpected).toEqual([]);
      expect(bit.weights.get('resnet/block1/unit02/c/standardized_conv2d/kernel')!.shape).toEqual([1, 1, 2, 8]);
      writeNpzAtomic(join(dir, 'x.npz'), bit.weights);
      const back = fromBitNpz(readNpz(join(dir, 'x.npz')));
      for (const a of ours.values()) expectSameArray(back.weights.get(a.name), a);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('NPY header is 64-byte aligned and parseable', () => {
    const npy = encodeNpy({ name: 'x', shape: [3], dtype: 'int32', data: new Int32Array([1, 2, 3]) });
    const hlen = npy[8]! | (npy[9]! << 8);
    expect((10 + hlen) % 64).toBe(0);
    expect(new TextDecoder().decode(npy.subarray(10, 10 + hlen))).toContain("'shape': (3,)");
    expect(Array.from(decodeNpy(npy, 'x', 'mem').data as Int32Array)).toEqual([1, 2, 3]);
  });
});

describe('NPZ bad files', () => {
  const good = new Uint8Array(readFileSync(join(FIX, 'bit-tiny.npz')));
  it('truncated archive', () => {
    expectCheckpointError(() => decodeNpz(good.subarray(0, good.length - 30), 't.npz'), 't.npz');
  });
  it('wrong magic', () => {
    expectCheckpointError(() => decodeNpz(new TextEncoder().encode('hello world, not a zip'), 'w.npz'), 'w.npz', 'ZIP');
  });
  it('corrupt member data is caught by CRC', () => {
    const bad = good.slice();
    bad[200] ^= 0xff;
    expectCheckpointError(() => decodeNpz(bad, 'c.npz'), 'c.npz', 'CRC');
  });
  it('NPY shape that does not match its data', () => {
    const npy = encodeNpy({ name: 'x', shape: [4], dtype: 'float32', data: new Float32Array(4) });
    expectCheckpointError(() => decodeNpy(npy.subarray(0, npy.length - 4), 'x', 's.npz'), 's.npz', "'x'", 'needs 16');
  });
  it('unknown NPY dtype', () => {
    const npy = encodeNpy({ name: 'x', shape: [1], dtype: 'float32', data: new Float32Array(1) });
    const text = new TextDecoder('latin1').decode(npy).replace("'<f4'", "'<c8'");
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    expectCheckpointError(() => decodeNpy(bytes, 'x', 'u.npz'), 'u.npz', "'x'", "'<c8'");
  });
  it('NPY header length beyond the member', () => {
    const npy = encodeNpy({ name: 'x', shape: [1], dtype: 'float32', data: new Float32Array(1) });
    npy[8] = 0xff;
    npy[9] = 0xff;
    expectCheckpointError(() => decodeNpy(npy, 'x', 'h.npz'), 'h.npz', 'runs past');
  });
});
