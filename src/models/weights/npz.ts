/**
 * NPZ (numpy .npz: a ZIP of .npy members) read and write. Member names lose their trailing ".npy", as
 * numpy's `np.load` does. Reading accepts stored and deflated members (np.savez / np.savez_compressed);
 * writing produces stored members atomically. Invariant: names are unique; a duplicate member is an error.
 */
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { decodeNpy, encodeNpy } from './npy.js';
import type { NamedArray, WeightMap } from './types.js';
import { encodeZipStored, listZip, readZipEntry } from './zip.js';

/**
 * Decode NPZ bytes into a WeightMap in archive order.
 * @param fileName used in error messages.
 * @throws CheckpointError naming the file and member on any container or array problem.
 */
export function decodeNpz(bytes: Uint8Array, fileName: string): WeightMap {
  const out: WeightMap = new Map();
  for (const entry of listZip(bytes, fileName)) {
    if (entry.name.endsWith('/')) continue; // directory entry
    const name = entry.name.endsWith('.npy') ? entry.name.slice(0, -4) : entry.name;
    if (out.has(name)) throw new CheckpointError(`${fileName}: entry '${name}': duplicate member`);
    const raw = readZipEntry(bytes, entry, fileName);
    out.set(name, decodeNpy(raw, name, fileName));
  }
  return out;
}

/** Read an .npz file from disk. */
export function readNpz(path: string): WeightMap {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read file: ${(e as Error).message}`);
  }
  return decodeNpz(bytes, path);
}

/** Encode arrays as a stored (uncompressed) NPZ archive, returned as chunks to concatenate. */
export function encodeNpzChunks(weights: Iterable<NamedArray> | WeightMap): Uint8Array[] {
  const list = weights instanceof Map ? [...weights.values()] : [...weights];
  return encodeZipStored(list.map((a) => ({ name: `${a.name}.npy`, data: encodeNpy(a) })));
}

/** Encode arrays as one stored NPZ buffer (np.load reads it). */
export function encodeNpz(weights: Iterable<NamedArray> | WeightMap): Uint8Array {
  const chunks = encodeNpzChunks(weights);
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Write an NPZ file atomically (temp file, fsync, rename). */
export function writeNpzAtomic(path: string, weights: Iterable<NamedArray> | WeightMap): void {
  writeFileAtomic(path, encodeNpzChunks(weights));
}
