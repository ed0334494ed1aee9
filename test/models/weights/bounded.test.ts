/**
 * Issue 15 case 4 (and the path side of case 1): readers check sizes before allocating. Zip bombs (many
 * members that each inflate ~1000x), a directory that under-declares a member, a member claiming 4 GiB with
 * enough compressed bytes to pass the per-member ratio check, millions of ckpt dims and oversized NPY headers
 * all end in a CheckpointError naming file and entry, quickly and without a large allocation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, zipSync } from 'fflate';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeCkpt, decodeNpy, decodeNpz, encodeNpy } from '../../../src/models/weights/index.js';
import { loadWeightsFile, readNpz, readWeightBytes } from '../../../src/models/weights/node-io.js';
import { concat, expectCheckpointError } from './helpers.js';

const zerosNpy = (name: string, n: number) =>
  encodeNpy({ name, shape: [n], dtype: 'float32', data: new Float32Array(n) });

/**
 * An npz of `count` members of `n` zero floats each, deflated (each inflates ~1000x). The one deflated
 * member is cut out of a one-member archive and repeated, so building a 400 MiB bomb costs one deflate.
 */
function bomb(count: number, n: number): Uint8Array {
  const one = zipSync({ 'm0.npy': [zerosNpy('z', n), { level: 9 }] }) as Uint8Array;
  const dv1 = new DataView(one.buffer, one.byteOffset, one.byteLength);
  const cd1 = centralDir(one);
  const compressed = dv1.getUint32(cd1 + 20, true);
  const size = dv1.getUint32(cd1 + 24, true);
  const crc = dv1.getUint32(cd1 + 16, true);
  const start = 30 + dv1.getUint16(26, true) + dv1.getUint16(28, true);
  const data = one.subarray(start, start + compressed);
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const name = new TextEncoder().encode(`m${i}.npy`);
    const loc = new Uint8Array(30 + name.length);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, 8, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, compressed, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    loc.set(name, 30);
    const cen = new Uint8Array(46 + name.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, 8, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, compressed, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, off, true);
    cen.set(name, 46);
    locals.push(loc, data);
    centrals.push(cen);
    off += loc.length + data.length;
  }
  const cdSize = centrals.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, off, true);
  return concat(...locals, ...centrals, eocd);
}

/** Offset of the first central-directory entry. */
function centralDir(z: Uint8Array): number {
  const dv = new DataView(z.buffer, z.byteOffset, z.byteLength);
  let p = z.length - 22;
  while (dv.getUint32(p, true) !== 0x06054b50) p--;
  return dv.getUint32(p + 16, true);
}

