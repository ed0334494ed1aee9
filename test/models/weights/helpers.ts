/**
 * Test helpers for the weight-file layer: a tiny ResNetV2-BiT state dict in OUR names (OIHW kernels) with
 * deterministic values, and comparison utilities. Shapes follow the real architecture rules (unit 1 of each
 * stage has a projection; cout = 4 * cmid) at a toy width: stem 8 channels, units [2, 1, 1, 1].
 */
import { expect } from 'vitest';
import { CheckpointError } from '../../../src/errors.js';
import type { NamedArray, WeightMap } from '../../../src/models/weights/index.js';

export const STEM = 8;
export const UNITS = [2, 1, 1, 1];
export const CMID = [2, 4, 8, 16];

/** name -> shape of the tiny model's parameters (our names). */
export function tinyShapes(classes = 5): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('stem.conv.weight', [STEM, 3, 7, 7]);
  let cin = STEM;
  for (let s = 0; s < 4; s++) {
    const cmid = CMID[s]!;
    const cout = 4 * cmid;
    for (let u = 0; u < UNITS[s]!; u++) {
      const p = `stages.${s}.blocks.${u}`;
      const ci = u === 0 ? cin : cout;
      m.set(`${p}.norm1.weight`, [ci]);
      m.set(`${p}.norm1.bias`, [ci]);
      m.set(`${p}.conv1.weight`, [cmid, ci, 1, 1]);
      m.set(`${p}.norm2.weight`, [cmid]);
      m.set(`${p}.norm2.bias`, [cmid]);
      m.set(`${p}.conv2.weight`, [cmid, cmid, 3, 3]);
      m.set(`${p}.norm3.weight`, [cmid]);
      m.set(`${p}.norm3.bias`, [cmid]);
      m.set(`${p}.conv3.weight`, [cout, cmid, 1, 1]);
      if (u === 0) m.set(`${p}.downsample.conv.weight`, [cout, ci, 1, 1]);
    }
    cin = cout;
  }
  m.set('norm.weight', [cin]);
  m.set('norm.bias', [cin]);
  m.set('head.fc.weight', [classes, cin, 1, 1]);
  m.set('head.fc.bias', [classes]);
  return m;
}

/** Deterministic float32 state dict for the tiny model: value i of tensor k is a hash-like fraction. */
export function tinyWeights(classes = 5): WeightMap {
  const out: WeightMap = new Map();
  let k = 0;
  for (const [name, shape] of tinyShapes(classes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(1 + k * 101 + i * 0.37) * (k + 1);
    out.set(name, { name, shape, dtype: 'float32', data });
    k++;
  }
  return out;
}

/** Assert two arrays are identical in name-independent content: dtype, shape and every element. */
export function expectSameArray(got: NamedArray | undefined, want: NamedArray): void {
  expect(got, `missing ${want.name}`).toBeDefined();
  expect(got!.dtype).toBe(want.dtype);
  expect(got!.shape).toEqual(want.shape);
  expect(Array.from(got!.data as ArrayLike<number>)).toEqual(Array.from(want.data as ArrayLike<number>));
}

/** Assert `fn` throws a CheckpointError whose message contains every fragment. */
export function expectCheckpointError(fn: () => unknown, ...fragments: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CheckpointError').toBeInstanceOf(CheckpointError);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

/** Concatenate byte chunks. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
