/**
 * Minimal ZIP container support for NPZ files. The reader walks the central directory (never trusts local
 * headers for sizes, so numpy's force_zip64 local headers and data descriptors are fine), supports stored
 * (method 0) and deflated (method 8, via fflate) entries, zip64 extra fields and the zip64 end record, and
 * checks each entry's CRC-32. The writer produces stored entries only (no zip64: total size < 4 GiB).
 * Invariants: every offset and size is bounds-checked against the file before use; the inflate output buffer
 * is sized from the central directory (capped by the deflate worst-case ratio; callers cap the archive's
 * total, see npz.ts) and inflation streams in small input slices under a running limit of the declared size,
 * so a stream that inflates past its declaration stops at once instead of growing a buffer.
 */
import { Inflate } from 'fflate';
import { CheckpointError } from '../../errors.js';
import { crc32 } from './types.js';

/** One entry of a ZIP archive, as listed in the central directory. */
export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
const Z64_LOC_SIG = 0x07064b50;
const Z64_EOCD_SIG = 0x06064b50;
/** Deflate cannot expand data by more than ~1032:1; anything claiming more is corrupt. */
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes fed to the inflater at a time: bounds its transient output to ~16 MiB. */
const INFLATE_SLICE = 16 * 1024;

/** Thrown inside the inflate callback to stop a stream that outgrows its declared size. */
class Overflow extends Error {}

/** Inflate `raw` into exactly `size` bytes, stopping as soon as the output would exceed `size`. */
function inflateBounded(raw: Uint8Array, size: number, where: string): Uint8Array {
  const target = new Uint8Array(size);
  let o = 0;
  const inf = new Inflate((chunk) => {
    if (o + chunk.length > size) throw new Overflow();
    target.set(chunk, o);
    o += chunk.length;
  });
  try {
    for (let i = 0; i < raw.length; i += INFLATE_SLICE) {
      inf.push(raw.subarray(i, i + INFLATE_SLICE), i + INFLATE_SLICE >= raw.length);
    }
  } catch (e) {
    if (e instanceof Overflow) {
      throw new CheckpointError(`${where}: inflates past its declared size of ${size} bytes (corrupt or zip bomb)`);
    }
    throw new CheckpointError(`${where}: corrupt deflate stream: ${(e as Error).message}`);
  }
  if (o !== size) throw new CheckpointError(`${where}: inflated to ${o} bytes, directory says ${size}`);
  return target;
}

