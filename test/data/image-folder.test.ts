/**
 * ImageFolder over a directory and over a tar of the same tree: sorted classes, identical samples, PNG (RGBA,
 * gray) and JPEG decoding to RGB, DataErrors naming the file/member for empty classes and unreadable images,
 * descriptor round trip; and the shared CIFAR-10 tar opened in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, toRgb } from '../../src/data/image.js';
import { ImageFolder } from '../../src/data/image-folder.js';
import { openDataset } from '../../src/data/open.js';
import { DataError } from '../../src/errors.js';
import { CIFAR_TAR, encodeJpeg, encodePng, haveFile, haveTar, makeTar, solidRgba, tmpDir } from './helpers.js';

const TAR = haveTar();

describe('image decoding', () => {
  it('PNG RGBA drops alpha, gray PNG replicates to RGB', () => {
    const rgba = solidRgba(3, 2, [10, 20, 30, 40]);
    const a = decodeImage(encodePng(rgba, 3, 2, 6), 'a.png');
    expect([a.height, a.width, a.channels]).toEqual([2, 3, 3]);
    expect(Array.from(a.data.subarray(0, 6))).toEqual([10, 20, 30, 10, 20, 30]);
    const g = decodeImage(encodePng(solidRgba(2, 2, [90, 90, 90, 255]), 2, 2, 0), 'g.png');
    expect(Array.from(g.data)).toEqual(new Array(12).fill(90));
  });

  it('JPEG decodes to RGB close to the encoded colour', () => {
    const rgb = new Uint8Array(16 * 16 * 3);
    for (let i = 0; i < 256; i++) rgb.set([200, 40, 90], 3 * i);
    const d = decodeImage(encodeJpeg(rgb, 16, 16), 'x.jpg');
    expect([d.height, d.width, d.channels]).toEqual([16, 16, 3]);
    for (let i = 0; i < d.data.length; i++) expect(Math.abs(d.data[i]! - rgb[i]!)).toBeLessThanOrEqual(4);
  });

  it('unreadable bytes are DataErrors naming the file', () => {
    expect(() => decodeImage(Uint8Array.from([1, 2, 3, 4]), 'cls/bad.jpg')).toThrow(/cls\/bad\.jpg: not a JPEG or PNG/);
    const truncated = encodePng(solidRgba(4, 4, [1, 2, 3, 255]), 4, 4).subarray(0, 40);
    expect(() => decodeImage(truncated, 'cls/t.png')).toThrow(DataError);
  });

  it('toRgb replicates gray and rejects 5 channels', () => {
    const g = toRgb({ data: Uint8Array.from([7, 9]), height: 1, width: 2, channels: 1 });
    expect(Array.from(g.data)).toEqual([7, 7, 7, 9, 9, 9]);
    expect(() => toRgb({ data: new Uint8Array(5), height: 1, width: 1, channels: 5 })).toThrow(DataError);
  });
});

describe('ImageFolder', () => {
  let dir = '';
  const colors: Record<string, [number, number, number, number]> = {
    'b-cat/1.png': [255, 0, 0, 255],
    'b-cat/0.png': [0, 255, 0, 128],
    'a-dog/nested/x.png': [0, 0, 255, 255],
    'c-emu/z.PNG': [50, 60, 70, 255],
  };

  beforeAll(() => {
    dir = tmpDir('imgfolder');
    const root = path.join(dir, 'train');
    for (const [name, c] of Object.entries(colors)) {
      fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      fs.writeFileSync(path.join(root, name), encodePng(solidRgba(4, 3, c), 4, 3));
    }
    fs.writeFileSync(path.join(root, 'c-emu', 'notes.txt'), 'ignored');
    if (TAR) makeTar(path.join(dir, 'data.tar'), dir, ['train']);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('directory: classes sorted, labels by class, samples sorted, RGB output', () => {
    const ds = ImageFolder.open(path.join(dir, 'train'));
    expect(ds.classes).toEqual(['a-dog', 'b-cat', 'c-emu']);
    expect(ds.length).toBe(4);
    expect(Array.from(ds.labels())).toEqual([0, 1, 1, 2]);
    expect([0, 1, 2, 3].map((i) => ds.name(i))).toEqual([
      'a-dog/nested/x.png',
      'b-cat/0.png',
      'b-cat/1.png',
      'c-emu/z.PNG',
    ]);
    const s = ds.get(2);
    expect(s.label).toBe(1);
    expect([s.image.height, s.image.width, s.image.channels]).toEqual([3, 4, 3]);
    expect(Array.from(s.image.data.subarray(0, 3))).toEqual([255, 0, 0]);
  });

  it.skipIf(!TAR)('tar with prefix gives the same classes, labels and pixels as the directory', () => {
    const a = ImageFolder.open(path.join(dir, 'train'));
    const b = ImageFolder.open(path.join(dir, 'data.tar'), { prefix: 'train' });
    try {
      expect(b.classes).toEqual(a.classes);
      expect(Array.from(b.labels())).toEqual(Array.from(a.labels()));
      for (let i = 0; i < a.length; i++)
        expect(Array.from(b.get(i).image.data)).toEqual(Array.from(a.get(i).image.data));
      // worker-style reopen from the descriptor, no re-indexing
      const c = openDataset(b.descriptor());
      expect(Array.from(c.get(3).image.data)).toEqual(Array.from(a.get(3).image.data));
      c.close?.();
      expect(() => ImageFolder.open(path.join(dir, 'data.tar'), { prefix: 'val/' })).toThrow(
        /no class folders under prefix 'val\/'/,
      );
    } finally {
      b.close();
    }
  });

  it('empty class folder is a DataError naming the class', () => {
    const d = tmpDir('empty');
    try {
      fs.mkdirSync(path.join(d, 'full'));
      fs.mkdirSync(path.join(d, 'hollow'));
      fs.writeFileSync(path.join(d, 'full', 'a.png'), encodePng(solidRgba(1, 1, [1, 1, 1, 255]), 1, 1));
      expect(() => ImageFolder.open(d)).toThrow(/class folder 'hollow' contains no/);
      expect(() => ImageFolder.open(path.join(d, 'missing'))).toThrow(DataError);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it.skipIf(!TAR)('unreadable image names the file (directory) or the member (tar)', () => {
    const d = tmpDir('corrupt');
    try {
      fs.mkdirSync(path.join(d, 'root', 'k'), { recursive: true });
      fs.writeFileSync(path.join(d, 'root', 'k', 'broken.jpg'), 'not a jpeg');
      expect(() => ImageFolder.open(path.join(d, 'root')).get(0)).toThrow(/root\/k\/broken\.jpg: not a JPEG or PNG/);
      makeTar(path.join(d, 'c.tar'), d, ['root']);
      const t = ImageFolder.open(path.join(d, 'c.tar'), { prefix: 'root/' });
      expect(() => t.get(0)).toThrow(/member root\/k\/broken\.jpg: not a JPEG or PNG/);
      t.close();
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveFile(CIFAR_TAR, 'ImageFolder on CIFAR-10 tar'))('ImageFolder on the shared CIFAR-10 tar', () => {
  it('opens in place with 10 classes x 5000 images of 32x32 RGB', () => {
    const ds = ImageFolder.open(CIFAR_TAR, { prefix: 'train/' });
    try {
      expect(ds.classes).toEqual([
        'airplane',
        'automobile',
        'bird',
        'cat',
        'deer',
        'dog',
        'frog',
        'horse',
        'ship',
        'truck',
      ]);
      expect(ds.length).toBe(50000);
      const labels = ds.labels();
      expect(labels[0]).toBe(0);
      expect(labels[49999]).toBe(9);
      expect(labels.filter((l) => l === 3).length).toBe(5000);
      const s = ds.get(12345);
      expect(s.label).toBe(2);
      expect([s.image.height, s.image.width, s.image.channels]).toEqual([32, 32, 3]);
      expect(ds.name(12345)).toBe('train/bird/2345.jpg');
    } finally {
      ds.close();
    }
  });
});
