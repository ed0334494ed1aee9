/**
 * MindSpore .ckpt reader/writer. An independent writer (protobufjs with the schema written out here, one
 * variant with packed dims) builds a multi-message file the way MindSpore does: one Value per Checkpoint
 * message, a tensor split into axis-0 slices carrying full dims, a tensor whose slices carry their own dims,
 * packed and unpacked dims, a scalar (dims [0]), optimizer state, a string entry and optionally the
 * `crc_num` trailer (CRC from node:zlib). Our reader must return every value; our writer must round-trip.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeCkpt, encodeCkpt, type NamedArray, toMindCV } from '../../../src/models/weights/index.js';
import { loadWeightsFile } from '../../../src/models/weights/node-io.js';
import { concat, expectCheckpointError, expectSameArray, tinyWeights } from './helpers.js';

const schema = (packed: boolean) => `
syntax = "proto2";
message Checkpoint { repeated Value value = 1; }
message Value { required string tag = 1; optional TensorProto tensor = 2; }
message TensorProto {
  repeated int64 dims = 1 ${packed ? '[packed = true]' : ''};
  required string tensor_type = 2;
  required bytes tensor_content = 3;
}`;
const Unpacked = protobuf.parse(schema(false)).root.lookupType('Checkpoint');
const Packed = protobuf.parse(schema(true)).root.lookupType('Checkpoint');

function value(tag: string, dims: number[], type: string, content: Uint8Array, packed = false): Uint8Array {
  const T = packed ? Packed : Unpacked;
  return T.encode(T.create({ value: [{ tag, tensor: { dims, tensorType: type, tensorContent: content } }] })).finish();
}
const bytesOf = (a: NamedArray) => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);

function withCrc(body: Uint8Array): Uint8Array {
  const tail = new Uint8Array(17);
  tail.set(new TextEncoder().encode('crc_num'));
  let c = BigInt(zlibCrc32(body));
  for (let k = 16; k >= 7; k--) {
    tail[k] = Number(c & 0xffn);
    c >>= 8n;
  }
  return concat(body, tail);
}

/** The tiny model in MindCV names, written independently with slices, packed dims and optimizer state. */
function independentFile(): Uint8Array {
  const mind = toMindCV(tinyWeights()).weights;
  const parts: Uint8Array[] = [];
  let k = 0;
  for (const a of mind.values()) {
    const b = bytesOf(a);
    if (a.name === 'layer1.0.conv3.weight') {
      // MindSpore style: axis-0 chunks, every slice carries the full dims ([8, 2, 1, 1] -> 3 + 3 + 2 rows)
      const row = b.length / a.shape[0]!;
      parts.push(value(a.name, a.shape, 'Float32', b.subarray(0, 3 * row)));
      parts.push(value(a.name, a.shape, 'Float32', b.subarray(3 * row, 6 * row), true));
      parts.push(value(a.name, a.shape, 'Float32', b.subarray(6 * row)));
    } else if (a.name === 'layer4.0.conv2.weight') {
      // slices carrying their own axis-0 dims ([16, 16, 3, 3] -> 10 + 6 rows)
      const row = b.length / a.shape[0]!;
      parts.push(value(a.name, [10, 16, 3, 3], 'Float32', b.subarray(0, 10 * row)));
      parts.push(value(a.name, [6, 16, 3, 3], 'Float32', b.subarray(10 * row)));
    } else parts.push(value(a.name, a.shape, 'Float32', b, k++ % 2 === 0));
  }
  parts.push(value('learning_rate', [0], 'Float32', new Uint8Array(new Float32Array([0.003]).buffer)));
  parts.push(value('global_step', [1], 'Int32', new Uint8Array(new Int32Array([1234]).buffer)));
  const mom = new Float32Array(8 * 3 * 49).map((_, i) => i * 0.5);
  parts.push(value('moments.conv1.weight', [8, 3, 7, 7], 'Float32', new Uint8Array(mom.buffer), true));
  const h = new Uint16Array([0x3c00, 0xbc00, 0x4000]); // 1, -1, 2
  parts.push(value('ema.gn.gamma', [3], 'Float16', new Uint8Array(h.buffer)));
  parts.push(value('step64', [2], 'Int64', new Uint8Array(new BigInt64Array([-5n, 2n ** 50n]).buffer)));
  parts.push(value('note', [1], 'str', new TextEncoder().encode('hello')));
  return concat(...parts);
}

