/**
 * Decode-once image caches for the reproductions: an ImageFolder tar is decoded a single time (jpeg-js,
 * ~10 ms per 224 px image) and each requested square size is stored as raw uint8 HWC RGB (resampled with the
 * data layer's antialiased triangle filter, which averages over the whole footprint when downscaling, i.e. an
 * area-like filter), rounded to the nearest integer, beside a JSON sidecar holding labels and class names.
 *
 * Invariants: sample order is the ImageFolder order (label, path), so indices into a cache equal indices into
 * `ImageFolder.open(tar)` and seeded splits computed on either agree; files are written to a temp name and
 * renamed, so an interrupted build never leaves a truncated cache; `limitPerClass` caches (quick mode) take
 * the first members of each class and have their own file names.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageFolder, type RawImage, resize, toRgb } from '../../src/data/index.js';

/** Decoded images of one size: `data` holds n * size * size * 3 bytes, HWC per image. */
export interface ImageCache {
  n: number;
  size: number;
  data: Uint8Array;
  labels: Int32Array;
  classes: string[];
  /** Native [H, W] of the first source image (the HyperRule resolution input). */
  sourceSize: [number, number];
}

/** Where a cache of `name` at `size` px lives. */
function files(dir: string, name: string, size: number) {
  const base = path.join(dir, `${name}-${size}px`);
  return { bin: `${base}.u8`, meta: `${base}.json` };
}

function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Read a cache written by `buildCaches`, or null when absent. */
export function readCache(dir: string, name: string, size: number): ImageCache | null {
  const f = files(dir, name, size);
  if (!fs.existsSync(f.bin) || !fs.existsSync(f.meta)) return null;
  const meta = JSON.parse(fs.readFileSync(f.meta, 'utf8')) as {
    n: number;
    size: number;
    labels: number[];
    classes: string[];
    sourceSize: [number, number];
  };
  const buf = fs.readFileSync(f.bin);
  const data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (data.length !== meta.n * size * size * 3) throw new Error(`${f.bin}: ${data.length} bytes, expected more`);
  return {
    n: meta.n,
    size,
    data,
    labels: Int32Array.from(meta.labels),
    classes: meta.classes,
    sourceSize: meta.sourceSize,
  };
}

/** Round a resampled image into `out` at byte offset `off`. */
function store(img: RawImage, out: Uint8Array, off: number): void {
  const d = img.data;
  for (let i = 0; i < d.length; i++) out[off + i] = Math.min(255, Math.max(0, Math.round(d[i]!)));
}

/**
 * Caches of `tar` (ImageFolder members `<prefix><class>/<image>`) at every size in `sizes`; decodes only when
 * some size is missing. `limitPerClass` > 0 keeps the first members of each class (quick mode).
 */
export function buildCaches(
  tar: string,
  prefix: string,
  sizes: readonly number[],
  dir: string,
  name: string,
  opts: { limitPerClass?: number; log?: (m: string) => void } = {},
): Map<number, ImageCache> {
  const log = opts.log ?? (() => {});
  const out = new Map<number, ImageCache>();
  for (const s of sizes) {
    const c = readCache(dir, name, s);
    if (c) out.set(s, c);
  }
  if (out.size === sizes.length) return out;
  fs.mkdirSync(dir, { recursive: true });
  const ds = ImageFolder.open(tar, { prefix });
  const all = ds.labels();
  const lim = opts.limitPerClass ?? 0;
  const seen = new Map<number, number>();
  const idx: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const c = seen.get(all[i]!) ?? 0;
    if (lim > 0 && c >= lim) continue;
    seen.set(all[i]!, c + 1);
    idx.push(i);
  }
  const todo = sizes.filter((s) => !out.has(s));
  const bufs = new Map(todo.map((s) => [s, new Uint8Array(idx.length * s * s * 3)]));
  const t0 = performance.now();
  let sourceSize: [number, number] = [0, 0];
  idx.forEach((src, j) => {
    const img = toRgb(ds.get(src).image);
    if (j === 0) sourceSize = [img.height, img.width];
    for (const s of todo) {
      const r = img.height === s && img.width === s ? img : resize(img, s, s);
      store(r, bufs.get(s)!, j * s * s * 3);
    }
    if ((j + 1) % 5000 === 0)
      log(`  decoded ${j + 1}/${idx.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  });
  const labels = Array.from(idx, (i) => all[i]!);
  log(
    `decoded ${idx.length} images of ${tar} in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${todo.join(', ')} px`,
  );
  for (const s of todo) {
    const f = files(dir, name, s);
    writeAtomic(f.bin, bufs.get(s)!);
    writeAtomic(f.meta, JSON.stringify({ n: idx.length, size: s, labels, classes: ds.classes, sourceSize }));
    out.set(s, {
      n: idx.length,
      size: s,
      data: bufs.get(s)!,
      labels: Int32Array.from(labels),
      classes: ds.classes,
      sourceSize,
    });
  }
  ds.close();
  return out;
}