function u64(dv: DataView, off: number, file: string): number {
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${file}: zip64 value out of range`);
  return Number(v);
}

/**
 * List the entries of a ZIP archive from its central directory.
 * @throws CheckpointError naming the file when there is no end record or a record is out of bounds.
 */
export function listZip(buf: Uint8Array, file: string): ZipEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const minEocd = Math.max(0, buf.length - 22 - 0xffff);
  let eocd = -1;
  for (let i = buf.length - 22; i >= minEocd; i--) {
    if (dv.getUint32(i, true) === EOCD_SIG && i + 22 + dv.getUint16(i + 20, true) <= buf.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new CheckpointError(`${file}: not a ZIP/NPZ archive (no end-of-central-directory record)`);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOff = dv.getUint32(eocd + 16, true);
  if ((count === 0xffff || cdOff === 0xffffffff || cdSize === 0xffffffff) && eocd >= 20) {
    if (dv.getUint32(eocd - 20, true) === Z64_LOC_SIG) {
      const z = u64(dv, eocd - 12, file);
      if (z + 56 > buf.length || dv.getUint32(z, true) !== Z64_EOCD_SIG) {
        throw new CheckpointError(`${file}: bad zip64 end-of-central-directory record`);
      }
      count = u64(dv, z + 32, file);
      cdSize = u64(dv, z + 40, file);
      cdOff = u64(dv, z + 48, file);
    }
  }
  if (cdOff + cdSize > buf.length || count * 46 > cdSize) {
    throw new CheckpointError(`${file}: central directory (${count} entries at ${cdOff}) lies outside the file`);
  }
  const entries: ZipEntry[] = [];
  let p = cdOff;
  const dec = new TextDecoder('utf-8', { fatal: false });
  for (let k = 0; k < count; k++) {
    if (p + 46 > buf.length || dv.getUint32(p, true) !== CEN_SIG) {
      throw new CheckpointError(`${file}: central directory entry ${k} is corrupt`);
    }
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > buf.length) throw new CheckpointError(`${file}: central directory entry ${k} runs past the file`);
    const name = dec.decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information extra field: values present only for fields saturated at 0xffffffff
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) throw new CheckpointError(`${file}: entry '${name}': short zip64 extra field`);
          const v = u64(dv, q, file);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + len;
    }
    entries.push({ name, method, crc, compressedSize, size, localOffset });
    p = end;
  }
  return entries;
}

/**
 * Read the uncompressed bytes of one entry, verifying its CRC-32.
 * @throws CheckpointError naming the file and entry on an unsupported method, bounds or CRC failure.
 */
export function readZipEntry(buf: Uint8Array, entry: ZipEntry, file: string): Uint8Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const where = `${file}: entry '${entry.name}'`;
  const lo = entry.localOffset;
  if (lo + 30 > buf.length || dv.getUint32(lo, true) !== LOC_SIG) {
    throw new CheckpointError(`${where}: local header missing or corrupt`);
  }
  const start = lo + 30 + dv.getUint16(lo + 26, true) + dv.getUint16(lo + 28, true);
  if (start + entry.compressedSize > buf.length) {
    throw new CheckpointError(`${where}: data (${entry.compressedSize} bytes) runs past the end of the file`);
  }
  const raw = buf.subarray(start, start + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) throw new CheckpointError(`${where}: stored entry with size mismatch`);
    out = raw;
  } else if (entry.method === 8) {
    if (entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
      throw new CheckpointError(`${where}: claims ${entry.size} bytes from ${entry.compressedSize} compressed`);
    }
    if (raw.length === 0) throw new CheckpointError(`${where}: empty deflate stream`);
    out = inflateBounded(raw, entry.size, where);
  } else {
    throw new CheckpointError(`${where}: unsupported compression method ${entry.method} (only stored and deflate)`);
  }
  const c = crc32(out);
  if (c !== entry.crc) throw new CheckpointError(`${where}: CRC-32 mismatch (file corrupt)`);
  return out;
}

/** Build a ZIP archive of stored (uncompressed) entries, as numpy's `np.savez` does. */
export function encodeZipStored(files: readonly { name: string; data: Uint8Array }[]): Uint8Array[] {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = enc.encode(f.name);
    const crc = crc32(f.data);
    if (f.data.length >= 0xffffffff || offset >= 0xffffffff) {
      throw new CheckpointError(`${f.name}: NPZ writer does not support zip64 (entries or archive over 4 GiB)`);
    }
    const loc = new Uint8Array(30 + name.length);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, LOC_SIG, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, 0x0800, true); // UTF-8 names
    lv.setUint16(8, 0, true);
    lv.setUint16(10, 0, true);
    lv.setUint16(12, 0x21, true); // 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, f.data.length, true);
    lv.setUint32(22, f.data.length, true);
    lv.setUint16(26, name.length, true);
    loc.set(name, 30);
    const cen = new Uint8Array(46 + name.length);
    const cv = new DataView(cen.buffer);
    cv.setUint32(0, CEN_SIG, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, f.data.length, true);
    cv.setUint32(24, f.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cen.set(name, 46);
    chunks.push(loc, f.data);
    central.push(cen);
    offset += loc.length + f.data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  if (files.length >= 0xffff || offset + cdSize >= 0xffffffff) {
    throw new CheckpointError('NPZ writer does not support zip64 (too many entries or archive over 4 GiB)');
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, EOCD_SIG, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return [...chunks, ...central, eocd];
}