describe('ckpt from an independent protobufjs writer', () => {
  for (const crc of [false, true]) {
    it(`reads slices, packed/unpacked dims, scalars and optimizer state${crc ? ' with crc_num trailer' : ''}`, () => {
      const body = independentFile();
      const file = crc ? withCrc(body) : body;
      const ck = decodeCkpt(file, 'mind.ckpt');
      expect(ck.hadCrc).toBe(crc);
      expect(ck.nonTensor).toEqual(['note']);
      const mind = toMindCV(tinyWeights()).weights;
      for (const a of mind.values()) expectSameArray(ck.weights.get(a.name), a);
      expect(ck.weights.get('learning_rate')!.shape).toEqual([]);
      expect((ck.weights.get('learning_rate')!.data as Float32Array)[0]).toBeCloseTo(0.003, 7);
      expect(ck.weights.get('global_step')!.shape).toEqual([1]);
      expect(Array.from(ck.weights.get('global_step')!.data as Int32Array)).toEqual([1234]);
      expect((ck.weights.get('moments.conv1.weight')!.data as Float32Array)[100]).toBe(50);
      expect(Array.from(ck.weights.get('ema.gn.gamma')!.data as Uint16Array)).toEqual([0x3c00, 0xbc00, 0x4000]);
      expect(Array.from(ck.weights.get('step64')!.data as BigInt64Array)).toEqual([-5n, 2n ** 50n]);
    });
  }

  it('loadWeightsFile maps MindCV names to ours and reports optimizer state as skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    try {
      const p = join(dir, 'bit.ckpt');
      writeFileSync(p, withCrc(independentFile()));
      const r = loadWeightsFile(p);
      expect(r.format).toBe('ckpt');
      expect(r.naming).toBe('mindcv');
      expect(r.skipped.sort()).toEqual(['ema.gn.gamma', 'global_step', 'learning_rate', 'moments.conv1.weight']);
      expect(r.unexpected).toEqual(['step64']);
      expect(r.nonTensor).toEqual(['note']);
      for (const a of tinyWeights().values()) expectSameArray(r.weights.get(a.name), a);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ckpt writer', () => {
  it('round-trips with slicing and crc, and the independent schema decodes it', () => {
    const ours = toMindCV(tinyWeights()).weights;
    const extra: NamedArray = { name: 'lr', shape: [], dtype: 'float32', data: new Float32Array([0.1]) };
    const all = [...ours.values(), extra];
    const bytes = encodeCkpt(all, { sliceBytes: 100, crc: true });
    const back = decodeCkpt(bytes, 'ours.ckpt');
    expect(back.hadCrc).toBe(true);
    for (const a of all) expectSameArray(back.weights.get(a.name), a);
    const msg = Unpacked.decode(bytes.subarray(0, bytes.length - 17)) as unknown as {
      value: { tag: string; tensor: { dims: unknown[]; tensorContent: Uint8Array } }[];
    };
    const stem = msg.value.filter((v) => v.tag === 'conv1.weight');
    expect(stem.length).toBe(8); // 8 rows x 588 bytes, 100-byte budget -> capped at one slice per row
    expect(stem.every((v) => v.tensor.dims.map(Number).join() === '8,3,7,7')).toBe(true);
    expect(zlibCrc32(bytes.subarray(0, bytes.length - 17))).toBe(
      Number(new DataView(bytes.buffer, bytes.length - 8).getBigUint64(0, false) & 0xffffffffn),
    );
  });
});

describe('ckpt bad files', () => {
  const good = independentFile();
  it('encrypted-looking bytes', () => {
    let s = 12345;
    const rnd = new Uint8Array(4096).map(() => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s >>> 24;
    });
    rnd[0] = 0x07; // an invalid wire type, as ciphertext typically starts
    expectCheckpointError(() => decodeCkpt(rnd, 'enc.ckpt'), 'enc.ckpt', 'encrypted');
  });
  it('truncated file', () => {
    expectCheckpointError(() => decodeCkpt(good.subarray(0, good.length - 3), 't.ckpt'), 't.ckpt');
  });
  it('crc mismatch', () => {
    const f = withCrc(good);
    f[f.length - 1] ^= 1;
    expectCheckpointError(() => decodeCkpt(f, 'crc.ckpt'), 'crc.ckpt', 'crc_num', 'corrupt');
  });
  it('dims that do not match the content', () => {
    const f = value('w', [3, 3], 'Float32', new Uint8Array(32));
    expectCheckpointError(() => decodeCkpt(f, 'd.ckpt'), 'd.ckpt', "'w'", 'dims [3, 3]');
  });
  it('unknown tensor_type', () => {
    const f = value('w', [2], 'Complex64', new Uint8Array(16));
    expectCheckpointError(() => decodeCkpt(f, 'u.ckpt'), 'u.ckpt', "'w'", "'Complex64'");
  });
  it('a value without a tensor (MapTensor) is listed as non-tensor', () => {
    const bare = Unpacked.encode(Unpacked.create({ value: [{ tag: 'map' }] })).finish();
    const ck = decodeCkpt(concat(bare, value('w', [1], 'Float32', new Uint8Array(4))), 'm.ckpt');
    expect(ck.nonTensor).toEqual(['map']);
    expect([...ck.weights.keys()]).toEqual(['w']);
  });
  it('a tag split by another tag', () => {
    const f = concat(
      value('a', [1], 'Float32', new Uint8Array(4)),
      value('b', [1], 'Float32', new Uint8Array(4)),
      value('a', [1], 'Float32', new Uint8Array(4)),
    );
    expectCheckpointError(() => decodeCkpt(f, 'dup.ckpt'), "'a'", 'twice');
  });
});