describe('bounded NPZ', () => {
  it('a zip bomb is refused from its directory before inflating (default cap: 64 MiB + 16x file)', () => {
    const z = bomb(100, 1 << 20); // 100 members of 4 MiB: 400 MiB from a few hundred KB
    expect(z.length).toBeLessThan(2_000_000);
    const t0 = performance.now();
    expectCheckpointError(() => decodeNpz(z, 'bomb.npz'), 'bomb.npz', 'entry', 'over the limit');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('the cap is overridable: the same archive decodes under a raised limit and not under a lower one', () => {
    const z = bomb(3, 1 << 16); // 3 x 256 KiB
    const total = 3 * zerosNpy('z', 1 << 16).length;
    expect(decodeNpz(z, 'ok.npz', { maxDecodedBytes: total }).size).toBe(3);
    expectCheckpointError(() => decodeNpz(z, 'low.npz', { maxDecodedBytes: total - 1 }), "'m2.npy'", 'limit');
  });

  it('a member that inflates past its declared size stops at the declaration', () => {
    const z = bomb(1, 1 << 18).slice(); // 1 MiB of zeros
    const cd = centralDir(z);
    new DataView(z.buffer).setUint32(cd + 24, 5000, true); // directory now says 5000 bytes
    expectCheckpointError(() => decodeNpz(z, 'liar.npz'), 'liar.npz', "'m0.npy'", 'inflates past its declared size');
  });

  it('a member claiming 4 GiB from enough compressed bytes to pass the ratio check is a CheckpointError', () => {
    // 5 MB of incompressible bytes: compressed size x 1032 exceeds 4 GiB, so only the total cap stops it
    const noise = new Uint8Array(5_000_000);
    let s = 12345;
    for (let i = 0; i < noise.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      noise[i] = s >>> 24;
    }
    const z = (zipSync({ 'w.npy': [noise, { level: 1 }] }) as Uint8Array).slice();
    const cd = centralDir(z);
    new DataView(z.buffer).setUint32(cd + 24, 0xfffffff0, true);
    const t0 = performance.now();
    expectCheckpointError(() => decodeNpz(z, 'huge.npz'), 'huge.npz', "'w.npy'", 'over the limit');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('a deflate stream that is not one is a CheckpointError naming the entry', () => {
    const z = (zipSync({ 'a.npy': [zerosNpy('a', 4096), { level: 6 }] }) as Uint8Array).slice();
    const cd = centralDir(z);
    const dv = new DataView(z.buffer);
    const lo = dv.getUint32(cd + 42, true);
    const start = lo + 30 + dv.getUint16(lo + 26, true) + dv.getUint16(lo + 28, true);
    z.set(deflateSync(new Uint8Array(3)).subarray(0, 2), start); // valid header, wrong block type follows
    z[start + 2] = 0xff;
    expectCheckpointError(() => decodeNpz(z, 'bad.npz'), 'bad.npz', "'a.npy'");
  });
});

describe('bounded NPY and ckpt', () => {
  it('an NPY header over 64 KiB is refused before it is decoded', () => {
    const npy = zerosNpy('x', 1).slice();
    npy[6] = 2; // v2: 4-byte header length
    const big = new Uint8Array(12 + 100_000);
    big.set(npy.subarray(0, 8));
    new DataView(big.buffer).setUint32(8, 100_000, true);
    expectCheckpointError(() => decodeNpy(big, 'x', 'h.npz'), "'x'", 'header length 100000', 'limit');
  });

  it('a ckpt tensor listing millions of dims is refused before protobuf decoding', () => {
    // hand-built wire bytes: Checkpoint{value: Value{tag 'w', tensor{dims: 2M x packed 1, Float32, 4 bytes}}}
    const W = protobuf.Writer;
    const tensor = W.create()
      .uint32(0x0a)
      .bytes(new Uint8Array(2_000_000).fill(1))
      .uint32(0x12)
      .string('Float32')
      .uint32(0x1a)
      .bytes(new Uint8Array(4))
      .finish();
    const value = W.create().uint32(0x0a).string('w').uint32(0x12).bytes(tensor).finish();
    const b = W.create().uint32(0x0a).bytes(value).finish();
    const few = W.create()
      .uint32(0x0a)
      .bytes(
        W.create()
          .uint32(0x0a)
          .string('w')
          .uint32(0x12)
          .bytes(
            W.create()
              .uint32(0x0a)
              .bytes(Uint8Array.of(1))
              .uint32(0x12)
              .string('Float32')
              .uint32(0x1a)
              .bytes(new Uint8Array(4))
              .finish(),
          )
          .finish(),
      )
      .finish();
    expect(decodeCkpt(few, 'few.ckpt').weights.get('w')?.shape).toEqual([1]); // the hand-built layout is valid
    const t0 = performance.now();
    expectCheckpointError(() => decodeCkpt(b, 'dims.ckpt'), 'dims.ckpt', 'more than 64 dims');
    expect(performance.now() - t0).toBeLessThan(200);
  });
});

describe('path readers (node-io) name the real problem', () => {
  it('missing file, directory and size cap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bit-ts-nodeio-'));
    try {
      expectCheckpointError(() => loadWeightsFile(join(dir, 'none.npz')), 'none.npz', 'no such file');
      expectCheckpointError(() => loadWeightsFile(dir), dir, 'is a directory');
      const f = join(dir, 'b.npz');
      writeFileSync(f, bomb(2, 1024));
      expectCheckpointError(() => readWeightBytes(f, { maxFileBytes: 10 }), 'b.npz', 'over the 10-byte limit');
      expect(readNpz(f).size).toBe(2);
      expectCheckpointError(() => readNpz(f, { maxDecodedBytes: 100 }), 'b.npz', 'over the limit of 100');
      process.env.BIT_TS_MAX_DECODED_BYTES = '200';
      try {
        expectCheckpointError(() => loadWeightsFile(f), 'b.npz', 'over the limit of 200', 'BIT_TS_MAX_DECODED_BYTES');
      } finally {
        delete process.env.BIT_TS_MAX_DECODED_BYTES;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
