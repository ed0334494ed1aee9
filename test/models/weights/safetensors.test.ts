/**
 * safetensors reader/writer: a tiny independent writer builds files by hand (header JSON + raw bytes, tensors
 * deliberately out of name order) and our reader must return every value; our writer must round-trip,
 * keep metadata, align the header, and replace files atomically; malformed files raise CheckpointError
 * naming the file, the entry and the problem.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, fromTimm, toFloat32 } from '../../../src/models/weights/index.js';
import { loadWeightsFile, readSafetensors, writeSafetensorsAtomic } from '../../../src/models/weights/node-io.js';
import { concat, expectCheckpointError, expectSameArray, tinyWeights } from './helpers.js';

/** Independent writer: [(name, dtype, shape, bytes)] -> file bytes, data laid out in the given order. */
function handWrite(
  entries: { name: string; dtype: string; shape: number[]; bytes: Uint8Array; offsets?: [number, number] }[],
  meta?: Record<string, string>,
  headerPatch?: (h: Record<string, unknown>) => void,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (meta) header.__metadata__ = meta;
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: e.offsets ?? [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  headerPatch?.(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setUint32(0, json.length, true);
  return concat(len, json, ...entries.map((e) => e.bytes));
}

const f32 = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);

describe('safetensors from an independent writer', () => {
  it('reads every dtype and value', () => {
    const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x0000]).buffer); // 1, -3, 0
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0x3800, 0xfc00]).buffer); // 1, 0.5, -inf
    const bytes = handWrite(
      [
        { name: 'z.last', dtype: 'F32', shape: [2, 2], bytes: f32([1, -2.5, 3.25, 1e-7]) },
        { name: 'a.first', dtype: 'F64', shape: [2], bytes: new Uint8Array(new Float64Array([Math.E, -0]).buffer) },
        { name: 'h', dtype: 'F16', shape: [3], bytes: f16 },
        { name: 'b', dtype: 'BF16', shape: [3], bytes: bf16 },
        { name: 'i', dtype: 'I32', shape: [1, 2], bytes: new Uint8Array(new Int32Array([-7, 2 ** 31 - 1]).buffer) },
        { name: 'l', dtype: 'I64', shape: [2], bytes: new Uint8Array(new BigInt64Array([-(2n ** 62n), 5n]).buffer) },
        { name: 'u', dtype: 'U8', shape: [3], bytes: new Uint8Array([0, 128, 255]) },
        { name: 'scalar', dtype: 'F32', shape: [], bytes: f32([9]) },
        { name: 'empty', dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
      ],
      { format: 'pt', note: 'hand' },
    );
    const { weights, metadata } = decodeSafetensors(bytes, 'hand.safetensors');
    expect(metadata).toEqual({ format: 'pt', note: 'hand' });
    expect(Array.from(weights.get('z.last')!.data as Float32Array)).toEqual(
      Array.from(new Float32Array([1, -2.5, 3.25, 1e-7])),
    );
    expect(weights.get('z.last')!.shape).toEqual([2, 2]);
    expect(Array.from(weights.get('a.first')!.data as Float64Array)).toEqual([Math.E, -0]);
    expect(Array.from(toFloat32(weights.get('h')!))).toEqual([1, 0.5, Number.NEGATIVE_INFINITY]);
    expect(Array.from(toFloat32(weights.get('b')!))).toEqual([1, -3, 0]);
    expect(Array.from(weights.get('i')!.data as Int32Array)).toEqual([-7, 2 ** 31 - 1]);
    expect(Array.from(weights.get('l')!.data as BigInt64Array)).toEqual([-(2n ** 62n), 5n]);
    expect(Array.from(weights.get('u')!.data as Uint8Array)).toEqual([0, 128, 255]);
    expect(weights.get('scalar')!.shape).toEqual([]);
    expect(weights.get('empty')!.data.length).toBe(0);
  });

  it('accepts offsets listed out of order as long as the data is contiguous', () => {
    const bytes = handWrite(
      [
        { name: 'x', dtype: 'F32', shape: [1], bytes: f32([1]), offsets: [4, 8] },
        { name: 'y', dtype: 'F32', shape: [1], bytes: f32([2]), offsets: [0, 4] },
      ],
      undefined,
    );
    const { weights } = decodeSafetensors(bytes, 'o.safetensors');
    // x's bytes were written first, but x claims [4, 8): the file says x = 2, y = 1
    expect((weights.get('x')!.data as Float32Array)[0]).toBe(2);
    expect((weights.get('y')!.data as Float32Array)[0]).toBe(1);
  });
});

