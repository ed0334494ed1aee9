/**
 * NPZ (numpy .npz: a ZIP of .npy members) read and write. Member names lose their trailing ".npy", as
 * numpy's `np.load` does. Reading accepts stored and deflated members (np.savez / np.savez_compressed);
 * writing produces stored members atomically. Invariant: names are unique; a duplicate member is an error.
 */
import { CheckpointError } from '../../errors.js';
import { decodeNpy, encodeNpy } from './npy.js';
import { type DecodeOptions, decodedByteCap, type NamedArray, type WeightMap } from './types.js';
import { encodeZipStored, listZip, readZipEntry } from './zip.js';

/**
 * Decode NPZ bytes into a WeightMap in archive order.
 * Bounded: the members' declared sizes must add up to at most `opts.maxDecodedBytes` (see
 * {@link DecodeOptions}) before anything is inflated, and each member inflates under a running limit of its
 * declared size.
 * @param fileName used in error messages.
 * @throws CheckpointError naming the file and member on any container or array problem or an exceeded limit.
 */
export function decodeNpz(bytes: Uint8Array, fileName: string, opts: DecodeOptions = {}): WeightMap {
  const out: WeightMap = new Map();
  const entries = listZip(bytes, fileName).filter((e) => !e.name.endsWith('/')); // skip directory entries
  const cap = decodedByteCap(bytes.length, opts);
  let total = 0;
  for (const e of entries) {
    total += e.size;
    if (total > cap) {
      throw new CheckpointError(
        `${fileName}: entry '${e.name}': members declare ${total}+ bytes in total, over the limit of ${cap} ` +
          `for a ${bytes.length}-byte archive (zip bomb or corrupt directory; if genuine, raise maxDecodedBytes or BIT_TS_MAX_DECODED_BYTES)`,
      );
    }
  }
  for (const entry of entries) {
    const name = entry.name.endsWith('.npy') ? entry.name.slice(0, -4) : entry.name;
    if (out.has(name)) throw new CheckpointError(`${fileName}: entry '${name}': duplicate member`);
    const raw = readZipEntry(bytes, entry, fileName);
    out.set(name, decodeNpy(raw, name, fileName));
  }
  return out;
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
