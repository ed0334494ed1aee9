/**
 * Robustness fuzzing (fast-check): random bytes and mutated valid files fed to every reader must either
 * decode or throw CheckpointError, never another exception or a hang; headers that claim huge sizes must be
 * rejected before allocating (checked against the file size), quickly.
 */
import fc from 'fast-check';
import { zipSync } from 'fflate';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../src/errors.js';
import {
  CKPT_PROTO,
  decodeCkpt,
  decodeNpy,
  decodeNpz,
  decodeSafetensors,
  decodeWeights,
  encodeCkpt,
  encodeNpy,
  encodeNpz,
  encodeSafetensors,
  type NamedArray,
} from '../../../src/models/weights/index.js';
import { concat, expectCheckpointError } from './helpers.js';

const small: NamedArray[] = [
  { name: 'conv1.weight', shape: [2, 3, 1, 1], dtype: 'float32', data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  { name: 'gn.gamma', shape: [2], dtype: 'float16', data: new Uint16Array([0x3c00, 0x4000]) },
  { name: 'global_step', shape: [], dtype: 'int64', data: new BigInt64Array([42n]) },
];
const deflatedNpz = zipSync(
  Object.fromEntries(small.map((a) => [`${a.name}.npy`, [encodeNpy(a), { level: 6 }]])),
) as Uint8Array;

const readers: [string, (b: Uint8Array) => unknown, Uint8Array[]][] = [
  ['npz', (b) => decodeNpz(b, 'f.npz'), [encodeNpz(small), deflatedNpz]],
  ['npy', (b) => decodeNpy(b, 'x', 'f.npz'), [encodeNpy(small[0]!)]],
  ['safetensors', (b) => decodeSafetensors(b, 'f.safetensors'), [encodeSafetensors(small, { a: 'b' })]],
  ['ckpt', (b) => decodeCkpt(b, 'f.ckpt'), [encodeCkpt(small), encodeCkpt(small, { crc: true, sliceBytes: 8 })]],
  ['any', (b) => decodeWeights(b, 'f.bin'), [encodeNpz(small), encodeSafetensors(small), encodeCkpt(small)]],
];

function onlyCheckpointErrors(read: (b: Uint8Array) => unknown, b: Uint8Array): void {
  try {
    read(b);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw new Error(`non-CheckpointError ${String(e)} on ${b.length} bytes`);
  }
}

const mutation = (bases: Uint8Array[]) =>
  fc
    .record({
      base: fc.constantFrom(...bases),
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })), { nil: undefined }),
    })
    .map(({ base, flips, cut, insert }) => {
      let b: Uint8Array = base.slice();
      for (const [pos, x] of flips) b[pos % b.length] ^= x;
      if (insert) {
        const p = insert[0] % (b.length + 1);
        b = concat(b.subarray(0, p), insert[1], b.subarray(p));
      }
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      return b;
    });

describe('fuzz: every reader returns or throws CheckpointError', () => {
  for (const [name, read, bases] of readers) {
    it(`${name}: valid bases decode`, () => {
      for (const b of bases) expect(() => read(b)).not.toThrow();
    });
    it(`${name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (b) => onlyCheckpointErrors(read, b)),
        { numRuns: 300, seed: 7 },
      );
    });
    it(`${name}: mutated valid files`, () => {
      fc.assert(
        fc.property(mutation(bases), (b) => onlyCheckpointErrors(read, b)),
        { numRuns: 400, seed: 11 },
      );
    });
  }
});

describe('huge size claims are rejected before allocating', () => {
  it('safetensors shape claiming terabytes', () => {
    const h = new TextEncoder().encode(
      JSON.stringify({ w: { dtype: 'F32', shape: [1e6, 1e6], data_offsets: [0, 4] } }),
    );
    const len = new Uint8Array(8);
    new DataView(len.buffer).setUint32(0, h.length, true);
    expectCheckpointError(
      () => decodeSafetensors(concat(len, h, new Uint8Array(4)), 'big.safetensors'),
      "'w'",
      'needs',
    );
    new DataView(len.buffer).setBigUint64(0, 2n ** 62n, true);
    expectCheckpointError(() => decodeSafetensors(concat(len, h), 'big.safetensors'), 'header length');
  });
  it('npy shape claiming terabytes', () => {
    const npy = encodeNpy({ name: 'x', shape: [1], dtype: 'float32', data: new Float32Array(1) });
    const text = new TextDecoder('latin1').decode(npy).replace("'shape': (1,), ", "'shape': (100000, 9999999),");
    expectCheckpointError(
      () =>
        decodeNpy(
          Uint8Array.from(text, (c) => c.charCodeAt(0)),
          'x',
          'big.npz',
        ),
      "'x'",
      'needs',
    );
  });
  it('zip entry claiming a huge inflated size', () => {
    const z = deflatedNpz.slice();
    const dv = new DataView(z.buffer);
    // patch the uncompressed size of the first central-directory entry
    let p = z.length - 22;
    while (dv.getUint32(p, true) !== 0x06054b50) p--;
    const cd = dv.getUint32(p + 16, true);
    dv.setUint32(cd + 24, 0xfffffff0, true);
    expectCheckpointError(() => decodeNpz(z, 'bomb.npz'), 'bomb.npz', 'over the limit');
  });
  it('ckpt dims claiming terabytes', () => {
    const T = protobuf.parse(CKPT_PROTO, { keepCase: true }).root.lookupType('Checkpoint');
    const b = T.encode(
      T.create({
        value: [{ tag: 'w', tensor: { dims: [1e7, 1e7], tensor_type: 'Float32', tensor_content: new Uint8Array(8) } }],
      }),
    ).finish();
    expectCheckpointError(() => decodeCkpt(b, 'big.ckpt'), "'w'", 'dims');
  });
});

// Issue 23 case 10: a bit flip in tensor data of a file bit-ts wrote went unnoticed (safetensors has no
// checksum). Our files record each tensor's CRC-32 in the metadata; any flipped data bit is now a CheckpointError
// naming the tensor, while files without the record (timm, PyTorch) load unchanged.
describe('safetensors checksums (bit-ts files)', () => {
  const file = encodeSafetensors(small, { a: 'b' });
  const headerLen = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const dataStart = 8 + headerLen;

  it('every flipped data bit is caught, naming its tensor', () => {
    fc.assert(
      fc.property(fc.integer({ min: dataStart, max: file.length - 1 }), fc.integer({ min: 0, max: 7 }), (i, bit) => {
        const b = Uint8Array.from(file);
        b[i]! ^= 1 << bit;
        expectCheckpointError(() => decodeSafetensors(b, 'flip.safetensors'), 'flip.safetensors', 'fails its checksum');
      }),
      { numRuns: 100 },
    );
  });

  it('the record is internal: metadata round-trips without it; files without it (foreign) load', () => {
    const d = decodeSafetensors(file, 'ok.safetensors');
    expect(d.metadata).toEqual({ a: 'b' });
    expect(new TextDecoder().decode(file.subarray(8, dataStart))).toContain('bit_ts_crc32');
    // a foreign writer's file: same tensors, no record (header rewritten without the entry)
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, dataStart))) as Record<string, unknown>;
    delete header.__metadata__;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
    const foreign = concat(len, json, file.subarray(dataStart));
    const f = decodeSafetensors(foreign, 'timm.safetensors');
    expect([...f.weights.keys()]).toEqual(small.map((a) => a.name));
    // flipped data in a foreign file cannot be detected (no record), and is not an error
    const flipped = Uint8Array.from(foreign);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => decodeSafetensors(flipped, 'timm.safetensors')).not.toThrow();
  });
});