describe('safetensors writer', () => {
  it('round-trips the tiny model with metadata and an 8-byte aligned header', () => {
    const w = tinyWeights();
    const bytes = encodeSafetensors(w, { format: 'pt', arch: 'tiny' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const back = decodeSafetensors(bytes, 'mem');
    expect(back.metadata).toEqual({ format: 'pt', arch: 'tiny' });
    for (const a of w.values()) expectSameArray(back.weights.get(a.name), a);
    const mapped = fromTimm(back.weights);
    expect(mapped.unexpected).toEqual([]);
    expect(mapped.weights.size).toBe(w.size);
  });

  it('writes atomically: no temp files left, old file replaced, loader dispatches by magic', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    try {
      const p = join(dir, 'model.safetensors');
      writeFileSync(p, 'old');
      const w = tinyWeights(3);
      writeSafetensorsAtomic(p, w, { v: '1' });
      expect(readdirSync(dir)).toEqual(['model.safetensors']);
      expect(readSafetensors(p).metadata).toEqual({ v: '1' });
      const loaded = loadWeightsFile(p);
      expect(loaded.format).toBe('safetensors');
      expect(loaded.naming).toBe('timm');
      for (const a of w.values()) expectSameArray(loaded.weights.get(a.name), a);
      expectCheckpointError(() => writeSafetensorsAtomic(join(dir, 'nope', 'x.safetensors'), w), 'nope');
      expect(existsSync(join(dir, 'nope'))).toBe(false);
      expect(readFileSync(p).length).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('safetensors bad files', () => {
  const one = { name: 'w', dtype: 'F32', shape: [2], bytes: f32([1, 2]) };
  it('truncated (shorter than the length prefix)', () => {
    expectCheckpointError(() => decodeSafetensors(new Uint8Array(5), 't.safetensors'), 't.safetensors', 'truncated');
  });
  it('header length beyond the file', () => {
    const b = handWrite([one]);
    new DataView(b.buffer).setUint32(0, 10_000, true);
    expectCheckpointError(() => decodeSafetensors(b, 'h.safetensors'), 'h.safetensors', 'header length 10000');
  });
  it('wrong magic / not JSON', () => {
    const b = concat(new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), new TextEncoder().encode('PK!!'));
    expectCheckpointError(() => decodeSafetensors(b, 'm.safetensors'), 'm.safetensors', 'JSON');
  });
  it('data truncated: offsets past the data block', () => {
    const b = handWrite([one]);
    expectCheckpointError(() => decodeSafetensors(b.subarray(0, b.length - 4), 'd.safetensors'), "'w'", 'outside');
  });
  it('shape does not match byte length', () => {
    const b = handWrite([{ ...one, shape: [3] }]);
    expectCheckpointError(() => decodeSafetensors(b, 's.safetensors'), 's.safetensors', "'w'", 'needs 12 bytes');
  });
  it('dtype does not match byte length', () => {
    const b = handWrite([{ ...one, dtype: 'F64' }]);
    expectCheckpointError(() => decodeSafetensors(b, 'x.safetensors'), "'w'", 'needs 16 bytes');
  });
  it('unknown dtype', () => {
    const b = handWrite([{ ...one, dtype: 'C64' }]);
    expectCheckpointError(() => decodeSafetensors(b, 'u.safetensors'), 'u.safetensors', "'w'", 'unknown dtype "C64"');
  });
  it('overlapping and gapped tensors', () => {
    const ov = handWrite([one, { name: 'v', dtype: 'F32', shape: [1], bytes: f32([3]), offsets: [4, 8] }]);
    expectCheckpointError(() => decodeSafetensors(ov, 'ov.safetensors'), 'ov.safetensors', 'overlaps');
    const gap = handWrite([
      { ...one, offsets: [4, 12] },
      { name: 'pad', dtype: 'U8', shape: [0], bytes: f32([0]), offsets: [0, 0] },
    ]);
    expectCheckpointError(() => decodeSafetensors(gap, 'gap.safetensors'), "'w'", 'gap');
  });
  it('bad metadata and bad shape entries', () => {
    const b = handWrite([one], undefined, (h) => {
      h.__metadata__ = { n: 3 };
    });
    expectCheckpointError(() => decodeSafetensors(b, 'md.safetensors'), '__metadata__', 'not a string');
    const s = handWrite([{ ...one, shape: [-2] }]);
    expectCheckpointError(() => decodeSafetensors(s, 'neg.safetensors'), "'w'", 'shape');
  });
});
